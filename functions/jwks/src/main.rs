//! Wiring only: clients and configuration once per cold start.

use jwks::handler::{self, Deps};
use shared::adapters::secrets::KeyRing;
use shared::config;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let aws = config::aws().await;
    let deps = Deps {
        keys: KeyRing::from_env(&aws)?,
    };
    lambda_http::run(lambda_http::service_fn(|req| handler::handle(&deps, req))).await
}
