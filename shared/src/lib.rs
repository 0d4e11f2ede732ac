//! Everything the order-service Lambdas share.
//!
//! - [`domain`]: pure types and rules (orders, money, state machine); no I/O.
//! - [`service`]: use cases over the [`ports`] traits.
//! - [`adapters`]: the ports implemented on DynamoDB and SQS; [`memory`] implements them in
//!   memory for fast tests.
//! - [`http`]: the API edge (caller identity, JSON bodies, problem+json, ETags).
//! - [`config`], [`telemetry`]: init-time plumbing.
//!
//! Functions wire these once per cold start and stay a few lines long.

pub mod adapters;
pub mod auth;
pub mod config;
pub mod domain;
pub mod error;
pub mod http;
pub mod memory;
pub mod messages;
pub mod ports;
pub mod resilience;
pub mod service;
pub mod sqs;
pub mod telemetry;

pub use error::{AppError, FieldError};
