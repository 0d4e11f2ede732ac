//! Placing, reading, listing, cancelling and refunding orders: one use case per kind of work,
//! each owning its ports.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::config::ConfigError;
use crate::domain::{
    Actor, AddressInput, Caller, HistoryEntry, IdempotencyKey, Order, OrderId, OrderItem,
    OrderStatus, PaymentMethod, ProductId, Quantity, Reason, ShippingAddress,
};
use crate::error::{AppError, FieldError};
use crate::flags::LiveFlags;
use crate::pipeline;
use crate::ports::{
    ClaimOutcome, Clock, IdempotencyStore, OrderCursor, OrderRepository, Page, Queues,
    StatusCursor, StatusQuery,
};
use crate::service::Limit;
use crate::service::prices::PriceList;
use crate::wiring::{Wire, Wiring};

/// The body of `POST /orders`, before validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = NewOrder))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlaceOrderRequest {
    /// 1 to 50 lines, each product once.
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 50))]
    pub items: Vec<ItemInput>,
    pub shipping_address: AddressInput,
    /// The payment provider's payment method, e.g. `pm_card_visa`.
    #[cfg_attr(feature = "openapi", schema(pattern = "^pm_[A-Za-z0-9_]{0,125}$"))]
    pub payment_method: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = NewOrderLine))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ItemInput {
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
    )]
    pub product_id: String,
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 100))]
    pub quantity: i64,
}

/// Placing an order: priced from the catalog (through the price cache, for the customers its
/// rollout reaches), stored with its idempotency claim, handed to the first step of the
/// pipeline; refused while the flags close intake.
pub struct PlaceOrder {
    pub orders: Arc<dyn OrderRepository>,
    pub idempotency: Arc<dyn IdempotencyStore>,
    pub prices: PriceList,
    pub queues: Arc<dyn Queues>,
    pub clock: Arc<dyn Clock>,
    pub flags: Arc<LiveFlags>,
}

#[async_trait]
impl Wire for PlaceOrder {
    async fn wire<W: Wiring + ?Sized>(from: &W) -> Result<Self, ConfigError> {
        let max_age = from.number("CATALOG_CACHE_SECONDS", 10)?;
        Ok(Self {
            orders: from.orders()?,
            idempotency: from.idempotency()?,
            prices: PriceList::new(
                from.catalog()?,
                from.clock(),
                chrono::Duration::seconds(i64::try_from(max_age).unwrap_or(i64::MAX / 1_000)),
            ),
            queues: from.queues(&routes_of(&[OrderStatus::Pending]), None)?,
            clock: from.clock(),
            flags: from.flags()?,
        })
    }
}

/// The queues orders in these statuses go to: what a use case that produces them sends to.
fn routes_of(statuses: &[OrderStatus]) -> Vec<pipeline::Queue> {
    statuses
        .iter()
        .filter_map(|s| pipeline::route(*s))
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    pub order: Order,
    /// True when an earlier request with the same idempotency key created the order.
    pub replayed: bool,
}

struct ValidOrder {
    lines: Vec<(ProductId, Quantity)>,
    address: ShippingAddress,
    payment: PaymentMethod,
}

fn validate(request: &PlaceOrderRequest) -> Result<ValidOrder, AppError> {
    let mut errors = Vec::new();
    if request.items.is_empty() {
        errors.push(FieldError::new("items", "must contain at least one item"));
    }
    if request.items.len() > Order::MAX_ITEMS {
        errors.push(FieldError::new(
            "items",
            format!("must contain at most {} items", Order::MAX_ITEMS),
        ));
    }
    let mut seen = HashSet::new();
    let mut lines = Vec::new();
    for (i, item) in request.items.iter().enumerate() {
        let product = ProductId::parse(&item.product_id)
            .map_err(|e| errors.push(FieldError::invalid(format!("items[{i}].productId"), e)));
        let quantity = Quantity::new(item.quantity)
            .map_err(|e| errors.push(FieldError::invalid(format!("items[{i}].quantity"), e)));
        if let (Ok(product), Ok(quantity)) = (product, quantity) {
            if seen.insert(product.clone()) {
                lines.push((product, quantity));
            } else {
                errors.push(FieldError::new(
                    format!("items[{i}].productId"),
                    "appears in more than one line; put the whole quantity in one line",
                ));
            }
        }
    }
    let address = ShippingAddress::parse(&request.shipping_address).map_err(|problems| {
        for (field, e) in problems {
            errors.push(FieldError::invalid(format!("shippingAddress.{field}"), e));
        }
    });
    let payment = PaymentMethod::parse(&request.payment_method)
        .map_err(|e| errors.push(FieldError::invalid("paymentMethod", e)));
    match (address, payment) {
        (Ok(address), Ok(payment)) if errors.is_empty() => Ok(ValidOrder {
            lines,
            address,
            payment,
        }),
        _ => Err(AppError::Invalid(errors)),
    }
}

