//! Orders and their history in one table, so that a transition and its history entry are one
//! transaction on one partition.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::codec::{Item, from_item, n, s, to_item};
use super::{failure, is_condition_failure, query_all};
use crate::domain::{CustomerId, HistoryEntry, Order, OrderId, OrderStatus};
use crate::error::AppError;
use crate::ports::{
    IdempotencyClaim, OrderCursor, OrderRepository, Page, StatusCursor, StatusQuery,
};

/// Partitions per status in the `byStatus` index, so a busy status (`PENDING` during a sale) is
/// spread over several partitions; an operator query reads all shards.
pub const STATUS_SHARDS: u32 = 8;

const ORDER_SK: &str = "ORDER";
const HISTORY_PREFIX: &str = "HISTORY#";
const BY_CUSTOMER: &str = "byCustomer";
const BY_STATUS: &str = "byStatus";

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderRecord {
    pk: String,
    sk: String,
    created_key: String,
    status_shard: String,
    updated_key: String,
    /// Only while the order owes compensation: the key of the sparse `byDebt` index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    debt_shard: Option<String>,
    #[serde(flatten)]
    order: Order,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HistoryRecord {
    pk: String,
    sk: String,
    #[serde(flatten)]
    entry: HistoryEntry,
}

fn order_pk(id: &OrderId) -> String {
    format!("ORDER#{id}")
}

/// A sort key that orders by time, then id: fixed-width UTC timestamps sort as strings.
fn time_key(at: DateTime<Utc>, id: &OrderId) -> String {
    format!("{}#{id}", millis(at))
}

fn shard_of(order: &Order) -> u32 {
    let tail = order.id.as_str().as_bytes().last().copied().unwrap_or(0);
    u32::from(tail) % STATUS_SHARDS
}

fn status_shard(order: &Order) -> String {
    format!("{}#{}", order.status, shard_of(order))
}

const DEBT: &str = "DEBT";
const BY_DEBT: &str = "byDebt";

pub(super) fn order_item(order: &Order) -> Result<Item, AppError> {
    to_item(&OrderRecord {
        pk: order_pk(&order.id),
        sk: ORDER_SK.into(),
        created_key: time_key(order.created_at, &order.id),
        status_shard: status_shard(order),
        updated_key: time_key(order.updated_at, &order.id),
        debt_shard: order
            .owes_compensation()
            .then(|| format!("{DEBT}#{}", shard_of(order))),
        order: order.clone(),
    })
}

pub(super) fn history_item(id: &OrderId, entry: &HistoryEntry) -> Result<Item, AppError> {
    to_item(&HistoryRecord {
        pk: order_pk(id),
        sk: format!("{HISTORY_PREFIX}{:010}", entry.version),
        entry: entry.clone(),
    })
}

pub(super) fn built<T, E: std::error::Error + Send + Sync + 'static>(
    result: Result<T, E>,
) -> Result<T, AppError> {
    result.map_err(|e| AppError::dependency("request building", e))
}

pub(super) fn put_if(table: &str, item: Item, condition: &str) -> Result<Put, AppError> {
    built(
        Put::builder()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression(condition)
            .build(),
    )
}

/// The write of `next` in place of `current`, only while the stored order is still at `current`'s
/// version and status: the optimistic lock of every transition.
pub(super) fn put_transition(table: &str, current: &Order, next: &Order) -> Result<Put, AppError> {
    built(
        Put::builder()
            .table_name(table)
            .set_item(Some(order_item(next)?))
            .condition_expression("#version = :expected AND #status = :status")
            .expression_attribute_names("#version", "version")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":expected", n(current.version))
            .expression_attribute_values(":status", s(current.status.as_str()))
            .build(),
    )
}

pub struct DynamoOrders {
    client: Client,
    table: String,
    /// Needed only to complete idempotency claims in `insert`.
    idempotency_table: Option<String>,
}

impl DynamoOrders {
    pub fn new(client: Client, table: String) -> Self {
        Self {
            client,
            table,
            idempotency_table: None,
        }
    }

    pub(super) fn client(&self) -> &Client {
        &self.client
    }

    pub(super) fn table(&self) -> &str {
        &self.table
    }

