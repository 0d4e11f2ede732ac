//! Wiring only: clients and configuration once per cold start.

use std::sync::Arc;

use compensate_order::handler::{self, Deps};
use shared::adapters::dynamodb::{DynamoInventory, DynamoOrders};
use shared::adapters::stripe::StripePayments;
use shared::config;
use shared::ports::SystemClock;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let aws = config::aws().await;
    let deps = Deps {
        orders: Arc::new(DynamoOrders::from_env(&aws)?),
        inventory: Arc::new(DynamoInventory::from_env(&aws)?),
        payments: Arc::new(StripePayments::from_env(&aws).await?),
        clock: Arc::new(SystemClock),
    };
    lambda_runtime::run(lambda_runtime::service_fn(|event| {
        handler::handle(&deps, event)
    }))
    .await
}
