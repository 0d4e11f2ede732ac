//! The DynamoDB and SQS adapters against the emulator: conditional writes, transactions,
//! pagination and idempotency claims behave as the ports promise.

// Test helpers panic on unexpected values by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;

use chrono::{Duration, SubsecRound, Utc};
use shared::AppError;
use shared::adapters::dynamodb::TableProbe;
use shared::domain::{
    Currency, CustomerId, IdempotencyKey, Money, OrderId, OrderStatus, ProductDraft, ProductId,
};
use shared::messages::Envelope;
use shared::pipeline::Queue;
use shared::ports::{ClaimOutcome, OrderCursor, Probe, StatusCursor, StatusQuery};
use shared::testing as memory;
use shared::wiring::Wiring;
use system_tests::TestEnv;

/// Customer `c-1`, its key `k-1`, now.
fn first_key() -> (CustomerId, IdempotencyKey, chrono::DateTime<Utc>) {
    (
        customer("c-1"),
        IdempotencyKey::parse("k-1").unwrap(),
        Utc::now(),
    )
}

fn customer(id: &str) -> CustomerId {
    CustomerId::parse(id).unwrap()
}

#[tokio::test]
async fn an_inserted_order_reads_back_whole_with_its_creation_in_history() {
    let env = TestEnv::new().await;
    let orders = env.orders().unwrap();
    let order = memory::order(OrderId::generate(), "c-1", Utc::now());
    orders.insert(&order, None).await.unwrap();

    assert_eq!(orders.get(&order.id).await.unwrap(), Some(order.clone()));
    let history = orders.history(&order.id).await.unwrap();
    assert_eq!(history, vec![order.created_entry()]);
    assert_eq!(orders.get(&OrderId::generate()).await.unwrap(), None);
}

#[tokio::test]
async fn a_transition_from_a_stale_version_is_refused_and_leaves_no_history() {
    let env = TestEnv::new().await;
    let orders = env.orders().unwrap();
    let order = memory::order(OrderId::generate(), "c-1", Utc::now());
    orders.insert(&order, None).await.unwrap();

    let (reserved, entry) = order
        .transition(OrderStatus::Reserved, Utc::now(), None)
        .unwrap();
    orders.apply(&order, &reserved, &entry).await.unwrap();
    let (cancelled, entry) = order
        .transition(OrderStatus::Cancelled, Utc::now(), None)
        .unwrap();
    let stale = orders.apply(&order, &cancelled, &entry).await;

    assert!(matches!(stale, Err(AppError::StaleVersion(_))), "{stale:?}");
    assert_eq!(
        orders.get(&order.id).await.unwrap().unwrap().status,
        OrderStatus::Reserved
    );
    assert_eq!(orders.history(&order.id).await.unwrap().len(), 2);
}

