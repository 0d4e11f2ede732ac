//! Telling customers how their order ended: completed, rejected, payment failed, cancelled,
//! failed or refunded, each at most once per order and outcome.
//!
//! The notice is recorded on the order (`notices`) in a conditional write *before* it is sent, so
//! a redelivered message finds it recorded and sends nothing; a crash between the write and the
//! send loses that one notice rather than sending it twice. The address is the account's, read
//! when the notice goes out, so a customer who changed it is written to where they are now; an
//! order whose account has gone is told nobody, and the log says so.

use std::sync::Arc;

use crate::config::ConfigError;
use crate::domain::{Order, OrderStatus, Reason};
use crate::error::AppError;
use crate::ports::{Clock, Notice, Notifier, OrderRepository, UserRepository};
use crate::wiring::Wiring;

pub struct Customers {
    pub users: Arc<dyn UserRepository>,
    pub notifier: Arc<dyn Notifier>,
}

impl Customers {
    pub fn wire<W: Wiring + ?Sized>(from: &W) -> Result<Self, ConfigError> {
        Ok(Self {
            users: from.users()?,
            notifier: from.notifier()?,
        })
    }

    /// Records the notice of the order's outcome, then sends it; once told, nothing.
    pub async fn record_and_tell(
        &self,
        orders: &dyn OrderRepository,
        clock: &dyn Clock,
        order: &Order,
    ) -> Result<(), AppError> {
        if order.notices.contains(&order.status) {
            tracing::info!(status = %order.status, "the customer was told already");
            return Ok(());
        }
        let told = order.revised(clock.now(), |o| o.notices.push(o.status));
        orders.update(order, &told).await?;
        self.tell(orders, &told).await
    }

    /// Sends the notice of the order's outcome, which the caller has recorded on the order, with
    /// the reason its history gives for it.
    pub async fn tell(&self, orders: &dyn OrderRepository, order: &Order) -> Result<(), AppError> {
        let Some(to) = self.users.email_of(&order.customer_id).await? else {
            tracing::warn!(status = %order.status, "the customer has no account any more; nobody told");
            return Ok(());
        };
        let history = match order.status {
            OrderStatus::Completed => Vec::new(),
            _ => orders.history(&order.id).await?,
        };
        let reason = history
            .iter()
            .rev()
            .find(|e| e.to == order.status)
            .and_then(|e| e.reason.as_ref());
        self.notifier
            .notify(&to, order, &notice(order, reason))
            .await
    }
}

/// What the customer reads: the order, how it ended and, where it matters, why and what happens
/// to their money.
pub fn notice(order: &Order, reason: Option<&Reason>) -> Notice {
    let id = &order.id;
    let (subject, text) = match order.status {
        OrderStatus::Completed => (
            format!("Your order {id} is on its way"),
            format!(
                "Your order {id} ({}) has been handed to the carrier. Tracking number: {}.",
                order.total,
                order.tracking_number.as_deref().unwrap_or("not yet known")
            ),
        ),
        OrderStatus::Rejected => (
            format!("We could not accept your order {id}"),
            format!(
                "We could not fulfil your order {id}: {}. You have not been charged.",
                match reason {
                    Some(Reason::OutOfStock { product_id }) =>
                        format!("product {product_id} is out of stock"),
                    _ => "it could not be fulfilled".into(),
                }
            ),
        ),
        OrderStatus::PaymentFailed => (
            format!("Payment for your order {id} did not go through"),
            format!(
                "The payment for your order {id} was declined{}. Nothing was charged; please \
                 order again with another payment method.",
                match reason {
                    Some(Reason::PaymentDeclined { provider_message }) =>
                        format!(": {provider_message}"),
                    _ => String::new(),
                }
            ),
        ),
        OrderStatus::Cancelled => (
            format!("Your order {id} is cancelled"),
            format!(
                "Your order {id} is cancelled{}. Anything you paid ({}) is refunded to your \
                 payment method.",
                if matches!(reason, Some(Reason::CancelledBySupport)) {
                    " by our customer support"
                } else {
                    ""
                },
                order.total
            ),
        ),
        OrderStatus::Refunded => (
            format!("Your order {id} is refunded"),
            format!(
                "Our customer support has refunded your order {id}: {} goes back to your payment \
                 method. You keep what was delivered.",
                order.total
            ),
        ),
        _ => (
            format!("We could not complete your order {id}"),
            format!(
                "Something went wrong on our side and your order {id} could not be completed. \
                 Anything you paid ({}) is refunded to your payment method.",
                order.total
            ),
        ),
    };
    Notice { subject, text }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{OrderId, ProductId};
    use crate::testing;

    fn order_in(status: OrderStatus) -> Order {
        let mut order = testing::order(OrderId::generate(), "c-1", chrono::Utc::now());
        order.status = status;
        order
    }

    #[test]
    fn every_outcome_names_the_order_and_says_what_happens_to_the_money() {
        let out_of_stock = Reason::OutOfStock {
            product_id: ProductId::parse("p-1").unwrap(),
        };
        let declined = Reason::PaymentDeclined {
            provider_message: "Your card was declined.".into(),
        };
        for (status, reason, says) in [
            (OrderStatus::Completed, None, "Tracking number"),
            (
                OrderStatus::Rejected,
                Some(&out_of_stock),
                "p-1 is out of stock",
            ),
            (
                OrderStatus::PaymentFailed,
                Some(&declined),
                "Your card was declined.",
            ),
            (
                OrderStatus::Cancelled,
                Some(&Reason::CancelledBySupport),
                "by our customer support",
            ),
            (OrderStatus::Failed, None, "refunded"),
            (
                OrderStatus::Refunded,
                Some(&Reason::RefundedBySupport),
                "goes back to your payment method",
            ),
        ] {
            let order = order_in(status);
            let notice = notice(&order, reason);
            assert!(notice.subject.contains(order.id.as_str()), "{status}");
            assert!(notice.text.contains(says), "{status}: {}", notice.text);
        }
    }
}
