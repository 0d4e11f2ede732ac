//! Wiring only: clients and configuration once per cold start.

use std::sync::Arc;

use dead_letter::handler::{self, Deps};
use shared::adapters::dynamodb::DynamoOrders;
use shared::adapters::sqs::SqsPublisher;
use shared::config;
use shared::ports::SystemClock;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let aws = config::aws().await;
    let orders = Arc::new(DynamoOrders::from_env(&aws)?);
    let deps = Deps {
        orders: orders.clone(),
        letters: orders,
        compensation: Arc::new(SqsPublisher::from_env(&aws, "COMPENSATION_QUEUE_URL")?),
        clock: Arc::new(SystemClock),
    };
    lambda_runtime::run(lambda_runtime::service_fn(|event| {
        handler::handle(&deps, event)
    }))
    .await
}
