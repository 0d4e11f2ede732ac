//! SQS event sources as Lambda runs them: poll the queue, gather up to `BatchSize` messages for at
//! most `MaximumBatchingWindowInSeconds`, invoke the function with an `SQSEvent`, and delete what
//! succeeded. With `ReportBatchItemFailures` only the messages the function lists stay; without
//! it, a failed invocation keeps the whole batch. What stays becomes visible again after the
//! queue's visibility timeout, and the queue's redrive policy moves it to its dead-letter queue
//! after `maxReceiveCount` receives.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};
use serde_yaml_ng::Value as Yaml;

use super::event::REGION;
use super::invoke::{Invoker, Outcome};
use crate::template::{Scope, Template};

#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub function: String,
    pub queue_url: String,
    pub queue_arn: String,
    pub batch_size: usize,
    pub window: Duration,
    pub report_failures: bool,
}

pub fn sources(template: &Template, scope: &Scope) -> Result<Vec<Source>> {
    let mut sources = Vec::new();
    for function in template.functions() {
        for (name, kind, props) in &function.events {
            if kind != "SQS" {
                continue;
            }
            let queue = props
                .get("Queue")
                .with_context(|| format!("{name}: SQS event needs Queue"))?;
            let queue_arn = scope.resolve(queue)?;
            let logical = scope
                .attrs
                .iter()
                .find(|(k, v)| k.ends_with(".Arn") && **v == queue_arn)
                .map(|(k, _)| k.trim_end_matches(".Arn").to_string())
                .with_context(|| format!("{name}: no queue with ARN {queue_arn}"))?;
            let queue_url = scope
                .refs
                .get(&logical)
                .cloned()
                .with_context(|| format!("{name}: queue {logical} was not created"))?;
            // A number, or a Ref to a parameter holding one (the batching window is per stage).
            let number = |key: &str, default: u64| -> Result<u64> {
                match props.get(key) {
                    None => Ok(default),
                    Some(value) => scope
                        .resolve(value)?
                        .parse()
                        .with_context(|| format!("{name}: {key} is not a whole number")),
                }
            };
            let report_failures = props
                .get("FunctionResponseTypes")
                .and_then(Yaml::as_sequence)
                .is_some_and(|t| {
                    t.iter()
                        .any(|v| v.as_str() == Some("ReportBatchItemFailures"))
                });
            sources.push(Source {
                function: function.binary.clone(),
                queue_url,
                queue_arn,
                batch_size: usize::try_from(number("BatchSize", 10)?)
                    .unwrap_or(10)
                    .clamp(1, 10_000),
                window: Duration::from_secs(number("MaximumBatchingWindowInSeconds", 0)?),
                report_failures,
            });
        }
    }
    Ok(sources)
}

/// One record of an `SQSEvent`, as Lambda builds it from a received message.
pub fn record(message: &Message, queue_arn: &str) -> Value {
    let mut attributes = Map::new();
    for (name, value) in message.attributes().into_iter().flatten() {
        attributes.insert(name.as_str().to_string(), json!(value));
    }
    let mut message_attributes = Map::new();
    for (name, value) in message.message_attributes().into_iter().flatten() {
        message_attributes.insert(
            name.clone(),
            json!({
                "stringValue": value.string_value(),
                "binaryValue": value.binary_value().map(|b| STANDARD.encode(b.as_ref())),
                "stringListValues": value.string_list_values(),
                "binaryListValues": value.binary_list_values().iter().map(|b| STANDARD.encode(b.as_ref())).collect::<Vec<_>>(),
                "dataType": value.data_type(),
            }),
        );
    }
    json!({
        "messageId": message.message_id(),
        "receiptHandle": message.receipt_handle(),
        "body": message.body().unwrap_or_default(),
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message.md5_of_body(),
        "md5OfMessageAttributes": message.md5_of_message_attributes(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    })
}

/// Which of the batch's message ids to delete after the invocation.
pub fn to_delete<'a>(ids: &[&'a str], outcome: &Outcome, report_failures: bool) -> Vec<&'a str> {
    let Outcome::Returned(response) = outcome else {
        return Vec::new();
    };
    if !report_failures {
        return ids.to_vec();
    }
    let failures = match response.get("batchItemFailures") {
        None | Some(Value::Null) => return ids.to_vec(),
        Some(Value::Array(items)) => items,
        // Lambda treats a malformed response as a failure of the whole batch.
        Some(_) => return Vec::new(),
    };
    let mut failed = HashSet::new();
    for item in failures {
        match item.get("itemIdentifier").and_then(Value::as_str) {
            Some(id) if ids.contains(&id) => {
                failed.insert(id);
            }
            _ => return Vec::new(),
        }
    }
    ids.iter()
        .copied()
        .filter(|id| !failed.contains(id))
        .collect()
}

/// How long an empty poll waits before the next. The local moto server is single-threaded (so its
/// conditional writes are atomic), and a long poll would hold it for everyone; short polls with a
/// pause between them keep it free.
const IDLE_PAUSE: Duration = Duration::from_millis(200);