#[tokio::test]
async fn of_concurrent_transitions_from_one_version_exactly_one_wins() {
    let env = TestEnv::new().await;
    let orders = env.orders().unwrap();
    let order = memory::order(OrderId::generate(), "c-1", Utc::now());
    orders.insert(&order, None).await.unwrap();

    let attempts = [
        OrderStatus::Reserved,
        OrderStatus::Cancelled,
        OrderStatus::Rejected,
        OrderStatus::Failed,
    ]
    .into_iter()
    .cycle()
    .take(12)
    .map(|to| {
        let orders = orders.clone();
        let order = order.clone();
        tokio::spawn(async move {
            let (next, entry) = order.transition(to, Utc::now(), None).unwrap();
            orders.apply(&order, &next, &entry).await
        })
    });
    let results = futures::future::join_all(attempts).await;
    let won = results.iter().filter(|r| matches!(r, Ok(Ok(())))).count();
    assert_eq!(won, 1);
    assert_eq!(orders.history(&order.id).await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_customers_listing_pages_newest_first_and_holds_only_their_orders() {
    let env = TestEnv::new().await;
    let orders = env.orders().unwrap();
    let start = Utc::now() - Duration::hours(1);
    let mut mine = Vec::new();
    for minute in 0..5 {
        let order = memory::order(
            OrderId::generate(),
            "c-a",
            start + Duration::minutes(minute),
        );
        orders.insert(&order, None).await.unwrap();
        mine.push(order.id);
    }
    let theirs = memory::order(OrderId::generate(), "c-b", start + Duration::minutes(2));
    orders.insert(&theirs, None).await.unwrap();

    let mut seen = Vec::new();
    let mut cursor: Option<OrderCursor> = None;
    loop {
        let page = orders
            .list_for_customer(&customer("c-a"), 2, cursor.as_ref())
            .await
            .unwrap();
        assert!(page.items.len() <= 2);
        seen.extend(page.items.into_iter().map(|o| o.id));
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }
    mine.reverse();
    assert_eq!(seen, mine);
}

#[tokio::test]
async fn a_status_listing_pages_across_every_shard_most_recent_first() {
    let env = TestEnv::new().await;
    let orders = env.orders().unwrap();
    let start = Utc::now().trunc_subsecs(3) - Duration::hours(1);
    // The index keys by the millisecond, then the id: the listing's order.
    let key = |o: &shared::domain::Order| (o.updated_at.timestamp_millis(), o.id.clone());
    let mut pending = Vec::new();
    let mut insert = |order: shared::domain::Order| {
        pending.push(key(&order));
        order
    };
    // 20 orders over 8 shards, and others in another status that must not show.
    for (i, minute) in (0..18).enumerate() {
        let order = memory::order(
            OrderId::generate(),
            &format!("c-{i}"),
            start + Duration::minutes(minute),
        );
        let order = insert(order);
        orders.insert(&order, None).await.unwrap();
        let mut paid = order.clone();
        paid.id = OrderId::generate();
        paid.status = OrderStatus::Paid;
        orders.insert(&paid, None).await.unwrap();
    }
    // Two changed in one millisecond, the later microsecond on the smaller id: microseconds
    // would order them one way, the index's keys the other.
    let (low, high) = {
        let (a, b) = (OrderId::generate(), OrderId::generate());
        if a < b { (a, b) } else { (b, a) }
    };
    let at = start + Duration::minutes(7);
    for (id, micros) in [(low, 900), (high, 100)] {
        let order = memory::order(id, "c-tie", at + Duration::microseconds(micros));
        let order = insert(order);
        orders.insert(&order, None).await.unwrap();
    }
    pending.sort_by(|a, b| b.cmp(a));
    let all = StatusQuery {
        status: OrderStatus::Pending,
        from: None,
        to: None,
    };
    let walk = |query: StatusQuery, size: u16| {
        let orders = orders.clone();
        async move {
            let mut seen = Vec::new();
            let mut cursor: Option<StatusCursor> = None;
            loop {
                let page = orders
                    .list_by_status(query, size, cursor.as_ref())
                    .await
                    .unwrap();
                assert!(page.items.len() <= usize::from(size));
                seen.extend(page.items.iter().map(key));
                cursor = page.next;
                if cursor.is_none() {
                    return seen;
                }
            }
        }
    };
    // Page by page, every boundary between two orders is once a cursor.
    assert_eq!(walk(all, 1).await, pending);
    assert_eq!(walk(all, 3).await, pending);

    let window = StatusQuery {
        from: Some(start + Duration::minutes(5)),
        to: Some(start + Duration::minutes(10)),
        ..all
    };
    let millis = |minutes| (start + Duration::minutes(minutes)).timestamp_millis();
    let inside: Vec<_> = pending
        .iter()
        .filter(|(at, _)| *at >= millis(5) && *at < millis(10))
        .cloned()
        .collect();
    assert_eq!(inside.len(), 7, "minutes 5 to 9, and the two at minute 7");
    assert_eq!(walk(window, 3).await, inside);
}

#[tokio::test]
async fn a_cursor_naming_another_customers_order_still_lists_only_the_callers() {
    let env = TestEnv::new().await;
    let orders = env.orders().unwrap();
    let now = Utc::now();
    let mine = memory::order(OrderId::generate(), "c-a", now - Duration::minutes(5));
    orders.insert(&mine, None).await.unwrap();
    let theirs = memory::order(OrderId::generate(), "c-b", now);
    orders.insert(&theirs, None).await.unwrap();

    let forged = OrderCursor {
        created_at: theirs.created_at + Duration::seconds(1),
        id: theirs.id.clone(),
    };
    let page = orders
        .list_for_customer(&customer("c-a"), 10, Some(&forged))
        .await
        .unwrap();
    assert!(page.items.iter().all(|o| o.customer_id == customer("c-a")));
}

#[tokio::test]
async fn an_idempotency_key_is_held_completed_with_the_order_and_then_replayed() {
    let env = TestEnv::new().await;
    let (orders, keys) = (env.orders().unwrap(), env.idempotency().unwrap());
    let (who, key, now) = first_key();

    let ClaimOutcome::Acquired(claim) = keys.claim(&who, &key, "h1", now).await.unwrap() else {
        panic!("first claim must acquire");
    };
    assert_eq!(
        keys.claim(&who, &key, "h1", now).await.unwrap(),
        ClaimOutcome::InProgress {
            request_hash: "h1".into()
        }
    );
    let other = customer("c-2");
    assert!(
        matches!(
            keys.claim(&other, &key, "h1", now).await.unwrap(),
            ClaimOutcome::Acquired(_)
        ),
        "keys are per customer"
    );

    let order = memory::order(OrderId::generate(), "c-1", now);
    orders.insert(&order, Some(&claim)).await.unwrap();
    assert_eq!(
        keys.claim(&who, &key, "h1", now).await.unwrap(),
        ClaimOutcome::Completed {
            request_hash: "h1".into(),
            order_id: order.id
        }
    );
}

#[tokio::test]
async fn a_released_claim_can_be_taken_again_at_once() {
    let env = TestEnv::new().await;
    let keys = env.idempotency().unwrap();
    let (who, key, now) = first_key();
    let ClaimOutcome::Acquired(claim) = keys.claim(&who, &key, "h", now).await.unwrap() else {
        panic!()
    };
    keys.release(&claim).await.unwrap();
    assert!(matches!(
        keys.claim(&who, &key, "h", now).await.unwrap(),
        ClaimOutcome::Acquired(_)
    ));
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_and_the_old_holder_cannot_complete() {
    let env = TestEnv::new().await;
    let (orders, keys) = (env.orders().unwrap(), env.idempotency().unwrap());
    let (who, key, now) = first_key();
    let ClaimOutcome::Acquired(old) = keys.claim(&who, &key, "h", now).await.unwrap() else {
        panic!()
    };

    let later = now + Duration::seconds(31);
    assert!(
        matches!(
            keys.claim(&who, &key, "other", later).await.unwrap(),
            ClaimOutcome::InProgress { .. }
        ),
        "only the same request may take over"
    );
    let ClaimOutcome::Acquired(_new) = keys.claim(&who, &key, "h", later).await.unwrap() else {
        panic!("the same request takes over an expired lease");
    };

    let order = memory::order(OrderId::generate(), "c-1", now);
    let late = orders.insert(&order, Some(&old)).await;
    assert!(matches!(late, Err(AppError::KeyTakenOver)), "{late:?}");
    assert_eq!(
        orders.get(&order.id).await.unwrap(),
        None,
        "the transaction wrote nothing"
    );
}

#[tokio::test]
async fn of_concurrent_claims_on_one_key_exactly_one_acquires() {
    let env = TestEnv::new().await;
    let keys = env.idempotency().unwrap();
    let now = Utc::now();
    let attempts = (0..10).map(|_| {
        let keys = keys.clone();
        tokio::spawn(async move {
            keys.claim(
                &customer("c-1"),
                &IdempotencyKey::parse("race").unwrap(),
                "h",
                now,
            )
            .await
        })
    });
    let results = futures::future::join_all(attempts).await;
    let acquired = results
        .iter()
        .filter(|r| matches!(r, Ok(Ok(ClaimOutcome::Acquired(_)))))
        .count();
    assert_eq!(acquired, 1);
}

fn draft(id: &str, cents: i64) -> ProductDraft {
    ProductDraft {
        id: ProductId::parse(id).unwrap(),
        name: format!("Product {id}"),
        unit_price: Money::new(cents, Currency::parse("EUR").unwrap()).unwrap(),
        available: 7,
    }
}

#[tokio::test]
async fn products_are_created_replaced_and_read_in_batches_and_pages() {
    let env = TestEnv::new().await;
    let catalog = env.catalog().unwrap();
    let (created, is_new) = catalog
        .put(&draft("p-1", 100), None, Utc::now())
        .await
        .unwrap();
    assert!(is_new);
    assert_eq!(created.version, 1);
    let blind = catalog.put(&draft("p-1", 150), None, Utc::now()).await;
    assert!(
        matches!(blind, Err(AppError::PreconditionRequired(_))),
        "{blind:?}"
    );
    let (replaced, is_new) = catalog
        .put(&draft("p-1", 150), Some(1), Utc::now())
        .await
        .unwrap();
    assert!(!is_new);
    assert_eq!((replaced.version, replaced.unit_price.amount), (2, 150));
    let stale = catalog.put(&draft("p-1", 160), Some(1), Utc::now()).await;
    assert!(
        matches!(stale, Err(AppError::PreconditionFailed(_))),
        "{stale:?}"
    );
    assert_eq!(
        catalog
            .get(&ProductId::parse("p-1").unwrap())
            .await
            .unwrap(),
        Some(replaced)
    );

    for i in 2..=5 {
        catalog
            .put(&draft(&format!("p-{i}"), 10 * i), None, Utc::now())
            .await
            .unwrap();
    }
    let wanted: Vec<_> = ["p-2", "p-5", "p-404"]
        .iter()
        .map(|id| ProductId::parse(id).unwrap())
        .collect();
    let found: HashSet<_> = catalog
        .get_many(&wanted)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.id.to_string())
        .collect();
    assert_eq!(found, HashSet::from(["p-2".to_string(), "p-5".to_string()]));

    let mut listed = Vec::new();
    let mut after = None;
    loop {
        let page = catalog.list(2, after.as_ref()).await.unwrap();
        listed.extend(page.items.into_iter().map(|p| p.id.to_string()));
        after = page.next;
        if after.is_none() {
            break;
        }
    }
    listed.sort();
    assert_eq!(listed, ["p-1", "p-2", "p-3", "p-4", "p-5"]);
}

#[tokio::test]
async fn a_published_message_arrives_on_the_queue_as_a_versioned_envelope() {
    let env = TestEnv::new().await;
    let id = OrderId::generate();
    let message =
        Envelope::announcing(OrderStatus::Pending, id.clone(), "corr-1", Utc::now()).unwrap();
    let queues = env.queues(&[Queue::Inventory], None).unwrap();
    queues
        .send(&message, std::time::Duration::ZERO)
        .await
        .unwrap();
    let elsewhere =
        Envelope::announcing(OrderStatus::Reserved, id.clone(), "c", Utc::now()).unwrap();
    let refused = queues.send(&elsewhere, std::time::Duration::ZERO).await;
    assert!(
        matches!(refused, Err(AppError::Internal { .. })),
        "a queue the function was not given is refused, not silently dropped"
    );

    let received = env.drain("InventoryQueue").await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["type"], "OrderPlaced");
    assert_eq!(received[0]["schemaVersion"], 1);
    assert_eq!(received[0]["orderId"], id.as_str());
    assert_eq!(received[0]["correlationId"], "corr-1");
}

#[tokio::test]
async fn the_table_probe_passes_for_a_table_and_fails_for_a_missing_one() {
    let env = TestEnv::new().await;
    let ok = TableProbe::new(env.dynamodb(), "orders", env.name("OrdersTable"));
    assert!(ok.check().await.is_ok());
    let missing = TableProbe::new(env.dynamodb(), "orders", "no-such-table".into());
    assert!(missing.check().await.is_err());
}

#[tokio::test]
async fn accounts_are_one_per_email_on_the_real_table() {
    use shared::auth::{Email, Password};
    let env = TestEnv::new().await;
    let users = env.users().unwrap();
    let email = Email::parse("ada@example.com").unwrap();
    let password = Password::parse("correct horse battery staple").unwrap();
    assert!(
        shared::service::accounts::create_admin(users.as_ref(), &email, &password, Utc::now())
            .await
            .unwrap()
    );
    assert!(
        !shared::service::accounts::create_admin(users.as_ref(), &email, &password, Utc::now())
            .await
            .unwrap(),
        "one account per email"
    );
    let found = users.find(&email).await.unwrap().unwrap();
    assert_eq!(found.role, shared::domain::Role::Admin);
    let other = Email::parse("nobody@example.com").unwrap();
    assert!(users.find(&other).await.unwrap().is_none());
}

#[tokio::test]
async fn concurrent_hits_on_the_real_counter_table_each_get_their_own_count() {
    // What makes the login throttle hold under a burst: each hit is one atomic ADD, so 40 at
    // once see 1..=40, never the same number twice.
    let env = TestEnv::new().await;
    let counter = env.rate_counter().unwrap();
    let expires = Utc::now() + Duration::minutes(5);
    let (window, length) = (1_800_000_000, 900);
    let hits = futures::future::join_all(
        (0..40).map(|_| counter.add("login#burst", 1, window, length, expires)),
    )
    .await;
    let mut counts: Vec<u64> = hits.into_iter().map(|h| h.unwrap().current).collect();
    counts.sort_unstable();
    assert_eq!(counts, (1..=40).collect::<Vec<u64>>());
    // The next window starts at zero and sees this one's count; the one after forgets it.
    let next = counter
        .add("login#burst", 1, window + length, length, expires)
        .await
        .unwrap();
    assert_eq!((next.current, next.previous), (1, 40));
    let after = counter
        .add("login#burst", 1, window + 2 * length, length, expires)
        .await
        .unwrap();
    assert_eq!((after.current, after.previous), (1, 1));
}

#[tokio::test]
async fn the_per_user_limit_writes_a_batch_at_a_time_and_two_instances_share_the_count() {
    // Counted by the emulator, not by us: one write (a small item: one unit) per batch of hits,
    // and the table's count is every hit of both instances once their batches are written.
    let env = TestEnv::new().await;
    let table = env.name(shared::config::Table::RateLimits.logical_id());
    let writes = || async {
        system_tests::bench::moto_counts()
            .await
            .get(&format!("dynamodb.WriteUnits@{table}"))
            .copied()
            .unwrap_or(0.0)
    };
    let limit =
        |counter| shared::service::limits::RateLimit::new(counter, "reads", 120).batched(12);
    let (one, other) = (
        limit(env.rate_counter().unwrap()),
        limit(env.rate_counter().unwrap()),
    );
    let alice = shared::domain::Caller {
        id: shared::domain::CustomerId::parse("alice").unwrap(),
        role: shared::domain::Role::Customer,
    };
    // The start of a minute, so the window does not turn during the test.
    let now = chrono::DateTime::from_timestamp(Utc::now().timestamp() / 60 * 60, 0).unwrap();
    let mut remaining = Vec::new();
    for _ in 0..120 {
        remaining.push(one.take(&alice, now).await.unwrap().remaining);
    }
    assert_eq!(
        remaining,
        (0..120).rev().collect::<Vec<u32>>(),
        "one instance judges exactly"
    );
    assert!(one.take(&alice, now).await.is_err(), "the 121st is refused");
    assert_eq!(writes().await, 10.0, "121 hits, 10 writes of 12");

    // A second instance knows nothing until its first write, which tells it the shared count.
    for _ in 0..11 {
        assert!(
            other.take(&alice, now).await.is_ok(),
            "within a batch of the limit"
        );
    }
    assert!(
        other.take(&alice, now).await.is_err(),
        "its first write says 132"
    );
    assert_eq!(writes().await, 11.0);
    let item = env
        .dynamodb()
        .get_item()
        .table_name(&table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("alice#reads".into()),
        )
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(
        item[&format!("w{}", now.timestamp())].as_n().unwrap(),
        "132",
        "the written batches; the 121st hit waits in the first instance's next batch"
    );
}

#[tokio::test]
async fn the_signing_key_secret_rotates_and_tokens_survive_one_rotation() {
    let env = TestEnv::new().await;
    let store = env.key_store().unwrap();
    assert!(
        store.load().await.unwrap().keys.is_empty(),
        "the template creates the secret empty"
    );
    shared::service::accounts::rotate_signing_key(store.as_ref(), Utc::now())
        .await
        .unwrap();
    let before = env
        .key_ring()
        .tokens()
        .await
        .unwrap()
        .issue("usr_1", shared::domain::Role::Customer, Utc::now())
        .unwrap();
    shared::service::accounts::rotate_signing_key(
        store.as_ref(),
        Utc::now() + Duration::seconds(1),
    )
    .await
    .unwrap();
    let after = env.key_ring();
    assert!(after.tokens().await.unwrap().verify(&before.token).is_ok());
    assert_eq!(store.load().await.unwrap().keys.len(), 2);
}

async fn stock_of(env: &TestEnv, id: &str) -> u32 {
    env.catalog()
        .unwrap()
        .get(&ProductId::parse(id).unwrap())
        .await
        .unwrap()
        .unwrap()
        .available
}

fn two_line_order(customer: &str, second: &str, quantity: i64) -> shared::domain::Order {
    let mut order = memory::order(OrderId::generate(), customer, Utc::now());
    let mut line = order.items[0].clone();
    line.product_id = ProductId::parse(second).unwrap();
    line.quantity = shared::domain::Quantity::new(quantity).unwrap();
    order.items.push(line);
    order
}

#[tokio::test]
async fn a_reservation_takes_every_line_once_with_the_transition() {
    use shared::ports::Reservation;
    let env = TestEnv::new().await;
    env.seed().await; // p-1: 100, p-2: 25
    let (orders, inventory) = (env.orders().unwrap(), env.inventory().unwrap());
    let order = two_line_order("c-1", "p-2", 5);
    orders.insert(&order, None).await.unwrap();
    let (next, entry) = order
        .transition(OrderStatus::Reserved, Utc::now(), None)
        .unwrap();

    let attempts = (0..6).map(|_| {
        let (inventory, order, next, entry) = (
            inventory.clone(),
            order.clone(),
            next.clone(),
            entry.clone(),
        );
        tokio::spawn(async move { inventory.reserve(&order, &next, &entry).await })
    });
    let results = futures::future::join_all(attempts).await;
    let reserved = results
        .iter()
        .filter(|r| matches!(r, Ok(Ok(Reservation::Reserved))))
        .count();
    assert_eq!(reserved, 1, "{results:?}");
    assert!(results.iter().all(|r| matches!(
        r,
        Ok(Ok(Reservation::Reserved)) | Ok(Err(AppError::StaleVersion(_)))
    )));
    assert_eq!(
        (stock_of(&env, "p-1").await, stock_of(&env, "p-2").await),
        (98, 20)
    );
    assert_eq!(
        orders.get(&order.id).await.unwrap().unwrap().status,
        OrderStatus::Reserved
    );
}

#[tokio::test]
async fn a_short_line_is_named_and_nothing_is_taken() {
    use shared::ports::Reservation;
    let env = TestEnv::new().await;
    env.seed().await; // p-4 is sold out
    let (orders, inventory) = (env.orders().unwrap(), env.inventory().unwrap());
    let order = two_line_order("c-1", "p-4", 1);
    orders.insert(&order, None).await.unwrap();
    let (next, entry) = order
        .transition(OrderStatus::Reserved, Utc::now(), None)
        .unwrap();
    let outcome = inventory.reserve(&order, &next, &entry).await.unwrap();
    assert_eq!(
        outcome,
        Reservation::OutOfStock(ProductId::parse("p-4").unwrap())
    );
    assert_eq!(
        stock_of(&env, "p-1").await,
        100,
        "the first line was not taken either"
    );
    assert_eq!(
        orders.get(&order.id).await.unwrap().unwrap().status,
        OrderStatus::Pending
    );
}

/// The defect: a catalog edit set `available` unconditionally, so units reserved between an
/// admin's read and write were handed out again. Now every reservation moves the product's
/// version, and an edit of the version the admin read is refused.
#[tokio::test]
async fn a_catalog_edit_never_overwrites_stock_reserved_since_it_was_read() {
    let env = TestEnv::new().await;
    env.seed().await; // p-1: 100
    let catalog = env.catalog().unwrap();
    let p1 = ProductId::parse("p-1").unwrap();
    let read = catalog.get(&p1).await.unwrap().unwrap();

    let order = memory::order(OrderId::generate(), "c-1", Utc::now());
    env.orders().unwrap().insert(&order, None).await.unwrap();
    let (mut next, entry) = order
        .transition(OrderStatus::Reserved, Utc::now(), None)
        .unwrap();
    next.stock_held = true;
    let inventory = env.inventory().unwrap();
    inventory.reserve(&order, &next, &entry).await.unwrap();

    let restock = ProductDraft {
        id: p1.clone(),
        name: read.name.clone(),
        unit_price: read.unit_price,
        available: read.available + 10,
    };
    let edit = catalog.put(&restock, Some(read.version), Utc::now()).await;
    assert!(
        matches!(edit, Err(AppError::PreconditionFailed(_))),
        "{edit:?}"
    );
    assert_eq!(stock_of(&env, "p-1").await, 98, "the reservation stands");

    let fresh = catalog.get(&p1).await.unwrap().unwrap();
    let restock = ProductDraft {
        available: fresh.available + 10,
        ..restock
    };
    catalog
        .put(&restock, Some(fresh.version), Utc::now())
        .await
        .unwrap();
    assert_eq!(stock_of(&env, "p-1").await, 108, "98 left + 10 restocked");
}
