//! Batch bookkeeping for SQS consumers, kept apart from the per-message logic: each record is
//! parsed and handled on its own, and the ids of the ones that failed go back in
//! `batchItemFailures`, so SQS retries exactly those. A message that cannot be parsed fails too:
//! after `maxReceiveCount` receives it lands in the dead-letter queue, where the dead-letter
//! function keeps it — never silently dropped.

use std::future::Future;

use aws_lambda_events::sqs::SqsEvent;
use serde_json::{Value, json};
use tracing::Instrument;

use crate::error::AppError;
use crate::messages::Envelope;

/// One record as a consumer sees it.
#[derive(Debug, Clone)]
pub struct Record {
    pub message_id: String,
    /// The queue's name, from the record's source ARN.
    pub queue: String,
    pub receives: u32,
    pub body: String,
}

/// Handles every record of `event` with `handle`; returns the `SQSBatchResponse`.
pub async fn process_records<F, Fut>(event: SqsEvent, handle: F) -> Value
where
    F: Fn(Record) -> Fut,
    Fut: Future<Output = Result<(), AppError>>,
{
    let mut failures = Vec::new();
    let mut queue = String::new();
    for raw in event.records {
        let record = Record {
            message_id: raw.message_id.clone().unwrap_or_default(),
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
        };
        let id = record.message_id.clone();
        let receives = record.receives;
        queue.clone_from(&record.queue);
        if let Err(err) = handle(record).await {
            if err.is_retryable() {
                tracing::warn!(message_id = %id, receives, error = %err.chain(), "message will be retried");
            } else {
                tracing::error!(message_id = %id, receives, error = %err.chain(), "message failed; it will reach the dead-letter queue");
            }
            failures.push(json!({"itemIdentifier": id}));
        }
    }
    if !failures.is_empty() {
        // A broken step shows here long before its messages are dead-lettered (alarm
        // StepFailuresAlarm, which also rolls a deploy back).
        crate::telemetry::metric("StepFailures", failures.len() as f64, &[("Queue", &queue)]);
    }
    json!({"batchItemFailures": failures})
}

/// Like [`process_records`], for the fulfilment messages: each body is parsed as an
/// [`Envelope`] and handled in a span carrying its order and correlation ids.
pub async fn process<F, Fut>(event: SqsEvent, handle: F) -> Value
where
    F: Fn(Envelope) -> Fut,
    Fut: Future<Output = Result<(), AppError>>,
{
    let handle = &handle;
    process_records(event, |record| async move {
        let envelope = Envelope::parse(&record.body).map_err(|invalid| {
            AppError::invalid(format!("message {}", record.message_id), invalid)
        })?;
        let span = tracing::info_span!("message", message_id = %record.message_id, order_id = %envelope.order_id, correlation_id = %envelope.correlation_id);
        handle(envelope).instrument(span).await
    })
    .await
}
