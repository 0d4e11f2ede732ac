//! The health probe of one table: it must answer and be active.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::TableStatus;

use super::failure;
use crate::error::AppError;
use crate::ports::Probe;

pub struct TableProbe {
    client: Client,
    name: String,
    table: String,
}

impl TableProbe {
    /// `name` is what the health report calls it (`orders`), `table` the real table name.
    pub fn new(client: Client, name: &str, table: String) -> Self {
        Self {
            client,
            name: name.to_string(),
            table,
        }
    }
}

#[async_trait]
impl Probe for TableProbe {
    fn name(&self) -> &str {
        &self.name
    }

    async fn check(&self) -> Result<(), AppError> {
        let out = self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|e| failure("describe table", e))?;
        match out.table().and_then(|t| t.table_status()) {
            Some(TableStatus::Active | TableStatus::Updating) => Ok(()),
            other => Err(AppError::dependency(
                "table status",
                format!("table {} is {other:?}", self.table),
            )),
        }
    }
}
