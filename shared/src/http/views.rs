//! What the API shows of domain values: camelCase JSON, money as `{amount, currency}`.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::domain::{
    Actor, HistoryEntry, Money, Order, OrderItem, OrderStatus, PaymentState, Product, Reason,
    ShippingAddress,
};
use crate::ports::Page;
use crate::service::Cursor;
use crate::service::health::Check;

/// An order: `customerId` only for admins.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Order))]
#[serde(rename_all = "camelCase")]
pub struct OrderView<'a> {
    /// `ord_` and 32 lowercase hex digits.
    #[cfg_attr(feature = "openapi", schema(pattern = "^ord_[0-9a-f]{32}$"))]
    pub id: &'a str,
    pub status: OrderStatus,
    pub items: &'a [OrderItem],
    /// The sum of the lines at their catalog prices.
    pub total: Money,
    pub shipping_address: &'a ShippingAddress,
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub created_at: String,
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub updated_at: String,
    /// Moves with every change of the order.
    pub version: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_status: Option<PaymentState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracking_number: Option<&'a str>,
    /// Whose order it is: shown to admins only (a customer knows).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<&'a str>,
}

pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl<'a> From<&'a Order> for OrderView<'a> {
    fn from(order: &'a Order) -> Self {
        Self {
            id: order.id.as_str(),
            status: order.status,
            items: &order.items,
            total: order.total,
            shipping_address: &order.shipping_address,
            created_at: timestamp(order.created_at),
            updated_at: timestamp(order.updated_at),
            version: order.version,
            payment_status: order.payment.as_ref().map(|p| p.state),
            tracking_number: order.tracking_number.as_deref(),
            customer_id: None,
        }
    }
}

impl<'a> OrderView<'a> {
    /// The order as `admin` or its customer may see it.
    pub fn seen_by(order: &'a Order, admin: bool) -> Self {
        Self {
            customer_id: admin.then_some(order.customer_id.as_str()),
            ..Self::from(order)
        }
    }
}

/// A product of the catalog.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Product))]
#[serde(rename_all = "camelCase")]
pub struct ProductView<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub unit_price: Money,
    pub available: u32,
}

impl<'a> From<&'a Product> for ProductView<'a> {
    fn from(product: &'a Product) -> Self {
        Self {
            id: product.id.as_str(),
            name: &product.name,
            unit_price: product.unit_price,
            available: product.available,
        }
    }
}

/// One transition of an order's timeline: `reason` in words for people, `reasonCode` for code.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = HistoryEntry))]
#[serde(rename_all = "camelCase")]
pub struct HistoryView<'a> {
    pub version: u64,
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub at: String,
    pub from: Option<OrderStatus>,
    pub to: OrderStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `OUT_OF_STOCK`, `PAYMENT_DECLINED`, `HANDED_TO_CARRIER`, `CUSTOMER_NOTIFIED`,
    /// `CANCELLED_BY_CUSTOMER`, `CANCELLED_BY_SUPPORT`, `REFUNDED_BY_SUPPORT`, `STEP_GAVE_UP`;
    /// clients must tolerate
    /// codes added later.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<&'static str>,
    /// What to quote to support, and what finds the entry's log lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<&'a str>,
    /// Who made the transition: `{"type": "customer" | "admin" | "step", "id"}`; a customer
    /// sees that an admin acted, not which one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<ActorView<'a>>,
}

#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Actor))]
pub struct ActorView<'a> {
    /// `customer`, `admin` or `step`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<&'a str>,
}

impl<'a> ActorView<'a> {
    fn of(actor: &'a Actor, admin: bool) -> Self {
        match actor {
            Actor::Customer(id) => Self {
                kind: "customer",
                id: Some(id),
            },
            Actor::Admin(id) => Self {
                kind: "admin",
                id: admin.then_some(id.as_str()),
            },
            Actor::Step(function) => Self {
                kind: "step",
                id: Some(function),
            },
        }
    }
}

impl<'a> HistoryView<'a> {
    /// The entry as `viewer` may see it: free text from before reasons were typed is shown to
    /// admins only, since it may name internals.
    pub fn of(entry: &'a HistoryEntry, admin: bool) -> Self {
        let reason = entry.reason.as_ref();
        Self {
            version: entry.version,
            at: timestamp(entry.at),
            from: entry.from,
            to: entry.to,
            reason: reason.and_then(|r| describe(r, admin)),
            reason_code: reason.and_then(code),
            correlation_id: entry.correlation_id.as_deref(),
            actor: entry.actor.as_ref().map(|a| ActorView::of(a, admin)),
        }
    }
}

