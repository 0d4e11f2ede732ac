//! Wiring only: clients and configuration once per cold start.

use std::sync::Arc;

use cancel_order::handler::{self, Deps};
use shared::adapters::dynamodb::DynamoOrders;
use shared::adapters::sqs::SqsPublisher;
use shared::config;
use shared::ports::SystemClock;
use shared::service::limits::RateLimit;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let aws = config::aws().await;
    let deps = Deps {
        limit: RateLimit::from_env(&aws)?,
        orders: Arc::new(DynamoOrders::from_env(&aws)?),
        events: Arc::new(SqsPublisher::from_env(&aws, "COMPENSATION_QUEUE_URL")?),
        clock: Arc::new(SystemClock),
    };
    lambda_http::run(lambda_http::service_fn(|req| handler::handle(&deps, req))).await
}
