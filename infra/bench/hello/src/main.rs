//! A bare `lambda_runtime` function that answers every event with itself: the floor that
//! `make bench` measures each function's cold start and peak memory against, built with the same
//! release profile in the same run (docs/benchmarks.md).

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(event.payload)
    }))
    .await
}