/// A fingerprint of the request: the same key with a different request is refused.
fn request_hash(request: &PlaceOrderRequest) -> String {
    let canonical = serde_json::to_vec(request).unwrap_or_default();
    crate::digest::sha256_hex(&canonical)
}

impl PlaceOrder {
    /// Places an order at catalog prices. With an idempotency key, a repeat of the same request
    /// returns the order the first one created (and hands it to fulfilment again while it is still
    /// `PENDING`, which is how a lost enqueue is recovered); a different request under the same key
    /// is refused, and one racing a request still in flight gets a conflict.
    pub async fn place(
        &self,
        caller: &Caller,
        request: &PlaceOrderRequest,
        key: Option<&IdempotencyKey>,
        correlation_id: &str,
    ) -> Result<Placed, AppError> {
        let valid = validate(request)?;
        let flags = self.flags.current().await;
        if !flags.accept_orders {
            return Err(AppError::Closed {
                what: "order intake",
                retry_after_secs: u64::from(flags.retry_after_seconds),
            });
        }
        let now = self.clock.now();
        let claim = match key {
            None => None,
            Some(key) => {
                let hash = request_hash(request);
                match self.idempotency.claim(&caller.id, key, &hash, now).await? {
                    ClaimOutcome::Acquired(claim) => Some(claim),
                    ClaimOutcome::Completed {
                        request_hash,
                        order_id,
                    } if request_hash == hash => {
                        return self.replay(&order_id, correlation_id).await;
                    }
                    ClaimOutcome::InProgress { request_hash } if request_hash == hash => {
                        return Err(AppError::KeyInFlight);
                    }
                    ClaimOutcome::Completed { .. } | ClaimOutcome::InProgress { .. } => {
                        return Err(AppError::Unprocessable {
                            detail: "this Idempotency-Key was already used for a different request"
                                .into(),
                            errors: vec![FieldError::new(
                                "Idempotency-Key",
                                "was used with a different request body",
                            )],
                        });
                    }
                }
            }
        };
        let stored = async {
            let cached = flags.catalog_cache_for(caller.id.as_str());
            let mut order = price(&self.prices, cached, caller, valid, now).await?;
            // Kept with the order, so a re-drive long after still carries the request's id.
            order.correlation_id = Some(correlation_id.to_string());
            self.orders.insert(&order, claim.as_ref()).await?;
            crate::metrics::outcome(&order);
            Ok(order)
        }
        .await;
        let order = match stored {
            Ok(order) => order,
            Err(err) => {
                if let Some(claim) = &claim
                    && let Err(release) = self.idempotency.release(claim).await
                {
                    tracing::warn!(error = %release.chain(), "could not release an idempotency claim");
                }
                return Err(err);
            }
        };
        self.hand_on(order, correlation_id, false).await
    }

    /// Hands a still-`PENDING` order to fulfilment (again, on a replay: the first enqueue may have
    /// been lost) and answers with it. The order is stored by now, so a failed enqueue does not
    /// fail the request: a client told "503" would place the order again (without a key, a second
    /// one), while the reconciler re-drives an order left `PENDING`
    /// (docs/decisions/0009-accepted-orders-survive-a-failed-enqueue.md).
    async fn hand_on(
        &self,
        order: Order,
        correlation_id: &str,
        replayed: bool,
    ) -> Result<Placed, AppError> {
        if order.status == OrderStatus::Pending
            && let Err(err) = hand_to_fulfilment(self.queues.as_ref(), &order, correlation_id).await
        {
            tracing::error!(order_id = %order.id, error = %err.chain(), "order stored but not handed to fulfilment; the reconciler re-drives it");
            crate::metrics::Metric::EnqueueFailures.count();
        }
        Ok(Placed { order, replayed })
    }

    async fn replay(&self, order_id: &OrderId, correlation_id: &str) -> Result<Placed, AppError> {
        let order = self.orders.get(order_id).await?.ok_or_else(|| {
            AppError::internal(
                "idempotency record",
                format!("it points at missing order {order_id}"),
            )
        })?;
        self.hand_on(order, correlation_id, true).await
    }
}

