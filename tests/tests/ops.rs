//! `order-admin`'s commands against the emulator, as an operator runs them against a stage: the
//! same functions over the production adapters, on one test's own tables and queues.

// Test helpers panic on unexpected values by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Utc;
use order_admin::dead_letters;
use shared::domain::{OrderId, OrderStatus};
use shared::messages::Envelope;
use shared::pipeline::Queue;
use shared::service::fulfilment::consumers;
use shared::wiring::{Resources, Wiring};
use system_tests::{ProviderRecord, TestEnv, provider_record};

/// Moves every message of `from` to `to` as SQS moves a message to its dead-letter queue: the
/// same body and attributes.
async fn move_all(env: &TestEnv, from: &str, to: &str) -> usize {
    let sqs = env.sqs();
    let mut moved = 0;
    loop {
        let out = sqs
            .receive_message()
            .queue_url(from)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .send()
            .await
            .unwrap();
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return moved;
        }
        for message in messages {
            sqs.send_message()
                .queue_url(to)
                .message_body(message.body.unwrap())
                .set_message_attributes(message.message_attributes)
                .send()
                .await
                .unwrap();
            sqs.delete_message()
                .queue_url(from)
                .receipt_handle(message.receipt_handle.unwrap())
                .send()
                .await
                .unwrap();
            moved += 1;
        }
    }
}

#[tokio::test]
async fn a_redrive_after_the_provider_recovers_completes_each_order_exactly_once() {
    let env = TestEnv::new().await;
    env.seed().await;
    let steps = consumers(env.wiring()).await.unwrap();
    let step = |queue: Queue| {
        steps
            .iter()
            .find(|c| c.consumer().queue == queue)
            .unwrap()
            .as_ref()
    };
    let payment = env.resources().queue_url(Queue::Payment).unwrap();
    let payment_dlq = env.resources().dead_letter_url(Queue::Payment).unwrap();
    let orders = env.orders().unwrap();

    // Two reserved orders whose payment messages SQS gave up on while the provider was down,
    // with the dead-letter function stopped: they wait in the payment dead-letter queue.
    let mut ids = Vec::new();
    for n in 0..2 {
        let order = shared::testing::order(OrderId::generate(), &format!("c-{n}"), Utc::now());
        orders.insert(&order, None).await.unwrap();
        let placed = Envelope::announcing(
            OrderStatus::Pending,
            order.id.clone(),
            "corr-redrive",
            Utc::now(),
        )
        .unwrap();
        step(Queue::Inventory).handle(&placed).await.unwrap();
        ids.push(order.id);
    }
    assert_eq!(move_all(&env, &payment, &payment_dlq).await, 2);

    let sqs = env.sqs();
    let dry = dead_letters::redrive(&sqs, &payment_dlq, &payment, true)
        .await
        .unwrap();
    assert_eq!((dry.found, dry.moved), (2, 0), "a dry run only counts");
    assert_eq!(
        dead_letters::depth(&sqs, &payment_dlq)
            .await
            .unwrap()
            .waiting,
        2
    );

    let done = dead_letters::redrive(&sqs, &payment_dlq, &payment, false)
        .await
        .unwrap();
    assert_eq!((done.found, done.moved), (2, 2));
    let again = dead_letters::redrive(&sqs, &payment_dlq, &payment, false)
        .await
        .unwrap();
    assert_eq!(again.moved, 0, "nothing is left to move twice");

    // The step's queue holds each message once, with its correlation id; the provider is up,
    // so each order is charged and goes on to COMPLETED.
    let out = sqs
        .receive_message()
        .queue_url(&payment)
        .max_number_of_messages(10)
        .message_attribute_names("All")
        .send()
        .await
        .unwrap();
    let messages = out.messages.unwrap_or_default();
    assert_eq!(messages.len(), 2);
    for message in &messages {
        let attributes = message.message_attributes.as_ref().unwrap();
        assert_eq!(
            attributes["correlationId"].string_value(),
            Some("corr-redrive")
        );
        // The redriven message, then each next step the pipeline table routes the order to.
        let mut current = Envelope::parse(message.body().unwrap()).unwrap();
        loop {
            let queue = current.queue.unwrap();
            step(queue).handle(&current).await.unwrap();
            let order = orders.get(&current.order_id).await.unwrap().unwrap();
            match Envelope::announcing(order.status, order.id, "corr-redrive", Utc::now()) {
                Some(next) => current = next,
                None => break,
            }
        }
    }
    for id in &ids {
        let order = orders.get(id).await.unwrap().unwrap();
        assert_eq!(order.status, OrderStatus::Completed, "{id}");
        assert_eq!(
            provider_record(id.as_str()).await,
            ProviderRecord {
                charges: 1,
                refunds: 0
            },
            "{id}"
        );
    }
}

#[tokio::test]
async fn stuck_lists_only_unfinished_orders_past_the_age_oldest_first() {
    let env = TestEnv::new().await;
    let orders = env.orders().unwrap();
    let now = Utc::now();
    let at = |minutes| now - chrono::Duration::minutes(minutes);
    let mut placed = Vec::new();
    for (minutes, status) in [
        (30, OrderStatus::Reserved),
        (60, OrderStatus::Pending),
        (5, OrderStatus::Paid),
        (90, OrderStatus::Completed),
    ] {
        let mut order = shared::testing::order(OrderId::generate(), "c-1", at(minutes));
        order.status = status;
        orders.insert(&order, None).await.unwrap();
        placed.push(order.id);
    }
    let stuck = order_admin::stuck(orders.as_ref(), chrono::Duration::minutes(10), now)
        .await
        .unwrap();
    let ids: Vec<_> = stuck.iter().map(|o| o.id.clone()).collect();
    assert_eq!(ids, vec![placed[1].clone(), placed[0].clone()]);
}
