//! The order pipeline on the local stack (every function of `template.yaml` behind the local
//! gateway and its SQS event sources, on moto and localstripe): what one order costs in AWS
//! requests and capacity units, how long one order takes to complete, how many orders a second
//! the stack completes, and how many the emulator alone could serve for the same mix of calls.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, Put,
    ScalarAttributeType, TransactWriteItem,
};
use local_stack::template::Template;
use serde::Serialize;
use serde_json::{Value, json};
use shared::domain::{OrderId, OrderStatus, ProductDraft, ProductId};
use shared::wiring::Wiring;

use super::{median, moto_counts, reset_moto_counts};
use crate::TestEnv;
use crate::api::{self, Client};
use crate::invariants::Placed;

/// The two-line order every figure is about: two units of p-1 and one of p-3, paid by card.
pub fn two_line_order(tag: &str) -> Value {
    json!({
        "items": [{"productId": "p-1", "quantity": 2}, {"productId": "p-3", "quantity": 1}],
        "paymentMethod": "pm_card_visa",
        "shippingAddress": {"name": "Ada Lovelace", "line1": "1 Main St", "line2": tag,
                            "city": "London", "postalCode": "N1 1AA", "country": "GB"}
    })
}

/// The running stack a bench measures, with customers signed in.
pub struct Bench {
    pub env: Arc<TestEnv>,
    pub service: api::Service,
    pub client: Client,
    pub tokens: Vec<String>,
    /// The functions the SQS event sources invoke.
    pub consumers: Vec<String>,
    pub template: Template,
    /// Every order the bench placed (for the invariants' check at the end), and the stock before.
    pub placed: std::sync::Mutex<Placed>,
    pub initial: BTreeMap<String, i64>,
}

impl Bench {
    /// The stack of `template.yaml`, its batching window set to `window_s` if given.
    pub async fn start(window_s: Option<u64>) -> Self {
        let mut yaml = std::fs::read_to_string(crate::repo_root().join("template.yaml")).unwrap();
        if let Some(window) = window_s {
            let default = "BatchingWindowSeconds:\n    Type: Number\n    Default: 0";
            assert!(
                yaml.contains(default),
                "template.yaml has no BatchingWindowSeconds default"
            );
            yaml = yaml.replace(
                default,
                &default.replace("Default: 0", &format!("Default: {window}")),
            );
        }
        let env = TestEnv::with_template(&yaml).await;
        // The load test signs many customers in from one address.
        env.set("RATE_LIMIT_PER_MINUTE", "1000000");
        env.seed_with_signing_key().await;
        restock(&env).await;
        let initial = crate::invariants::stock(&env).await;
        let env = Arc::new(env);
        let service = api::serve(env.clone(), &yaml).await;
        let client = Client::new(&service.url);
        let mut tokens = Vec::new();
        for i in 0..8 {
            tokens.push(client.account(&format!("bench{i}@example.com")).await);
        }
        let template = Template::parse(&yaml).unwrap();
        let consumers = local_stack::gateway::sqs::sources(&template, &env.created.scope)
            .unwrap()
            .into_iter()
            .map(|source| source.function)
            .collect();
        Self {
            env,
            service,
            client,
            tokens,
            consumers,
            template,
            placed: Default::default(),
            initial,
        }
    }

    /// Places the two-line order; its id, or None if the API did not take it.
    pub async fn place(&self, token: &str, tag: &str) -> Option<OrderId> {
        let key = format!("bench-{tag}");
        let (status, answer, _) = self
            .client
            .call(
                "POST",
                "/orders",
                Some(token),
                Some(two_line_order(tag)),
                &[("Idempotency-Key", &key)],
            )
            .await;
        let id = (status == 201)
            .then(|| OrderId::parse(answer["id"].as_str()?).ok())
            .flatten()?;
        self.record(&id, tag);
        Some(id)
    }

