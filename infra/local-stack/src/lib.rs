//! The local stand-in for CloudFormation: reads `template.yaml`, creates its tables and queues on
//! a local emulator (moto) under a name prefix, resolves the functions' environment against what
//! it created, and seeds the demo catalog.
//!
//! The template is the only list of resources: the laptop, the tests (each with its own prefix)
//! and the cloud all read it, so a table added there exists everywhere.

pub mod provision;
pub mod seed;
pub mod template;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;

/// An SDK configuration for the emulator at `endpoint`, with throwaway credentials: nothing here
/// can reach a real AWS account.
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "local-stack"))
        .load()
        .await
}
pub mod gateway;
