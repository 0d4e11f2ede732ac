//! Wiring only: clients and configuration once per cold start.

use authorizer::handler::{self, Deps};
use shared::adapters::secrets::KeyRing;
use shared::config;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let aws = config::aws().await;
    let deps = Deps {
        keys: KeyRing::from_env(&aws)?,
    };
    lambda_runtime::run(lambda_runtime::service_fn(|event| {
        handler::handle(&deps, event)
    }))
    .await
}