    /// Waits until every one of `orders` ended or `deadline` passed; the ones still going.
    pub async fn unended(&self, mut orders: Vec<OrderId>, deadline: Instant) -> Vec<OrderId> {
        while !orders.is_empty() && Instant::now() < deadline {
            let mut still = Vec::new();
            for id in orders {
                if !self.status(&id).await.is_some_and(OrderStatus::is_terminal) {
                    still.push(id);
                }
            }
            orders = still;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        orders
    }

    pub fn record(&self, id: &OrderId, tag: &str) {
        let mut placed = self.placed.lock().unwrap();
        placed.orders.insert(id.clone(), tag.to_string());
    }

    pub async fn status(&self, id: &OrderId) -> Option<OrderStatus> {
        let orders = self.env.orders().unwrap();
        orders
            .get(id)
            .await
            .ok()
            .flatten()
            .map(|order| order.status)
    }

    /// Waits (polling the table every 10 ms) until the order ended; how long that took from
    /// `since`, or None after `timeout`.
    pub async fn ended(&self, id: &OrderId, since: Instant, timeout: Duration) -> Option<Duration> {
        while since.elapsed() < timeout {
            if self.status(id).await.is_some_and(OrderStatus::is_terminal) {
                return Some(since.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        None
    }
}

/// Enough stock of the two products for every order a bench places.
async fn restock(env: &TestEnv) {
    let catalog = env.catalog().unwrap();
    for id in ["p-1", "p-3"] {
        let product = catalog
            .get(&ProductId::parse(id).unwrap())
            .await
            .unwrap()
            .unwrap();
        let draft = ProductDraft {
            id: product.id.clone(),
            name: product.name.clone(),
            unit_price: product.unit_price,
            available: 1_000_000,
        };
        catalog
            .put(&draft, Some(product.version), chrono::Utc::now())
            .await
            .unwrap();
    }
}

/// What one two-line order cost, counted: the emulator's requests by operation (with the
/// capacity units), the Lambda invocations with their durations, and how long it took.
#[derive(Debug, Clone, Serialize)]
pub struct OneOrder {
    pub counts: BTreeMap<String, f64>,
    pub invocations: BTreeMap<String, u64>,
    pub invocation_ms: BTreeMap<String, f64>,
    pub status: String,
}

/// One order after a warm-up one, counted from the moment it is placed until notify-customer
/// has handled it and its message is deleted. Nothing polls the table meanwhile (its reads would
/// be counted): the end is seen in the invocation counts.
pub async fn one_order(bench: &Bench) -> OneOrder {
    let token = &bench.tokens[0];
    let warm = bench
        .place(token, "warm-up")
        .await
        .expect("the warm-up order");
    bench
        .ended(&warm, Instant::now(), Duration::from_secs(60))
        .await
        .expect("the warm-up order ends");
    tokio::time::sleep(Duration::from_secs(2)).await;
    reset_moto_counts().await;
    bench.service.take_invocations();
    let id = bench
        .place(token, "counted")
        .await
        .expect("the counted order");
    let since = Instant::now();
    while since.elapsed() < Duration::from_secs(60) {
        let done = bench
            .service
            .invocations()
            .get("notify-customer")
            .is_some_and(|(n, _)| *n > 0);
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await; // the last deletes
    let counts = moto_counts().await;
    let invoked = bench.service.take_invocations();
    let status = bench
        .status(&id)
        .await
        .map_or("missing".into(), |s| s.as_str().to_string());
    OneOrder {
        counts,
        invocations: invoked.iter().map(|(k, (n, _))| (k.clone(), *n)).collect(),
        invocation_ms: invoked
            .iter()
            .map(|(k, (_, d))| (k.clone(), d.as_secs_f64() * 1000.0))
            .collect(),
        status,
    }
}

/// Each of `orders` orders placed alone, timed from `POST /orders` to its end: the median, in ms.
pub async fn end_to_end(bench: &Bench, orders: usize) -> (f64, Vec<f64>) {
    let mut took = Vec::new();
    for i in 0..orders {
        let since = Instant::now();
        let id = bench
            .place(&bench.tokens[1], &format!("e2e-{i}"))
            .await
            .expect("the order is taken");
        let ended = bench
            .ended(&id, since, Duration::from_secs(60))
            .await
            .expect("the order ends");
        took.push(ended.as_secs_f64() * 1000.0);
    }
    let all = took.clone();
    (median(&mut took), all)
}

/// `orders` orders placed by 8 clients at once: completed orders per second, from the first
/// request to the last order's end.
pub async fn throughput(bench: &Bench, orders: usize) -> f64 {
    let since = Instant::now();
    let placed = futures::future::join_all((0..8).map(|client| async move {
        let mut ids = Vec::new();
        for i in (client..orders).step_by(8) {
            if let Some(id) = bench.place(&bench.tokens[client], &format!("tp-{i}")).await {
                ids.push(id);
            }
        }
        ids
    }))
    .await;
    let placed: Vec<OrderId> = placed.into_iter().flatten().collect();
    let pending = bench
        .unended(placed.clone(), since + Duration::from_secs(300))
        .await;
    (placed.len() - pending.len()) as f64 / since.elapsed().as_secs_f64()
}

/// A new table named `prefix-<uuid>` keyed by the string `pk`, on demand.
pub async fn scratch_table(dynamodb: &aws_sdk_dynamodb::Client, prefix: &str) -> String {
    let table = format!("{prefix}-{}", uuid::Uuid::new_v4().simple());
    dynamodb
        .create_table()
        .table_name(&table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    table
}

/// The emulator alone: each AWS operation the counted order made, sent `samples` times straight
/// to moto with items of an order's size, and timed; the emulator's orders per second is one
/// over the order's mix of calls at those medians. ReceiveMessage is counted once per consumer
/// invocation (the polls that found the order's message; idle polls are not per order).
pub async fn emulator(
    bench: &Bench,
    order: &OneOrder,
    samples: usize,
) -> (f64, BTreeMap<String, f64>) {
    let env = &bench.env;
    let dynamodb = env.dynamodb();
    let sqs = env.sqs();
    let table = scratch_table(&dynamodb, "bench-scratch").await;
    let queue = sqs
        .create_queue()
        .queue_name(format!("bench-scratch-{}", uuid::Uuid::new_v4().simple()))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let environment = env.created.environment(&bench.template).unwrap();
    let sender = environment
        .get("NOTICE_SENDER")
        .cloned()
        .unwrap_or_default();
    let ses = aws_sdk_sesv2::Client::new(&env.config);
    let payload = "x".repeat(900);
    let item = |n: usize| -> std::collections::HashMap<String, AttributeValue> {
        [
            ("pk".to_string(), AttributeValue::S(format!("k{n}"))),
            ("body".to_string(), AttributeValue::S(payload.clone())),
        ]
        .into()
    };
    let mut mix: BTreeMap<String, f64> = order
        .counts
        .iter()
        .filter(|(op, _)| {
            !op.contains(':') && !op.ends_with(".items") && !op.starts_with("dynamodb.")
        })
        .map(|(op, n)| (op.clone(), *n))
        .collect();
    let consumed: u64 = bench
        .consumers
        .iter()
        .filter_map(|f| order.invocations.get(f))
        .sum();
    mix.insert("AmazonSQS.ReceiveMessage".into(), consumed as f64);
    let per_transaction = order
        .counts
        .get("DynamoDB_20120810.TransactWriteItems.items")
        .zip(order.counts.get("DynamoDB_20120810.TransactWriteItems"))
        .map_or(1, |(items, n)| (items / n).round().max(1.0) as usize);
    let mut medians = BTreeMap::new();
    let mut seconds_per_order = 0.0;
    for (op, count) in &mix {
        let mut times = Vec::new();
        for n in 0..samples {
            let started = Instant::now();
            let ok = match op.as_str() {
                "DynamoDB_20120810.GetItem" => dynamodb
                    .get_item()
                    .table_name(&table)
                    .key("pk", AttributeValue::S(format!("k{n}")))
                    .send()
                    .await
                    .is_ok(),
                "DynamoDB_20120810.PutItem" => dynamodb
                    .put_item()
                    .table_name(&table)
                    .set_item(Some(item(n)))
                    .send()
                    .await
                    .is_ok(),
                "DynamoDB_20120810.UpdateItem" => dynamodb
                    .update_item()
                    .table_name(&table)
                    .key("pk", AttributeValue::S(format!("k{n}")))
                    .update_expression("SET v = if_not_exists(v, :z) + :one")
                    .expression_attribute_values(":z", AttributeValue::N("0".into()))
                    .expression_attribute_values(":one", AttributeValue::N("1".into()))
                    .send()
                    .await
                    .is_ok(),
                "DynamoDB_20120810.Query" => dynamodb
                    .query()
                    .table_name(&table)
                    .key_condition_expression("pk = :k")
                    .expression_attribute_values(":k", AttributeValue::S(format!("k{n}")))
                    .send()
                    .await
                    .is_ok(),
                "DynamoDB_20120810.TransactWriteItems" => dynamodb
                    .transact_write_items()
                    .set_transact_items(Some(
                        (0..per_transaction)
                            .map(|i| {
                                TransactWriteItem::builder()
                                    .put(
                                        Put::builder()
                                            .table_name(&table)
                                            .set_item(Some(item(n * 100 + i)))
                                            .build()
                                            .unwrap(),
                                    )
                                    .build()
                            })
                            .collect(),
                    ))
                    .send()
                    .await
                    .is_ok(),
                "AmazonSQS.SendMessage" => sqs
                    .send_message()
                    .queue_url(&queue)
                    .message_body(&payload)
                    .send()
                    .await
                    .is_ok(),
                "AmazonSQS.ReceiveMessage" => sqs
                    .receive_message()
                    .queue_url(&queue)
                    .max_number_of_messages(10)
                    .send()
                    .await
                    .is_ok(),
                "AmazonSQS.DeleteMessageBatch" | "AmazonSQS.DeleteMessage" => {
                    // A delete of what one receive got (sent first, untimed).
                    let _ = sqs
                        .send_message()
                        .queue_url(&queue)
                        .message_body(&payload)
                        .send()
                        .await;
                    let received = sqs.receive_message().queue_url(&queue).send().await.ok();
                    let handle = received
                        .and_then(|r| r.messages)
                        .and_then(|m| m.into_iter().next())
                        .and_then(|m| m.receipt_handle);
                    let started = Instant::now();
                    let ok = match handle {
                        Some(handle) => sqs
                            .delete_message()
                            .queue_url(&queue)
                            .receipt_handle(handle)
                            .send()
                            .await
                            .is_ok(),
                        None => false,
                    };
                    times.push(started.elapsed().as_secs_f64() * 1000.0);
                    if !ok {
                        eprintln!("emulator: {op} failed");
                    }
                    continue;
                }
                "sesv2.SendEmail" => ses
                    .send_email()
                    .from_email_address(&sender)
                    .destination(
                        aws_sdk_sesv2::types::Destination::builder()
                            .to_addresses("bench@example.com")
                            .build(),
                    )
                    .content(
                        aws_sdk_sesv2::types::EmailContent::builder()
                            .simple(
                                aws_sdk_sesv2::types::Message::builder()
                                    .subject(
                                        aws_sdk_sesv2::types::Content::builder()
                                            .data("bench")
                                            .build()
                                            .unwrap(),
                                    )
                                    .body(
                                        aws_sdk_sesv2::types::Body::builder()
                                            .text(
                                                aws_sdk_sesv2::types::Content::builder()
                                                    .data(&payload)
                                                    .build()
                                                    .unwrap(),
                                            )
                                            .build(),
                                    )
                                    .build(),
                            )
                            .build(),
                    )
                    .send()
                    .await
                    .is_ok(),
                other => {
                    eprintln!("emulator: no replay for {other}; left out of the mix");
                    break;
                }
            };
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            if !ok {
                eprintln!("emulator: {op} failed");
            }
        }
        if times.is_empty() {
            continue;
        }
        let ms = median(&mut times);
        seconds_per_order += ms / 1000.0 * count;
        medians.insert(op.clone(), ms);
    }
    let _ = dynamodb.delete_table().table_name(&table).send().await;
    let _ = sqs.delete_queue().queue_url(&queue).send().await;
    (1.0 / seconds_per_order, medians)
}
