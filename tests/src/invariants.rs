//! The invariant checker of the chaos runs: what must hold once faults stop and the reconciler
//! has run, read from the tables and from the payment provider itself (never from the service's
//! own bookkeeping of what it charged).
//!
//! - accounting: every order the API acknowledged exists, and every stored order ended
//!   (completed, rejected, payment failed, cancelled or failed); none is lost;
//! - money per order, as the provider has it: captured minus refunded is the order's total for a
//!   fulfilled order and 0 for every other end; one customer request never pays twice; nothing
//!   is refunded for an order that shipped;
//! - stock per product: what there was, plus restocks, is what is available plus what orders
//!   still hold;
//! - every dead letter is kept and explained: its order failed (once), or it was stale;
//! - at most one notice per order and outcome.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_dynamodb::types::AttributeValue;
use shared::domain::{Order, OrderId, OrderStatus};

use crate::TestEnv;

/// What was sent in: the orders the API acknowledged, and the customer request each belongs to.
#[derive(Debug, Default, Clone)]
pub struct Placed {
    /// Acknowledged order → the client request (the tag in its address) that placed it.
    pub orders: BTreeMap<OrderId, String>,
    /// Units added to each product by catalog edits that went through.
    pub restocked: BTreeMap<String, i64>,
}

/// What the checker found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Findings {
    pub placed: usize,
    pub by_status: BTreeMap<String, usize>,
    /// Acknowledged orders that are missing, and stored orders that did not end.
    pub lost: usize,
    /// Client requests that paid more than one order's total, or orders captured more than once.
    pub double_charged: usize,
    pub refunded_after_ship: usize,
    /// Orders whose money at the provider does not match how they ended.
    pub money_mismatch: usize,
    /// Units unaccounted for, summed over products (absolute).
    pub stock_drift: i64,
    pub dead_letters: usize,
    pub unexplained_dead_letters: usize,
    pub repeated_notices: usize,
    /// Orders in the table that no acknowledged request placed (a request answered 5xx whose order
    /// was stored anyway).
    pub unacknowledged: usize,
}

impl Findings {
    /// Whether every invariant holds.
    pub fn holds(&self) -> bool {
        self.lost == 0
            && self.double_charged == 0
            && self.refunded_after_ship == 0
            && self.money_mismatch == 0
            && self.stock_drift == 0
            && self.unexplained_dead_letters == 0
            && self.repeated_notices == 0
    }

    pub fn count(&self, status: OrderStatus) -> usize {
        self.by_status.get(status.as_str()).copied().unwrap_or(0)
    }
}

/// Every item of a table matching `filter` (a `begins_with(pk, …)` or an `sk = …`).
async fn scan(
    env: &TestEnv,
    table: &str,
    filter: &str,
    value: &str,
) -> Vec<BTreeMap<String, AttributeValue>> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let out = env
            .dynamodb()
            .scan()
            .table_name(table)
            .filter_expression(filter)
            .expression_attribute_values(":v", AttributeValue::S(value.into()))
            .set_exclusive_start_key(start)
            .consistent_read(true)
            .send()
            .await
            .unwrap();
        items.extend(
            out.items
                .unwrap_or_default()
                .into_iter()
                .map(|i| i.into_iter().collect::<BTreeMap<_, _>>()),
        );
        start = out.last_evaluated_key;
        if start.is_none() {
            return items;
        }
    }
}

/// The client request an order was placed by: the tag its address carries ([`crate::api::order_body`]).
fn request_of(order: &Order) -> Option<&str> {
    order.shipping_address.line2.as_deref()
}

/// Every order in the orders table.
pub async fn orders(env: &TestEnv) -> Vec<Order> {
    scan(env, &env.name("OrdersTable"), "sk = :v", "ORDER")
        .await
        .into_iter()
        .map(|item| {
            serde_dynamo::from_item(
                item.into_iter()
                    .collect::<std::collections::HashMap<_, _>>(),
            )
            .unwrap()
        })
        .collect()
}

/// What the provider holds for one order: amounts captured and refunded, in minor units.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Money {
    pub captured: i64,
    pub refunded: i64,
    pub charges: usize,
}

/// Every order's money at the provider, by order id, read from localstripe's own API.
pub async fn money() -> BTreeMap<String, Money> {
    let mut money: BTreeMap<String, Money> = BTreeMap::new();
    for (intent, refunds) in crate::provider_payments(None).await {
        let Some(order) = intent["metadata"]["order_id"].as_str() else {
            continue;
        };
        let entry = money.entry(order.to_string()).or_default();
        entry.charges += 1;
        entry.captured += intent["amount"].as_i64().unwrap_or(0);
        for refund in &refunds {
            if refund["status"] != "failed" && refund["status"] != "canceled" {
                entry.refunded += refund["amount"].as_i64().unwrap_or(0);
            }
        }
    }
    money
}

