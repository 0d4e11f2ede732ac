//! The batch runner every queue consumer shares, which enforces the step contract:
//!
//! - **Deadline-aware.** A record starts only while its consumer's budget (from `pipeline`) still
//!   fits before the invocation's deadline (from the Lambda context); the rest are reported
//!   unstarted in `batchItemFailures`. A started record runs [`within`](crate::deadline::within)
//!   its budget, so slow calls give up on their own, and is cut off at the budget otherwise. An
//!   invocation therefore never times out while it holds records it has not reported, and a
//!   retry never re-receives records that succeeded.
//! - **Error classes.** A transient error leaves the record for SQS to retry (and, after 5
//!   receives, to dead-letter). A permanent one (an unreadable message, a refused transition, a
//!   request the provider refuses) sends the record straight to its queue's dead-letter queue
//!   with the reason, so failure handling sees it once, at once.
//!
//! Each record is parsed and handled on its own, in a log span with its message and order ids.

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::Context;
use tokio::time::Instant;
use tracing::Instrument;

use crate::adapters::sqs::PROBLEM_ATTRIBUTE;
use crate::error::AppError;
use crate::messages::Envelope;
use crate::metrics::Metric;
use crate::pipeline::Consumer;
use crate::ports::Queues;

/// Time kept back from the deadline to return the batch response.
pub const REPORT_MARGIN: Duration = Duration::from_millis(250);

/// One record as a consumer sees it.
#[derive(Debug, Clone)]
pub struct Record {
    pub message_id: String,
    /// The queue's name, from the record's source ARN.
    pub queue: String,
    pub receives: u32,
    pub body: String,
    /// Why a consumer moved the message to its dead-letter queue itself (a permanent error).
    pub problem: Option<String>,
}

impl Record {
    fn of(raw: aws_lambda_events::sqs::SqsMessage) -> Self {
        let problem = raw
            .message_attributes
            .get(PROBLEM_ATTRIBUTE)
            .and_then(|a| a.string_value.clone());
        Self {
            message_id: raw.message_id.unwrap_or_default(),
            queue: raw
                .event_source_arn
                .as_deref()
                .and_then(|arn| arn.rsplit(':').next())
                .unwrap_or_default()
                .to_string(),
            receives: raw
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|n| n.parse().ok())
                .unwrap_or(1),
            body: raw.body.unwrap_or_default(),
            problem,
        }
    }
}

/// Handles every record of `event` with `handle`, at most `budget` each, and reports the ones
/// that failed or were not started. `label` names the queue in logs and the `StepFailures` metric.
pub async fn for_each_record<F, Fut>(
    label: &str,
    budget: Duration,
    context: &Context,
    event: SqsEvent,
    handle: F,
) -> SqsBatchResponse
where
    F: Fn(Record) -> Fut,
    Fut: Future<Output = Result<(), AppError>>,
{
    let deadline = crate::deadline::of(context);
    let mut failed = Vec::new();
    let mut unstarted = 0usize;
    for raw in event.records {
        let record = Record::of(raw);
        let id = record.message_id.clone();
        let receives = record.receives;
        let started = Instant::now();
        if deadline.is_some_and(|d| d.saturating_duration_since(started) < budget + REPORT_MARGIN) {
            unstarted += 1;
            failed.push(id);
            continue;
        }
        let work = crate::deadline::within(started + budget, handle(record));
        match tokio::time::timeout(budget, work).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                tracing::warn!(message_id = %id, receives, error = %err.chain(), retryable = err.is_retryable(), "message failed; it will be received again");
                failed.push(id);
            }
            Err(_) => {
                tracing::warn!(message_id = %id, receives, budget_ms = budget.as_millis() as u64, "message overran its budget; it will be received again");
                failed.push(id);
            }
        }
    }
    if unstarted > 0 {
        tracing::warn!(
            unstarted,
            queue = label,
            budget_ms = budget.as_millis() as u64,
            "the invocation's deadline is near: records left for redelivery unstarted"
        );
    }
    if !failed.is_empty() {
        // A broken step shows here long before its messages are dead-lettered (alarm
        // StepFailuresAlarm, which also rolls a deploy back).
        Metric::StepFailures.emit(failed.len() as f64, Some(label));
    }
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed
        .into_iter()
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect();
    response
}

/// A consumer of one pipeline queue: a fulfilment step, compensation.
#[async_trait]
pub trait Consume: Send + Sync {
    /// Its row of the pipeline: queue, function and budget.
    fn consumer(&self) -> &'static Consumer;

    /// Where it sends records it can never handle: its queue's dead-letter queue.
    fn queues(&self) -> &dyn Queues;

    async fn handle(&self, message: &Envelope) -> Result<(), AppError>;
}

/// Runs a batch through a consumer under the step contract.
pub async fn consume<C: Consume + ?Sized>(
    consumer: &C,
    context: &Context,
    event: SqsEvent,
) -> SqsBatchResponse {
    let row = consumer.consumer();
    for_each_record(
        row.queue.slug(),
        row.budget,
        context,
        event,
        |record| async move {
            let message = match Envelope::parse(&record.body) {
                Ok(message) => message,
                Err(unreadable) => {
                    let problem = format!("unreadable message: {unreadable}");
                    return dead_letter_now(consumer, &record, &problem).await;
                }
            };
            let span = tracing::info_span!(
                "message",
                message_id = %record.message_id,
                order_id = %message.order_id,
                correlation_id = %message.correlation_id,
                kind = message.kind.as_str(),
                step = row.queue.slug(),
            );
            let started = std::time::Instant::now();
            let step = Some(row.queue.slug());
            if record.receives > 1 {
                Metric::StepRetries.emit(1.0, step);
            }
            let outcome = consumer.handle(&message).instrument(span.clone()).await;
            Metric::StepDuration.emit(started.elapsed().as_secs_f64() * 1e3, step);
            match outcome {
                Err(permanent) if !permanent.is_retryable() => {
                    dead_letter_now(consumer, &record, &permanent.chain())
                        .instrument(span)
                        .await
                }
                Ok(()) => {
                    // One line per step of the journey, whatever the step did.
                    span.in_scope(|| {
                        tracing::info!(
                            duration_ms = started.elapsed().as_millis() as u64,
                            "message handled"
                        );
                    });
                    Ok(())
                }
                other => other,
            }
        },
    )
    .await
}

/// Failure handling for a permanent error, once: the record goes to the dead-letter queue with
/// its problem (and is deleted here); if even that fails, it stays for SQS to retry.
async fn dead_letter_now<C: Consume + ?Sized>(
    consumer: &C,
    record: &Record,
    problem: &str,
) -> Result<(), AppError> {
    let queue = consumer.consumer().queue;
    consumer
        .queues()
        .dead_letter(queue, &record.body, problem)
        .await?;
    tracing::error!(message_id = %record.message_id, %queue, problem, "message refused for good: sent to the dead-letter queue");
    Ok(())
}
