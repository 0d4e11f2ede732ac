//! Rate limit counters: one item per user, scope and window, removed by TTL.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::ReturnValue;
use chrono::{DateTime, Utc};

use super::codec::{n, s};
use super::failure;
use crate::error::AppError;
use crate::ports::RateCounter;

pub struct DynamoRateCounter {
    client: Client,
    table: String,
}

impl DynamoRateCounter {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }
}

#[async_trait]
impl RateCounter for DynamoRateCounter {
    async fn hit(&self, key: &str, expires_at: DateTime<Utc>) -> Result<u64, AppError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(key))
            .update_expression("ADD hits :one SET expiresAt = if_not_exists(expiresAt, :expires)")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":expires", n(expires_at.timestamp()))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| failure("rate limit counter", e))?;
        Ok(out
            .attributes
            .and_then(|a| {
                a.get("hits")
                    .and_then(|v| v.as_n().ok())
                    .and_then(|v| v.parse().ok())
            })
            .unwrap_or(0))
    }
}
