//! Stock reservations: every line's decrement (never below zero) and the order's transition in
//! one transaction across the products and orders tables, so stock moves exactly once per
//! transition however often the message is delivered.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};

use super::codec::{n, s};
use super::failure;
use super::orders::{built, history_item, order_item, put_if, put_transition};
use crate::domain::{HistoryEntry, Order};
use crate::error::AppError;
use crate::ports::{Inventory, Reservation};

pub struct DynamoInventory {
    client: Client,
    orders_table: String,
    products_table: String,
}

impl DynamoInventory {
    pub fn new(client: Client, orders_table: String, products_table: String) -> Self {
        Self {
            client,
            orders_table,
            products_table,
        }
    }
}

/// Which items of a cancelled transaction failed their condition.
fn failed_conditions(err: &SdkError<TransactWriteItemsError>) -> Option<Vec<bool>> {
    match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => Some(
            cancelled
                .cancellation_reasons()
                .iter()
                .map(|r| r.code() == Some("ConditionalCheckFailed"))
                .collect(),
        ),
        _ => None,
    }
}

#[async_trait]
impl Inventory for DynamoInventory {
    async fn reserve(
        &self,
        current: &Order,
        next: &Order,
        entry: &HistoryEntry,
    ) -> Result<Reservation, AppError> {
        let mut items = Vec::with_capacity(current.items.len() + 2);
        for line in &current.items {
            let take = built(
                Update::builder()
                    .table_name(&self.products_table)
                    .key("id", s(line.product_id.as_str()))
                    .update_expression("SET available = available - :quantity ADD version :one")
                    .condition_expression("available >= :quantity")
                    .expression_attribute_values(":quantity", n(line.quantity.get()))
                    .expression_attribute_values(":one", n(1))
                    .build(),
            )?;
            items.push(TransactWriteItem::builder().update(take).build());
        }
        let order = put_transition(&self.orders_table, current, next)?;
        items.push(TransactWriteItem::builder().put(order).build());
        let history = put_if(
            &self.orders_table,
            history_item(&next.id, entry)?,
            "attribute_not_exists(pk)",
        )?;
        items.push(TransactWriteItem::builder().put(history).build());

        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        let Err(err) = result else {
            return Ok(Reservation::Reserved);
        };
        let Some(failed) = failed_conditions(&err) else {
            return Err(failure("stock reservation", err));
        };
        let lines = current.items.len();
        if failed.iter().skip(lines).any(|f| *f) {
            return Err(AppError::StaleVersion("order"));
        }
        match failed
            .iter()
            .position(|f| *f)
            .and_then(|i| current.items.get(i))
        {
            Some(line) => Ok(Reservation::OutOfStock(line.product_id.clone())),
            // Cancelled without a failed condition (a conflict with another transaction): retry.
            None => Err(AppError::StaleVersion("order")),
        }
    }

    async fn release(&self, current: &Order, next: &Order) -> Result<(), AppError> {
        let mut items = Vec::with_capacity(current.items.len() + 1);
        for line in &current.items {
            let give_back = built(
                Update::builder()
                    .table_name(&self.products_table)
                    .key("id", s(line.product_id.as_str()))
                    .update_expression("SET available = available + :quantity ADD version :one")
                    .condition_expression("attribute_exists(id)")
                    .expression_attribute_values(":quantity", n(line.quantity.get()))
                    .expression_attribute_values(":one", n(1))
                    .build(),
            )?;
            items.push(TransactWriteItem::builder().update(give_back).build());
        }
        let order = built(
            Put::builder()
                .table_name(&self.orders_table)
                .set_item(Some(order_item(next)?))
                .condition_expression("#version = :expected AND stockHeld = :held")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":expected", n(current.version))
                .expression_attribute_values(":held", AttributeValue::Bool(true))
                .build(),
        )?;
        items.push(TransactWriteItem::builder().put(order).build());
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err) => match failed_conditions(&err) {
                Some(failed) if failed.last() == Some(&true) || failed.iter().all(|f| !*f) => {
                    Err(AppError::StaleVersion("order"))
                }
                // A product of the order no longer exists: its units have nowhere to go back to.
                Some(_) => Err(AppError::internal(
                    "stock release",
                    "a product of the order is no longer in the catalog",
                )),
                None => Err(failure("stock release", err)),
            },
        }
    }
}