/// A reason in words for its audience; nothing internal for customers.
pub fn describe(reason: &Reason, admin: bool) -> Option<String> {
    Some(match reason {
        Reason::OutOfStock { product_id } => format!("out of stock: {product_id}"),
        Reason::PaymentDeclined { provider_message } => {
            format!("payment declined: {provider_message}")
        }
        Reason::HandedToCarrier { tracking_number } => {
            format!("handed to the carrier, tracking number {tracking_number}")
        }
        Reason::CustomerNotified => "customer notified".into(),
        Reason::CancelledByCustomer => "cancelled by the customer".into(),
        Reason::CancelledBySupport => "cancelled by customer support".into(),
        Reason::RefundedBySupport => "refunded in full by customer support".into(),
        Reason::StepGaveUp { queue, receives } if admin => {
            format!("the {queue} step gave up after {receives} deliveries")
        }
        Reason::StepGaveUp { .. } => {
            "the order could not be completed; anything taken is given back".into()
        }
        Reason::Legacy(text) if admin => text.clone(),
        Reason::Legacy(_) => return None,
    })
}

/// The stable code of a reason, for clients that branch on it.
pub fn code(reason: &Reason) -> Option<&'static str> {
    Some(match reason {
        Reason::OutOfStock { .. } => "OUT_OF_STOCK",
        Reason::PaymentDeclined { .. } => "PAYMENT_DECLINED",
        Reason::HandedToCarrier { .. } => "HANDED_TO_CARRIER",
        Reason::CustomerNotified => "CUSTOMER_NOTIFIED",
        Reason::CancelledByCustomer => "CANCELLED_BY_CUSTOMER",
        Reason::CancelledBySupport => "CANCELLED_BY_SUPPORT",
        Reason::RefundedBySupport => "REFUNDED_BY_SUPPORT",
        Reason::StepGaveUp { .. } => "STEP_GAVE_UP",
        Reason::Legacy(_) => return None,
    })
}

/// The health check's answer: `checks` only for `?deep=true`.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Health))]
pub struct HealthView {
    /// `ok`, `degraded` (only the payment provider is down) or `unavailable`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checks: Option<Vec<Check>>,
}

/// A page of a listing: `{"items": [...], "cursor": "opaque" | null}`.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ListView<V> {
    pub items: Vec<V>,
    /// Where the next page starts (`?cursor=`), null on the last page.
    pub cursor: Option<String>,
}

/// An order's timeline, oldest first.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = History))]
pub struct HistoryListView<'a> {
    pub items: Vec<HistoryView<'a>>,
}

/// The answer to a sign-up: the same for a new and an existing account.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Registered))]
pub struct RegisteredView<'a> {
    pub email: &'a str,
}

impl<V> ListView<V> {
    pub fn of<'a, T: 'a, C: Serialize>(page: &'a Page<T, C>) -> Self
    where
        V: From<&'a T>,
    {
        Self::mapped(page, V::from)
    }

    /// A page with each item shown through `view`.
    pub fn mapped<'a, T: 'a, C: Serialize>(
        page: &'a Page<T, C>,
        view: impl Fn(&'a T) -> V,
    ) -> Self {
        Self {
            items: page.items.iter().map(view).collect(),
            cursor: page.next.as_ref().map(Cursor::encode),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_customer_sees_that_an_admin_acted_but_not_which_one() {
        let entry = HistoryEntry {
            version: 2,
            at: chrono::Utc::now(),
            from: Some(OrderStatus::Pending),
            to: OrderStatus::Cancelled,
            reason: Some(Reason::CancelledByCustomer),
            correlation_id: Some("c-9".into()),
            actor: Some(Actor::Admin("usr_admin".into())),
        };
        let customer = serde_json::to_value(HistoryView::of(&entry, false)).unwrap();
        assert_eq!(customer["actor"], serde_json::json!({"type": "admin"}));
        assert_eq!(customer["correlationId"], "c-9");
        let admin = serde_json::to_value(HistoryView::of(&entry, true)).unwrap();
        assert_eq!(
            admin["actor"],
            serde_json::json!({"type": "admin", "id": "usr_admin"})
        );
    }
}
