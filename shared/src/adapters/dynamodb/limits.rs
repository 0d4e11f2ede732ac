//! Rate limit counters: one item per subject (a user and scope, a source, an account and source)
//! with a count per window, removed by TTL.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Utc};

use super::codec::{n, s};
use super::failure;
use crate::error::AppError;
use crate::ports::{Hits, RateCounter};

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
    /// One item per subject holding a count per window (`w<start>`): one atomic `ADD` counts the
    /// hits and returns the previous window's count with it; the window before that is removed
    /// in the same write, and an idle subject's item goes by TTL.
    async fn add(
        &self,
        subject: &str,
        hits: u64,
        window: i64,
        length: i64,
        expires_at: DateTime<Utc>,
    ) -> Result<Hits, AppError> {
        let count = |attributes: &HashMap<String, AttributeValue>, start: i64| {
            attributes
                .get(&format!("w{start}"))
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(subject))
            .update_expression("ADD #current :hits SET expiresAt = :expires REMOVE #stale")
            .expression_attribute_names("#current", format!("w{window}"))
            .expression_attribute_names("#stale", format!("w{}", window - 2 * length))
            .expression_attribute_values(":hits", n(hits))
            .expression_attribute_values(":expires", n(expires_at.timestamp()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| failure("rate limit counter", e))?;
        let attributes = out.attributes.unwrap_or_default();
        Ok(Hits {
            current: count(&attributes, window),
            previous: count(&attributes, window - length),
        })
    }
}