    /// One shard of `status` in the `byStatus` index, last changed between two time keys.
    fn status_shard_query(
        &self,
        status: OrderStatus,
        shard: u32,
        from: &str,
        to: &str,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .index_name(BY_STATUS)
            .key_condition_expression("statusShard = :shard AND updatedKey BETWEEN :from AND :to")
            .expression_attribute_values(":shard", s(format!("{status}#{shard}")))
            .expression_attribute_values(":from", s(from))
            .expression_attribute_values(":to", s(to))
    }

    pub fn with_idempotency_table(mut self, table: String) -> Self {
        self.idempotency_table = Some(table);
        self
    }

    fn complete_claim(&self, claim: &IdempotencyClaim, order: &Order) -> Result<Update, AppError> {
        let table = self.idempotency_table.as_deref().ok_or_else(|| {
            AppError::internal("configuration", "no idempotency table configured")
        })?;
        built(
            Update::builder()
                .table_name(table)
                .key("pk", s(&claim.scoped_key))
                .update_expression(
                    "SET #status = :done, orderId = :order REMOVE lockToken, leaseUntil",
                )
                .condition_expression("lockToken = :token")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":done", s("COMPLETED"))
                .expression_attribute_values(":order", s(order.id.as_str()))
                .expression_attribute_values(":token", s(&claim.token))
                .build(),
        )
    }
}

