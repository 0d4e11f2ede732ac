//! Idempotency keys for order creation, with the rules of `crate::idempotency`.
//!
//! A claim is a put of an `IN_PROGRESS` record with a lease, conditional on
//! [`decide`](crate::idempotency::decide) allowing it (the condition expression is that function
//! in DynamoDB's words); the order insert completes it in the same transaction that writes the
//! order, so there is never an order without a completed record or the reverse.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::codec::{from_item, s, to_item};
use super::{failure, is_condition_failure};
use crate::domain::{CustomerId, IdempotencyKey, OrderId};
use crate::error::AppError;
use crate::idempotency::{KeyRecord, LEASE, RETENTION, decide};
use crate::ports::{ClaimOutcome, IdempotencyClaim, IdempotencyStore};

const IN_PROGRESS: &str = "IN_PROGRESS";
const COMPLETED: &str = "COMPLETED";

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdempotencyRecord {
    pk: String,
    status: String,
    request_hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    order_id: Option<OrderId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lock_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lease_until: Option<i64>,
    /// Epoch seconds; the table's TTL attribute.
    expires_at: i64,
}

pub struct DynamoIdempotency {
    client: Client,
    table: String,
}

impl DynamoIdempotency {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    async fn read(&self, scoped_key: &str) -> Result<Option<IdempotencyRecord>, AppError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(scoped_key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| failure("idempotency read", e))?;
        out.item.map(from_item).transpose()
    }
}

/// Attempts at claiming: a record can vanish (released, expired) between a refused put and the
/// read that explains the refusal.
const CLAIM_ATTEMPTS: usize = 3;

#[async_trait]
impl IdempotencyStore for DynamoIdempotency {
    async fn claim(
        &self,
        customer: &CustomerId,
        key: &IdempotencyKey,
        request_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<ClaimOutcome, AppError> {
        let scoped_key = format!("{customer}#{key}");
        for _ in 0..CLAIM_ATTEMPTS {
            let token = uuid::Uuid::new_v4().to_string();
            let record = IdempotencyRecord {
                pk: scoped_key.clone(),
                status: IN_PROGRESS.into(),
                request_hash: request_hash.into(),
                order_id: None,
                lock_token: Some(token.clone()),
                lease_until: Some((now + LEASE).timestamp()),
                expires_at: (now + RETENTION).timestamp(),
            };
            let put = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(to_item(&record)?))
                .condition_expression(
                    "attribute_not_exists(pk) OR expiresAt < :now \
                     OR (#status = :in_progress AND leaseUntil < :now AND requestHash = :hash)",
                )
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":now", super::codec::n(now.timestamp()))
                .expression_attribute_values(":in_progress", s(IN_PROGRESS))
                .expression_attribute_values(":hash", s(request_hash))
                .send()
                .await;
            match put {
                Ok(_) => {
                    return Ok(ClaimOutcome::Acquired(IdempotencyClaim {
                        scoped_key,
                        token,
                    }));
                }
                Err(err) if is_condition_failure(&err) => {}
                Err(err) => return Err(failure("idempotency claim", err)),
            }
            let held = self.read(&scoped_key).await?;
            if held
                .as_ref()
                .is_some_and(|h| h.status == COMPLETED && h.order_id.is_none())
            {
                return Err(AppError::internal(
                    "idempotency record",
                    "completed without an order id",
                ));
            }
            let held = held.map(|h| KeyRecord {
                request_hash: h.request_hash,
                order_id: h.order_id,
                lease_until: h.lease_until.unwrap_or(0),
                expires_at: h.expires_at,
            });
            // `None`: it changed between the refused write and the read (released, expired).
            if let Some(found) = decide(held.as_ref(), request_hash, now.timestamp()).found() {
                return Ok(found);
            }
        }
        Err(AppError::KeyInFlight)
    }

    async fn release(&self, claim: &IdempotencyClaim) -> Result<(), AppError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(&claim.scoped_key))
            .condition_expression("lockToken = :token")
            .expression_attribute_values(":token", s(&claim.token))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Someone else holds it now, or it completed: nothing of ours to release.
            Err(err) if is_condition_failure(&err) => Ok(()),
            Err(err) => Err(failure("idempotency release", err)),
        }
    }
}
