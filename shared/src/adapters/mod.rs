//! The ports implemented on AWS: one module per external system.

pub mod dynamodb;
pub mod secrets;
pub mod sqs;
