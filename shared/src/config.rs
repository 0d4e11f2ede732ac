//! Configuration from the environment, read once per cold start. A missing or malformed variable
//! stops the function at init with a message naming it, instead of failing later on a request.

use aws_config::{BehaviorVersion, SdkConfig};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// A required, non-empty variable.
pub fn required(name: &'static str) -> Result<String, ConfigError> {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => Ok(value),
        _ => Err(ConfigError::Missing(name)),
    }
}

/// An optional variable with a default.
pub fn optional(name: &'static str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_string())
}

/// What every function knows about where it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    /// `dev`, `staging`, `prod` or `local`.
    pub stage: String,
    /// The service version, from the build.
    pub version: &'static str,
}

impl Deployment {
    pub fn from_env() -> Result<Self, ConfigError> {
        let stage = optional("STAGE", "local");
        if !matches!(stage.as_str(), "local" | "dev" | "staging" | "prod") {
            return Err(ConfigError::Invalid {
                name: "STAGE",
                reason: format!("`{stage}` is not one of local, dev, staging, prod"),
            });
        }
        Ok(Self {
            stage,
            version: env!("CARGO_PKG_VERSION"),
        })
    }
}

/// The table names the functions use; each function reads only the ones it needs.
pub struct Tables;

impl Tables {
    pub fn orders() -> Result<String, ConfigError> {
        required("ORDERS_TABLE")
    }
    pub fn products() -> Result<String, ConfigError> {
        required("PRODUCTS_TABLE")
    }
    pub fn idempotency() -> Result<String, ConfigError> {
        required("IDEMPOTENCY_TABLE")
    }
    pub fn users() -> Result<String, ConfigError> {
        required("USERS_TABLE")
    }
    pub fn rate_limits() -> Result<String, ConfigError> {
        required("RATE_LIMIT_TABLE")
    }
}

/// The AWS SDK configuration from the standard chain. `AWS_ENDPOINT_URL` (set by the local stack)
/// points every client at the local emulator; nothing else differs between laptop and cloud.
pub async fn aws() -> SdkConfig {
    aws_config::load_defaults(BehaviorVersion::latest()).await
}

impl crate::auth::tokens::TokenPolicy {
    /// `TOKEN_ISSUER` and `TOKEN_AUDIENCE` (defaults `order-service`, `orders-api`); tokens live
    /// 15 minutes.
    pub fn from_env() -> Self {
        Self {
            issuer: optional("TOKEN_ISSUER", "order-service"),
            audience: optional("TOKEN_AUDIENCE", "orders-api"),
            lifetime: chrono::Duration::minutes(15),
        }
    }
}
