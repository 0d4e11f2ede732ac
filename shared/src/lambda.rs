//! The entry points of every function's `main`: telemetry, then the function's dependencies wired
//! from the Lambda's environment once per cold start (a missing variable stops it there, naming
//! the variable), then the runtime loop. A function's `main.rs` is one call of one of these.

use std::convert::Infallible;
use std::future::Future;

use aws_lambda_events::sqs::SqsEvent;
use lambda_http::{Body, Request, Response};
use lambda_runtime::LambdaEvent;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::sqs::Consume;
use crate::wiring::{Aws, Wire};

pub type Error = lambda_runtime::Error;

/// `D` wired from the environment, for the life of the container: every invocation borrows it.
pub async fn wire<D: Wire + 'static>() -> Result<&'static D, Error> {
    crate::telemetry::init();
    let source = Aws::from_environment().await;
    let deps = D::wire(&source).await?;
    // One per container, by function: how often cold starts happen, beside Lambda's InitDuration.
    let function = crate::config::optional("AWS_LAMBDA_FUNCTION_NAME", "local");
    crate::metrics::Metric::ColdStart.emit(1.0, Some(&function));
    Ok(Box::leak(Box::new(deps)))
}

/// An API route: `handle` gets each API Gateway request.
pub async fn serve_http<D, F, Fut>(handle: F) -> Result<(), Error>
where
    D: Wire + 'static,
    F: Fn(&'static D, Request) -> Fut,
    Fut: Future<Output = Result<Response<Body>, Infallible>> + Send,
{
    let deps = wire::<D>().await?;
    lambda_http::run(lambda_http::service_fn(move |req| handle(deps, req))).await
}

/// A consumer of a pipeline queue, under the step contract of [`crate::sqs::consume`].
pub async fn serve_queue<C: Consume + Wire + 'static>() -> Result<(), Error> {
    let consumer = wire::<C>().await?;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: LambdaEvent<SqsEvent>| async move {
            Ok::<_, Infallible>(crate::sqs::consume(consumer, &event.context, event.payload).await)
        },
    ))
    .await
}

/// Any other event (the authorizer's, the schedule's, CodeDeploy's, the dead letters').
pub async fn serve<D, E, R, F, Fut>(handle: F) -> Result<(), Error>
where
    D: Wire + 'static,
    E: DeserializeOwned + Send + 'static,
    R: Serialize + Send,
    F: Fn(&'static D, LambdaEvent<E>) -> Fut,
    Fut: Future<Output = Result<R, Error>> + Send,
{
    let deps = wire::<D>().await?;
    lambda_runtime::run(lambda_runtime::service_fn(move |event| handle(deps, event))).await
}
