//! The catalog: one item per product, keyed by its id. Every change of a product, its stock
//! taken or given back by orders included, bumps its `version`; an admin's edit is conditional on
//! the version it read, so it never overwrites stock it did not see.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{KeysAndAttributes, ReturnValue};
use chrono::{DateTime, Utc};

use super::codec::{Item, from_item, n, s};
use super::{failure, is_condition_failure};
use crate::domain::{Product, ProductDraft, ProductId};
use crate::error::AppError;
use crate::ports::{Catalog, Page};

/// BatchGetItem reads at most 100 keys per call.
const BATCH: usize = 100;
/// Rounds of retrying keys that DynamoDB left unprocessed (throttling), with doubling pauses.
const UNPROCESSED_ROUNDS: u32 = 5;

pub struct DynamoCatalog {
    client: Client,
    table: String,
}

impl DynamoCatalog {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    fn key(id: &ProductId) -> Item {
        Item::from([("id".to_string(), s(id.as_str()))])
    }
}

#[async_trait]
impl Catalog for DynamoCatalog {
    async fn get(&self, id: &ProductId) -> Result<Option<Product>, AppError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(id)))
            .send()
            .await
            .map_err(|e| failure("product read", e))?;
        out.item.map(from_item).transpose()
    }

    async fn get_many(&self, ids: &[ProductId]) -> Result<Vec<Product>, AppError> {
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(BATCH) {
            let mut pending = Some(built_keys(chunk.iter().map(Self::key).collect())?);
            let mut round = 0;
            while let Some(keys) = pending.take() {
                if round > 0 {
                    tokio::time::sleep(Duration::from_millis(25 << round)).await;
                }
                if round == UNPROCESSED_ROUNDS {
                    return Err(AppError::dependency(
                        "product batch read",
                        "keys still unprocessed after retries",
                    ));
                }
                round += 1;
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, keys)
                    .send()
                    .await
                    .map_err(|e| failure("product batch read", e))?;
                for item in out
                    .responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default()
                {
                    found.push(from_item(item)?);
                }
                pending = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .filter(|k| !k.keys.is_empty());
            }
        }
        Ok(found)
    }

    async fn list(
        &self,
        limit: u16,
        after: Option<&ProductId>,
    ) -> Result<Page<Product, ProductId>, AppError> {
        let out = self
            .client
            .scan()
            .table_name(&self.table)
            .limit(i32::from(limit))
            .set_exclusive_start_key(after.map(Self::key))
            .send()
            .await
            .map_err(|e| failure("product listing", e))?;
        let items = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(from_item)
            .collect::<Result<Vec<Product>, _>>()?;
        let next = out
            .last_evaluated_key
            .and_then(|_| items.last().map(|p| p.id.clone()));
        Ok(Page { items, next })
    }

    async fn put(
        &self,
        draft: &ProductDraft,
        replaces: Option<u64>,
        now: DateTime<Utc>,
    ) -> Result<(Product, bool), AppError> {
        let price = serde_dynamo::to_attribute_value(draft.unit_price)
            .map_err(|e| AppError::internal("item encoding", e))?;
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&draft.id)))
            .update_expression(
                "SET #name = :name, unitPrice = :price, available = :available, updatedAt = :at \
                 ADD version :one",
            )
            .expression_attribute_names("#name", "name")
            .expression_attribute_values(":name", s(&draft.name))
            .expression_attribute_values(":price", price)
            .expression_attribute_values(":available", n(draft.available))
            .expression_attribute_values(":at", s(now.to_rfc3339()))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllNew);
        request = match replaces {
            None => request.condition_expression("attribute_not_exists(id)"),
            Some(version) => request
                .condition_expression("version = :expected")
                .expression_attribute_values(":expected", n(version)),
        };
        let out = match request.send().await {
            Ok(out) => out,
            Err(err) if is_condition_failure(&err) => {
                return Err(match replaces {
                    None => AppError::PreconditionRequired("product"),
                    Some(_) => AppError::PreconditionFailed("product"),
                });
            }
            Err(err) => return Err(failure("product write", err)),
        };
        let product: Product = from_item(out.attributes.unwrap_or_default())?;
        let created = product.version == 1;
        Ok((product, created))
    }
}

fn built_keys(keys: Vec<Item>) -> Result<KeysAndAttributes, AppError> {
    KeysAndAttributes::builder()
        .set_keys(Some(keys))
        .build()
        .map_err(|e| AppError::dependency("request building", e))
}