/// Prices the lines from the catalog; unknown products are named by their line.
async fn price(
    prices: &PriceList,
    cached: bool,
    caller: &Caller,
    valid: ValidOrder,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Order, AppError> {
    let ids: Vec<ProductId> = valid.lines.iter().map(|(id, _)| id.clone()).collect();
    let prices = prices.prices(&ids, cached).await?;
    let mut items = Vec::with_capacity(valid.lines.len());
    let mut unknown = Vec::new();
    for (i, (product_id, quantity)) in valid.lines.into_iter().enumerate() {
        match prices.get(&product_id) {
            Some(price) => items.push(OrderItem {
                product_id,
                quantity,
                unit_price: *price,
            }),
            None => unknown.push(FieldError::new(
                format!("items[{i}].productId"),
                format!("there is no product `{product_id}`"),
            )),
        }
    }
    if !unknown.is_empty() {
        return Err(AppError::Unprocessable {
            detail: "the order names products that are not in the catalog".into(),
            errors: unknown,
        });
    }
    Order::place(
        OrderId::generate(),
        caller.id.clone(),
        items,
        valid.address,
        valid.payment,
        now,
    )
    .map_err(|e| AppError::Unprocessable {
        detail: e.0.clone(),
        errors: vec![FieldError::invalid("items", e)],
    })
}

/// Sends the order to the queue its status routes to.
async fn hand_to_fulfilment(
    queues: &dyn Queues,
    order: &Order,
    correlation_id: &str,
) -> Result<(), AppError> {
    queues.hand_on(order, correlation_id, Duration::ZERO).await
}

/// Reading one's own orders; admins (support) read any order and its timeline.
pub struct CustomerOrders {
    pub orders: Arc<dyn OrderRepository>,
}

#[async_trait]
impl Wire for CustomerOrders {
    async fn wire<W: Wiring + ?Sized>(from: &W) -> Result<Self, ConfigError> {
        Ok(Self {
            orders: from.orders()?,
        })
    }
}

impl CustomerOrders {
    /// The caller's own order, or any order for an admin; anyone else's is not found.
    pub async fn get(&self, caller: &Caller, id: &OrderId) -> Result<Order, AppError> {
        visible_order(self.orders.as_ref(), caller, id).await
    }

    /// An order's timeline, oldest first, for whoever may see the order.
    pub async fn history(
        &self,
        caller: &Caller,
        id: &OrderId,
    ) -> Result<Vec<HistoryEntry>, AppError> {
        visible_order(self.orders.as_ref(), caller, id).await?;
        self.orders.history(id).await
    }

    /// The caller's orders, newest first. The store keys the query by the caller, whatever the
    /// cursor says.
    pub async fn list(
        &self,
        caller: &Caller,
        limit: Limit,
        after: Option<&OrderCursor>,
    ) -> Result<Page<Order, OrderCursor>, AppError> {
        self.orders
            .list_for_customer(&caller.id, limit.get(), after)
            .await
    }
}

/// The order if the caller owns it or is an admin. Anyone else gets not found, so that an order
/// id reveals nothing about whether the order exists.
async fn visible_order(
    orders: &dyn OrderRepository,
    caller: &Caller,
    id: &OrderId,
) -> Result<Order, AppError> {
    match orders.get(id).await? {
        Some(order) if order.customer_id == caller.id || caller.is_admin() => Ok(order),
        _ => Err(AppError::NotFound("order")),
    }
}

/// Support's view across customers: the orders in one status, most recently changed first.
/// The role is checked here as well as by the route, and anyone else is told the listing does
/// not exist.
pub struct AdminOrders {
    pub orders: Arc<dyn OrderRepository>,
}

#[async_trait]
impl Wire for AdminOrders {
    async fn wire<W: Wiring + ?Sized>(from: &W) -> Result<Self, ConfigError> {
        Ok(Self {
            orders: from.orders()?,
        })
    }
}

impl AdminOrders {
    /// Whether the caller may use support's routes; a handler asks before it reads the request,
    /// so that a customer learns nothing from how a bad query is refused.
    pub fn admit(caller: &Caller) -> Result<(), AppError> {
        if caller.is_admin() {
            Ok(())
        } else {
            Err(AppError::NotFound("route"))
        }
    }

    pub async fn list(
        &self,
        caller: &Caller,
        query: StatusQuery,
        limit: Limit,
        after: Option<&StatusCursor>,
    ) -> Result<Page<Order, StatusCursor>, AppError> {
        Self::admit(caller)?;
        self.orders.list_by_status(query, limit.get(), after).await
    }
}

/// How often a requested transition re-reads the order after losing a race with a fulfilment
/// step.
const REQUEST_ATTEMPTS: usize = 3;

/// A caller's request to end an order in `to` (a cancel, a refund), with what it needs: the
/// orders, the queue `to` routes to, the time. The request moves the order as that caller,
/// records who and why, and hands it on to compensation; asked again once it is there, it hands
/// it on again, so a client may retry after a failed enqueue.
struct Requested {
    to: OrderStatus,
    orders: Arc<dyn OrderRepository>,
    queues: Arc<dyn Queues>,
    clock: Arc<dyn Clock>,
}

impl Requested {
    fn wire<W: Wiring + ?Sized>(from: &W, to: OrderStatus) -> Result<Self, ConfigError> {
        Ok(Self {
            to,
            orders: from.orders()?,
            queues: from.queues(&routes_of(&[to]), None)?,
            clock: from.clock(),
        })
    }

    /// Moves the caller's (or, for an admin, any) order to `to` if `admissible` lets it, with
    /// the reason and actor `admissible` gives.
    async fn transition(
        &self,
        caller: &Caller,
        id: &OrderId,
        correlation_id: &str,
        admissible: impl Fn(&Order) -> Result<(Reason, Actor), AppError>,
    ) -> Result<Order, AppError> {
        let to = self.to;
        for _ in 0..REQUEST_ATTEMPTS {
            let order = visible_order(self.orders.as_ref(), caller, id).await?;
            if order.status == to {
                hand_to_fulfilment(self.queues.as_ref(), &order, correlation_id).await?;
                return Ok(order);
            }
            let (reason, actor) = admissible(&order)?;
            let (next, entry) = order.transition(to, self.clock.now(), Some(reason))?;
            let entry = entry.correlated(correlation_id).by(actor);
            match self.orders.apply(&order, &next, &entry).await {
                Ok(()) => {
                    crate::metrics::outcome(&next);
                    hand_to_fulfilment(self.queues.as_ref(), &next, correlation_id).await?;
                    return Ok(next);
                }
                Err(AppError::StaleVersion(_)) => continue,
                Err(err) => return Err(err),
            }
        }
        Err(AppError::StaleVersion("order"))
    }
}

/// Cancelling an order until it ships: one's own, or any for support. The refund and stock
/// release follow in compensation, which the cancellation's message triggers.
pub struct CancelOrder(Requested);

#[async_trait]
impl Wire for CancelOrder {
    async fn wire<W: Wiring + ?Sized>(from: &W) -> Result<Self, ConfigError> {
        Requested::wire(from, OrderStatus::Cancelled).map(Self)
    }
}

impl CancelOrder {
    /// Cancels the order until it ships. Cancelling a cancelled order succeeds again and
    /// re-sends the cancellation.
    pub async fn cancel(
        &self,
        caller: &Caller,
        id: &OrderId,
        correlation_id: &str,
    ) -> Result<Order, AppError> {
        self.0
            .transition(caller, id, correlation_id, |order| {
                if !order.status.is_cancellable() {
                    return Err(AppError::NotCancellable(order.status));
                }
                Ok(if caller.is_admin() {
                    (
                        Reason::CancelledBySupport,
                        Actor::Admin(caller.id.to_string()),
                    )
                } else {
                    (
                        Reason::CancelledByCustomer,
                        Actor::Customer(caller.id.to_string()),
                    )
                })
            })
            .await
    }
}

/// The body of `POST /admin/orders/{id}/refund`: empty for the whole total, or the amount, which
/// must then be the whole total (partial refunds are not supported: the payment adapter refunds
/// a charge in full).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = RefundRequest))]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    #[serde(default)]
    pub amount: Option<crate::service::catalog::MoneyInput>,
}

