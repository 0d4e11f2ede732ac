//! The fulfilment steps on the real adapters (DynamoDB on moto, Stripe on localstripe, SQS), each
//! wired exactly as its Lambda wires it: every message delivered 1, 2 and 5 times, one after
//! another and all at once, gives exactly one charge, one stock movement and one history entry
//! per transition, one refund per compensation. And the step contract against real parts: a stale
//! dead letter for a shipped order changes nothing at the provider, and a provider that hangs
//! never makes a batch outlive its deadline.

// Test helpers panic on unexpected values by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::time::{Duration, Instant};

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use chrono::Utc;
use shared::adapters::stripe::{Resilience, StripePayments};
use shared::domain::{Caller, CustomerId, OrderId, OrderStatus, PaymentState, ProductId, Role};
use shared::error::AppError;
use shared::messages::Envelope;
use shared::pipeline::{self, PAY};
use shared::ports::DeadLetter;
use shared::service::fulfilment::{DeadLetterHandling, Pay, consumers};
use shared::service::orders::CancelOrder;
use shared::sqs::{Consume, consume};
use shared::wiring::{Wire, Wiring};
use system_tests::{FlakyProvider, ProviderRecord, TestEnv, context, provider_record};

/// Delivers `copies` copies of a message, all at once or one after another; then, like SQS
/// redelivering the failed ones, once more until a delivery succeeds.
async fn deliver<F, Fut>(copies: usize, concurrently: bool, step: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(), AppError>>,
{
    let outcomes = if concurrently {
        futures::future::join_all((0..copies).map(|_| step())).await
    } else {
        let mut outcomes = Vec::new();
        for _ in 0..copies {
            outcomes.push(step().await);
        }
        outcomes
    };
    if outcomes.iter().any(Result::is_err) {
        for _ in 0..5 {
            if step().await.is_ok() {
                return;
            }
        }
        panic!("the step never succeeded: {outcomes:?}");
    }
}

async fn placed_order(env: &TestEnv) -> Envelope {
    env.seed().await;
    let order = shared::testing::order(OrderId::generate(), "c-1", Utc::now());
    env.orders().unwrap().insert(&order, None).await.unwrap();
    Envelope::announcing(order.status, order.id, "corr", Utc::now()).unwrap()
}

/// Every consumer of the pipeline wired from the test's environment. The queues they hand orders
/// to are real, but nobody consumes them here: each step is called directly.
struct Steps {
    all: Vec<Box<dyn Consume>>,
}

impl Steps {
    async fn wire(env: &TestEnv) -> Self {
        Self {
            all: consumers(env.wiring()).await.unwrap(),
        }
    }

    /// The step that acts on an order in `status`.
    fn at(&self, status: OrderStatus) -> &dyn Consume {
        let queue = pipeline::route(status).unwrap();
        self.all
            .iter()
            .find(|c| c.consumer().queue == queue)
            .unwrap()
            .as_ref()
    }

    /// Hands the order `message` names to each step in turn until it is in `status`.
    async fn walk_to(&self, env: &TestEnv, message: &Envelope, status: OrderStatus) {
        let orders = env.orders().unwrap();
        for _ in 0..10 {
            let order = orders.get(&message.order_id).await.unwrap().unwrap();
            if order.status == status {
                return;
            }
            self.at(order.status).handle(message).await.unwrap();
        }
        panic!("{} never reached {status}", message.order_id);
    }
}

/// The status the payment step waits for.
fn awaiting_payment() -> OrderStatus {
    pipeline::steps_of(&PAY).next().unwrap().awaits
}

async fn stock(env: &TestEnv) -> u32 {
    env.catalog()
        .unwrap()
        .get(&ProductId::parse("p-1").unwrap())
        .await
        .unwrap()
        .unwrap()
        .available
}

async fn run_saga(steps: &Steps, message: &Envelope, copies: usize, concurrently: bool) {
    let happy = pipeline::happy_path();
    for status in &happy[..happy.len() - 1] {
        deliver(copies, concurrently, || steps.at(*status).handle(message)).await;
    }
}

#[tokio::test]
async fn every_step_delivered_1_2_and_5_times_has_exactly_one_effect() {
    for copies in [1, 2, 5] {
        for concurrently in [false, true] {
            let env = TestEnv::new().await;
            let message = placed_order(&env).await;
            run_saga(&Steps::wire(&env).await, &message, copies, concurrently).await;
            let case = format!("{copies} copies, concurrently: {concurrently}");
            let orders = env.orders().unwrap();
            let order = orders.get(&message.order_id).await.unwrap().unwrap();
            assert_eq!(order.status, OrderStatus::Completed, "{case}");
            assert_eq!(stock(&env).await, 98, "{case}: one stock movement");
            let history = orders.history(&message.order_id).await.unwrap();
            let transitions = pipeline::happy_path().len();
            assert_eq!(
                history.len(),
                transitions,
                "{case}: one entry per transition"
            );
            assert_eq!(
                provider_record(message.order_id.as_str()).await,
                ProviderRecord {
                    charges: 1,
                    refunds: 0
                },
                "{case}: one charge"
            );
        }
    }
}

#[tokio::test]
async fn a_compensation_delivered_5_times_at_once_refunds_and_restocks_once() {
    let env = TestEnv::new().await;
    let message = placed_order(&env).await;
    let steps = Steps::wire(&env).await;
    steps.walk_to(&env, &message, OrderStatus::Paid).await;
    let caller = Caller {
        id: CustomerId::parse("c-1").unwrap(),
        role: Role::Customer,
    };
    let cancel = CancelOrder::wire(env.wiring()).await.unwrap();
    cancel
        .cancel(&caller, &message.order_id, "corr")
        .await
        .unwrap();

    let compensate = steps.at(OrderStatus::Cancelled);
    deliver(5, true, || compensate.handle(&message)).await;
    deliver(2, false, || compensate.handle(&message)).await;

    let order = env
        .orders()
        .unwrap()
        .get(&message.order_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(order.status, OrderStatus::Cancelled);
    assert_eq!(
        order.payment.as_ref().map(|p| p.state),
        Some(PaymentState::Refunded)
    );
    assert!(!order.stock_held);
    assert_eq!(stock(&env).await, 100, "given back once");
    assert_eq!(
        provider_record(message.order_id.as_str()).await,
        ProviderRecord {
            charges: 1,
            refunds: 1
        }
    );
}

/// The defect: the dead-letter handler failed an order in any non-terminal state, so a late
/// payment letter for a shipped order refunded the charge and restocked goods that had left.
#[tokio::test]
async fn a_stale_payment_letter_for_a_shipped_order_leaves_it_shipped_and_unrefunded() {
    let env = TestEnv::new().await;
    let message = placed_order(&env).await;
    let steps = Steps::wire(&env).await;
    steps.walk_to(&env, &message, awaiting_payment()).await;
    let paying = env.drain(PAY.queue.logical_id()).await;
    steps.walk_to(&env, &message, OrderStatus::Shipped).await;
    let letters = DeadLetterHandling::wire(env.wiring()).await.unwrap();
    let dead_letter_queue = env.name(PAY.queue.dead_letter_logical_id());
    let letter = DeadLetter {
        queue: dead_letter_queue.rsplit('/').next().unwrap().to_string(),
        message_id: "stale-1".into(),
        body: paying[0].to_string(),
        receives: 5,
        at: Utc::now(),
        problem: None,
    };
    letters.handle(&letter).await.unwrap();

    let order = env
        .orders()
        .unwrap()
        .get(&message.order_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(order.status, OrderStatus::Shipped);
    assert_eq!(stock(&env).await, 98, "nothing restocked");
    let unwinding = pipeline::route(OrderStatus::Failed).unwrap();
    assert!(
        env.drain(unwinding.logical_id()).await.is_empty(),
        "nothing sent to compensation"
    );
    assert_eq!(
        provider_record(message.order_id.as_str()).await,
        ProviderRecord {
            charges: 1,
            refunds: 0
        },
        "no refund after shipping, by the provider's own record"
    );
    let kept = env
        .dead_letters()
        .unwrap()
        .list(&letter.queue)
        .await
        .unwrap();
    assert_eq!(kept.len(), 1, "the letter is kept");
}

/// Records of `order_ids`' payment messages as one SQS event.
fn batch(messages: &[Envelope]) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = messages
        .iter()
        .enumerate()
        .map(|(i, message)| {
            let mut record = SqsMessage::default();
            record.message_id = Some(format!("m-{i}"));
            record.body = Some(message.to_json());
            record
        })
        .collect();
    event
}

/// Orders waiting for payment, and their payment messages, behind a provider that will hang.
async fn orders_to_pay(env: &TestEnv, n: usize) -> Vec<Envelope> {
    env.seed().await;
    let steps = Steps::wire(env).await;
    let mut messages = Vec::new();
    for _ in 0..n {
        let order = shared::testing::order(OrderId::generate(), "c-1", Utc::now());
        env.orders().unwrap().insert(&order, None).await.unwrap();
        let placed = Envelope::announcing(order.status, order.id, "corr", Utc::now()).unwrap();
        steps.walk_to(env, &placed, awaiting_payment()).await;
        let id = placed.order_id;
        messages.push(Envelope::announcing(awaiting_payment(), id, "corr", Utc::now()).unwrap());
    }
    env.drain(PAY.queue.logical_id()).await;
    messages
}

/// The defect: one provider call could take 15 s (3 attempts of 5 s) while the function had 10 s
/// for a batch of 10 records handled one after another, so a hanging provider timed the whole
/// invocation out and every record came back, untried ones included. Now a record gets its
/// budget, the provider's attempts fit in what it has left, and records that cannot start in
/// time are reported unstarted: the invocation answers before its deadline.
#[tokio::test]
async fn a_hanging_provider_never_makes_the_payment_batch_outlive_its_deadline() {
    let provider = FlakyProvider::start().await;
    let env = TestEnv::new().await;
    env.set("STRIPE_API_BASE", &provider.url);
    let paying = orders_to_pay(&env, 3).await;
    let pay = Pay::wire(env.wiring()).await.unwrap();
    provider.set_hanging(true);

    let timeout = Duration::from_secs(12);
    let started = Instant::now();
    let response = consume(&pay, &context(timeout), batch(&paying)).await;
    let took = started.elapsed();

    assert!(took < timeout, "answered before its deadline ({took:?})");
    assert!(
        took < shared::pipeline::PAY.budget,
        "the provider's attempts gave up within the record's budget ({took:?})"
    );
    let failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["m-0", "m-1", "m-2"], "one tried, two unstarted");
    assert!(provider.requests() >= 2, "the first record retried once");
    for message in &paying {
        let order = env
            .orders()
            .unwrap()
            .get(&message.order_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(order.status, awaiting_payment(), "nothing lost or failed");
    }
}

/// A record whose provider calls ran out of time still counts against the circuit breaker, so
/// the next records are parked instead of each spending its whole budget on a dead provider.
#[tokio::test]
async fn calls_cut_short_by_the_deadline_open_the_circuit_and_the_rest_is_parked() {
    let provider = FlakyProvider::start().await;
    let env = TestEnv::new().await;
    env.set("STRIPE_API_BASE", &provider.url);
    env.set("PAYMENT_BREAKER_THRESHOLD", "1");
    env.set("PAYMENT_PARK_SECONDS", "0");
    let paying = orders_to_pay(&env, 2).await;
    let pay = Pay::wire(env.wiring()).await.unwrap();
    provider.set_hanging(true);

    let response = consume(&pay, &context(Duration::from_secs(30)), batch(&paying)).await;
    let failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["m-0"], "the second was parked, not failed");
    let parked = env.drain(PAY.queue.logical_id()).await;
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0]["orderId"], paying[1].order_id.as_str());
}

