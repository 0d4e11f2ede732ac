//! Everything the order-service Lambdas share.
//!
//! - [`domain`]: pure types and rules (orders, money, state machine); no I/O.
//! - [`pipeline`]: the fulfilment steps declared once, as data; [`messages`]: their envelopes.
//! - [`service`]: use cases, each owning its [`ports`] and built from a [`wiring`] source.
//! - [`adapters`]: the ports on DynamoDB, SQS, Secrets Manager and Stripe.
//! - [`http`]: the API edge (caller identity, JSON bodies, problem+json, ETags); [`sqs`]: the
//!   batch runner that enforces the step contract; [`lambda`]: the entry points of `main`.
//! - [`flags`]: feature flags and dynamic configuration, from SSM through a short cache.
//! - [`metrics`]: every CloudWatch metric, declared once, written as EMF.
//! - [`config`], [`telemetry`], [`deadline`]: plumbing.
//! - `testing` (tests, or the `testing` feature): in-memory fakes and fixtures.
//!
//! Functions wire these once per cold start and stay a few lines long.

pub mod adapters;
pub mod auth;
pub mod config;
pub mod deadline;
pub mod digest;
pub mod domain;
pub mod error;
pub mod flags;
pub mod http;
pub mod idempotency;
pub mod lambda;
pub mod log_line;
pub mod messages;
pub mod metrics;
pub mod pipeline;
pub mod ports;
pub mod resilience;
pub mod service;
pub mod sqs;
pub mod telemetry;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod wiring;

pub use error::{AppError, FieldError};
