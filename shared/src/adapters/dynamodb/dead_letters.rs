//! Dead letters live in the orders table under `pk = DEADLETTER#<queue>`, `sk = <message id>`:
//! one item per message, so keeping a redelivered letter again overwrites it. They carry none
//! of the index attributes, so they stay out of both GSIs.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::codec::{from_item, s, to_item};
use super::orders::DynamoOrders;
use super::{failure, query_all};
use crate::error::AppError;
use crate::ports::{DeadLetter, DeadLetters};

#[derive(Serialize, Deserialize)]
struct DeadLetterRecord {
    pk: String,
    sk: String,
    #[serde(flatten)]
    letter: DeadLetter,
}

fn partition(queue: &str) -> String {
    format!("DEADLETTER#{queue}")
}

#[async_trait]
impl DeadLetters for DynamoOrders {
    async fn keep(&self, letter: &DeadLetter) -> Result<(), AppError> {
        let item = to_item(&DeadLetterRecord {
            pk: partition(&letter.queue),
            sk: letter.message_id.clone(),
            letter: letter.clone(),
        })?;
        self.client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| failure("dead letter", e))?;
        Ok(())
    }

    async fn list(&self, queue: &str) -> Result<Vec<DeadLetter>, AppError> {
        let query = self
            .client()
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(partition(queue)));
        query_all("dead letters", query)
            .await?
            .into_iter()
            .map(|item| from_item::<DeadLetterRecord>(item).map(|r| r.letter))
            .collect()
    }
}