#[tokio::test]
async fn the_payment_key_is_read_from_secrets_manager_at_the_first_call_and_a_placeholder_is_refused()
 {
    let env = TestEnv::new().await;
    let secret = env.name("PaymentProviderSecret");
    let endpoint = system_tests::localstripe_endpoint().await;
    let order = shared::testing::order(OrderId::generate(), "c-1", Utc::now());
    aws_sdk_secretsmanager_put(&env, &secret, r#"{"apiKey":"replace-me"}"#).await;
    // Made with no network call: the secret is read at the first call.
    let payments =
        StripePayments::from_secret(&env.config, &secret, endpoint, Resilience::default()).unwrap();
    let refused = shared::ports::Payments::start(&payments, &order).await;
    assert!(
        matches!(&refused, Err(shared::AppError::Unavailable(_))),
        "the template's placeholder is not a key: payments park, as in an outage: {refused:?}"
    );
    local_stack::seed::payment_key(&env.config, &secret)
        .await
        .unwrap();
    let intent = shared::ports::Payments::start(&payments, &order)
        .await
        .unwrap();
    assert!(
        intent.starts_with("pi_"),
        "the same client reads the key once it is there"
    );
}

async fn aws_sdk_secretsmanager_put(env: &TestEnv, secret: &str, value: &str) {
    aws_sdk_secretsmanager::Client::new(&env.config)
        .put_secret_value()
        .secret_id(secret)
        .secret_string(value)
        .send()
        .await
        .unwrap();
}

/// Answers the next `count` requests under `path` at the provider itself with `status`, saved
/// under their idempotency keys as Stripe saves its own errors.
async fn provider_fails(path: &str, status: u16, count: u32) {
    let base = system_tests::localstripe_endpoint().await;
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("{base}/_config/chaos/faults"))
        .json(&serde_json::json!({"status": status, "path": path, "count": count}))
        .send()
        .await
        .unwrap();
}