async fn gather(client: &Client, source: &Source) -> Result<Vec<Message>> {
    let deadline = Instant::now() + source.window;
    let mut batch: Vec<Message> = Vec::new();
    loop {
        let want = (source.batch_size - batch.len()).min(10);
        let out = client
            .receive_message()
            .queue_url(&source.queue_url)
            .max_number_of_messages(i32::try_from(want).unwrap_or(10))
            .wait_time_seconds(0)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
        let received = out.messages.unwrap_or_default();
        let got_some = !received.is_empty();
        batch.extend(received);
        let window_over = Instant::now() >= deadline;
        if batch.len() >= source.batch_size || (window_over && !batch.is_empty()) {
            return Ok(batch);
        }
        if batch.is_empty() && window_over {
            tokio::time::sleep(IDLE_PAUSE).await;
            return Ok(batch);
        }
        if !got_some {
            tokio::time::sleep(IDLE_PAUSE.min(deadline.saturating_duration_since(Instant::now())))
                .await;
        }
    }
}

/// Polls one source until the process ends.
pub async fn run(client: Client, invoker: Invoker, source: Source) {
    loop {
        let batch = match gather(&client, &source).await {
            Ok(batch) => batch,
            Err(err) => {
                eprintln!("SQS {} poll failed: {err:#}", source.queue_url);
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if batch.is_empty() {
            continue;
        }
        if let Err(err) = deliver(&client, &invoker, &source, &batch).await {
            eprintln!("SQS {} -> {}: {err:#}", source.queue_url, source.function);
        }
    }
}

/// Invokes the function with one batch and deletes what it handled; returns how many were deleted.
pub async fn deliver(
    client: &Client,
    invoker: &Invoker,
    source: &Source,
    batch: &[Message],
) -> Result<usize> {
    let started = Instant::now();
    let event =
        json!({"Records": batch.iter().map(|m| record(m, &source.queue_arn)).collect::<Vec<_>>()});
    let outcome = invoker.invoke(&source.function, &event).await?;
    let ids: Vec<&str> = batch.iter().filter_map(Message::message_id).collect();
    let delete: HashSet<&str> = to_delete(&ids, &outcome, source.report_failures)
        .into_iter()
        .collect();
    let entries: Vec<DeleteMessageBatchRequestEntry> = batch
        .iter()
        .filter(|m| m.message_id().is_some_and(|id| delete.contains(id)))
        .enumerate()
        .filter_map(|(i, m)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .set_receipt_handle(m.receipt_handle().map(str::to_string))
                .build()
                .ok()
        })
        .collect();
    for chunk in entries.chunks(10) {
        client
            .delete_message_batch()
            .queue_url(&source.queue_url)
            .set_entries(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
    }
    let queue = source.queue_url.rsplit('/').next().unwrap_or_default();
    let failed = matches!(outcome, Outcome::Failed(_));
    println!(
        "SQS   {queue} -> {} {} messages, {} deleted{} {} ms",
        source.function,
        batch.len(),
        entries.len(),
        if failed { ", function failed" } else { "" },
        started.elapsed().as_millis()
    );
    Ok(entries.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDS: [&str; 3] = ["a", "b", "c"];

    #[test]
    fn a_failed_invocation_deletes_nothing() {
        assert!(to_delete(&IDS, &Outcome::Failed(json!({})), true).is_empty());
        assert!(to_delete(&IDS, &Outcome::Failed(json!({})), false).is_empty());
    }

    #[test]
    fn reported_failures_stay_and_the_rest_is_deleted() {
        let response = Outcome::Returned(json!({"batchItemFailures": [{"itemIdentifier": "b"}]}));
        assert_eq!(to_delete(&IDS, &response, true), ["a", "c"]);
        let none = Outcome::Returned(json!({"batchItemFailures": []}));
        assert_eq!(to_delete(&IDS, &none, true), IDS);
        assert_eq!(to_delete(&IDS, &Outcome::Returned(Value::Null), true), IDS);
    }

    #[test]
    fn a_malformed_report_fails_the_whole_batch() {
        for bad in [
            json!({"batchItemFailures": [{"itemIdentifier": "zzz"}]}),
            json!({"batchItemFailures": [{}]}),
            json!({"batchItemFailures": "b"}),
        ] {
            assert!(
                to_delete(&IDS, &Outcome::Returned(bad.clone()), true).is_empty(),
                "{bad}"
            );
        }
    }

    #[test]
    fn without_report_batch_item_failures_a_success_deletes_all() {
        let response = Outcome::Returned(json!({"batchItemFailures": [{"itemIdentifier": "b"}]}));
        assert_eq!(to_delete(&IDS, &response, false), IDS);
    }

    #[test]
    fn records_deserialize_as_lambda_events_sqs() {
        let message = Message::builder()
            .message_id("m-1")
            .receipt_handle("rh")
            .body("{}")
            .md5_of_body("99914b932bd37a50b983c5e7c90ae93b")
            .attributes(MessageSystemAttributeName::ApproximateReceiveCount, "2")
            .attributes(MessageSystemAttributeName::AwsTraceHeader, "Root=1-abc")
            .message_attributes(
                "type",
                aws_sdk_sqs::types::MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value("OrderPlaced")
                    .build()
                    .unwrap(),
            )
            .build();
        let event = json!({"Records": [record(&message, "arn:aws:sqs:us-east-1:123456789012:q")]});
        let typed: aws_lambda_events::sqs::SqsEvent = serde_json::from_value(event).unwrap();
        let record = &typed.records[0];
        assert_eq!(record.message_id.as_deref(), Some("m-1"));
        assert_eq!(record.attributes["ApproximateReceiveCount"], "2");
        assert_eq!(record.attributes["AWSTraceHeader"], "Root=1-abc");
        assert_eq!(
            record.message_attributes["type"].string_value.as_deref(),
            Some("OrderPlaced")
        );
        assert_eq!(
            record.event_source_arn.as_deref(),
            Some("arn:aws:sqs:us-east-1:123456789012:q")
        );
    }
}
