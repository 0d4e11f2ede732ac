//! Wiring only: clients and configuration once per cold start.

use std::sync::Arc;

use authorizer::handler::{self, Deps};
use shared::adapters::secrets::{KeyRing, SecretsKeyStore};
use shared::auth::tokens::TokenPolicy;
use shared::config;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let aws = config::aws().await;
    let store = SecretsKeyStore::new(&aws, config::required("SIGNING_KEY_SECRET")?);
    let deps = Deps {
        keys: KeyRing::new(Arc::new(store), TokenPolicy::from_env()),
    };
    lambda_runtime::run(lambda_runtime::service_fn(|event| {
        handler::handle(&deps, event)
    }))
    .await
}
