//! Configuration from the environment, read once per cold start. A missing or malformed variable
//! stops the function at init with a message naming it, instead of failing later on a request.

use aws_config::{BehaviorVersion, SdkConfig};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
    /// A dependency read at cold start (a secret) could not be read or holds nothing usable.
    #[error("{what} is unusable: {reason}")]
    Unusable { what: &'static str, reason: String },
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
    /// From the `STAGE` setting (`local` when unset).
    pub fn parse(stage: String) -> Result<Self, ConfigError> {
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

/// A DynamoDB table of the template, found through its environment variable (in the Lambdas) or
/// its logical id (in the local stack and the tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    Orders,
    Products,
    Idempotency,
    Users,
    RateLimits,
}

impl Table {
    pub const ALL: [Self; 5] = [
        Self::Orders,
        Self::Products,
        Self::Idempotency,
        Self::Users,
        Self::RateLimits,
    ];

    /// What health reports call it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Orders => "orders",
            Self::Products => "products",
            Self::Idempotency => "idempotency",
            Self::Users => "users",
            Self::RateLimits => "rate limits",
        }
    }

    pub fn variable(self) -> &'static str {
        match self {
            Self::Orders => "ORDERS_TABLE",
            Self::Products => "PRODUCTS_TABLE",
            Self::Idempotency => "IDEMPOTENCY_TABLE",
            Self::Users => "USERS_TABLE",
            Self::RateLimits => "RATE_LIMIT_TABLE",
        }
    }

    pub fn logical_id(self) -> &'static str {
        match self {
            Self::Orders => "OrdersTable",
            Self::Products => "ProductsTable",
            Self::Idempotency => "IdempotencyTable",
            Self::Users => "UsersTable",
            Self::RateLimits => "RateLimitTable",
        }
    }
}

/// A Secrets Manager secret of the template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Secret {
    /// The JWT signing key set.
    SigningKey,
    /// The Stripe API key.
    PaymentProvider,
}

impl Secret {
    pub fn variable(self) -> &'static str {
        match self {
            Self::SigningKey => "SIGNING_KEY_SECRET",
            Self::PaymentProvider => "STRIPE_SECRET_ID",
        }
    }

    pub fn logical_id(self) -> &'static str {
        match self {
            Self::SigningKey => "SigningKeySecret",
            Self::PaymentProvider => "PaymentProviderSecret",
        }
    }
}

/// An SSM parameter of the template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Parameter {
    /// The stage's feature-flag document (`crate::flags`).
    Flags,
}

impl Parameter {
    pub fn variable(self) -> &'static str {
        match self {
            Self::Flags => "FLAGS_PARAMETER",
        }
    }

    pub fn logical_id(self) -> &'static str {
        match self {
            Self::Flags => "FlagsParameter",
        }
    }
}

/// A whole-number setting, with the variable's name in the error.
pub fn parse_number<T: std::str::FromStr>(name: &'static str, raw: &str) -> Result<T, ConfigError> {
    raw.trim().parse().map_err(|_| ConfigError::Invalid {
        name,
        reason: format!("`{raw}` is not a whole number"),
    })
}

/// The AWS SDK configuration from the standard chain. `AWS_ENDPOINT_URL` (set by the local stack)
/// points every client at the local emulator; nothing else differs between laptop and cloud.
///
/// Every call is bounded: a connection must open within a second and an attempt answer within three
/// (the SDK retries a failed attempt twice, with backoff). A step's record is bounded again by its
/// budget (`pipeline`), so a slow dependency fails the record, never the whole batch.
pub async fn aws() -> SdkConfig {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(1))
        .operation_attempt_timeout(std::time::Duration::from_secs(3))
        .operation_timeout(std::time::Duration::from_secs(8))
        .build();
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts)
        .load()
        .await
}
