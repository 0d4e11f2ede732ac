//! The fulfilment saga: one use case per step, each fed by its own queue.
//!
//! ```text
//! inventory queue ─> reserve ─> payment queue ─> pay ─> shipping queue ─> ship ─> notification queue ─> notify
//!                      │                          │                                                       COMPLETED
//!                      └─ REJECTED ─> notify      └─ PAYMENT_FAILED ─> compensation queue ─> compensate
//! cancel-order (CANCELLED), dead-letter (FAILED) ─────> compensation queue ─> compensate (refund/void, stock back)
//! reconciler ─> re-drives stalled orders to their step, unsettled ones to compensation
//! ```
//!
//! Every step is idempotent under SQS's at-least-once, unordered delivery: it reloads the order
//! (the source of truth) instead of trusting the message, does nothing if the order is already
//! past its step, makes its change together with a write conditional on the order's version,
//! and only then hands the order to the next queue. Re-sending the next message on a replay is
//! harmless, because the next step makes the same checks. Side effects outside DynamoDB are made
//! safe to repeat by their own keys: the payment intent is recorded on the order before it is
//! confirmed (an intent charges at most once), the carrier's shipment is keyed by the order.

mod compensate;
mod dead_letter;
mod pay;
mod reconcile;
mod reserve;
mod ship;

pub use compensate::{CompensatePorts, compensate};
pub use dead_letter::{DeadLetterPorts, dead_letter};
pub use pay::{PayPorts, pay};
pub use reconcile::{ReconcilePorts, Reconciliation, Steps, reconcile};
pub use reserve::{ReservePorts, reserve};
pub use ship::{NotifyPorts, ShipPorts, notify, ship};

use chrono::{DateTime, Utc};

use crate::domain::{HistoryEntry, Order, OrderStatus};
use crate::error::AppError;
use crate::messages::{Envelope, MessageType};
use crate::ports::OrderRepository;

/// The order a message names, from the source of truth; a message for an order that does not
/// exist fails (towards the dead-letter queue).
async fn load(orders: &dyn OrderRepository, message: &Envelope) -> Result<Order, AppError> {
    orders
        .get(&message.order_id)
        .await?
        .ok_or(AppError::NotFound("order"))
}

/// The message that hands `order` on, in the same correlation as the one being handled.
fn onward(kind: MessageType, order: &Order, message: &Envelope) -> Envelope {
    Envelope::new(
        kind,
        order.id.clone(),
        &message.correlation_id,
        order.updated_at,
    )
}

/// `order` moved to `to`; a step only asks for transitions its own state check allows, so a
/// refusal is a bug worth dead-lettering, not a retry.
fn transition(
    order: &Order,
    to: OrderStatus,
    now: DateTime<Utc>,
    reason: Option<String>,
) -> Result<(Order, HistoryEntry), AppError> {
    order
        .transition(to, now, reason)
        .map_err(|e| AppError::Conflict(e.to_string()))
}

/// Logs that the message found the order past this step.
fn past_step(order: &Order) -> Result<(), AppError> {
    tracing::info!(status = %order.status, "order is past this step; nothing to do");
    Ok(())
}

#[cfg(test)]
mod tests;
