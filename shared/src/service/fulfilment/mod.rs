//! The fulfilment saga: one use case per consumer of the pipeline (`crate::pipeline`), each
//! owning its ports and built from a wiring source ([`Wire`](crate::wiring::Wire)).
//!
//! Every step is idempotent under SQS's at-least-once, unordered delivery: it reloads the order
//! (the source of truth) instead of trusting the message, acts only when the order waits in a
//! status of its row ([`stand`]), makes its change together with a write conditional on the
//! order's version, and only then hands the order to the queue its new status routes to
//! ([`hand_on`]). Re-sending the next message on a replay is harmless, because the next step makes
//! the same checks. Side effects outside DynamoDB are made safe to repeat by their own keys: the
//! payment intent is recorded on the order before it is confirmed (an intent charges at most
//! once), the carrier's shipment is keyed by the order.

mod compensate;
mod dead_letter;
mod notices;
mod notify;
mod pay;
mod reconcile;
mod reserve;
mod ship;

pub use compensate::Compensate;
pub use dead_letter::DeadLetterHandling;
pub use notify::Notify;
pub use pay::Pay;
pub use reconcile::{Reconcile, Reconciliation};
pub use reserve::Reserve;
pub use ship::Ship;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::config::ConfigError;
use crate::domain::{Actor, HistoryEntry, Order, OrderStatus, Reason};
use crate::error::AppError;
use crate::messages::Envelope;
use crate::pipeline::{self, Consumer, Step};
use crate::ports::{Clock, OrderRepository, Queues};
use crate::sqs::Consume;
use crate::wiring::{Wire, Wiring};

/// Every consumer of the pipeline, wired: one per queue. The test worlds and the system tests'
/// function dispatch find a queue's consumer here, through the table.
pub async fn consumers<W: Wiring + ?Sized>(from: &W) -> Result<Vec<Box<dyn Consume>>, ConfigError> {
    Ok(vec![
        Box::new(Reserve::wire(from).await?),
        Box::new(Pay::wire(from).await?),
        Box::new(Ship::wire(from).await?),
        Box::new(Notify::wire(from).await?),
        Box::new(Compensate::wire(from).await?),
    ])
}

/// What every consumer of the pipeline has: its row, the orders, the queues it hands orders to
/// (and its own dead-letter queue), the clock.
pub struct StepPorts {
    pub consumer: &'static Consumer,
    pub orders: Arc<dyn OrderRepository>,
    pub queues: Arc<dyn Queues>,
    pub clock: Arc<dyn Clock>,
}

impl StepPorts {
    pub fn wire<W: Wiring + ?Sized>(
        from: &W,
        consumer: &'static Consumer,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            consumer,
            orders: from.orders()?,
            queues: from.queues(&pipeline::sends_to(consumer), Some(consumer.queue))?,
            clock: from.clock(),
        })
    }
}

/// A fulfilment use case: what it does to an order that waits in a status of its rows. Loading
/// the order and deciding whether it is this step's business is the same for every step
/// ([`Consume`] below), so a step only acts.
#[async_trait]
pub trait FulfilmentStep: Send + Sync {
    fn ports(&self) -> &StepPorts;

    /// Acts on `order`, which waits in `step.awaits`.
    async fn act(
        &self,
        step: &'static Step,
        order: Order,
        message: &Envelope,
    ) -> Result<(), AppError>;
}

#[async_trait]
impl<S: FulfilmentStep> Consume for S {
    fn consumer(&self) -> &'static Consumer {
        self.ports().consumer
    }

    fn queues(&self) -> &dyn Queues {
        self.ports().queues.as_ref()
    }

    /// Reloads the order the message names (the source of truth; a message for an order that
    /// does not exist is refused for good) and acts only if it waits for this step.
    async fn handle(&self, message: &Envelope) -> Result<(), AppError> {
        let ports = self.ports();
        let order = ports
            .orders
            .get(&message.order_id)
            .await?
            .ok_or(AppError::NotFound("order"))?;
        match stand(ports.consumer, &order) {
            Stand::Due(step) => self.act(step, order, message).await,
            Stand::Done => hand_on(ports.queues.as_ref(), &order, message).await,
            Stand::Elsewhere => {
                tracing::info!(status = %order.status, "order is not at this step; nothing to do");
                Ok(())
            }
        }
    }
}

/// Where an order stands for one consumer.
enum Stand {
    /// It waits in the status of this row: act.
    Due(&'static Step),
    /// The consumer already moved it on (a redelivery): hand it on again, in case that was lost
    /// (nowhere, once it is completed).
    Done,
    /// Another step's business (it moved past, or a stale message): nothing to do.
    Elsewhere,
}

fn stand(consumer: &'static Consumer, order: &Order) -> Stand {
    if let Some(step) = pipeline::step(order.status).filter(|s| s.consumer == consumer) {
        return Stand::Due(step);
    }
    if pipeline::steps_of(consumer).any(|s| s.produces == Some(order.status)) {
        return Stand::Done;
    }
    Stand::Elsewhere
}

/// Sends `order` to the queue its status routes to (nowhere once it is completed), in the same
/// correlation as the message being handled.
async fn hand_on(queues: &dyn Queues, order: &Order, message: &Envelope) -> Result<(), AppError> {
    hand_on_after(queues, order, &message.correlation_id, Duration::ZERO).await
}

async fn hand_on_after(
    queues: &dyn Queues,
    order: &Order,
    correlation_id: &str,
    delay: Duration,
) -> Result<(), AppError> {
    queues.hand_on(order, correlation_id, delay).await
}

/// `order` moved to `to` by function `by` handling `message` (whose correlation id the history
/// entry keeps). A refusal is a bug (the table and the state machine disagree), never worth a
/// retry: it is a permanent error.
fn transition(
    order: &Order,
    to: Option<OrderStatus>,
    now: DateTime<Utc>,
    reason: Option<Reason>,
    (by, message): (&str, &Envelope),
) -> Result<(Order, HistoryEntry), AppError> {
    let to = to.ok_or_else(|| {
        AppError::internal(
            "pipeline table",
            format!("the step for {} names no status to move to", order.status),
        )
    })?;
    let (next, entry) = order.transition(to, now, reason)?;
    let entry = entry
        .correlated(&message.correlation_id)
        .by(Actor::Step(by.to_string()));
    Ok((next, entry))
}

#[cfg(test)]
mod tests;
