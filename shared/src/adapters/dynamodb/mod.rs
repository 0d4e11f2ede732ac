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

use crate::error::AppError;

/// Builds the client once per cold start.
pub fn client(config: &aws_config::SdkConfig) -> Client {
    Client::new(config)
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
