//! Wiring only: clients and configuration once per cold start.

use std::sync::Arc;

use put_product::handler::{self, Deps};
use shared::adapters::dynamodb::DynamoCatalog;
use shared::config;
use shared::ports::SystemClock;
use shared::service::limits::RateLimit;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let aws = config::aws().await;
    let deps = Deps {
        limit: RateLimit::from_env(&aws)?,
        catalog: Arc::new(DynamoCatalog::from_env(&aws)?),
        clock: Arc::new(SystemClock),
    };
    lambda_http::run(lambda_http::service_fn(|req| handler::handle(&deps, req))).await
}
