//! Wiring only: clients and configuration once per cold start.

use std::sync::Arc;

use process_payment::handler::{self, Deps};
use shared::adapters::dynamodb::DynamoOrders;
use shared::adapters::sqs::SqsPublisher;
use shared::adapters::stripe::StripePayments;
use shared::config;
use shared::ports::SystemClock;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let aws = config::aws().await;
    let park_seconds = config::optional("PAYMENT_PARK_SECONDS", "60");
    let park_seconds = park_seconds
        .parse()
        .map_err(|_| config::ConfigError::Invalid {
            name: "PAYMENT_PARK_SECONDS",
            reason: format!("`{park_seconds}` is not a whole number of seconds"),
        })?;
    let deps = Deps {
        orders: Arc::new(DynamoOrders::from_env(&aws)?),
        payments: Arc::new(StripePayments::from_env(&aws).await?),
        shipping: Arc::new(SqsPublisher::from_env(&aws, "SHIPPING_QUEUE_URL")?),
        compensation: Arc::new(SqsPublisher::from_env(&aws, "COMPENSATION_QUEUE_URL")?),
        later: Arc::new(SqsPublisher::from_env(&aws, "PAYMENT_QUEUE_URL")?.delayed(park_seconds)),
        clock: Arc::new(SystemClock),
    };
    lambda_runtime::run(lambda_runtime::service_fn(|event| {
        handler::handle(&deps, event)
    }))
    .await
}
