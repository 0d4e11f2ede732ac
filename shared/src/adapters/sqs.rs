//! The pipeline's queues on SQS. A function is given the URLs of exactly the queues it sends to
//! (which are also the only ones its IAM policy lets it send to) and, for a consumer, its own
//! queue's dead-letter queue; sending anywhere else is a configuration error, not a silent drop.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::MessageAttributeValue;

use crate::error::AppError;
use crate::messages::Envelope;
use crate::pipeline::Queue;
use crate::ports::Queues;

/// The message attribute that carries why a consumer dead-lettered a message itself.
pub const PROBLEM_ATTRIBUTE: &str = "problem";
/// SQS allows far more, but a problem is a summary, not a dump.
const PROBLEM_MAX_CHARS: usize = 1000;

pub struct SqsQueues {
    client: Client,
    urls: BTreeMap<Queue, String>,
    dead_letters: BTreeMap<Queue, String>,
}

impl SqsQueues {
    pub fn new(client: Client) -> Self {
        Self {
            client,
            urls: BTreeMap::new(),
            dead_letters: BTreeMap::new(),
        }
    }

    pub fn with_queue(mut self, queue: Queue, url: String) -> Self {
        self.urls.insert(queue, url);
        self
    }

    pub fn with_dead_letters(mut self, queue: Queue, url: String) -> Self {
        self.dead_letters.insert(queue, url);
        self
    }

    async fn put(
        &self,
        url: &str,
        body: String,
        delay: Duration,
        attributes: &[(&str, &str)],
    ) -> Result<(), AppError> {
        let mut request = self.client.send_message().queue_url(url).message_body(body);
        if !delay.is_zero() {
            let seconds = delay.as_secs().min(900);
            request = request.delay_seconds(i32::try_from(seconds).unwrap_or(900));
        }
        for (name, value) in attributes {
            request = request.message_attributes(*name, attribute(value)?);
        }
        request.send().await.map_err(|e| {
            AppError::dependency(
                "queue send",
                aws_sdk_sqs::error::DisplayErrorContext(e).to_string(),
            )
        })?;
        Ok(())
    }
}

fn attribute(value: &str) -> Result<MessageAttributeValue, AppError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| AppError::internal("queue message", e))
}

fn not_wired(queue: Queue, what: &str) -> AppError {
    AppError::internal(
        "queue configuration",
        format!("this function has no URL for the {what} of the {queue} queue"),
    )
}

#[async_trait]
impl Queues for SqsQueues {
    async fn send(&self, message: &Envelope, delay: Duration) -> Result<(), AppError> {
        let queue = message.queue.ok_or_else(|| {
            AppError::internal("queue send", "the message names no queue to send it to")
        })?;
        let url = self
            .urls
            .get(&queue)
            .ok_or_else(|| not_wired(queue, "queue"))?;
        let attributes = [
            ("type", message.kind.as_str()),
            ("correlationId", message.correlation_id.as_str()),
        ];
        self.put(url, message.to_json(), delay, &attributes).await
    }

    async fn dead_letter(&self, queue: Queue, body: &str, problem: &str) -> Result<(), AppError> {
        let url = self
            .dead_letters
            .get(&queue)
            .ok_or_else(|| not_wired(queue, "dead-letter queue"))?;
        let problem: String = problem.chars().take(PROBLEM_MAX_CHARS).collect();
        self.put(
            url,
            body.to_string(),
            Duration::ZERO,
            &[(PROBLEM_ATTRIBUTE, problem.as_str())],
        )
        .await
    }
}

/// The health probe of one queue: it must answer for its attributes.
pub struct QueueProbe {
    client: Client,
    name: String,
    url: String,
}

impl QueueProbe {
    /// `name` is what the health report calls it (`payment queue`), `url` the queue's URL.
    pub fn new(client: Client, name: String, url: String) -> Self {
        Self { client, name, url }
    }
}

#[async_trait]
impl crate::ports::Probe for QueueProbe {
    fn name(&self) -> &str {
        &self.name
    }

    async fn check(&self) -> Result<(), AppError> {
        self.client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| {
                AppError::dependency(
                    "queue attributes",
                    aws_sdk_sqs::error::DisplayErrorContext(e).to_string(),
                )
            })?;
        Ok(())
    }
}
