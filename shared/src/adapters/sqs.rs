//! Publishing fulfilment messages to one SQS queue. Each function gets a publisher for the one
//! queue it feeds, which is also the one queue its IAM policy lets it send to.

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::MessageAttributeValue;

use crate::error::AppError;
use crate::messages::Envelope;
use crate::ports::OrderEvents;

pub struct SqsPublisher {
    client: Client,
    queue_url: String,
    delay_seconds: Option<i32>,
}

impl SqsPublisher {
    pub fn new(client: Client, queue_url: String) -> Self {
        Self {
            client,
            queue_url,
            delay_seconds: None,
        }
    }

    /// Messages become visible only after `seconds` (at most 900): for parking work until a
    /// dependency recovers.
    pub fn delayed(mut self, seconds: u16) -> Self {
        self.delay_seconds = Some(i32::from(seconds.min(900)));
        self
    }

    /// A publisher to the queue whose URL is in the environment variable `name`.
    pub fn from_env(
        config: &aws_config::SdkConfig,
        name: &'static str,
    ) -> Result<Self, crate::config::ConfigError> {
        Ok(Self::new(client(config), crate::config::required(name)?))
    }
}

fn attribute(value: &str) -> Result<MessageAttributeValue, AppError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| AppError::dependency("request building", e))
}

#[async_trait]
impl OrderEvents for SqsPublisher {
    async fn publish(&self, message: &Envelope) -> Result<(), AppError> {
        let body = serde_json::to_string(message)
            .map_err(|e| AppError::dependency("message encoding", e))?;
        let kind = serde_json::to_value(message.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .set_delay_seconds(self.delay_seconds)
            .message_attributes("type", attribute(&kind)?)
            .message_attributes("correlationId", attribute(&message.correlation_id)?)
            .send()
            .await
            .map_err(|e| {
                AppError::dependency(
                    "queue send",
                    aws_sdk_sqs::error::DisplayErrorContext(e).to_string(),
                )
            })?;
        Ok(())
    }
}

/// Builds the client once per cold start.
pub fn client(config: &aws_config::SdkConfig) -> Client {
    Client::new(config)
}
