//! Failure handling: a message a step gave up on fails its order, which compensation then
//! unwinds.

use super::{onward, transition};
use crate::domain::OrderStatus;
use crate::error::AppError;
use crate::messages::{Envelope, MessageType};
use crate::ports::{Clock, DeadLetter, DeadLetters, OrderEvents, OrderRepository};

/// What failure handling needs.
pub struct DeadLetterPorts<'a> {
    pub orders: &'a dyn OrderRepository,
    pub letters: &'a dyn DeadLetters,
    /// The compensation queue.
    pub compensation: &'a dyn OrderEvents,
    pub clock: &'a dyn Clock,
}

/// Keeps the letter (first: whatever happens next, the message is not lost), then marks its
/// order `FAILED` with the reason and sends it to compensation (refund, stock back) and counts
/// it as a metric. A letter whose order already ended (or that names none) is only kept: the
/// reconciler reports an ended order that still owes compensation.
pub async fn dead_letter(ports: &DeadLetterPorts<'_>, letter: &DeadLetter) -> Result<(), AppError> {
    ports.letters.keep(letter).await?;
    crate::telemetry::metric("DeadLetters", 1.0, &[("Queue", &letter.queue)]);
    let message = match Envelope::parse(&letter.body) {
        Ok(message) => message,
        Err(unreadable) => {
            tracing::error!(queue = %letter.queue, error = %unreadable, "unreadable dead letter kept");
            return Ok(());
        }
    };
    let Some(order) = ports.orders.get(&message.order_id).await? else {
        tracing::error!(queue = %letter.queue, order_id = %message.order_id, "dead letter for an unknown order kept");
        return Ok(());
    };
    if order.status.is_terminal() {
        tracing::warn!(queue = %letter.queue, status = %order.status, "dead letter for an ended order kept");
        return Ok(());
    }
    let reason = format!(
        "{:?} dead-lettered to {} after {} receives",
        message.kind, letter.queue, letter.receives
    );
    let (failed, entry) = transition(&order, OrderStatus::Failed, ports.clock.now(), Some(reason))?;
    ports.orders.apply(&order, &failed, &entry).await?;
    tracing::error!(queue = %letter.queue, reason = ?entry.reason, "order failed");
    let unwinding = onward(MessageType::OrderFailed, &failed, &message);
    ports.compensation.publish(&unwinding).await
}
