//! Wiring only: clients and configuration once per cold start.

use std::sync::Arc;

use get_order_history::handler::{self, Deps};
use shared::adapters::dynamodb::DynamoOrders;
use shared::config;
use shared::service::limits::RateLimit;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let aws = config::aws().await;
    let deps = Deps {
        limit: RateLimit::from_env(&aws)?,
        orders: Arc::new(DynamoOrders::from_env(&aws)?),
    };
    lambda_http::run(lambda_http::service_fn(|req| handler::handle(&deps, req))).await
}
