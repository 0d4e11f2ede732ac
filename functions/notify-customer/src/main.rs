//! Wiring only: clients and configuration once per cold start.

use std::sync::Arc;

use notify_customer::handler::{self, Deps};
use shared::adapters::dynamodb::DynamoOrders;
use shared::adapters::notifier::LogNotifier;
use shared::config;
use shared::ports::SystemClock;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let aws = config::aws().await;
    let deps = Deps {
        orders: Arc::new(DynamoOrders::from_env(&aws)?),
        notifier: Arc::new(LogNotifier),
        clock: Arc::new(SystemClock),
    };
    lambda_runtime::run(lambda_runtime::service_fn(|event| {
        handler::handle(&deps, event)
    }))
    .await
}
