//! Wiring only: clients and configuration once per cold start.

use health::handler::{self, Deps};
use shared::adapters::dynamodb::{self, TableProbe};
use shared::config::{self, Deployment, Tables};
use shared::ports::Probe;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let aws = config::aws().await;
    let db = dynamodb::client(&aws);
    let probes: Vec<Box<dyn Probe>> = vec![
        Box::new(TableProbe::new(db.clone(), "orders", Tables::orders()?)),
        Box::new(TableProbe::new(db.clone(), "products", Tables::products()?)),
        Box::new(TableProbe::new(db, "idempotency", Tables::idempotency()?)),
    ];
    let deps = Deps {
        probes,
        deployment: Deployment::from_env()?,
    };
    lambda_http::run(lambda_http::service_fn(|req| handler::handle(&deps, req))).await
}
