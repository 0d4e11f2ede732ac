//! The fault-injection harness and its scenario matrix: real parts on loopback (moto,
//! localstripe honouring idempotency keys, the functions behind the local gateway) with fault
//! proxies between the functions and each dependency, driven per scenario. After each scenario's
//! faults stop, the reconciler runs and the invariant checker (`crate::invariants`) reads what the
//! tables and the provider hold.
//!
//! `make chaos` runs the whole matrix at full length and writes `docs/reliability.md`; `make
//! test` runs it shortened (`tests/tests/chaos.rs`).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{Value, json};
use shared::domain::{OrderId, OrderStatus};
use shared::messages::{Envelope, SCHEMA_VERSION};
use shared::pipeline::{self, Queue};
use shared::service::fulfilment::Reconcile;
use shared::wiring::Wire;

use crate::api::{self, Client, order_body};
use crate::invariants::{self, Findings, Placed};
use crate::{TestEnv, localstripe_endpoint, moto_endpoint, start_server};

/// How long a run is: `full` is the matrix as specified (`make chaos`), `short` a few orders and
/// seconds per scenario (`make test`).
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    pub orders: usize,
    /// How long a timed fault lasts (a 60 s fault at full scale).
    pub fault: Duration,
    /// How long orders may take to end once faults stop.
    pub settle: Duration,
}

impl Scale {
    pub fn full() -> Self {
        Self {
            orders: 20,
            fault: Duration::from_secs(60),
            settle: Duration::from_secs(150),
        }
    }

    pub fn short() -> Self {
        Self {
            orders: 4,
            fault: Duration::from_secs(6),
            settle: Duration::from_secs(120),
        }
    }

    /// `full_secs` of the full-length run, shortened in proportion.
    fn fault_of(&self, full_secs: u64) -> Duration {
        self.fault.mul_f64(full_secs as f64 / 60.0)
    }
}

/// A fault proxy (`infra/local/fault_proxy.py`) in front of one dependency.
#[derive(Clone)]
pub struct FaultProxy {
    pub url: String,
    http: reqwest::Client,
}

