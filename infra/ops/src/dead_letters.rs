//! Dead-letter queues, for operators: how full each is, and moving its messages back to the
//! step they came from once the cause is fixed.
//!
//! Normally the dead-letter function consumes every dead-letter queue at once (it keeps the
//! letter, fails the order and compensates), so a queue fills only while that function is
//! stopped, or stopped on purpose to send the orders on instead ([redrive-dlq.md]). A redrive is
//! safe to repeat and to interrupt: every step reloads the order and does nothing once it is past
//! the step, and a message is deleted from the dead-letter queue only after the step's queue
//! took it (a crash between the two leaves a copy behind, which the step then ignores).
//!
//! [redrive-dlq.md]: ../../docs/runbooks/redrive-dlq.md

use std::collections::HashSet;

use anyhow::{Context, Result};
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::QueueAttributeName;

/// How long a received message stays hidden from everyone else: longer than any redrive takes,
/// so no other reader (and no later receive of this run) sees it while it is being moved.
const HOLD_SECONDS: i32 = 300;
const LONG_POLL_SECONDS: i32 = 1;

/// Messages in a queue: waiting to be received, and received by someone but not yet deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Depth {
    pub waiting: u64,
    pub in_flight: u64,
}

pub async fn depth(sqs: &Client, url: &str) -> Result<Depth> {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .with_context(|| format!("reading the depth of {url}"))?;
    let attributes = out.attributes.unwrap_or_default();
    let count = |name| {
        attributes
            .get(&name)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok(Depth {
        waiting: count(QueueAttributeName::ApproximateNumberOfMessages),
        in_flight: count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    })
}

/// What a redrive found and moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Redriven {
    /// Messages it saw (for a dry run: the queue's approximate depth).
    pub found: u64,
    pub moved: u64,
}

/// Moves every message of the dead-letter queue `from` to the step's queue `to`, with its
/// attributes (the correlation id among them), each at most once per run: a body this run moved
/// already (the step gave up on it again meanwhile) is left in the dead-letter queue. A dry run
/// only counts.
pub async fn redrive(sqs: &Client, from: &str, to: &str, dry_run: bool) -> Result<Redriven> {
    if dry_run {
        let depth = depth(sqs, from).await?;
        return Ok(Redriven {
            found: depth.waiting,
            moved: 0,
        });
    }
    let mut moved_bodies = HashSet::new();
    let mut done = Redriven::default();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(from)
            .max_number_of_messages(10)
            .visibility_timeout(HOLD_SECONDS)
            // A long poll asks every SQS server, so an empty answer means an empty queue (a short
            // poll samples a few and may answer empty while messages wait).
            .wait_time_seconds(LONG_POLL_SECONDS)
            .message_attribute_names("All")
            .send()
            .await
            .with_context(|| format!("receiving from {from}"))?;
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(done);
        }
        for message in messages {
            done.found += 1;
            let body = message.body.unwrap_or_default();
            if !moved_bodies.insert(body.clone()) {
                continue;
            }
            sqs.send_message()
                .queue_url(to)
                .message_body(&body)
                .set_message_attributes(message.message_attributes)
                .send()
                .await
                .with_context(|| format!("sending to {to}"))?;
            if let Some(receipt) = message.receipt_handle {
                sqs.delete_message()
                    .queue_url(from)
                    .receipt_handle(receipt)
                    .send()
                    .await
                    .with_context(|| format!("deleting a moved message from {from}"))?;
            }
            done.moved += 1;
        }
    }
}
