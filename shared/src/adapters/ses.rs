//! Customers' notices as e-mail through Amazon SES (API v2): one plain-text message per notice,
//! from the stage's verified sender identity (`NOTICE_SENDER`).
//!
//! SES has no idempotency key, so a retried call after a lost answer could send twice: the client
//! is built without retries (`Wiring::notifier`), and the use case records the notice on the
//! order before sending, so a redelivered message never sends again either. A failed call loses
//! that one notice (docs/notifications.md).

use async_trait::async_trait;
use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};

use crate::auth::Email;
use crate::domain::Order;
use crate::error::AppError;
use crate::ports::{Notice, Notifier};

pub struct SesNotifier {
    client: Client,
    sender: String,
}

impl SesNotifier {
    pub fn new(client: Client, sender: String) -> Self {
        Self { client, sender }
    }
}

fn text(data: &str) -> Result<Content, AppError> {
    Content::builder()
        .data(data)
        .charset("UTF-8")
        .build()
        .map_err(|e| AppError::internal("notice", e))
}

#[async_trait]
impl Notifier for SesNotifier {
    async fn notify(&self, to: &Email, order: &Order, notice: &Notice) -> Result<(), AppError> {
        let message = Message::builder()
            .subject(text(&notice.subject)?)
            .body(Body::builder().text(text(&notice.text)?).build())
            .build();
        let out = self
            .client
            .send_email()
            .from_email_address(&self.sender)
            .destination(Destination::builder().to_addresses(to.as_str()).build())
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await
            .map_err(|e| {
                AppError::dependency(
                    "notice e-mail",
                    aws_sdk_sesv2::error::DisplayErrorContext(e).to_string(),
                )
            })?;
        tracing::info!(
            order_id = %order.id,
            message_id = out.message_id.as_deref().unwrap_or_default(),
            subject = %notice.subject,
            "customer notified"
        );
        Ok(())
    }
}
