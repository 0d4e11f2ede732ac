//! Compensation: what an unfulfilled order took goes back.

use super::load;
use crate::domain::{Payment, PaymentState};
use crate::error::AppError;
use crate::messages::Envelope;
use crate::ports::{Clock, Inventory, OrderRepository, Payments, Settlement};

/// What compensating needs.
pub struct CompensatePorts<'a> {
    pub orders: &'a dyn OrderRepository,
    pub inventory: &'a dyn Inventory,
    pub payments: &'a dyn Payments,
    pub clock: &'a dyn Clock,
}

/// For a cancelled, declined or failed order: refunds its charge (or voids an intent that has
/// not charged yet, so a late confirmation cannot charge), then gives its stock back, once.
/// Whatever never happened needs nothing: an order without stock or payment is left alone.
///
/// The payment is first *claimed* (`SETTLING`, a version-conditional write), so concurrent
/// deliveries do not both refund; a delivery that finds it claimed settles again, which finds
/// the earlier refund instead of making a second one.
pub async fn compensate(ports: &CompensatePorts<'_>, message: &Envelope) -> Result<(), AppError> {
    let mut order = load(ports.orders, message).await?;
    if !order.owes_compensation() {
        tracing::info!(status = %order.status, "nothing to give back");
        return Ok(());
    }
    let now = ports.clock.now();
    let mut settled = None;
    if let Some(payment) = order.payment.clone().filter(|p| p.state.owes_settlement()) {
        if payment.state != PaymentState::Settling {
            let claimed = order.revised(now, |o| {
                o.payment = Some(Payment {
                    state: PaymentState::Settling,
                    ..payment.clone()
                });
            });
            ports.orders.update(&order, &claimed).await?;
            order = claimed;
        }
        settled = Some(match ports.payments.settle(&payment.intent_id).await? {
            Settlement::Refunded(refund_id) => Payment {
                state: PaymentState::Refunded,
                refund_id: Some(refund_id),
                ..payment
            },
            Settlement::Voided => Payment {
                state: PaymentState::Voided,
                ..payment
            },
        });
    }
    let next = order.revised(now, |o| {
        o.stock_held = false;
        if settled.is_some() {
            o.payment = settled.clone();
        }
    });
    if order.stock_held {
        ports.inventory.release(&order, &next).await?;
    } else {
        ports.orders.update(&order, &next).await?;
    }
    tracing::info!(stock_released = order.stock_held, payment = ?next.payment.as_ref().map(|p| p.state), "compensated");
    Ok(())
}
