//! The local gateway end to end: HTTP in, the API Gateway event to a function through the Lambda
//! Invoke API, the function on the real adapters and the emulator, HTTP out; and SQS messages from
//! the queue to a function, deleted, redelivered or dead-lettered.
//!
//! The functions sit behind a fake Invoke API (`system_tests::fake_lambda`) that runs the real
//! handlers in-process, so these tests need no `cargo lambda watch`.

// Test helpers panic on unexpected values by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;
use local_stack::gateway::invoke::Invoker;
use local_stack::gateway::sqs;
use local_stack::template::Template;
use serde_json::{Value, json};
use shared::wiring::Wiring;
use system_tests::api::{KEY, gateway as start_gateway};
use system_tests::{TestEnv, fake_lambda, repo_root};

fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// The project's template behind a gateway, its functions in-process, the catalog and the first
/// signing key seeded.
async fn project_api() -> (Arc<TestEnv>, String) {
    let template = std::fs::read_to_string(repo_root().join("template.yaml")).unwrap();
    project_api_on(&template, |_| {}).await
}

/// The project's template with 1 s visibility timeouts, so a failing message reaches its
/// dead-letter queue in seconds rather than minutes.
fn fast_redelivery_template() -> String {
    system_tests::template_with_visibility(1)
}

/// The project's API on `yaml`, with payments parked for 1 s while the provider is down; `adjust`
/// changes settings before the functions are wired.
async fn project_api_on(yaml: &str, adjust: impl FnOnce(&TestEnv)) -> (Arc<TestEnv>, String) {
    let env = TestEnv::with_template(yaml).await;
    env.set("PAYMENT_PARK_SECONDS", "1");
    adjust(&env);
    let env = Arc::new(env);
    env.seed_with_signing_key().await;
    let api = system_tests::api::serve(env.clone(), yaml).await;
    (env, api.url)
}

/// The letters kept from one of the template's dead-letter queues.
async fn dead_letters_of(env: &TestEnv, logical_id: &str) -> Vec<shared::ports::DeadLetter> {
    let url = env.name(logical_id);
    let queue = url.rsplit('/').next().unwrap();
    env.dead_letters().unwrap().list(queue).await.unwrap()
}

/// `GET /orders/{id}` as the holder of `token`, with the client's API key.
async fn read_order(api: &str, token: &str, id: &str) -> (u16, Value) {
    call(
        api,
        "GET",
        &format!("/orders/{id}"),
        Some(token),
        true,
        None,
    )
    .await
}

