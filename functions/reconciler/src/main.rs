//! Wiring only: clients and configuration once per cold start.

use std::sync::Arc;

use reconciler::handler::{self, Deps};
use shared::adapters::dynamodb::DynamoOrders;
use shared::adapters::sqs::SqsPublisher;
use shared::config;
use shared::ports::SystemClock;

fn minutes(name: &'static str, default: &str) -> Result<chrono::Duration, config::ConfigError> {
    let raw = config::optional(name, default);
    raw.parse()
        .map(chrono::Duration::minutes)
        .map_err(|_| config::ConfigError::Invalid {
            name,
            reason: format!("`{raw}` is not a whole number of minutes"),
        })
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let aws = config::aws().await;
    let queue = |name| SqsPublisher::from_env(&aws, name).map(Arc::new);
    let deps = Deps {
        orders: Arc::new(DynamoOrders::from_env(&aws)?),
        inventory: queue("INVENTORY_QUEUE_URL")?,
        payment: queue("PAYMENT_QUEUE_URL")?,
        shipping: queue("SHIPPING_QUEUE_URL")?,
        notification: queue("NOTIFICATION_QUEUE_URL")?,
        compensation: queue("COMPENSATION_QUEUE_URL")?,
        clock: Arc::new(SystemClock),
        stalled_after: minutes("STALLED_AFTER_MINUTES", "10")?,
        window: minutes("RECONCILE_WINDOW_MINUTES", "1440")?,
    };
    lambda_runtime::run(lambda_runtime::service_fn(|event| {
        handler::handle(&deps, event)
    }))
    .await
}
