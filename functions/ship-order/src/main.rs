//! Wiring only: clients and configuration once per cold start.

use std::sync::Arc;

use shared::adapters::carrier::BuiltInCarrier;
use shared::adapters::dynamodb::DynamoOrders;
use shared::adapters::sqs::SqsPublisher;
use shared::config;
use shared::ports::SystemClock;
use ship_order::handler::{self, Deps};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let aws = config::aws().await;
    let deps = Deps {
        orders: Arc::new(DynamoOrders::from_env(&aws)?),
        carrier: Arc::new(BuiltInCarrier),
        notifications: Arc::new(SqsPublisher::from_env(&aws, "NOTIFICATION_QUEUE_URL")?),
        clock: Arc::new(SystemClock),
    };
    lambda_runtime::run(lambda_runtime::service_fn(|event| {
        handler::handle(&deps, event)
    }))
    .await
}
