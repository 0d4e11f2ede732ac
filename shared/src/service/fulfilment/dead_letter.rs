//! Failure handling, fed by every dead-letter queue: a message a step gave up on fails its order,
//! which compensation then unwinds, but only while the order still waits for that step.

use std::sync::Arc;

use async_trait::async_trait;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::Context;
use tracing::Instrument;

use super::{hand_on, transition};
use crate::config::ConfigError;
use crate::domain::{OrderStatus, Reason};
use crate::error::AppError;
use crate::messages::Envelope;
use crate::ports::{Clock, DeadLetter, DeadLetters, OrderRepository, Queues};
use crate::wiring::{Wire, Wiring};
use crate::{pipeline, sqs};

pub struct DeadLetterHandling {
    pub orders: Arc<dyn OrderRepository>,
    pub letters: Arc<dyn DeadLetters>,
    /// Where a failed order goes: the queue `FAILED` routes to.
    pub queues: Arc<dyn Queues>,
    pub clock: Arc<dyn Clock>,
}

#[async_trait]
impl Wire for DeadLetterHandling {
    async fn wire<W: Wiring + ?Sized>(from: &W) -> Result<Self, ConfigError> {
        let failed_to: Vec<_> = pipeline::route(OrderStatus::Failed).into_iter().collect();
        Ok(Self {
            orders: from.orders()?,
            letters: from.dead_letters()?,
            queues: from.queues(&failed_to, None)?,
            clock: from.clock(),
        })
    }
}

impl DeadLetterHandling {
    /// One batch from the dead-letter queues: every record kept and judged, each within
    /// [`DEAD_LETTER_BUDGET`](pipeline::DEAD_LETTER_BUDGET).
    pub async fn batch(&self, context: &Context, event: SqsEvent) -> SqsBatchResponse {
        let budget = pipeline::DEAD_LETTER_BUDGET;
        sqs::for_each_record(
            "dead-letters",
            budget,
            context,
            event,
            |record| async move {
                let letter = DeadLetter {
                    queue: record.queue,
                    message_id: record.message_id,
                    body: record.body,
                    receives: record.receives,
                    at: self.clock.now(),
                    problem: record.problem,
                };
                self.handle(&letter).await
            },
        )
        .await
    }

    /// Keeps the letter (first: whatever happens next, the message is not lost) and counts it.
    /// Then, if the order still waits for the step the letter was meant for, marks it `FAILED`
    /// and sends it to compensation (refund, stock back). Every other letter is only kept and
    /// logged: an unreadable one, one for an unknown or ended order, one that names no step, and
    /// a stale one whose order has moved past its step (a duplicate of an earlier step's message
    /// must never fail a healthy order, let alone refund one that shipped).
    pub async fn handle(&self, letter: &DeadLetter) -> Result<(), AppError> {
        self.letters.keep(letter).await?;
        crate::metrics::Metric::DeadLetters.emit(1.0, Some(&letter.queue));
        let message = match Envelope::parse(&letter.body) {
            Ok(message) => message,
            Err(unreadable) => {
                tracing::error!(queue = %letter.queue, error = %unreadable, problem = letter.problem.as_deref(), "unreadable dead letter kept");
                return Ok(());
            }
        };
        // The letter's message names the request that placed the order: its lines join the
        // journey (`filter correlation_id = …`).
        let span = tracing::info_span!(
            "dead letter",
            correlation_id = %message.correlation_id,
            order_id = %message.order_id,
        );
        self.judge(letter, &message).instrument(span).await
    }

    /// Fails the order if it still waits for the letter's step; otherwise only logs why not.
    async fn judge(&self, letter: &DeadLetter, message: &Envelope) -> Result<(), AppError> {
        let Some(order) = self.orders.get(&message.order_id).await? else {
            tracing::error!(queue = %letter.queue, order_id = %message.order_id, "dead letter for an unknown order kept");
            return Ok(());
        };
        let Some(step) = message.queue else {
            tracing::warn!(queue = %letter.queue, order_id = %order.id, kind = message.kind.as_str(), "dead letter names no step; kept, not applied");
            return Ok(());
        };
        if !pipeline::waiting_for(order.status, step) {
            tracing::warn!(queue = %letter.queue, order_id = %order.id, status = %order.status, step = %step, "stale dead letter kept: the order no longer waits for that step");
            return Ok(());
        }
        let reason = Reason::StepGaveUp {
            queue: step,
            receives: letter.receives,
        };
        let (failed, entry) = transition(
            &order,
            Some(OrderStatus::Failed),
            self.clock.now(),
            Some(reason),
            ("dead-letter", message),
        )?;
        self.orders.apply(&order, &failed, &entry).await?;
        crate::metrics::outcome(&failed);
        tracing::error!(queue = %letter.queue, order_id = %order.id, step = %step, receives = letter.receives, problem = letter.problem.as_deref(), "order failed");
        hand_on(self.queues.as_ref(), &failed, message).await
    }
}
