//! Wiring only: clients and configuration once per cold start. The signing key is read from
//! Secrets Manager at the first login and again every few minutes (rotation without redeploy).

use std::sync::Arc;

use login::handler::{self, Deps};
use shared::adapters::dynamodb::{self, DynamoUsers};
use shared::adapters::secrets::KeyRing;
use shared::config::{self, Tables};
use shared::ports::SystemClock;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let aws = config::aws().await;
    let deps = Deps {
        users: Arc::new(DynamoUsers::new(dynamodb::client(&aws), Tables::users()?)),
        keys: KeyRing::from_env(&aws)?,
        clock: Arc::new(SystemClock),
    };
    lambda_http::run(lambda_http::service_fn(|req| handler::handle(&deps, req))).await
}
