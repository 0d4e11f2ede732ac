//! The order aggregate and its state machine.
//!
//! ```text
//! PENDING ──> RESERVED ──> PAID ──> SHIPPED ──> COMPLETED
//!    │           │           │         │
//!    ├─> REJECTED├─> PAYMENT_FAILED    │
//!    ├─> CANCELLED <─────────┤         │
//!    └─> FAILED <────────────┴─────────┘   (FAILED from any non-terminal state)
//! ```
//! A transition never goes backwards and never leaves a terminal state; every one bumps the
//! version, which storage uses as the optimistic-locking condition, and yields a history entry.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{CustomerId, Invalid, Money, OrderId, PaymentMethod, ProductId, ShippingAddress};
use crate::pipeline::Queue;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    Pending,
    Reserved,
    Paid,
    Shipped,
    Completed,
    Rejected,
    PaymentFailed,
    Cancelled,
    Failed,
    /// Support refunded a completed order in full; the goods stay with the customer.
    Refunded,
}

impl OrderStatus {
    pub const ALL: [Self; 10] = [
        Self::Pending,
        Self::Reserved,
        Self::Paid,
        Self::Shipped,
        Self::Completed,
        Self::Rejected,
        Self::PaymentFailed,
        Self::Cancelled,
        Self::Failed,
        Self::Refunded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Reserved => "RESERVED",
            Self::Paid => "PAID",
            Self::Shipped => "SHIPPED",
            Self::Completed => "COMPLETED",
            Self::Rejected => "REJECTED",
            Self::PaymentFailed => "PAYMENT_FAILED",
            Self::Cancelled => "CANCELLED",
            Self::Failed => "FAILED",
            Self::Refunded => "REFUNDED",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|s| s.as_str()).collect();
                Invalid::new(format!("must be one of {}", names.join(", ")))
            })
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Completed
                | Self::Rejected
                | Self::PaymentFailed
                | Self::Cancelled
                | Self::Failed
                | Self::Refunded
        )
    }

    /// The allowed transitions; everything else is refused. The pipeline never moves a terminal
    /// order; support's refund is the one move out of `COMPLETED`.
    pub fn can_become(self, next: Self) -> bool {
        use OrderStatus::*;
        match (self, next) {
            (from, Failed) => !from.is_terminal(),
            (Pending, Reserved | Rejected | Cancelled) => true,
            (Reserved, Paid | PaymentFailed | Cancelled) => true,
            (Paid, Shipped | Cancelled) => true,
            (Shipped, Completed) => true,
            (Completed, Refunded) => true,
            _ => false,
        }
    }

    /// A customer may cancel until the order ships.
    pub fn is_cancellable(self) -> bool {
        self.can_become(Self::Cancelled)
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many units of one product a line orders: 1 to 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u32")]
pub struct Quantity(u32);

impl Quantity {
    pub const MAX: u32 = 100;

    pub fn new(raw: i64) -> Result<Self, Invalid> {
        match u32::try_from(raw) {
            Ok(n) if (1..=Self::MAX).contains(&n) => Ok(Self(n)),
            _ => Err(Invalid::new(format!(
                "must be an integer from 1 to {}",
                Self::MAX
            ))),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<i64> for Quantity {
    type Error = Invalid;
    fn try_from(raw: i64) -> Result<Self, Invalid> {
        Self::new(raw)
    }
}

impl From<Quantity> for u32 {
    fn from(q: Quantity) -> u32 {
        q.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct OrderItem {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub product_id: ProductId,
    #[cfg_attr(feature = "openapi", schema(value_type = u32, minimum = 1, maximum = 100))]
    pub quantity: Quantity,
    /// The catalog price when the order was placed.
    pub unit_price: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub id: OrderId,
    pub customer_id: CustomerId,
    pub status: OrderStatus,
    pub items: Vec<OrderItem>,
    pub total: Money,
    pub shipping_address: ShippingAddress,
    pub payment_method: PaymentMethod,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: u64,
    /// Whether catalog stock is held for this order: set by the reservation, cleared by the
    /// compensation that gives it back. Makes the release idempotent.
    #[serde(default)]
    pub stock_held: bool,
    /// The payment at the provider, recorded before it is confirmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment: Option<Payment>,
    /// The carrier's tracking number, once shipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_number: Option<String>,
    /// Until when its payment message waits on the payment queue while the provider is
    /// unavailable: one copy parks, any other copy of the message is dropped meanwhile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parked_until: Option<DateTime<Utc>>,
    /// The outcomes the customer was told of, each recorded *before* the notice goes out, so a
    /// redelivery never tells them twice (at most once per order and outcome).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notices: Vec<OrderStatus>,
    /// The correlation id of the request that placed it: every message about the order carries
    /// it, the reconciler's re-drives included, so one id finds the order's whole journey.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
}

/// An order's payment at the provider (a Stripe PaymentIntent). The intent is recorded on the
/// order *before* it is confirmed, so every intent that could ever take money for an order is
/// known to the order, and compensation can refund or void it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    pub intent_id: String,
    pub state: PaymentState,
    /// The provider's refund, once the money went back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentState {
    /// Created, not confirmed: no money has moved, but a confirmation still could move it.
    Started,
    /// The money was taken.
    Charged,
    /// The provider refused the charge; nothing was taken.
    Declined,
    /// Compensation has claimed it and is refunding or voiding it.
    Settling,
    /// The money went back.
    Refunded,
    /// Cancelled before it was confirmed; it can never take money.
    Voided,
}

impl PaymentState {
    /// Whether compensation still has to refund or void it.
    pub fn owes_settlement(self) -> bool {
        matches!(self, Self::Started | Self::Charged | Self::Settling)
    }
}

impl Payment {
    pub fn started(intent_id: String) -> Self {
        Self {
            intent_id,
            state: PaymentState::Started,
            refund_id: None,
        }
    }
}

/// Why a transition happened, as data. Views render it for their audience (`http::views`, the
/// customer's notice); nothing parses it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredReason", into = "StoredReason")]
pub enum Reason {
    /// Reserving failed: this product has fewer units than the order asks for.
    OutOfStock {
        product_id: ProductId,
    },
    /// The payment provider declined the charge, with its message for the customer.
    PaymentDeclined {
        provider_message: String,
    },
    /// Booked with the carrier.
    HandedToCarrier {
        tracking_number: String,
    },
    /// The customer was told their order is on its way.
    CustomerNotified,
    CancelledByCustomer,
    /// Support cancelled the order (the entry's actor says which admin).
    CancelledBySupport,
    /// Support refunded the completed order in full.
    RefundedBySupport,
    /// The consumer of `queue` gave up on the order after `receives` deliveries.
    StepGaveUp {
        queue: Queue,
        receives: u32,
    },
    /// Free text written before reasons were typed; shown to operators only.
    Legacy(String),
}

/// How a reason is stored: a tagged object, or the free text of entries written before. A code
/// this version does not know (written by a newer one, during a canary or after a rollback) is
/// kept as text for operators rather than failing the whole history.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum StoredReason {
    Typed(TypedReason),
    Text(String),
    Unknown(serde_json::Value),
}

#[derive(Serialize, Deserialize)]
#[serde(
    tag = "code",
    rename_all = "SCREAMING_SNAKE_CASE",
    rename_all_fields = "camelCase"
)]
enum TypedReason {
    OutOfStock { product_id: ProductId },
    PaymentDeclined { provider_message: String },
    HandedToCarrier { tracking_number: String },
    CustomerNotified,
    CancelledByCustomer,
    CancelledBySupport,
    RefundedBySupport,
    StepGaveUp { queue: Queue, receives: u32 },
}

impl From<StoredReason> for Reason {
    fn from(stored: StoredReason) -> Self {
        match stored {
            StoredReason::Text(text) => Self::Legacy(text),
            StoredReason::Unknown(value) => Self::Legacy(value.to_string()),
            StoredReason::Typed(typed) => match typed {
                TypedReason::OutOfStock { product_id } => Self::OutOfStock { product_id },
                TypedReason::PaymentDeclined { provider_message } => {
                    Self::PaymentDeclined { provider_message }
                }
                TypedReason::HandedToCarrier { tracking_number } => {
                    Self::HandedToCarrier { tracking_number }
                }
                TypedReason::CustomerNotified => Self::CustomerNotified,
                TypedReason::CancelledByCustomer => Self::CancelledByCustomer,
                TypedReason::CancelledBySupport => Self::CancelledBySupport,
                TypedReason::RefundedBySupport => Self::RefundedBySupport,
                TypedReason::StepGaveUp { queue, receives } => Self::StepGaveUp { queue, receives },
            },
        }
    }
}

impl From<Reason> for StoredReason {
    fn from(reason: Reason) -> Self {
        Self::Typed(match reason {
            Reason::Legacy(text) => return Self::Text(text),
            Reason::OutOfStock { product_id } => TypedReason::OutOfStock { product_id },
            Reason::PaymentDeclined { provider_message } => {
                TypedReason::PaymentDeclined { provider_message }
            }
            Reason::HandedToCarrier { tracking_number } => {
                TypedReason::HandedToCarrier { tracking_number }
            }
            Reason::CustomerNotified => TypedReason::CustomerNotified,
            Reason::CancelledByCustomer => TypedReason::CancelledByCustomer,
            Reason::CancelledBySupport => TypedReason::CancelledBySupport,
            Reason::RefundedBySupport => TypedReason::RefundedBySupport,
            Reason::StepGaveUp { queue, receives } => TypedReason::StepGaveUp { queue, receives },
        })
    }
}

/// Who made a transition: the customer (placing, cancelling), an admin (cancelling someone
/// else's order), or a step of the pipeline (by its function's name, `dead-letter` included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "camelCase")]
pub enum Actor {
    Customer(String),
    Admin(String),
    Step(String),
}

/// One line of an order's audit timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    /// The order version this transition produced; unique per order, so a replayed write of the
    /// same transition cannot add a second entry.
    pub version: u64,
    pub at: DateTime<Utc>,
    pub from: Option<OrderStatus>,
    pub to: OrderStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// The correlation id of the request or message that made the transition: the placing
    /// request's for the pipeline's steps (re-drives included), a cancel's own for a cancel. One
    /// id finds the entry, its log lines and its messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// Who made it (entries written before actors were kept have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Actor>,
}

impl HistoryEntry {
    /// The entry, made by `actor`.
    pub fn by(self, actor: Actor) -> Self {
        Self {
            actor: Some(actor),
            ..self
        }
    }

    /// The entry, made under `correlation_id`.
    pub fn correlated(self, correlation_id: &str) -> Self {
        Self {
            correlation_id: Some(correlation_id.to_string()),
            ..self
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an order in state {from} cannot become {to}")]
pub struct IllegalTransition {
    pub from: OrderStatus,
    pub to: OrderStatus,
}

impl Order {
    pub const MAX_ITEMS: usize = 50;

    /// A new `PENDING` order over priced lines. The total is computed here, never taken from the
    /// client, and all lines must share one currency.
    pub fn place(
        id: OrderId,
        customer_id: CustomerId,
        items: Vec<OrderItem>,
        shipping_address: ShippingAddress,
        payment_method: PaymentMethod,
        now: DateTime<Utc>,
    ) -> Result<Self, Invalid> {
        let Some(first) = items.first() else {
            return Err(Invalid::new("must contain at least one item"));
        };
        if items.len() > Self::MAX_ITEMS {
            return Err(Invalid::new(format!(
                "must contain at most {} items",
                Self::MAX_ITEMS
            )));
        }
        let total =
            items
                .iter()
                .try_fold(Money::zero(first.unit_price.currency), |sum, item| {
                    item.unit_price
                        .times(item.quantity.get())
                        .and_then(|line| sum.plus(line))
                        .map_err(|_| {
                            Invalid::new("all products of an order must be priced in one currency")
                        })
                })?;
        Ok(Self {
            id,
            customer_id,
            status: OrderStatus::Pending,
            items,
            total,
            shipping_address,
            payment_method,
            created_at: now,
            updated_at: now,
            version: 1,
            stock_held: false,
            payment: None,
            tracking_number: None,
            parked_until: None,
            notices: Vec::new(),
            correlation_id: None,
        })
    }

    /// Whether the order ended without being fulfilled (cancelled, declined or failed), so its
    /// stock and any payment must go back.
    pub fn is_unfulfilled(&self) -> bool {
        matches!(
            self.status,
            OrderStatus::Cancelled | OrderStatus::PaymentFailed | OrderStatus::Failed
        )
    }

    /// Whether compensation still has something to give back: held stock or an unsettled payment
    /// of an unfulfilled order, or the payment of a refunded one (its goods were delivered, so
    /// its stock stays sold).
    pub fn owes_compensation(&self) -> bool {
        let unsettled = self
            .payment
            .as_ref()
            .is_some_and(|p| p.state.owes_settlement());
        match self.status {
            OrderStatus::Refunded => unsettled,
            _ => self.is_unfulfilled() && (self.stock_held || unsettled),
        }
    }

    /// The order after a change that is not a transition (a payment recorded, stock given back):
    /// same status, next version, no history entry.
    pub fn revised(&self, now: DateTime<Utc>, change: impl FnOnce(&mut Self)) -> Self {
        let mut next = Self {
            updated_at: now.max(self.updated_at),
            version: self.version + 1,
            ..self.clone()
        };
        change(&mut next);
        next
    }

    /// The history entry that records the order's creation.
    pub fn created_entry(&self) -> HistoryEntry {
        HistoryEntry {
            version: self.version,
            at: self.created_at,
            from: None,
            to: self.status,
            reason: None,
            correlation_id: self.correlation_id.clone(),
            actor: Some(Actor::Customer(self.customer_id.to_string())),
        }
    }

    /// The order after moving to `to`, with its history entry; refused when the state machine
    /// does not allow it.
    pub fn transition(
        &self,
        to: OrderStatus,
        now: DateTime<Utc>,
        reason: Option<Reason>,
    ) -> Result<(Self, HistoryEntry), IllegalTransition> {
        if !self.status.can_become(to) {
            return Err(IllegalTransition {
                from: self.status,
                to,
            });
        }
        let next = Self {
            status: to,
            updated_at: now.max(self.updated_at),
            version: self.version + 1,
            ..self.clone()
        };
        let entry = HistoryEntry {
            version: next.version,
            at: next.updated_at,
            from: Some(self.status),
            to,
            reason,
            correlation_id: None,
            actor: None,
        };
        Ok((next, entry))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::domain::Currency;

    fn status() -> impl Strategy<Value = OrderStatus> {
        prop::sample::select(OrderStatus::ALL.to_vec())
    }

    fn money(amount: i64, currency: &str) -> Money {
        Money::new(amount, Currency::parse(currency).unwrap()).unwrap()
    }

    fn item(id: &str, quantity: i64, price: Money) -> OrderItem {
        OrderItem {
            product_id: ProductId::parse(id).unwrap(),
            quantity: Quantity::new(quantity).unwrap(),
            unit_price: price,
        }
    }

    fn address() -> ShippingAddress {
        ShippingAddress {
            name: "Ada".into(),
            line1: "1 Main St".into(),
            line2: None,
            city: "London".into(),
            postal_code: "N1".into(),
            country: "GB".into(),
        }
    }

    fn place(items: Vec<OrderItem>) -> Result<Order, Invalid> {
        Order::place(
            OrderId::generate(),
            CustomerId::parse("c-1").unwrap(),
            items,
            address(),
            PaymentMethod::parse("pm_card_visa").unwrap(),
            Utc::now(),
        )
    }

    #[test]
    fn the_total_is_the_sum_of_the_lines() {
        let order = place(vec![
            item("p-1", 2, money(1250, "EUR")),
            item("p-2", 1, money(99, "EUR")),
        ])
        .unwrap();
        assert_eq!(order.total, money(2599, "EUR"));
        assert_eq!(order.status, OrderStatus::Pending);
        assert_eq!(order.version, 1);
    }

    #[test]
    fn mixed_currencies_and_empty_orders_are_refused() {
        assert!(
            place(vec![
                item("p-1", 1, money(1, "EUR")),
                item("p-2", 1, money(1, "USD"))
            ])
            .is_err()
        );
        assert!(place(vec![]).is_err());
    }

    #[test]
    fn quantities_are_bounded() {
        assert!(Quantity::new(0).is_err());
        assert!(Quantity::new(101).is_err());
        assert!(Quantity::new(-1).is_err());
        assert!(Quantity::new(i64::MAX).is_err());
        assert_eq!(Quantity::new(100).map(Quantity::get), Ok(100));
    }

    #[test]
    fn the_happy_path_is_allowed_in_order() {
        use OrderStatus::*;
        let path = [Pending, Reserved, Paid, Shipped, Completed];
        for pair in path.windows(2) {
            assert!(pair[0].can_become(pair[1]), "{} -> {}", pair[0], pair[1]);
        }
    }

    #[test]
    fn cancellation_is_possible_until_shipping() {
        use OrderStatus::*;
        let cancellable: Vec<_> = OrderStatus::ALL
            .into_iter()
            .filter(|s| s.is_cancellable())
            .collect();
        assert_eq!(cancellable, [Pending, Reserved, Paid]);
    }

    #[test]
    fn a_transition_bumps_the_version_and_records_history() {
        let order = place(vec![item("p-1", 1, money(5, "EUR"))]).unwrap();
        let (next, entry) = order
            .transition(OrderStatus::Reserved, Utc::now(), None)
            .unwrap();
        assert_eq!(next.version, 2);
        assert_eq!(entry.version, 2);
        assert_eq!(entry.from, Some(OrderStatus::Pending));
        assert!(next.updated_at >= order.updated_at);
    }

    #[test]
    fn reasons_are_stored_tagged_and_legacy_text_still_reads() {
        let reason = Reason::OutOfStock {
            product_id: ProductId::parse("p-4").unwrap(),
        };
        let stored = serde_json::to_value(&reason).unwrap();
        assert_eq!(
            stored,
            serde_json::json!({"code": "OUT_OF_STOCK", "productId": "p-4"})
        );
        assert_eq!(serde_json::from_value::<Reason>(stored).unwrap(), reason);
        let gave_up = Reason::StepGaveUp {
            queue: Queue::Payment,
            receives: 5,
        };
        let round = serde_json::from_value::<Reason>(serde_json::to_value(&gave_up).unwrap());
        assert_eq!(round.unwrap(), gave_up);
        let legacy: Reason = serde_json::from_str(r#""out of stock: p-1""#).unwrap();
        assert_eq!(legacy, Reason::Legacy("out of stock: p-1".into()));
        assert_eq!(
            serde_json::to_string(&legacy).unwrap(),
            r#""out of stock: p-1""#
        );
        let newer: Reason = serde_json::from_str(r#"{"code":"FROM_A_NEWER_VERSION"}"#).unwrap();
        assert_eq!(
            newer,
            Reason::Legacy(r#"{"code":"FROM_A_NEWER_VERSION"}"#.into())
        );
    }

    proptest! {
        #[test]
        fn terminal_states_never_change(from in status(), to in status()) {
            let refund = (from, to) == (OrderStatus::Completed, OrderStatus::Refunded);
            if from.is_terminal() && !refund {
                prop_assert!(!from.can_become(to));
            }
        }

        #[test]
        fn no_state_becomes_itself(s in status()) {
            prop_assert!(!s.can_become(s));
        }

        #[test]
        fn transitions_only_move_forward(from in status(), to in status()) {
            // Any allowed transition cannot be undone: there is no path straight back.
            if from.can_become(to) {
                prop_assert!(!to.can_become(from));
            }
        }

        #[test]
        fn status_names_round_trip(s in status()) {
            prop_assert_eq!(OrderStatus::parse(s.as_str()), Ok(s));
            let json = serde_json::to_value(s).unwrap();
            prop_assert_eq!(json.as_str(), Some(s.as_str()));
        }

        #[test]
        fn any_walk_of_random_transitions_ends_in_at_most_five_moves(
            steps in prop::collection::vec(status(), 0..40)
        ) {
            let mut order = place(vec![item("p-1", 1, money(5, "EUR"))]).unwrap();
            let mut moves = 0;
            for to in steps {
                if let Ok((next, entry)) = order.transition(to, Utc::now(), None) {
                    prop_assert_eq!(entry.version, next.version);
                    prop_assert_eq!(next.version, order.version + 1);
                    order = next;
                    moves += 1;
                }
            }
            // The happy path's four, and support's refund of the completed order.
            prop_assert!(moves <= 5, "{} moves", moves);
        }
    }
}