/// Checks every invariant; `initial` is each product's stock before the run.
pub async fn check(env: &TestEnv, placed: &Placed, initial: &BTreeMap<String, i64>) -> Findings {
    let stored = orders(env).await;
    let money = money().await;
    let by_id: BTreeMap<&OrderId, &Order> = stored.iter().map(|o| (&o.id, o)).collect();
    let mut found = Findings {
        placed: placed.orders.len(),
        ..Findings::default()
    };
    for id in placed.orders.keys() {
        match by_id.get(id) {
            Some(order) if order.status.is_terminal() => {
                *found.by_status.entry(order.status.to_string()).or_default() += 1;
            }
            _ => found.lost += 1,
        }
    }
    let unacknowledged: Vec<&Order> = stored
        .iter()
        .filter(|o| !placed.orders.contains_key(&o.id))
        .collect();
    found.unacknowledged = unacknowledged.len();
    // One stored behind its client's back is fulfilled all the same, so it must end too.
    found.lost += unacknowledged
        .iter()
        .filter(|o| !o.status.is_terminal())
        .count();

    // Money, per order and per customer request.
    let mut paid_per_request: BTreeMap<&str, i64> = BTreeMap::new();
    for order in &stored {
        let m = money.get(order.id.as_str()).copied().unwrap_or_default();
        let kept = m.captured - m.refunded;
        let fulfilled = matches!(order.status, OrderStatus::Completed | OrderStatus::Shipped);
        let expected = if fulfilled { order.total.amount } else { 0 };
        if m.charges > 1 {
            found.double_charged += 1;
        }
        if fulfilled && m.refunded > 0 {
            found.refunded_after_ship += 1;
        }
        if order.status.is_terminal() && kept != expected {
            found.money_mismatch += 1;
        }
        if let Some(tag) = request_of(order) {
            *paid_per_request.entry(tag).or_default() += kept;
        }
    }
    let mut overpaid = BTreeSet::new();
    for order in &stored {
        if let Some(tag) = request_of(order)
            && paid_per_request.get(tag).copied().unwrap_or(0) > order.total.amount
        {
            overpaid.insert(tag);
        }
    }
    found.double_charged += overpaid.len();

    // Stock per product.
    let products = scan(env, &env.name("ProductsTable"), "begins_with(id, :v)", "").await;
    let mut held: BTreeMap<String, i64> = BTreeMap::new();
    for order in stored.iter().filter(|o| o.stock_held) {
        for line in &order.items {
            *held.entry(line.product_id.to_string()).or_default() += i64::from(line.quantity.get());
        }
    }
    for item in products {
        let id = item["id"].as_s().unwrap().clone();
        let available: i64 = item["available"].as_n().unwrap().parse().unwrap();
        let start = initial.get(&id).copied().unwrap_or(0)
            + placed.restocked.get(&id).copied().unwrap_or(0);
        found.stock_drift += (start - available - held.get(&id).copied().unwrap_or(0)).abs();
    }

    // Dead letters: kept, and explained.
    let letters = scan(
        env,
        &env.name("OrdersTable"),
        "begins_with(pk, :v)",
        "DEADLETTER#",
    )
    .await;
    found.dead_letters = letters.len();
    let failed: BTreeSet<&OrderId> = stored
        .iter()
        .filter(|o| o.status == OrderStatus::Failed)
        .map(|o| &o.id)
        .collect();
    for letter in &letters {
        let body = letter
            .get("body")
            .and_then(|b| b.as_s().ok())
            .cloned()
            .unwrap_or_default();
        let order = shared::messages::Envelope::parse(&body)
            .ok()
            .map(|m| m.order_id);
        let explained = match order {
            // Its order failed, or ended otherwise: a stale letter, kept and never applied.
            Some(id) => {
                failed.contains(&id) || by_id.get(&id).is_some_and(|o| o.status.is_terminal())
            }
            // Unreadable: kept as it came.
            None => true,
        };
        if !explained {
            found.unexplained_dead_letters += 1;
        }
    }

    // Notices: at most one per order and outcome (an order has one outcome), as SES took them.
    let sent = crate::sent_emails().await;
    for order in &stored {
        if crate::emails_about(&sent, &order.id).len() > 1 {
            found.repeated_notices += 1;
        }
    }
    found
}

/// Each product's stock now.
pub async fn stock(env: &TestEnv) -> BTreeMap<String, i64> {
    scan(env, &env.name("ProductsTable"), "begins_with(id, :v)", "")
        .await
        .into_iter()
        .map(|item| {
            let id = item["id"].as_s().unwrap().clone();
            (id, item["available"].as_n().unwrap().parse().unwrap())
        })
        .collect()
}