/// The defect: Stripe replays the first answer of an idempotency key, 500s included, for a day,
/// and the keys were fixed per intent: one 500 on confirm failed every later attempt. A key that
/// got a 5xx is never used again, so the next attempt goes through.
#[tokio::test]
async fn a_provider_500_on_confirm_and_on_refund_poisons_no_key() {
    let env = TestEnv::new().await;
    let message = placed_order(&env).await;
    let steps = Steps::wire(&env).await;
    steps.walk_to(&env, &message, awaiting_payment()).await;
    let order = env
        .orders()
        .unwrap()
        .get(&message.order_id)
        .await
        .unwrap()
        .unwrap();
    // The intent exists once the step records it; fail its confirmation at the provider.
    provider_fails("/v1/payment_intents/", 500, 1).await;
    steps.at(awaiting_payment()).handle(&message).await.unwrap();
    let paid = env.orders().unwrap().get(&order.id).await.unwrap().unwrap();
    assert_eq!(paid.status, OrderStatus::Paid, "paid in the same delivery");

    let caller = Caller {
        id: CustomerId::parse("c-1").unwrap(),
        role: Role::Customer,
    };
    let cancel = CancelOrder::wire(env.wiring()).await.unwrap();
    cancel.cancel(&caller, &order.id, "corr").await.unwrap();
    provider_fails("/v1/refunds", 500, 1).await;
    steps
        .at(OrderStatus::Cancelled)
        .handle(&message)
        .await
        .unwrap();
    assert_eq!(
        provider_record(order.id.as_str()).await,
        ProviderRecord {
            charges: 1,
            refunds: 1
        },
        "refunded once, despite the 500"
    );
}

