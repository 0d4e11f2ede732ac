//! The ports implemented on outside systems: one module per system.

pub mod carrier;
pub mod dynamodb;
pub mod secrets;
pub mod ses;
pub mod sqs;
pub mod ssm;
pub mod stripe;
