//! DynamoDB adapters. The key design is in `docs/data-model.md`; in short:
//!
//! - orders table: `pk = ORDER#<id>`; `sk = ORDER` for the order, `sk = HISTORY#<version>` for
//!   each history entry. GSI `byCustomer` (`customerId`, `createdKey`) lists a customer's orders
//!   newest first; GSI `byStatus` (`statusShard`, `updatedKey`) lists orders by status for
//!   operators, spread over [`STATUS_SHARDS`] partitions per status.
//! - dead letters: in the orders table, `pk = DEADLETTER#<queue>`, `sk = <message id>`.
//! - products table: `pk = productId`.
//! - idempotency table: `pk = <customerId>#<key>`, expiring through the `expiresAt` TTL.
//!
//! Every state change is a conditional write on the stored version.

mod codec;
mod dead_letters;
mod health;
mod idempotency;
mod inventory;
mod limits;
mod orders;
mod products;
mod users;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

pub use health::TableProbe;
pub use idempotency::DynamoIdempotency;
pub use inventory::DynamoInventory;
pub use limits::DynamoRateCounter;
pub use orders::{DynamoOrders, STATUS_SHARDS};
pub use products::DynamoCatalog;
pub use users::DynamoUsers;

use crate::config::{ConfigError, Tables};
use crate::error::AppError;

/// Builds the client once per cold start.
pub fn client(config: &aws_config::SdkConfig) -> Client {
    Client::new(config)
}

impl DynamoOrders {
    /// The orders table named by `ORDERS_TABLE`, for functions that only read or transition orders.
    pub fn from_env(config: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        Ok(Self::new(client(config), Tables::orders()?))
    }
}

impl crate::service::limits::RateLimit {
    /// The per-user limit of this function: counters in `RATE_LIMIT_TABLE`, scope
    /// `RATE_LIMIT_SCOPE` (default `api`), `RATE_LIMIT_PER_MINUTE` requests (default 120).
    pub fn from_env(config: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        let counter = DynamoRateCounter::new(client(config), Tables::rate_limits()?);
        let per_minute = crate::config::optional("RATE_LIMIT_PER_MINUTE", "120");
        let per_minute = per_minute.parse().map_err(|_| ConfigError::Invalid {
            name: "RATE_LIMIT_PER_MINUTE",
            reason: format!("`{per_minute}` is not a whole number"),
        })?;
        let scope = crate::config::optional("RATE_LIMIT_SCOPE", "api");
        Ok(Self::new(std::sync::Arc::new(counter), &scope, per_minute))
    }
}

impl DynamoInventory {
    /// Stock movements across `ORDERS_TABLE` and `PRODUCTS_TABLE`.
    pub fn from_env(config: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        Ok(Self::new(
            client(config),
            Tables::orders()?,
            Tables::products()?,
        ))
    }
}

impl DynamoCatalog {
    /// The products table named by `PRODUCTS_TABLE`.
    pub fn from_env(config: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        Ok(Self::new(client(config), Tables::products()?))
    }
}

/// Every item a query finds, page after page.
async fn query_all(
    what: &'static str,
    query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
) -> Result<Vec<codec::Item>, AppError> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let out = query
            .clone()
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| failure(what, e))?;
        items.extend(out.items.unwrap_or_default());
        start = out.last_evaluated_key;
        if start.is_none() {
            return Ok(items);
        }
    }
}

/// Whether an SDK error is DynamoDB refusing a condition (as opposed to a failure).
fn is_condition_failure<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    err.as_service_error()
        .and_then(ProvideErrorMetadata::code)
        .is_some_and(|code| {
            code == "ConditionalCheckFailedException" || code == "TransactionCanceledException"
        })
}

fn failure<E, R>(what: &'static str, err: SdkError<E, R>) -> AppError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    AppError::dependency(
        what,
        aws_sdk_dynamodb::error::DisplayErrorContext(err).to_string(),
    )
}