/// An intent as the provider has it now.
async fn provider_intent(id: &str) -> serde_json::Value {
    let base = system_tests::localstripe_endpoint().await;
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("{base}/v1/payment_intents/{id}"))
        .bearer_auth(system_tests::STRIPE_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The defect: a card that asks for authentication (3-D Secure) left its intent waiting at
/// `requires_action` for good, so the customer could still complete it, and be charged, for an
/// order that had failed. The payment fails and compensation cancels the intent.
#[tokio::test]
async fn a_card_asking_for_authentication_fails_the_payment_and_its_intent_is_cancelled() {
    let env = TestEnv::new().await;
    env.seed().await;
    let before = stock(&env).await;
    let mut order = shared::testing::order(OrderId::generate(), "c-1", Utc::now());
    order.payment_method =
        shared::domain::PaymentMethod::parse("pm_card_authenticationRequired").unwrap();
    env.orders().unwrap().insert(&order, None).await.unwrap();
    let message = Envelope::announcing(order.status, order.id.clone(), "corr", Utc::now()).unwrap();
    let steps = Steps::wire(&env).await;
    steps
        .walk_to(&env, &message, OrderStatus::PaymentFailed)
        .await;
    let failed = env.orders().unwrap().get(&order.id).await.unwrap().unwrap();
    let intent = failed.payment.as_ref().unwrap().intent_id.clone();
    assert_eq!(provider_intent(&intent).await["status"], "requires_action");

    steps
        .at(OrderStatus::PaymentFailed)
        .handle(&message)
        .await
        .unwrap();
    let settled = env.orders().unwrap().get(&order.id).await.unwrap().unwrap();
    assert_eq!(settled.payment.unwrap().state, PaymentState::Voided);
    assert_eq!(provider_intent(&intent).await["status"], "canceled");
    assert_eq!(stock(&env).await, before, "the stock is back");
}

/// An intent that is not the order's (another amount, another order) is never confirmed: the
/// adapter reads it first and refuses, whatever the message said.
#[tokio::test]
async fn an_intent_that_is_not_the_orders_is_never_confirmed() {
    let endpoint = system_tests::localstripe_endpoint().await;
    let payments = StripePayments::new(
        endpoint,
        system_tests::STRIPE_KEY.into(),
        Resilience::default(),
    )
    .unwrap();
    let order = shared::testing::order(OrderId::generate(), "c-1", Utc::now());
    let intent = shared::ports::Payments::start(&payments, &order)
        .await
        .unwrap();
    let other = shared::testing::order(OrderId::generate(), "c-1", Utc::now());
    let mut dearer = order.clone();
    dearer.total.amount += 1;
    for wrong in [&other, &dearer] {
        let refused = shared::ports::Payments::confirm(&payments, wrong, &intent).await;
        assert!(
            matches!(refused, Err(AppError::Internal { .. })),
            "{refused:?}"
        );
    }
    assert_eq!(
        provider_intent(&intent).await["status"],
        "requires_confirmation",
        "never confirmed"
    );
    let charged = shared::ports::Payments::confirm(&payments, &order, &intent).await;
    assert!(
        matches!(charged, Ok(shared::ports::Charge::Charged)),
        "{charged:?}"
    );
}
