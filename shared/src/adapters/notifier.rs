//! The built-in notifier: the customer's message is logged (and the use case records it in the
//! order's history). An email or SMS service goes behind the same port.

use async_trait::async_trait;

use crate::domain::Order;
use crate::error::AppError;
use crate::ports::Notifier;

pub struct LogNotifier;

#[async_trait]
impl Notifier for LogNotifier {
    async fn notify(&self, order: &Order, message: &str) -> Result<(), AppError> {
        tracing::info!(customer_id = %order.customer_id, notification = message, "customer notified");
        Ok(())
    }
}
