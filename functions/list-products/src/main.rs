//! Wiring only: clients and configuration once per cold start.

use std::sync::Arc;

use list_products::handler::{self, Deps};
use shared::adapters::dynamodb::{self, DynamoCatalog};
use shared::config::{self, Tables};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let aws = config::aws().await;
    let deps = Deps {
        catalog: Arc::new(DynamoCatalog::new(
            dynamodb::client(&aws),
            Tables::products()?,
        )),
    };
    lambda_http::run(lambda_http::service_fn(|req| handler::handle(&deps, req))).await
}