impl FaultProxy {
    pub async fn start(target: &str) -> Self {
        let url = start_server("fault_proxy.py", &["--target", target]);
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while http.get(format!("{url}/_faults")).send().await.is_err() {
            assert!(Instant::now() < deadline, "the fault proxy did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self { url, http }
    }

    /// Adds a rule (see the proxy's documentation).
    pub async fn inject(&self, rule: Value) {
        let answer = self
            .http
            .post(format!("{}/_faults", self.url))
            .json(&rule)
            .send()
            .await
            .unwrap();
        assert!(
            answer.status().is_success(),
            "{rule}: {}",
            answer.text().await.unwrap()
        );
    }

    pub async fn clear(&self) {
        self.http
            .delete(format!("{}/_faults", self.url))
            .send()
            .await
            .unwrap();
    }

    /// How often each rule fired.
    pub async fn hits(&self) -> u64 {
        let stats: Value = self
            .http
            .get(format!("{}/_faults", self.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        stats["rules"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| r["hits"].as_u64().unwrap_or(0))
            .sum()
    }
}

/// The local payment provider's own controls (`infra/local/localstripe_server.py`).
async fn provider_control(path: &str, body: Value) {
    let base = localstripe_endpoint().await;
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("{base}/_config/chaos/{path}"))
        .json(&body)
        .send()
        .await
        .unwrap();
}

/// The template for chaos runs: the project's, with redelivery scaled down (a failed message
/// comes back after 20 s instead of 6 minutes), so a matrix fits in minutes.
fn chaos_template() -> String {
    crate::template_with_visibility(20)
}

/// One scenario's running system: a fresh set of the template's resources, the functions
/// reaching moto and localstripe through the shared fault proxies.
pub struct Stack {
    pub env: Arc<TestEnv>,
    pub client: Client,
    pub moto: FaultProxy,
    pub stripe: FaultProxy,
    pub customers: Vec<String>,
    pub admin: String,
    service: api::Service,
    reconcile: Reconcile,
    initial: BTreeMap<String, i64>,
}

impl Stack {
    pub async fn start(moto: &FaultProxy, stripe: &FaultProxy) -> Self {
        let env = TestEnv::through(&chaos_template(), &moto.url).await;
        env.set("STRIPE_API_BASE", &stripe.url);
        env.set("PAYMENT_PARK_SECONDS", "3");
        env.set("PAYMENT_BREAKER_COOL_DOWN_SECONDS", "5");
        env.set("RATE_LIMIT_PER_MINUTE", "10000");
        env.seed_with_signing_key().await;
        let admin_email = shared::auth::Email::parse("root@example.com").unwrap();
        let password = shared::auth::Password::parse("correct horse battery staple").unwrap();
        let users = shared::wiring::Wiring::users(&*env).unwrap();
        shared::service::accounts::create_admin(
            users.as_ref(),
            &admin_email,
            &password,
            Utc::now(),
        )
        .await
        .unwrap();
        let mut reconcile = Reconcile::wire(env.wiring()).await.unwrap();
        reconcile.stalled_after = chrono::Duration::seconds(15);
        let env = Arc::new(env);
        let service = api::serve(env.clone(), &chaos_template()).await;
        let client = Client::new(&service.url);
        let mut customers = Vec::new();
        for i in 0..4 {
            customers.push(client.account(&format!("c{i}@example.com")).await);
        }
        let admin = client
            .login(json!({"email": "root@example.com", "password": "correct horse battery staple"}))
            .await;
        let initial = invariants::stock(&env).await;
        Self {
            env,
            client,
            moto: moto.clone(),
            stripe: stripe.clone(),
            customers,
            admin,
            service,
            reconcile,
            initial,
        }
    }

    /// Places one order for request `tag`, retrying without an idempotency key on a server
    /// error or no answer, as a client without one would; returns the order the API acknowledged.
    pub async fn place(&self, n: usize, card: &str, tag: &str, retries: usize) -> Option<OrderId> {
        let token = &self.customers[n % self.customers.len()];
        let body = order_body("p-1", 1, card, tag);
        for _ in 0..=retries {
            let (status, answer, _) = self
                .client
                .call("POST", "/orders", Some(token), Some(body.clone()), &[])
                .await;
            if status == 201 {
                return OrderId::parse(answer["id"].as_str()?).ok();
            }
            if status != 0 && status < 500 && status != 429 {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        None
    }

    /// Places `n` orders; every sixth pays with a declining card.
    pub async fn place_many(&self, n: usize, placed: &mut Placed) {
        for i in 0..n {
            let card = if i % 6 == 5 {
                "pm_card_visa_chargeDeclined"
            } else {
                "pm_card_visa"
            };
            let tag = format!("r{i}");
            if let Some(id) = self.place(i, card, &tag, 0).await {
                placed.orders.insert(id, tag);
            }
        }
    }

    /// Every invariant, against the stock the stack started with.
    pub async fn check(&self, placed: &Placed) -> Findings {
        invariants::check(&self.env, placed, &self.initial).await
    }

    fn token_of(&self, n: usize) -> &str {
        &self.customers[n % self.customers.len()]
    }

    /// Waits until every order ended and owes nothing, or `settle` passed, running the
    /// reconciler every few seconds as its schedule would; returns how long it took. Every stored
    /// order counts, acknowledged or not: one stored while its client heard of a failure is
    /// fulfilled all the same (by the reconciler), and its charge must be seen.
    pub async fn settle(&self, placed: &Placed, settle: Duration) -> Duration {
        let started = Instant::now();
        let mut last_reconcile = Instant::now();
        loop {
            let orders = invariants::orders(&self.env).await;
            let acknowledged = placed
                .orders
                .keys()
                .all(|id| orders.iter().any(|o| &o.id == id));
            let settled = orders
                .iter()
                .all(|o| o.status.is_terminal() && !o.owes_compensation());
            if acknowledged && settled {
                return started.elapsed();
            }
            if started.elapsed() > settle {
                return started.elapsed();
            }
            if last_reconcile.elapsed() > Duration::from_secs(5) {
                let _ = self.reconcile.run().await;
                last_reconcile = Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// One row of the report.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub name: &'static str,
    pub faults: String,
    pub injected: u64,
    pub findings: Findings,
    /// From the first order to the end of the faults (some scenarios keep them on until every
    /// order ended).
    pub run: Duration,
    /// From the end of the faults until every order ended and owed nothing.
    pub settle: Duration,
    /// The whole scenario, its stack's set-up and the check included.
    pub took: Duration,
}

type Run = for<'a> fn(
    &'a Stack,
    Scale,
    &'a mut Placed,
) -> Pin<Box<dyn Future<Output = String> + Send + 'a>>;

/// A scenario: its name and what it does while orders flow; it returns the faults it injected,
/// in words.
pub struct Scenario {
    pub name: &'static str,
    run: Run,
}

macro_rules! scenario {
    ($name:literal, |$stack:ident, $scale:ident, $placed:ident| $body:block) => {
        Scenario {
            name: $name,
            run: |$stack, $scale, $placed| Box::pin(async move $body),
        }
    };
}

/// A crash between a side effect and its write: the transaction that moves an order to `status`
/// is lost (connection reset) 70 % of the time while orders flow, until they have all ended.
async fn lose_the_write_of(
    stack: &Stack,
    scale: Scale,
    placed: &mut Placed,
    status: &str,
) -> String {
    stack
        .moto
        .inject(
            json!({"service": "dynamodb", "operation": "TransactWriteItems",
                       "body": format!("\"status\":{{\"S\":\"{status}\"}}"), "action": "reset",
                       "probability": 0.7, "count": scale.orders * 3}),
        )
        .await;
    stack.place_many(scale.orders, placed).await;
    stack.settle(placed, scale.settle).await;
    format!("the {status} write lost (connection reset) 70 % of the time")
}

/// Sends `message` in schema `version` to `queue`, as another release (or a redrive) would.
async fn send_raw(env: &TestEnv, queue: &str, body: String) {
    env.sqs()
        .send_message()
        .queue_url(env.name(queue))
        .message_body(body)
        .send()
        .await
        .unwrap();
}

/// Waits until the order is in one of `statuses` (or a while passed).
async fn wait_for(stack: &Stack, id: &OrderId, statuses: &[OrderStatus], within: Duration) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        let order = invariants::orders(&stack.env)
            .await
            .into_iter()
            .find(|o| &o.id == id);
        if order.is_some_and(|o| statuses.contains(&o.status)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The matrix.
pub fn scenarios() -> Vec<Scenario> {
    vec![
        scenario!(
            "duplicates x5 at every step, reordered",
            |stack, scale, placed| {
                stack
                    .moto
                    .inject(
                        json!({"service": "sqs", "operation": "SendMessage", "action": "repeat",
                               "times": 5, "spread_ms": 8000}),
                    )
                    .await;
                stack.place_many(scale.orders, placed).await;
                // The faults stay on until the orders have ended.
                stack.settle(placed, scale.settle).await;
                "every message sent 5 times, the copies up to 8 s later (after the messages that \
             followed them)"
                    .to_string()
            }
        ),
        scenario!("10% DynamoDB throttling", |stack, scale, placed| {
            let secs = scale.fault_of(60);
            stack
                .moto
                .inject(
                    json!({"service": "dynamodb", "action": "error", "error": "provisioned",
                               "probability": 0.1, "for_s": secs.as_secs_f64()}),
                )
                .await;
            stack.place_many(scale.orders, placed).await;
            tokio::time::sleep(secs).await;
            format!("10 % of DynamoDB calls throttled for {} s", secs.as_secs())
        }),
        scenario!(
            "Stripe slower than the step budget (visibility expires mid-work)",
            |stack, scale, placed| {
                let secs = scale.fault_of(60);
                let budget = pipeline::PAY.budget.as_millis() as u64;
                stack
                .stripe
                .inject(json!({"service": "stripe", "action": "latency", "latency_ms": budget + 1000,
                               "for_s": secs.as_secs_f64()}))
                .await;
                stack.place_many(scale.orders, placed).await;
                tokio::time::sleep(secs).await;
                format!(
                    "every Stripe call {} s slow for {} s (the step's budget is {} s): a batch \
                     of such records outlives the 20 s visibility, so records come back while \
                     still in work",
                    budget / 1000 + 1,
                    secs.as_secs(),
                    budget / 1000
                )
            }
        ),
        scenario!("Stripe down", |stack, scale, placed| {
            let secs = scale.fault_of(30);
            stack
                .stripe
                .inject(json!({"service": "stripe", "action": "down", "for_s": secs.as_secs_f64()}))
                .await;
            stack.place_many(scale.orders, placed).await;
            tokio::time::sleep(secs).await;
            format!("Stripe unreachable for {} s", secs.as_secs())
        }),
        scenario!("moto unreachable", |stack, scale, placed| {
            stack.place_many(scale.orders, placed).await;
            let secs = scale.fault_of(10).max(Duration::from_secs(3));
            stack
                .moto
                .inject(json!({"action": "down", "for_s": secs.as_secs_f64()}))
                .await;
            tokio::time::sleep(secs).await;
            format!(
                "DynamoDB, SQS, Secrets Manager unreachable for {} s",
                secs.as_secs()
            )
        }),
        scenario!(
            "crash after Stripe confirm before PAID",
            |stack, scale, placed| { lose_the_write_of(stack, scale, placed, "PAID").await }
        ),
        scenario!(
            "crash after carrier booking before SHIPPED",
            |stack, scale, placed| { lose_the_write_of(stack, scale, placed, "SHIPPED").await }
        ),
        scenario!("cancel storms racing every step", |stack, scale, placed| {
            let mut cancels = Vec::new();
            for i in 0..scale.orders {
                let tag = format!("r{i}");
                if let Some(id) = stack.place(i, "pm_card_visa", &tag, 0).await {
                    placed.orders.insert(id.clone(), tag);
                    let client = stack.client.clone();
                    let token = stack.token_of(i).to_string();
                    let delay = Duration::from_millis(fastrand::u64(0..4000));
                    cancels.push(tokio::spawn(async move {
                        tokio::time::sleep(delay).await;
                        for _ in 0..3 {
                            let path = format!("/orders/{id}/cancel");
                            client.call("POST", &path, Some(&token), None, &[]).await;
                        }
                    }));
                }
            }
            for cancel in cancels {
                let _ = cancel.await;
            }
            format!(
                "{} orders cancelled 3 times each at a random moment",
                scale.orders
            )
        }),
        scenario!(
            "catalog edits during reservations",
            |stack, scale, placed| {
                let client = stack.client.clone();
                let admin = stack.admin.clone();
                let editing = tokio::spawn(async move {
                    let mut restocked = 0;
                    for _ in 0..10 {
                        let (_, product, headers) =
                            client.call("GET", "/products/p-1", None, None, &[]).await;
                        let etag = headers
                            .get("etag")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_string();
                        let available = product["available"].as_i64().unwrap_or(0);
                        let body = json!({"name": product["name"], "unitPrice": product["unitPrice"],
                                      "available": available + 5});
                        let (status, _, _) = client
                            .call(
                                "PUT",
                                "/products/p-1",
                                Some(&admin),
                                Some(body),
                                &[("if-match", &etag)],
                            )
                            .await;
                        if status == 200 {
                            restocked += 5;
                        }
                        tokio::time::sleep(Duration::from_millis(150)).await;
                    }
                    restocked
                });
                stack.place_many(scale.orders, placed).await;
                let restocked = editing.await.unwrap();
                placed.restocked.insert("p-1".into(), restocked);
                format!(
                    "10 restocks of p-1 (+5 each, if-match) while orders reserve it; {restocked} units went in"
                )
            }
        ),
        scenario!(
            "enqueue failing after the order write",
            |stack, scale, placed| {
                let secs = scale.fault_of(20).max(Duration::from_secs(3));
                stack
                    .moto
                    .inject(
                        json!({"service": "sqs", "operation": "SendMessage", "action": "error",
                               "error": "sqs-internal", "for_s": secs.as_secs_f64()}),
                    )
                    .await;
                for i in 0..scale.orders {
                    let tag = format!("r{i}");
                    // A client without an idempotency key retries a 5xx: the defect made that a
                    // second order.
                    if let Some(id) = stack.place(i, "pm_card_visa", &tag, 3).await {
                        placed.orders.insert(id, tag);
                    }
                }
                tokio::time::sleep(secs).await;
                format!(
                    "every SendMessage fails for {} s; clients retry 5xx without a key",
                    secs.as_secs()
                )
            }
        ),
        scenario!(
            "stale dead letters for shipped orders",
            |stack, scale, placed| {
                stack.place_many(scale.orders, placed).await;
                for id in placed.orders.keys() {
                    wait_for(
                        stack,
                        id,
                        &[OrderStatus::Completed, OrderStatus::PaymentFailed],
                        Duration::from_secs(30),
                    )
                    .await;
                    let paying = pipeline::steps_of(&pipeline::PAY).next().unwrap().awaits;
                    let message =
                        Envelope::announcing(paying, id.clone(), "stale", Utc::now()).unwrap();
                    send_raw(
                        &stack.env,
                        Queue::Payment.dead_letter_logical_id(),
                        message.to_json(),
                    )
                    .await;
                }
                format!(
                    "a payment dead letter for each of {} ended orders",
                    placed.orders.len()
                )
            }
        ),
        scenario!(
            "a deploy mid-flight with previous-version messages",
            |stack, scale, placed| {
                stack.place_many(scale.orders, placed).await;
                for id in placed.orders.keys() {
                    // The next release's schema, and the release before's re-drive.
                    let next =
                        Envelope::announcing(OrderStatus::Pending, id.clone(), "next", Utc::now())
                            .unwrap();
                    send_raw(
                        &stack.env,
                        Queue::Inventory.logical_id(),
                        next.to_json_as(SCHEMA_VERSION),
                    )
                    .await;
                    let legacy = json!({"type": "OrderStalled", "schemaVersion": 1, "orderId": id,
                                    "correlationId": "previous", "at": Utc::now()});
                    send_raw(&stack.env, Queue::Payment.logical_id(), legacy.to_string()).await;
                }
                "schema 2 and legacy schema 1 copies of in-flight orders' messages".to_string()
            }
        ),
        scenario!("Stripe key rotation mid-flight", |stack, scale, placed| {
            let half = scale.orders / 2;
            stack.place_many(half, placed).await;
            let fresh = "sk_test_rotated";
            let secret = stack
                .env
                .name(shared::config::Secret::PaymentProvider.logical_id());
            aws_sdk_secretsmanager::Client::new(&stack.env.config)
                .put_secret_value()
                .secret_id(secret)
                .secret_string(json!({"apiKey": fresh}).to_string())
                .send()
                .await
                .unwrap();
            provider_control("keys", json!({"valid": [fresh]})).await;
            let mut more = Placed::default();
            for i in half..scale.orders {
                let tag = format!("r{i}");
                if let Some(id) = stack.place(i, "pm_card_visa", &tag, 0).await {
                    more.orders.insert(id, tag);
                }
            }
            placed.orders.extend(more.orders);
            // A rotation does not stop: the old key stays refused while the orders settle.
            "the API key rotated at the provider (old key refused from then on) half-way"
                .to_string()
        }),
    ]
}

/// Runs `scenarios` (all when `only` is empty), one fresh stack each, printing progress.
pub async fn run(scale: Scale, only: &[String]) -> Vec<Outcome> {
    let moto = FaultProxy::start(moto_endpoint().await).await;
    let stripe = FaultProxy::start(localstripe_endpoint().await).await;
    let mut outcomes = Vec::new();
    for scenario in scenarios() {
        if !only.is_empty() && !only.iter().any(|o| scenario.name.contains(o.as_str())) {
            continue;
        }
        let started = Instant::now();
        eprintln!("chaos: {} ...", scenario.name);
        provider_control("keys", json!({"valid": []})).await;
        let stack = Stack::start(&moto, &stripe).await;
        let ready = started.elapsed();
        let mut placed = Placed::default();
        let faults = (scenario.run)(&stack, scale, &mut placed).await;
        let ran = started.elapsed();
        let injected = moto.hits().await + stripe.hits().await;
        moto.clear().await;
        stripe.clear().await;
        let settle = stack.settle(&placed, scale.settle).await;
        // The checker reads the provider with the key it started with.
        provider_control("keys", json!({"valid": []})).await;
        let findings = stack.check(&placed).await;
        stack.service.stop();
        eprintln!(
            "chaos: {} done in {:.0} s (stack {:.0} s, faults {:.0} s, settle {:.0} s): {} placed, \
             holds: {} {findings:?}",
            scenario.name,
            started.elapsed().as_secs_f64(),
            ready.as_secs_f64(),
            (ran - ready).as_secs_f64(),
            settle.as_secs_f64(),
            findings.placed,
            findings.holds(),
        );
        outcomes.push(Outcome {
            name: scenario.name,
            faults,
            injected,
            findings,
            run: ran - ready,
            settle,
            took: started.elapsed(),
        });
    }
    outcomes
}

/// The report: one row per scenario.
pub fn report(outcomes: &[Outcome], scale: Scale, command: &str) -> String {
    let mut out = String::new();
    out.push_str("# Reliability under faults\n\n");
    out.push_str(&format!(
        "Written by `{command}` on {} ({} orders per scenario, timed faults {} s at full length). \
         Each scenario runs on its own copy of the template's tables and queues (moto), the \
         functions behind the local gateway, and localstripe honouring idempotency keys, with \
         fault proxies between the functions and each dependency \
         (`infra/local/fault_proxy.py`). After the faults stop, the reconciler runs until every \
         order has ended; then the invariant checker (`tests/src/invariants.rs`) reads the tables \
         and the provider. Redelivery is scaled down (visibility 20 s, payments parked 3 s, \
         the payment circuit's cool-down 5 s, orders stalled after 15 s) so the matrix fits in minutes; everything else is the \
         template's. \"requests hit\" counts the requests a proxy rule acted on.\n\n",
        Utc::now().format("%Y-%m-%d %H:%M UTC"),
        scale.orders,
        scale.fault.as_secs(),
    ));
    out.push_str("| scenario | orders | faults injected | completed | rejected | payment failed | cancelled | failed | lost | double-charged | refunded after ship | stock drift | money mismatch | stored, not acknowledged | dead letters (unexplained) | run | settled after the faults |\n");
    out.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for o in outcomes {
        let f = &o.findings;
        out.push_str(&format!(
            "| {} | {} | {}{} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} ({}) | {:.0} s | {:.0} s |\n",
            o.name,
            f.placed,
            o.faults,
            match o.injected {
                0 => String::new(),
                n => format!(" ({n} requests hit)"),
            },
            f.count(OrderStatus::Completed),
            f.count(OrderStatus::Rejected),
            f.count(OrderStatus::PaymentFailed),
            f.count(OrderStatus::Cancelled),
            f.count(OrderStatus::Failed),
            f.lost,
            f.double_charged,
            f.refunded_after_ship,
            f.stock_drift,
            f.money_mismatch,
            f.unacknowledged,
            f.dead_letters,
            f.unexplained_dead_letters,
            o.run.as_secs_f64(),
            o.settle.as_secs_f64(),
        ));
    }
    out.push_str(
        "\nEvery cell of lost, double-charged, refunded after ship, stock drift and money \
         mismatch must be 0, and every dead letter explained (its order failed once, or it was \
         stale and left unapplied); notices are checked at most once per order. The status \
         columns count the orders the API acknowledged; \"stored, not acknowledged\" counts \
         orders stored for a request whose client heard of a failure (no answer in time, or a \
         5xx): they must end too, and a client retrying without an idempotency key must still \
         pay once.\n",
    );
    let took: Duration = outcomes.iter().map(|o| o.took).sum();
    out.push_str(&format!(
        "\nThe {} scenarios took {:.0} s in all.\n",
        outcomes.len(),
        took.as_secs_f64()
    ));
    out
}
