//! Wiring only: clients and configuration once per cold start.

use std::sync::Arc;

use create_order::handler::{self, Deps};
use shared::adapters::dynamodb::{self, DynamoCatalog, DynamoIdempotency, DynamoOrders};
use shared::adapters::sqs::SqsPublisher;
use shared::config::{self, Tables};
use shared::ports::SystemClock;
use shared::service::limits::RateLimit;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let aws = config::aws().await;
    let db = dynamodb::client(&aws);
    let deps = Deps {
        limit: RateLimit::from_env(&aws)?,
        orders: Arc::new(
            DynamoOrders::new(db.clone(), Tables::orders()?)
                .with_idempotency_table(Tables::idempotency()?),
        ),
        idempotency: Arc::new(DynamoIdempotency::new(db.clone(), Tables::idempotency()?)),
        catalog: Arc::new(DynamoCatalog::new(db, Tables::products()?)),
        events: Arc::new(SqsPublisher::from_env(&aws, "INVENTORY_QUEUE_URL")?),
        clock: Arc::new(SystemClock),
    };
    lambda_http::run(lambda_http::service_fn(|req| handler::handle(&deps, req))).await
}