/// Polls the order until it reaches `status`, for at most 30 s.
async fn await_status(api: &str, token: &str, id: &str, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, order) = read_order(api, token, id).await;
        if order["status"] == status {
            return order;
        }
        assert!(
            Instant::now() < deadline,
            "order {id} never became {status}: {order}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn call(
    api: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    key: bool,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = http().request(method.parse().unwrap(), format!("{api}{path}"));
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if key {
        request = request.header("x-api-key", KEY);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn account(api: &str, email: &str) -> String {
    let credentials = json!({"email": email, "password": "correct horse battery staple"});
    let (status, _) = call(
        api,
        "POST",
        "/auth/register",
        None,
        true,
        Some(credentials.clone()),
    )
    .await;
    assert_eq!(status, 201);
    let (status, body) = call(api, "POST", "/auth/login", None, true, Some(credentials)).await;
    assert_eq!(status, 200, "{body}");
    body["token"].as_str().unwrap().to_string()
}

/// `POST /orders` as the holder of `token`, with the client key.
async fn place(api: &str, token: &str, body: Value) -> (u16, Value) {
    call(api, "POST", "/orders", Some(token), true, Some(body)).await
}

/// An admin account (as `order-admin create-admin` makes one), signed in.
async fn admin(env: &TestEnv, api: &str) -> String {
    system_tests::api::Client::new(api)
        .admin(env, "root@example.com")
        .await
}

fn order_body() -> Value {
    json!({"items": [{"productId": "p-1", "quantity": 2}],
           "shippingAddress": {"name": "Ada Lovelace", "line1": "1 Main St", "city": "London", "postalCode": "N1 1AA", "country": "GB"},
           "paymentMethod": "pm_card_visa"})
}

#[tokio::test]
async fn register_log_in_order_and_read_through_the_gateway() {
    let (_env, api) = project_api().await;
    let (status, health) = call(&api, "GET", "/health", None, false, None).await;
    assert_eq!(
        (status, health["status"].as_str()),
        (200, Some("ok")),
        "health needs no key"
    );
    let (status, jwks) = call(&api, "GET", "/.well-known/jwks.json", None, false, None).await;
    assert_eq!(
        (status, jwks["keys"][0]["alg"].as_str()),
        (200, Some("EdDSA"))
    );

    let ada = account(&api, "ada@example.com").await;
    let (status, placed) = place(&api, &ada, order_body()).await;
    assert_eq!(status, 201, "{placed}");
    let id = placed["id"].as_str().unwrap();
    let (status, read) = read_order(&api, &ada, id).await;
    assert_eq!(
        (status, read["total"]["amount"].as_i64()),
        (200, Some(2500))
    );
    let (status, listed) = call(&api, "GET", "/orders", Some(&ada), true, None).await;
    assert_eq!((status, listed["items"][0]["id"].as_str()), (200, Some(id)));

    let (status, problem) = call(
        &api,
        "POST",
        "/auth/login",
        None,
        true,
        Some(json!({"email": "ada@example.com", "password": "wrong password here"})),
    )
    .await;
    assert_eq!(
        (status, problem["type"].as_str()),
        (401, Some("/problems/invalid-credentials"))
    );
}

async fn stock(env: &TestEnv, product: &str) -> u32 {
    env.catalog()
        .unwrap()
        .get(&shared::domain::ProductId::parse(product).unwrap())
        .await
        .unwrap()
        .unwrap()
        .available
}

/// The statuses of an order's timeline, oldest first.
async fn history(api: &str, token: &str, id: &str) -> Vec<String> {
    entries(api, token, id)
        .await
        .iter()
        .map(|entry| entry["to"].as_str().unwrap().to_string())
        .collect()
}

/// An order's history entries as the holder of `token` sees them, oldest first.
async fn entries(api: &str, token: &str, id: &str) -> Vec<Value> {
    let (status, body) = call(
        api,
        "GET",
        &format!("/orders/{id}/history"),
        Some(token),
        true,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_placed_order_completes_by_itself_and_a_sold_out_one_is_rejected() {
    let (env, api) = project_api().await;
    let ada = account(&api, "ada@example.com").await;
    let (_, placed) = place(&api, &ada, order_body()).await;
    let id = placed["id"].as_str().unwrap();
    let done = await_status(&api, &ada, id, "COMPLETED").await;
    assert!(done["trackingNumber"].as_str().unwrap().starts_with("TRK"));
    assert_eq!(done["paymentStatus"], "CHARGED");
    assert_eq!(stock(&env, "p-1").await, 98, "2 of 100 taken");
    let happy: Vec<&str> = shared::pipeline::happy_path()
        .into_iter()
        .map(|s| s.as_str())
        .collect();
    assert_eq!(history(&api, &ada, id).await, happy);
    assert_eq!(
        system_tests::provider_record(id).await,
        system_tests::ProviderRecord {
            charges: 1,
            refunds: 0
        }
    );
    let bob = account(&api, "bob@example.com").await;
    let (status, _) = call(
        &api,
        "GET",
        &format!("/orders/{id}/history"),
        Some(&bob),
        true,
        None,
    )
    .await;
    assert_eq!(status, 404, "someone else's history is not found");

    let mut sold_out = order_body();
    sold_out["items"] = json!([{"productId": "p-4", "quantity": 1}]);
    let (_, placed) = place(&api, &ada, sold_out).await;
    await_status(&api, &ada, placed["id"].as_str().unwrap(), "REJECTED").await;
}

#[tokio::test]
async fn a_declined_card_ends_in_payment_failed_with_the_stock_back() {
    let (env, api) = project_api().await;
    let ada = account(&api, "ada@example.com").await;
    let mut declined = order_body();
    declined["paymentMethod"] = json!("pm_card_visa_chargeDeclined");
    let (_, placed) = place(&api, &ada, declined).await;
    let id = placed["id"].as_str().unwrap();
    let failed = await_status(&api, &ada, id, "PAYMENT_FAILED").await;
    assert_eq!(failed["paymentStatus"], "DECLINED");
    let deadline = Instant::now() + Duration::from_secs(20);
    while stock(&env, "p-1").await != 100 {
        assert!(Instant::now() < deadline, "the stock never came back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(system_tests::provider_record(id).await.charges, 0);
}

/// Each way an order ends is e-mailed to the customer's address through SES, once: read back from
/// what the emulator's SES accepted, not from our own records.
#[tokio::test]
async fn every_outcome_is_emailed_to_the_customer_once_through_ses() {
    let (_env, api) = project_api().await;
    let erin = account(&api, "erin@example.com").await;
    let mut ids = Vec::new();
    let mut declined = order_body();
    declined["paymentMethod"] = json!("pm_card_visa_chargeDeclined");
    let mut sold_out = order_body();
    sold_out["items"] = json!([{"productId": "p-4", "quantity": 1}]);
    for (body, outcome, subject) in [
        (order_body(), "COMPLETED", "is on its way"),
        (declined, "PAYMENT_FAILED", "did not go through"),
        (sold_out, "REJECTED", "could not accept"),
        (order_body(), "CANCELLED", "is cancelled"),
    ] {
        let (_, placed) = place(&api, &erin, body).await;
        let id = placed["id"].as_str().unwrap().to_string();
        if outcome == "CANCELLED" {
            let path = format!("/orders/{id}/cancel");
            let (status, _) = call(&api, "POST", &path, Some(&erin), true, None).await;
            assert_eq!(status, 200);
        }
        await_status(&api, &erin, &id, outcome).await;
        ids.push((shared::domain::OrderId::parse(&id).unwrap(), subject));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let sent = system_tests::sent_emails().await;
        if ids
            .iter()
            .all(|(id, _)| !system_tests::emails_about(&sent, id).is_empty())
        {
            break;
        }
        assert!(Instant::now() < deadline, "not every outcome was e-mailed");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Redeliveries and the reconciler's passes would show by now as second copies.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let sent = system_tests::sent_emails().await;
    for (id, subject) in &ids {
        let about = system_tests::emails_about(&sent, id);
        assert_eq!(about.len(), 1, "{id}: {about:?}");
        assert_eq!(about[0]["to"], json!(["erin@example.com"]));
        assert_eq!(about[0]["from"], "orders@example.com");
        assert!(
            about[0]["subject"].as_str().unwrap().contains(subject),
            "{about:?}"
        );
    }
}

/// Support refunds a completed order: the provider shows exactly one refund of the whole charge
/// however often it is asked, the stock stays sold (the goods were delivered), the customer is
/// e-mailed once, and the history says an admin did it.
#[tokio::test]
async fn support_refunds_a_completed_order_once_and_the_stock_stays_sold() {
    let (env, api) = project_api().await;
    let ada = account(&api, "ada@example.com").await;
    let admin = admin(&env, &api).await;
    let available = |api: String| async move {
        let (_, product) = call(&api, "GET", "/products/p-1", None, true, None).await;
        product["available"].as_u64().unwrap()
    };
    let before = available(api.clone()).await;
    let (_, placed) = place(&api, &ada, order_body()).await;
    let id = placed["id"].as_str().unwrap().to_string();
    let completed = await_status(&api, &ada, &id, "COMPLETED").await;
    let path = format!("/admin/orders/{id}/refund");
    let part = json!({"amount": {"amount": 1, "currency": "EUR"}});
    let (status, refused) = call(&api, "POST", &path, Some(&admin), true, Some(part)).await;
    assert_eq!(
        (status, &refused["errors"][0]["field"]),
        (422, &json!("amount"))
    );
    let (status, _) = call(&api, "POST", &path, Some(&ada), true, None).await;
    assert_eq!(
        status, 404,
        "a customer cannot refund, not even their own order"
    );
    let whole = json!({"amount": completed["total"]});
    let (status, refunded) = call(&api, "POST", &path, Some(&admin), true, Some(whole)).await;
    assert_eq!(
        (status, refunded["status"].as_str()),
        (200, Some("REFUNDED"))
    );
    // Asked again (a retry after a lost answer): the same answer, no second refund.
    let (status, _) = call(&api, "POST", &path, Some(&admin), true, None).await;
    assert_eq!(status, 200);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, order) = read_order(&api, &ada, &id).await;
        if order["paymentStatus"] == "REFUNDED" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the refund never settled: {order}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let record = system_tests::provider_record(&id).await;
    assert_eq!((record.charges, record.refunds), (1, 1), "at the provider");
    assert_eq!(
        available(api.clone()).await,
        before - 2,
        "the units stay sold"
    );
    let last = entries(&api, &ada, &id).await.pop().unwrap();
    assert_eq!(last["to"], "REFUNDED");
    assert_eq!(last["reasonCode"], "REFUNDED_BY_SUPPORT");
    assert_eq!(last["actor"], json!({"type": "admin"}));
    let order_id = shared::domain::OrderId::parse(&id).unwrap();
    let sent = system_tests::sent_emails().await;
    let about: Vec<_> = system_tests::emails_about(&sent, &order_id)
        .into_iter()
        .filter(|m| m["subject"].as_str().unwrap().contains("is refunded"))
        .collect();
    assert_eq!(about.len(), 1, "{about:?}");
    assert!(
        about[0]["body"].to_string().contains("goes back"),
        "{about:?}"
    );
}

/// Cancels race the pipeline at staggered moments; every order ends either cancelled with its
/// stock and money back, or completed with its cancel refused: one outcome, never half of each.
#[tokio::test]
async fn cancels_racing_the_pipeline_resolve_to_exactly_one_outcome() {
    let (env, api) = project_api().await;
    let ada = account(&api, "ada@example.com").await;
    let mut orders = Vec::new();
    for delay_ms in [0u64, 100, 300, 600, 1000, 1500] {
        let (_, placed) = place(&api, &ada, order_body()).await;
        let id = placed["id"].as_str().unwrap().to_string();
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        let (status, _) = call(
            &api,
            "POST",
            &format!("/orders/{id}/cancel"),
            Some(&ada),
            true,
            None,
        )
        .await;
        assert!(status == 200 || status == 409, "cancel answered {status}");
        orders.push((id, status));
    }
    let mut completed = 0;
    for (id, cancel) in &orders {
        let expected = if *cancel == 200 {
            "CANCELLED"
        } else {
            "COMPLETED"
        };
        let order = await_status(&api, &ada, id, expected).await;
        let record = system_tests::provider_record(id).await;
        if *cancel == 200 {
            // Settled: whatever was charged went back.
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let (_, order) = read_order(&api, &ada, id).await;
                let settled = !matches!(
                    order["paymentStatus"].as_str(),
                    Some("STARTED" | "CHARGED" | "SETTLING")
                );
                if settled {
                    break;
                }
                assert!(Instant::now() < deadline, "{id} never settled: {order}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let record = system_tests::provider_record(id).await;
            assert_eq!(record.refunds, record.charges, "{id}: refunded = charged");
            assert!(record.charges <= 1);
        } else {
            assert_eq!(
                record,
                system_tests::ProviderRecord {
                    charges: 1,
                    refunds: 0
                },
                "{order}"
            );
            completed += 1;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while stock(&env, "p-1").await != 100 - 2 * completed {
        assert!(
            Instant::now() < deadline,
            "stock {} with {completed} completed",
            stock(&env, "p-1").await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn cancelling_a_cancelled_order_gives_nothing_back_twice() {
    let (env, api) = project_api().await;
    let ada = account(&api, "ada@example.com").await;
    let (_, placed) = place(&api, &ada, order_body()).await;
    let id = placed["id"].as_str().unwrap().to_string();
    let cancel_path = format!("/orders/{id}/cancel");
    let cancel = || call(&api, "POST", &cancel_path, Some(&ada), true, None);
    let (status, _) = cancel().await;
    assert_eq!(status, 200);
    let deadline = Instant::now() + Duration::from_secs(20);
    while stock(&env, "p-1").await != 100 {
        assert!(Instant::now() < deadline, "the stock never came back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, _) = cancel().await;
    assert_eq!(status, 200, "cancelling again re-sends the compensation");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        stock(&env, "p-1").await,
        100,
        "which gives nothing back twice"
    );
}

/// A payment method the provider does not know is refused for good: the payment step sends the
/// message straight to its dead-letter queue (no retries), the dead-letter function keeps it and
/// fails the order once, and compensation gives the stock back.
#[tokio::test]
async fn a_refused_payment_method_is_dead_lettered_at_once_and_fails_its_order_once() {
    let (env, api) = project_api_on(&fast_redelivery_template(), |_| {}).await;
    let ada = account(&api, "ada@example.com").await;
    let mut poison = order_body();
    poison["paymentMethod"] = json!("pm_does_not_exist");
    let (_, placed) = place(&api, &ada, poison).await;
    let id = placed["id"].as_str().unwrap();
    await_status(&api, &ada, id, "FAILED").await;
    let timeline = entries(&api, &ada, id).await;
    let last = timeline.last().unwrap().clone();
    assert_eq!(last["reasonCode"], "STEP_GAVE_UP", "{last}");
    let reason = last["reason"].as_str().unwrap();
    assert!(
        !reason.contains("DeadLetterQueue"),
        "no internals: {reason}"
    );
    let kept = dead_letters_of(&env, "PaymentDeadLetterQueue").await;
    assert!(
        kept.iter().all(|l| l.receives == 1 && l.problem.is_some()),
        "dead-lettered at once with its problem: {kept:?}"
    );
    // With 1 s visibility a slow first reservation may be redelivered and re-send its payment
    // message, so one order can dead-letter more than one message: each is kept, and the order
    // fails once.
    assert!(!kept.is_empty(), "the message is kept for redrive");
    for letter in &kept {
        assert!(letter.body.contains(id), "{letter:?}");
    }
    let failures = timeline
        .iter()
        .filter(|entry| entry["to"] == "FAILED")
        .count();
    assert_eq!(failures, 1, "one outcome");
    let deadline = Instant::now() + Duration::from_secs(20);
    while stock(&env, "p-1").await != 100 {
        assert!(Instant::now() < deadline, "the stock never came back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The provider goes down: the breaker opens after a few failed calls and payments wait on the
/// queue (none fails, none is dead-lettered); once it is back, every order completes, charged once.
#[tokio::test]
async fn a_provider_outage_opens_the_circuit_loses_nothing_and_orders_complete_after() {
    let provider = system_tests::FlakyProvider::start().await;
    let (env, api) = project_api_on(&fast_redelivery_template(), |env| {
        env.set("STRIPE_API_BASE", &provider.url);
        env.set("PAYMENT_BREAKER_COOL_DOWN_SECONDS", "3");
    })
    .await;
    let ada = account(&api, "ada@example.com").await;
    provider.set_up(false);
    let mut ids = Vec::new();
    for _ in 0..4 {
        let (_, placed) = place(&api, &ada, order_body()).await;
        ids.push(placed["id"].as_str().unwrap().to_string());
    }
    tokio::time::sleep(Duration::from_secs(12)).await;
    let during = provider.requests();
    for id in &ids {
        let (_, order) = read_order(&api, &ada, id).await;
        let paying = shared::pipeline::steps_of(&shared::pipeline::PAY)
            .next()
            .unwrap();
        assert_eq!(
            order["status"],
            paying.awaits.as_str(),
            "waiting, not failed: {order}"
        );
    }
    // The breaker bounds the calls: a few per cool-down instead of 3 per delivery of every order.
    assert!(
        during < 60,
        "{during} calls reached a provider that was down"
    );
    provider.set_up(true);
    for id in &ids {
        await_status(&api, &ada, id, "COMPLETED").await;
        assert_eq!(
            system_tests::provider_record(id).await,
            system_tests::ProviderRecord {
                charges: 1,
                refunds: 0
            }
        );
    }
    assert!(env.drain("PaymentDeadLetterQueue").await.is_empty());
}

#[tokio::test]
async fn every_route_answers_each_kind_of_caller_as_intended() {
    // The provider is down, so orders wait in RESERVED and stay cancellable throughout.
    let provider = system_tests::FlakyProvider::start().await;
    provider.set_up(false);
    let template = std::fs::read_to_string(repo_root().join("template.yaml")).unwrap();
    let (env, api) =
        project_api_on(&template, |env| env.set("STRIPE_API_BASE", &provider.url)).await;
    let alice = account(&api, "alice@example.com").await;
    let bob = account(&api, "bob@example.com").await;
    let admin = admin(&env, &api).await;
    let (_, order) = place(&api, &alice, order_body()).await;
    let id = order["id"].as_str().unwrap().to_string();
    let product =
        json!({"name": "Gear", "unitPrice": {"amount": 100, "currency": "EUR"}, "available": 5});

    // (caller, token, API key)
    let callers: [(&str, Option<&str>, bool); 5] = [
        ("no key", None, false),
        ("key only", None, true),
        ("alice", Some(&alice), true),
        ("bob", Some(&bob), true),
        ("admin", Some(&admin), true),
    ];
    // (method, path, body, expected status for each caller above)
    let order_path = format!("/orders/{id}");
    let cancel_path = format!("/orders/{id}/cancel");
    let history_path = format!("/orders/{id}/history");
    let refund_path = format!("/admin/orders/{id}/refund");
    let routes: Vec<(&str, &str, Option<Value>, [u16; 5])> = vec![
        ("GET", "/health", None, [200, 200, 200, 200, 200]),
        ("GET", "/products", None, [403, 200, 200, 200, 200]),
        ("GET", "/products/p-1", None, [403, 200, 200, 200, 200]),
        (
            "PUT",
            "/products/p-9",
            Some(product.clone()),
            [403, 401, 403, 403, 201],
        ),
        ("GET", "/orders", None, [403, 401, 200, 200, 200]),
        (
            "POST",
            "/orders",
            Some(order_body()),
            [403, 401, 201, 201, 201],
        ),
        ("GET", &order_path, None, [403, 401, 200, 404, 200]),
        ("GET", &history_path, None, [403, 401, 200, 404, 200]),
        (
            "GET",
            "/admin/orders?status=RESERVED",
            None,
            [403, 401, 404, 404, 200],
        ),
        (
            "GET",
            "/admin/orders?status=nope",
            None,
            [403, 401, 404, 404, 400],
        ),
        // Alice's order cannot complete (the provider is down): the admin is refused a refund.
        ("POST", &refund_path, None, [403, 401, 404, 404, 409]),
        ("POST", &cancel_path, None, [403, 401, 200, 404, 200]),
    ];
    for (method, path, body, expected) in routes {
        for ((who, token, key), want) in callers.iter().zip(expected) {
            let (status, answer) = call(&api, method, path, *token, *key, body.clone()).await;
            assert_eq!(status, want, "{method} {path} as {who}: {answer}");
        }
    }
    let (_, bobs) = call(&api, "GET", "/orders", Some(&bob), true, None).await;
    assert!(
        bobs["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["id"] != id.as_str()),
        "bob never sees alice's order"
    );

    // Support cancels an order of Bob's: the history says an admin did, and which one only to
    // admins; the listing of cancelled orders shows it with its customer.
    let (_, order) = place(&api, &bob, order_body()).await;
    let bobs_order = order["id"].as_str().unwrap().to_string();
    let (status, _) = call(
        &api,
        "POST",
        &format!("/orders/{bobs_order}/cancel"),
        Some(&admin),
        true,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let history_as = |token: &str| {
        let path = format!("/orders/{bobs_order}/history");
        let token = token.to_string();
        let api = api.clone();
        async move {
            let (_, body) = call(&api, "GET", &path, Some(&token), true, None).await;
            body["items"].as_array().unwrap().last().unwrap().clone()
        }
    };
    let seen_by_bob = history_as(&bob).await;
    assert_eq!(seen_by_bob["reasonCode"], "CANCELLED_BY_SUPPORT");
    assert_eq!(seen_by_bob["actor"], json!({"type": "admin"}));
    let seen_by_admin = history_as(&admin).await;
    assert_eq!(seen_by_admin["actor"]["type"], "admin");
    assert!(seen_by_admin["actor"]["id"].is_string());
    let (_, cancelled) = call(
        &api,
        "GET",
        "/admin/orders?status=CANCELLED&limit=100",
        Some(&admin),
        true,
        None,
    )
    .await;
    let listed: Vec<&Value> = cancelled["items"].as_array().unwrap().iter().collect();
    assert_eq!(
        listed.len(),
        2,
        "alice's and bob's cancelled orders: {cancelled}"
    );
    assert_eq!(listed[0]["id"], bobs_order.as_str(), "most recent first");
    assert!(listed.iter().all(|o| o["customerId"].is_string()));
    let (_, seen) = read_order(&api, &admin, &bobs_order).await;
    assert!(seen["customerId"].is_string());
    let (_, seen) = read_order(&api, &bob, &bobs_order).await;
    assert!(
        seen.get("customerId").is_none(),
        "a customer is not shown their own id"
    );
}

#[tokio::test]
async fn a_burst_beyond_the_order_creation_throttle_gets_429s() {
    let env = TestEnv::new().await;
    let invoke_url = fake_lambda(Arc::new(|name: String, _| {
        async move {
            if name == "authorizer" {
                return Ok(json!({"principalId": "usr_1", "policyDocument": {"Version": "2012-10-17", "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "*"}]}}));
            }
            Ok(json!({"statusCode": 201, "body": "{}"}))
        }
        .boxed()
    }))
    .await;
    let template = Template::load(&repo_root().join("template.yaml")).unwrap();
    let api = start_gateway(&template, &env, &invoke_url, vec![KEY.into()]).await;
    let client = http();
    let started = Instant::now();
    let burst = (0..60).map(|_| {
        client
            .post(format!("{api}/orders"))
            .header("x-api-key", KEY)
            .header("authorization", "Bearer t")
            .body("{}")
            .send()
    });
    let mut statuses = HashMap::new();
    for response in futures::future::join_all(burst).await {
        *statuses
            .entry(response.unwrap().status().as_u16())
            .or_insert(0) += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let passed = f64::from(statuses.get(&201).copied().unwrap_or(0));
    // Non-prod POST /orders: burst 20, 10 per second after that.
    assert!(passed >= 20.0, "the burst passes: {statuses:?}");
    assert!(
        passed <= 20.0 + 10.0 * elapsed + 1.0,
        "{statuses:?} in {elapsed:.2} s"
    );
    assert!(
        statuses.get(&429).copied().unwrap_or(0) >= 1,
        "{statuses:?}"
    );
}

/// The authorizer's answers by token: `allow`, `deny` (an explicit deny), `broken` (a crash), any
/// other an `Unauthorized`; every function answers a malformed proxy result.
fn scripted_lambda() -> futures::future::BoxFuture<'static, String> {
    fake_lambda(Arc::new(|name: String, event: Value| {
        async move {
            if name != "authorizer" {
                return Ok(json!({"statusCode": "not a number"}));
            }
            let policy = |effect: &str| {
                json!({"principalId": "usr_1", "policyDocument": {"Version": "2012-10-17",
                    "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": "*"}]}})
            };
            match event["authorizationToken"].as_str() {
                Some("Bearer allow") => Ok(policy("Allow")),
                Some("Bearer deny") => Ok(policy("Deny")),
                Some("Bearer broken") => Err(json!({"errorMessage": "boom"})),
                _ => Err(json!({"errorMessage": "Unauthorized"})),
            }
        }
        .boxed()
    }))
    .boxed()
}

#[tokio::test]
async fn every_error_the_gateway_answers_itself_is_problem_json_with_the_request_id() {
    let env = TestEnv::new().await;
    let invoke_url = scripted_lambda().await;
    let template = Template::load(&repo_root().join("template.yaml")).unwrap();
    let api = start_gateway(&template, &env, &invoke_url, vec![KEY.into()]).await;
    let client = http();
    let call = |method: &str, path: &str, key: Option<&str>, token: Option<&str>, body: Vec<u8>| {
        let mut request = client.request(method.parse().unwrap(), format!("{api}{path}"));
        if let Some(key) = key {
            request = request.header("x-api-key", key);
        }
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        request.body(body).send()
    };
    let cases = [
        (
            "GET",
            "/no/such/route",
            Some(KEY),
            None,
            vec![],
            404,
            "/problems/not-found",
        ),
        (
            "GET",
            "/products",
            None,
            None,
            vec![],
            403,
            "/problems/invalid-api-key",
        ),
        (
            "GET",
            "/products",
            Some("wrong"),
            None,
            vec![],
            403,
            "/problems/invalid-api-key",
        ),
        (
            "GET",
            "/orders",
            Some(KEY),
            None,
            vec![],
            401,
            "/problems/unauthenticated",
        ),
        (
            "GET",
            "/orders",
            Some(KEY),
            Some("forged"),
            vec![],
            401,
            "/problems/unauthenticated",
        ),
        (
            "GET",
            "/orders",
            Some(KEY),
            Some("deny"),
            vec![],
            403,
            "/problems/forbidden",
        ),
        (
            "GET",
            "/orders",
            Some(KEY),
            Some("broken"),
            vec![],
            500,
            "/problems/unavailable",
        ),
        (
            "GET",
            "/orders",
            Some(KEY),
            Some("allow"),
            vec![],
            502,
            "/problems/unavailable",
        ),
        (
            "POST",
            "/orders",
            Some(KEY),
            Some("allow"),
            vec![b'x'; 10 * 1024 * 1024 + 1],
            413,
            "/problems/payload-too-large",
        ),
    ];
    for (method, path, key, token, body, status, kind) in cases {
        let response = call(method, path, key, token, body).await.unwrap();
        let what = format!("{method} {path} key={key:?} token={token:?}");
        assert_eq!(response.status(), status, "{what}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{what}"
        );
        let request_id = response.headers()["x-amzn-requestid"]
            .to_str()
            .unwrap()
            .to_string();
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["type"], kind, "{what}: {problem}");
        assert_eq!(problem["requestId"], request_id.as_str(), "{what}");
        assert!(
            problem["title"].is_string() && problem["detail"].is_string(),
            "{what}"
        );
    }
    // Throttled: the order creation burst (20) spent at once.
    let burst = (0..40).map(|_| call("POST", "/orders", Some(KEY), Some("allow"), b"{}".to_vec()));
    let throttled = futures::future::join_all(burst)
        .await
        .into_iter()
        .map(Result::unwrap)
        .find(|r| r.status() == 429)
        .expect("a 429 past the burst");
    assert_eq!(
        throttled.headers()["content-type"],
        "application/problem+json"
    );
    assert_eq!(throttled.headers()["retry-after"], "1");
    let problem: Value = throttled.json().await.unwrap();
    assert_eq!(problem["type"], "/problems/rate-limited");
    assert_eq!(problem["status"], 429);
}

const AUTH_TEMPLATE: &str = r#"
Resources:
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: local
      Auth:
        DefaultAuthorizer: Token
        Authorizers:
          Token:
            FunctionArn: !GetAtt AuthorizerFunction.Arn
            Identity: { Header: Authorization, ReauthorizeEvery: 300 }
        UsagePlan:
          CreateUsagePlan: PER_API
          Quota: { Limit: 3, Period: DAY }
  AuthorizerFunction:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: authorizer } }
    Properties: { CodeUri: functions/authorizer }
  EchoFunction:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: echo } }
    Properties:
      CodeUri: functions/echo
      Events:
        Private: { Type: Api, Properties: { RestApiId: !Ref Api, Path: /private, Method: GET } }
        Public: { Type: Api, Properties: { RestApiId: !Ref Api, Path: /public, Method: GET, Auth: { Authorizer: NONE } } }
        Partner: { Type: Api, Properties: { RestApiId: !Ref Api, Path: /partner, Method: GET, Auth: { Authorizer: NONE, ApiKeyRequired: true } } }
"#;

#[tokio::test]
async fn the_authorizer_decides_its_policy_is_cached_and_api_keys_have_a_quota() {
    let env = TestEnv::with_template(AUTH_TEMPLATE).await;
    let calls = Arc::new(Mutex::new(0));
    let counted = calls.clone();
    let invoke_url = fake_lambda(Arc::new(move |name: String, payload: Value| {
        let counted = counted.clone();
        async move {
            if name == "authorizer" {
                *counted.lock().unwrap() += 1;
                let effect = match payload["authorizationToken"].as_str() {
                    Some("Bearer allow") => "Allow",
                    Some("Bearer deny") => "Deny",
                    _ => return Err(json!({"errorType": "Error", "errorMessage": "Unauthorized"})),
                };
                return Ok(json!({
                    "principalId": "alice",
                    "policyDocument": {"Version": "2012-10-17", "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": "arn:aws:execute-api:*:*:*/*/GET/*"}]},
                    "context": {"role": "customer"}
                }));
            }
            let authorizer = &payload["requestContext"]["authorizer"];
            Ok(json!({"statusCode": 200, "body": json!({"authorizer": authorizer, "apiKey": payload["requestContext"]["identity"]["apiKey"]}).to_string()}))
        }
        .boxed()
    }))
    .await;
    let template = Template::parse(AUTH_TEMPLATE).unwrap();
    let api = start_gateway(&template, &env, &invoke_url, vec!["partner-key".into()]).await;
    let client = http();
    let get = |path: &str, auth: Option<&str>| {
        let mut request = client.get(format!("{api}{path}"));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        request.send()
    };

    assert_eq!(
        get("/private", None).await.unwrap().status(),
        401,
        "no token"
    );
    assert_eq!(
        get("/private", Some("Bearer nonsense"))
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        get("/private", Some("Bearer deny")).await.unwrap().status(),
        403
    );
    let allowed = get("/private", Some("Bearer allow")).await.unwrap();
    assert_eq!(allowed.status(), 200);
    let seen: Value = allowed.json().await.unwrap();
    assert_eq!(seen["authorizer"]["principalId"], "alice");
    assert_eq!(seen["authorizer"]["role"], "customer");
    let before = *calls.lock().unwrap();
    assert_eq!(
        get("/private", Some("Bearer allow"))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        *calls.lock().unwrap(),
        before,
        "the policy came from the cache"
    );

    assert_eq!(
        get("/public", None).await.unwrap().status(),
        200,
        "Authorizer: NONE"
    );

    assert_eq!(
        get("/partner", None).await.unwrap().status(),
        403,
        "no API key"
    );
    let with_key = |key: &'static str| {
        client
            .get(format!("{api}/partner"))
            .header("x-api-key", key)
            .send()
    };
    assert_eq!(with_key("wrong").await.unwrap().status(), 403);
    for _ in 0..3 {
        let response = with_key("partner-key").await.unwrap();
        assert_eq!(response.status(), 200);
    }
    let over = with_key("partner-key").await.unwrap();
    assert_eq!(over.status(), 429);
    assert_eq!(
        over.json::<Value>().await.unwrap()["message"],
        "Limit Exceeded"
    );
}

const QUEUE_TEMPLATE: &str = r#"
Resources:
  WorkQueue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 1
      RedrivePolicy: { deadLetterTargetArn: !GetAtt WorkDeadLetterQueue.Arn, maxReceiveCount: 2 }
  WorkDeadLetterQueue:
    Type: AWS::SQS::Queue
  WorkerFunction:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: worker } }
    Properties:
      CodeUri: functions/worker
      Events:
        Work:
          Type: SQS
          Properties:
            Queue: !GetAtt WorkQueue.Arn
            BatchSize: 10
            FunctionResponseTypes: [ReportBatchItemFailures]
"#;

#[tokio::test]
async fn queue_messages_are_deleted_on_success_redelivered_on_failure_and_dead_lettered() {
    let env = TestEnv::with_template(QUEUE_TEMPLATE).await;
    let deliveries: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let seen = deliveries.clone();
    let invoke_url = fake_lambda(Arc::new(move |_, event: Value| {
        let seen = seen.clone();
        async move {
            let mut failures = Vec::new();
            for record in event["Records"].as_array().unwrap() {
                let body = record["body"].as_str().unwrap().to_string();
                let count = record["attributes"]["ApproximateReceiveCount"]
                    .as_str()
                    .unwrap_or("?")
                    .to_string();
                if body == "poison" {
                    failures.push(json!({"itemIdentifier": record["messageId"]}));
                }
                seen.lock().unwrap().push((body, count));
            }
            Ok(json!({"batchItemFailures": failures}))
        }
        .boxed()
    }))
    .await;
    let template = Template::parse(QUEUE_TEMPLATE).unwrap();
    let source = sqs::sources(&template, &env.created.scope)
        .unwrap()
        .remove(0);
    assert!(source.report_failures);
    for body in ["good", "poison"] {
        env.sqs()
            .send_message()
            .queue_url(env.name("WorkQueue"))
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    let poller = tokio::spawn(sqs::run(
        env.sqs(),
        Invoker::new(&invoke_url, Duration::from_secs(10)).unwrap(),
        source,
    ));

    let deadline = Instant::now() + Duration::from_secs(30);
    let dead = loop {
        let out = env
            .sqs()
            .receive_message()
            .queue_url(env.name("WorkDeadLetterQueue"))
            .send()
            .await
            .unwrap();
        if let Some(message) = out.messages.unwrap_or_default().into_iter().next() {
            break message;
        }
        assert!(
            Instant::now() < deadline,
            "the poison message never reached the DLQ: {:?}",
            deliveries.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    poller.abort();

    assert_eq!(dead.body(), Some("poison"));
    let seen = deliveries.lock().unwrap().clone();
    let good: Vec<_> = seen.iter().filter(|(b, _)| b == "good").collect();
    let poison: Vec<_> = seen.iter().filter(|(b, _)| b == "poison").collect();
    assert_eq!(good.len(), 1, "a handled message is deleted: {seen:?}");
    assert_eq!(
        poison.len(),
        2,
        "a failed message comes back until maxReceiveCount: {seen:?}"
    );
    assert_eq!(poison[1].1, "2", "with its receive count");
}

/// The project's API with flags re-read every second, so a flip shows within a test.
async fn flagged_api() -> (Arc<TestEnv>, String) {
    let template = std::fs::read_to_string(repo_root().join("template.yaml")).unwrap();
    project_api_on(&template, |env| env.set("FLAGS_TTL_SECONDS", "1")).await
}

/// Waits out the flag cache's TTL (1 s in these tests).
async fn flag_applied() {
    tokio::time::sleep(Duration::from_millis(1_200)).await;
}

#[tokio::test]
async fn the_kill_switch_closes_order_intake_within_its_ttl_and_reopens_it() {
    let (env, api) = flagged_api().await;
    let ada = account(&api, "ada@example.com").await;
    let (status, before) = place(&api, &ada, order_body()).await;
    assert_eq!(status, 201, "{before}");

    env.set_flags(r#"{"acceptOrders":false,"retryAfterSeconds":90}"#)
        .await;
    flag_applied().await;
    let response = http()
        .post(format!("{api}/orders"))
        .header("authorization", format!("Bearer {ada}"))
        .header("x-api-key", KEY)
        .header("content-type", "application/json")
        .body(order_body().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "90");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["type"], "/problems/temporarily-closed");
    assert!(problem["correlationId"].is_string());
    // Orders accepted before carry on, and reading works throughout.
    let id = before["id"].as_str().unwrap();
    await_status(&api, &ada, id, "COMPLETED").await;

    env.set_flags(r#"{"acceptOrders":true}"#).await;
    flag_applied().await;
    let (status, after) = place(&api, &ada, order_body()).await;
    assert_eq!(status, 201, "{after}");
}

#[tokio::test]
async fn paused_payments_hold_orders_uncharged_without_dead_letters_and_resume() {
    let (env, api) = flagged_api().await;
    let ada = account(&api, "ada@example.com").await;
    env.set_flags(r#"{"pausePayments":true}"#).await;
    flag_applied().await;
    let (_, placed) = place(&api, &ada, order_body()).await;
    let id = placed["id"].as_str().unwrap();
    let paying = shared::pipeline::steps_of(&shared::pipeline::PAY)
        .next()
        .unwrap()
        .awaits
        .as_str();
    await_status(&api, &ada, id, paying).await;
    // Several park intervals (1 s here) pass: the order waits, nothing reaches the provider.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (_, order) = read_order(&api, &ada, id).await;
    assert_eq!(order["status"], paying, "{order}");
    assert_eq!(
        system_tests::provider_record(id).await,
        system_tests::ProviderRecord::default()
    );
    assert!(
        dead_letters_of(&env, "PaymentDeadLetterQueue")
            .await
            .is_empty()
    );

    env.set_flags(r#"{"pausePayments":false}"#).await;
    await_status(&api, &ada, id, "COMPLETED").await;
    assert_eq!(
        system_tests::provider_record(id).await,
        system_tests::ProviderRecord {
            charges: 1,
            refunds: 0
        }
    );
    assert!(env.drain("PaymentDeadLetterQueue").await.is_empty());
}

/// Warm functions read their flags and secrets from memory: once the first order has gone
/// through, more orders (sign-in, placing, every step) make no SSM or Secrets Manager call.
#[tokio::test]
async fn steady_state_makes_no_ssm_or_secrets_manager_call_per_request() {
    let (env, api) = project_api().await;
    let ada = account(&api, "ada@example.com").await;
    let (_, first) = place(&api, &ada, order_body()).await;
    await_status(&api, &ada, first["id"].as_str().unwrap(), "COMPLETED").await;
    let read = [
        "FlagsParameter",
        "SigningKeySecret",
        "PaymentProviderSecret",
    ];
    let mut before = Vec::new();
    for name in read {
        before.push(env.reads_of(name).await);
    }
    assert!(
        before.iter().all(|reads| *reads >= 1),
        "each was read at all (the counter sees them): {before:?}"
    );
    let bob = account(&api, "bob@example.com").await;
    for _ in 0..5 {
        let (status, placed) = place(&api, &bob, order_body()).await;
        assert_eq!(status, 201);
        await_status(&api, &bob, placed["id"].as_str().unwrap(), "COMPLETED").await;
    }
    for (name, before) in read.iter().zip(before) {
        assert_eq!(
            env.reads_of(name).await,
            before,
            "{name} was read again in steady state"
        );
    }
}

/// One correlation id finds an order's whole journey: sent by the client, returned on the
/// answer, carried by every step's message and kept on every history entry; a cancel keeps its
/// own request's id on its entry. A malformed id is replaced, not trusted.
#[tokio::test]
async fn the_callers_correlation_id_is_on_every_history_entry_of_the_journey() {
    let (_env, api) = project_api().await;
    let ada = account(&api, "ada@example.com").await;
    let send = |body: Value, path: &str, correlation: &str| {
        http()
            .post(format!("{api}{path}"))
            .header("authorization", format!("Bearer {ada}"))
            .header("x-api-key", KEY)
            .header("x-correlation-id", correlation)
            .header("content-type", "application/json")
            .body(body.to_string())
    };
    let placed = send(order_body(), "/orders", "journey-1")
        .send()
        .await
        .unwrap();
    assert_eq!(placed.headers()["x-correlation-id"], "journey-1");
    let placed: Value = placed.json().await.unwrap();
    let id = placed["id"].as_str().unwrap();
    await_status(&api, &ada, id, "COMPLETED").await;
    let history = entries(&api, &ada, id).await;
    let ids: Vec<&str> = history
        .iter()
        .map(|e| e["correlationId"].as_str().unwrap_or("none"))
        .collect();
    assert_eq!(ids.len(), shared::pipeline::happy_path().len());
    assert!(ids.iter().all(|c| *c == "journey-1"), "{ids:?}");
    let actors: Vec<&str> = history
        .iter()
        .map(|e| e["actor"]["id"].as_str().unwrap_or("none"))
        .collect();
    assert_eq!(
        &actors[1..],
        [
            "reserve-inventory",
            "process-payment",
            "ship-order",
            "notify-customer"
        ]
    );

    let placed: Value = send(order_body(), "/orders", "journey-2")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let second = placed["id"].as_str().unwrap();
    let cancelled = send(json!({}), &format!("/orders/{second}/cancel"), "cancel-2")
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), 200);
    let (_, history) = call(
        &api,
        "GET",
        &format!("/orders/{second}/history"),
        Some(&ada),
        true,
        None,
    )
    .await;
    let entries = history["items"].as_array().unwrap();
    assert_eq!(entries[0]["correlationId"], "journey-2");
    let cancel = entries.iter().find(|e| e["to"] == "CANCELLED").unwrap();
    assert_eq!(cancel["correlationId"], "cancel-2");
    assert_eq!(
        cancel["actor"]["type"], "customer",
        "the customer cancelled it"
    );
    assert_eq!(
        entries[0]["actor"], cancel["actor"],
        "the same customer placed it"
    );

    let odd = send(order_body(), "/orders", "<script>")
        .send()
        .await
        .unwrap();
    let replaced = odd.headers()["x-correlation-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_ne!(replaced, "<script>", "a malformed id is not echoed");
    assert!(!replaced.is_empty());
}