/// Support's refund of a completed order, in full: the order becomes `REFUNDED` (with the admin
/// as actor), and compensation refunds the charge and tells the customer. The goods stay
/// delivered, so no stock comes back and the shipment stands. Refunding a refunded order
/// succeeds again and re-sends the message, so a retry after a failed enqueue is safe; the
/// provider refunds a charge at most once whatever is sent.
pub struct RefundOrder(Requested);

#[async_trait]
impl Wire for RefundOrder {
    async fn wire<W: Wiring + ?Sized>(from: &W) -> Result<Self, ConfigError> {
        Requested::wire(from, OrderStatus::Refunded).map(Self)
    }
}

impl RefundOrder {
    pub async fn refund(
        &self,
        caller: &Caller,
        id: &OrderId,
        request: &RefundRequest,
        correlation_id: &str,
    ) -> Result<Order, AppError> {
        AdminOrders::admit(caller)?;
        self.0
            .transition(caller, id, correlation_id, |order| {
                if !order.status.can_become(OrderStatus::Refunded) {
                    return Err(AppError::NotRefundable(order.status));
                }
                whole_total(order, request)?;
                Ok((
                    Reason::RefundedBySupport,
                    Actor::Admin(caller.id.to_string()),
                ))
            })
            .await
    }
}

/// A stated amount must be the order's whole total.
fn whole_total(order: &Order, request: &RefundRequest) -> Result<(), AppError> {
    let Some(amount) = &request.amount else {
        return Ok(());
    };
    if amount.amount == order.total.amount && amount.currency == order.total.currency.as_str() {
        return Ok(());
    }
    Err(AppError::Unprocessable {
        detail: format!(
            "partial refunds are not supported: a refund is of the whole total, {}",
            order.total
        ),
        errors: vec![FieldError::new(
            "amount",
            format!(
                "must be the order's total ({} {}) or left out",
                order.total.amount,
                order.total.currency.as_str()
            ),
        )],
    })
}