#[async_trait]
impl OrderRepository for DynamoOrders {
    async fn insert(
        &self,
        order: &Order,
        claim: Option<&IdempotencyClaim>,
    ) -> Result<(), AppError> {
        let mut items = vec![
            TransactWriteItem::builder()
                .put(put_if(
                    &self.table,
                    order_item(order)?,
                    "attribute_not_exists(pk)",
                )?)
                .build(),
            TransactWriteItem::builder()
                .put(put_if(
                    &self.table,
                    history_item(&order.id, &order.created_entry())?,
                    "attribute_not_exists(pk)",
                )?)
                .build(),
        ];
        if let Some(claim) = claim {
            items.push(
                TransactWriteItem::builder()
                    .update(self.complete_claim(claim, order)?)
                    .build(),
            );
        }
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failure(&err) => Err(AppError::KeyTakenOver),
            Err(err) => Err(failure("order insert", err)),
        }
    }

    async fn get(&self, id: &OrderId) -> Result<Option<Order>, AppError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(order_pk(id)))
            .key("sk", s(ORDER_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| failure("order read", e))?;
        out.item
            .map(|item| from_item::<OrderRecord>(item).map(|r| r.order))
            .transpose()
    }

    async fn list_for_customer(
        &self,
        customer: &CustomerId,
        limit: u16,
        after: Option<&OrderCursor>,
    ) -> Result<Page<Order, OrderCursor>, AppError> {
        // The start key is rebuilt from the caller: a cursor can only name a position.
        let start = after.map(|c| {
            Item::from([
                ("pk".to_string(), s(order_pk(&c.id))),
                ("sk".to_string(), s(ORDER_SK)),
                ("customerId".to_string(), s(customer.as_str())),
                ("createdKey".to_string(), s(time_key(c.created_at, &c.id))),
            ])
        });
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(BY_CUSTOMER)
            .key_condition_expression("customerId = :customer")
            .expression_attribute_values(":customer", s(customer.as_str()))
            .scan_index_forward(false)
            .limit(i32::from(limit))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| failure("order listing", e))?;
        let more = out.last_evaluated_key.is_some();
        let items = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| from_item::<OrderRecord>(item).map(|r| r.order))
            .collect::<Result<Vec<_>, _>>()?;
        let next = items.last().filter(|_| more).map(OrderCursor::after);
        Ok(Page { items, next })
    }

    async fn apply(
        &self,
        current: &Order,
        next: &Order,
        entry: &HistoryEntry,
    ) -> Result<(), AppError> {
        let order = put_transition(&self.table, current, next)?;
        let history = put_if(
            &self.table,
            history_item(&next.id, entry)?,
            "attribute_not_exists(pk)",
        )?;
        match self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(order).build())
            .transact_items(TransactWriteItem::builder().put(history).build())
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failure(&err) => Err(AppError::StaleVersion("order")),
            Err(err) => Err(failure("order transition", err)),
        }
    }

    async fn history(&self, id: &OrderId) -> Result<Vec<HistoryEntry>, AppError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :history)")
            .expression_attribute_values(":pk", s(order_pk(id)))
            .expression_attribute_values(":history", s(HISTORY_PREFIX))
            .consistent_read(true);
        query_all("order history", query)
            .await?
            .into_iter()
            .map(|item| from_item::<HistoryRecord>(item).map(|r| r.entry))
            .collect()
    }

    async fn update(&self, current: &Order, next: &Order) -> Result<(), AppError> {
        match self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(order_item(next)?))
            .condition_expression("#version = :expected")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":expected", n(current.version))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failure(&err) => Err(AppError::StaleVersion("order")),
            Err(err) => Err(failure("order update", err)),
        }
    }

    /// Every order that owes compensation, from every shard of the sparse `byDebt` index.
    async fn owing_compensation(&self) -> Result<Vec<Order>, AppError> {
        let mut orders = Vec::new();
        for shard in 0..STATUS_SHARDS {
            let query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(BY_DEBT)
                .key_condition_expression("debtShard = :shard")
                .expression_attribute_values(":shard", s(format!("{DEBT}#{shard}")));
            for item in query_all("order debt query", query).await? {
                orders.push(from_item::<OrderRecord>(item)?.order);
            }
        }
        Ok(orders)
    }

    /// Reads every shard of the status in the `byStatus` index (eventually consistent, which
    /// is all the reconciler needs).
    async fn changed_between(
        &self,
        status: OrderStatus,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Order>, AppError> {
        let mut orders = Vec::new();
        for shard in 0..STATUS_SHARDS {
            let query = self.status_shard_query(status, shard, &millis(from), &millis(to));
            for item in query_all("order status query", query).await? {
                orders.push(from_item::<OrderRecord>(item)?.order);
            }
        }
        Ok(orders)
    }

    /// Each shard's newest `limit` orders below the cursor, merged in key order (the index's
    /// millisecond keys, so the page and its cursor agree on ties): the page's orders are among
    /// them whatever the spread over shards. A shard whose reply was cut short (its `Limit`, or
    /// DynamoDB's 1 MB) may hold more orders just below its last one, so the page stops there.
    /// One query per shard per page.
    async fn list_by_status(
        &self,
        query: StatusQuery,
        limit: u16,
        after: Option<&StatusCursor>,
    ) -> Result<Page<Order, StatusCursor>, AppError> {
        // Time keys start with a four-digit year, so "0" and "9" bound every one of them.
        let lower = query.from.map_or_else(|| "0".to_string(), millis);
        let end = query.to.map_or_else(|| "9".to_string(), millis);
        // BETWEEN includes the cursor's own order, which the page then leaves out.
        let cursor = after.map(|c| time_key(c.updated_at, &c.id));
        let upper = cursor.clone().map_or(end.clone(), |c| c.min(end));
        let empty = Page {
            items: vec![],
            next: None,
        };
        if upper < lower {
            return Ok(empty);
        }
        let mut merged: Vec<(String, Order)> = Vec::new();
        // The highest key below which some shard may hold orders it did not return.
        let mut floor: Option<String> = None;
        for shard in 0..STATUS_SHARDS {
            let out = self
                .status_shard_query(query.status, shard, &lower, &upper)
                .scan_index_forward(false)
                .limit(i32::from(limit) + 1)
                .send()
                .await
                .map_err(|e| failure("order status listing", e))?;
            let mut last = None;
            for item in out.items.unwrap_or_default() {
                let record = from_item::<OrderRecord>(item)?;
                last = Some(record.updated_key.clone());
                if Some(&record.updated_key) != cursor.as_ref() {
                    merged.push((record.updated_key, record.order));
                }
            }
            if out.last_evaluated_key.is_some() {
                floor = floor.max(last);
            }
        }
        merged.sort_by(|a, b| b.0.cmp(&a.0));
        let before = merged.len();
        if let Some(floor) = &floor {
            merged.retain(|(key, _)| key >= floor);
        }
        let more = floor.is_some() || before > usize::from(limit);
        merged.truncate(usize::from(limit));
        let items: Vec<Order> = merged.into_iter().map(|(_, order)| order).collect();
        let next = items.last().filter(|_| more).map(StatusCursor::after);
        Ok(Page { items, next })
    }
}

fn millis(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}
