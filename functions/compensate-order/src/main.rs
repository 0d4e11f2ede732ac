//! Wiring only: clients and configuration once per cold start.

use std::sync::Arc;

use compensate_order::handler::{self, Deps};
use shared::adapters::dynamodb::{self, DynamoInventory, DynamoOrders};
use shared::config::{self, Tables};
use shared::ports::SystemClock;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let aws = config::aws().await;
    let deps = Deps {
        orders: Arc::new(DynamoOrders::from_env(&aws)?),
        inventory: Arc::new(DynamoInventory::new(
            dynamodb::client(&aws),
            Tables::orders()?,
            Tables::products()?,
        )),
        clock: Arc::new(SystemClock),
    };
    lambda_runtime::run(lambda_runtime::service_fn(|event| {
        handler::handle(&deps, event)
    }))
    .await
}
