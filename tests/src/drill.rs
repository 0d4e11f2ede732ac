//! `make dr-drill`: the restore runbook (docs/runbooks/restore-table.md) rehearsed on the local
//! stack, with the runbook's own commands (`order_admin::restore`, what `order-admin orders-table`
//! runs).
//!
//! Orders are placed and taken to their end through the API; the orders table is backed up; then
//! the live table is deleted (the worst damage). The restore makes a new table from the backup and
//! the stage is repointed at it (a new set of functions wired with it as `ORDERS_TABLE`, as the
//! `RestoredOrdersTable` parameter does). The drill passes when every order acknowledged before the
//! backup reads back through the API as it was, with its whole history, the reconciler finds no
//! violation, and a new order completes on the restored table. It prints the recovery time: from
//! the damage to the first order read back through the repointed API.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use shared::service::fulfilment::Reconcile;
use shared::wiring::Wire;

use crate::TestEnv;
use crate::api::{self, Client, order_body};

/// What a drill measured.
#[derive(Debug)]
pub struct Report {
    pub acknowledged: usize,
    /// Read back through the repointed API, status and history alike.
    pub intact: usize,
    /// The restore alone: from the call to an active table with its settings back.
    pub restore: Duration,
    /// From the damage to the first order served from the restored table.
    pub recovery: Duration,
    pub reconciler_violations: usize,
    pub new_order_completed: bool,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.intact == self.acknowledged
            && self.reconciler_violations == 0
            && self.new_order_completed
    }
}

/// Polls `id` until it ends (a terminal status), for at most 60 s; returns the order.
async fn settled(client: &Client, token: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let order = client.order(token, id).await;
        let terminal = order["status"]
            .as_str()
            .and_then(|s| shared::domain::OrderStatus::parse(s).ok())
            .is_some_and(|s| s.is_terminal());
        if terminal || Instant::now() > deadline {
            return order;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn history(client: &Client, token: &str, id: &str) -> Value {
    let path = format!("/orders/{id}/history");
    client.call("GET", &path, Some(token), None, &[]).await.1
}

/// The drill with `orders` orders (every third one declined).
pub async fn run(orders: usize, progress: impl Fn(&str)) -> Report {
    let yaml = std::fs::read_to_string(crate::repo_root().join("template.yaml")).unwrap();
    let env = TestEnv::with_template(&yaml).await;
    env.set("RATE_LIMIT_PER_MINUTE", "10000");
    env.seed_with_signing_key().await;
    let env = Arc::new(env);
    let service = api::serve(env.clone(), &yaml).await;
    let client = Client::new(&service.url);
    let token = client.account("drill@example.com").await;

    progress(&format!("placing {orders} orders"));
    let mut ids = Vec::new();
    for n in 0..orders {
        let card = if n % 3 == 2 {
            "pm_card_visa_chargeDeclined"
        } else {
            "pm_card_visa"
        };
        let (status, body, _) = client
            .call(
                "POST",
                "/orders",
                Some(&token),
                Some(order_body("p-1", 1, card, "drill")),
                &[],
            )
            .await;
        assert_eq!(status, 201, "{body}");
        ids.push(body["id"].as_str().unwrap().to_string());
    }
    for id in &ids {
        settled(&client, &token, id).await;
    }
    // Compensation goes on after a declined order ends (the stock, the notice): the orders are
    // acknowledged as they are once two reads a second apart agree.
    let snapshot = |ids: Vec<String>| {
        let (client, token) = (client.clone(), token.clone());
        async move {
            let mut seen = BTreeMap::new();
            for id in ids {
                let order = client.order(&token, &id).await;
                let history = history(&client, &token, &id).await;
                seen.insert(id, serde_json::json!({"order": order, "history": history}));
            }
            seen
        }
    };
    let quiet = Instant::now() + Duration::from_secs(30);
    let acknowledged = loop {
        let first = snapshot(ids.clone()).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let second = snapshot(ids.clone()).await;
        if first == second || Instant::now() > quiet {
            break second;
        }
    };

    let table = env.name("OrdersTable");
    let dynamodb = env.dynamodb();
    progress(&format!("backing up {table}"));
    let backup = order_admin::restore::back_up(&dynamodb, &table, "drill")
        .await
        .unwrap();

    progress("damage: deleting the live orders table");
    service.stop();
    dynamodb
        .delete_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let damaged = Instant::now();

    let restored = format!("{table}-restored");
    progress(&format!("restoring {backup} into {restored}"));
    let source = order_admin::restore::Source::Backup(backup);
    let restore = order_admin::restore::restore(&dynamodb, &source, &restored)
        .await
        .unwrap();

    progress("repointing the stage at the restored table");
    let repointed = Arc::new(env.repointed(&restored));
    let service = api::serve(repointed.clone(), &yaml).await;
    let client = Client::new(&service.url);
    let first = acknowledged.keys().next().unwrap().clone();
    while client.order(&token, &first).await["id"] != first.as_str() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let recovery = damaged.elapsed();

    let mut intact = 0;
    for (id, before) in &acknowledged {
        let order = client.order(&token, id).await;
        let now =
            serde_json::json!({"order": order, "history": history(&client, &token, id).await});
        if &now == before {
            intact += 1;
        } else {
            progress(&format!("{id} differs: {before} then {now}"));
        }
    }
    let mut reconcile = Reconcile::wire(repointed.wiring()).await.unwrap();
    reconcile.stalled_after = chrono::Duration::zero();
    let found = reconcile.run().await.unwrap();
    let reconciler_violations = found.unsettled + found.paid_without_charge;

    progress("a new order on the restored table");
    let (_, body, _) = client
        .call(
            "POST",
            "/orders",
            Some(&token),
            Some(order_body("p-1", 1, "pm_card_visa", "after")),
            &[],
        )
        .await;
    let id = body["id"].as_str().unwrap_or_default().to_string();
    let new_order_completed = settled(&client, &token, &id).await["status"] == "COMPLETED";
    service.stop();
    Report {
        acknowledged: acknowledged.len(),
        intact,
        restore,
        recovery,
        reconciler_violations,
        new_order_completed,
    }
}
