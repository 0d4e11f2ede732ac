//! Batch bookkeeping for SQS consumers, kept apart from the per-message logic: each record is
//! parsed and handled on its own, and the ids of the ones that failed go back in
//! `batchItemFailures`, so SQS retries exactly those. A message that cannot be parsed fails too:
//! after `maxReceiveCount` receives it lands in the dead-letter queue, where it is kept — never
//! silently dropped.

use std::future::Future;

use aws_lambda_events::sqs::SqsEvent;
use serde_json::{Value, json};
use tracing::Instrument;

use crate::error::AppError;
use crate::messages::Envelope;

/// Handles every record of `event` with `handle`; returns the `SQSBatchResponse`.
pub async fn process<F, Fut>(event: SqsEvent, handle: F) -> Value
where
    F: Fn(Envelope) -> Fut,
    Fut: Future<Output = Result<(), AppError>>,
{
    let mut failures = Vec::new();
    for record in event.records {
        let id = record.message_id.clone().unwrap_or_default();
        let receives = record
            .attributes
            .get("ApproximateReceiveCount")
            .cloned()
            .unwrap_or_default();
        let outcome = match Envelope::parse(record.body.as_deref().unwrap_or_default()) {
            Err(invalid) => {
                tracing::error!(message_id = %id, receives = %receives, error = %invalid, "unreadable message; it will reach the dead-letter queue");
                Err(())
            }
            Ok(envelope) => {
                let span = tracing::info_span!("message", message_id = %id, order_id = %envelope.order_id, correlation_id = %envelope.correlation_id);
                match handle(envelope).instrument(span.clone()).await {
                    Ok(()) => Ok(()),
                    Err(err) => {
                        let _entered = span.enter();
                        if err.is_retryable() {
                            tracing::warn!(receives = %receives, error = %err.chain(), "message will be retried");
                        } else {
                            tracing::error!(receives = %receives, error = %err.chain(), "message failed; it will reach the dead-letter queue");
                        }
                        Err(())
                    }
                }
            }
        };
        if outcome.is_err() {
            failures.push(json!({"itemIdentifier": id}));
        }
    }
    json!({"batchItemFailures": failures})
}
