//! The fulfilment steps on the real adapters (DynamoDB on moto, Stripe on localstripe, SQS), each
//! message delivered 1, 2 and 5 times, one after another and all at once: exactly one charge,
//! one stock movement and one history entry per transition, one refund per compensation.

// Test helpers panic on unexpected values by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::sync::Arc;

use chrono::Utc;
use shared::adapters::carrier::BuiltInCarrier;
use shared::adapters::dynamodb::{DynamoInventory, DynamoOrders};
use shared::adapters::notifier::LogNotifier;
use shared::adapters::sqs::SqsPublisher;
use shared::adapters::stripe::StripePayments;
use shared::domain::{Caller, CustomerId, OrderId, OrderStatus, PaymentState, ProductId, Role};
use shared::error::AppError;
use shared::messages::{Envelope, MessageType};
use shared::ports::{Catalog, OrderRepository, SystemClock};
use shared::service::fulfilment::{
    CompensatePorts, NotifyPorts, PayPorts, ReservePorts, ShipPorts, compensate, notify, pay,
    reserve, ship,
};
use system_tests::{ProviderRecord, TestEnv, payments, provider_record};

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
    let order = shared::memory::order(OrderId::generate(), "c-1", Utc::now());
    env.orders().insert(&order, None).await.unwrap();
    Envelope::new(MessageType::OrderPlaced, order.id, "corr", Utc::now())
}

/// One set of the real adapters, and the ports of every step over them. The queues the steps
/// hand orders to are real but nobody consumes them here: each step is called directly.
struct Rig {
    orders: Arc<DynamoOrders>,
    inventory: Arc<DynamoInventory>,
    payments: Arc<StripePayments>,
    payment: Arc<SqsPublisher>,
    shipping: Arc<SqsPublisher>,
    notification: Arc<SqsPublisher>,
    compensation: Arc<SqsPublisher>,
}

impl Rig {
    async fn new(env: &TestEnv) -> Self {
        Self {
            orders: env.orders(),
            inventory: env.inventory(),
            payments: payments().await,
            payment: env.publisher("PaymentQueue"),
            shipping: env.publisher("ShippingQueue"),
            notification: env.publisher("NotificationQueue"),
            compensation: env.publisher("CompensationQueue"),
        }
    }

    fn reserve(&self) -> ReservePorts<'_> {
        ReservePorts {
            orders: self.orders.as_ref(),
            inventory: self.inventory.as_ref(),
            next: self.payment.as_ref(),
            notifications: self.notification.as_ref(),
            clock: &SystemClock,
        }
    }

    fn pay(&self) -> PayPorts<'_> {
        PayPorts {
            orders: self.orders.as_ref(),
            payments: self.payments.as_ref(),
            next: self.shipping.as_ref(),
            compensation: self.compensation.as_ref(),
            later: self.payment.as_ref(),
            clock: &SystemClock,
        }
    }

    fn ship(&self) -> ShipPorts<'_> {
        ShipPorts {
            orders: self.orders.as_ref(),
            carrier: &BuiltInCarrier,
            next: self.notification.as_ref(),
            clock: &SystemClock,
        }
    }

    fn notify(&self) -> NotifyPorts<'_> {
        NotifyPorts {
            orders: self.orders.as_ref(),
            notifier: &LogNotifier,
            clock: &SystemClock,
        }
    }

    fn compensate(&self) -> CompensatePorts<'_> {
        CompensatePorts {
            orders: self.orders.as_ref(),
            inventory: self.inventory.as_ref(),
            payments: self.payments.as_ref(),
            clock: &SystemClock,
        }
    }
}

async fn stock(env: &TestEnv) -> u32 {
    env.catalog()
        .get(&ProductId::parse("p-1").unwrap())
        .await
        .unwrap()
        .unwrap()
        .available
}

async fn run_saga(env: &TestEnv, message: &Envelope, copies: usize, concurrently: bool) {
    let rig = Rig::new(env).await;
    let (reserving, paying) = (rig.reserve(), rig.pay());
    let (shipping, notifying) = (rig.ship(), rig.notify());
    deliver(copies, concurrently, || reserve(&reserving, message)).await;
    deliver(copies, concurrently, || pay(&paying, message)).await;
    deliver(copies, concurrently, || ship(&shipping, message)).await;
    deliver(copies, concurrently, || notify(&notifying, message)).await;
}

#[tokio::test]
async fn every_step_delivered_1_2_and_5_times_has_exactly_one_effect() {
    for copies in [1, 2, 5] {
        for concurrently in [false, true] {
            let env = TestEnv::new().await;
            let message = placed_order(&env).await;
            run_saga(&env, &message, copies, concurrently).await;
            let case = format!("{copies} copies, concurrently: {concurrently}");
            let order = env.orders().get(&message.order_id).await.unwrap().unwrap();
            assert_eq!(order.status, OrderStatus::Completed, "{case}");
            assert_eq!(stock(&env).await, 98, "{case}: one stock movement");
            let history = env.orders().history(&message.order_id).await.unwrap();
            assert_eq!(history.len(), 5, "{case}: one entry per transition");
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
    let rig = Rig::new(&env).await;
    reserve(&rig.reserve(), &message).await.unwrap();
    pay(&rig.pay(), &message).await.unwrap();
    let caller = Caller {
        id: CustomerId::parse("c-1").unwrap(),
        role: Role::Customer,
    };
    shared::service::orders::cancel_order(
        rig.orders.as_ref(),
        rig.compensation.as_ref(),
        &SystemClock,
        &caller,
        &message.order_id,
        "corr",
    )
    .await
    .unwrap();

    let ports = rig.compensate();
    deliver(5, true, || compensate(&ports, &message)).await;
    deliver(2, false, || compensate(&ports, &message)).await;

    let order = rig.orders.get(&message.order_id).await.unwrap().unwrap();
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

#[tokio::test]
async fn the_payment_key_is_read_from_secrets_manager_and_a_placeholder_is_refused() {
    let env = TestEnv::new().await;
    let secret = env.name("PaymentProviderSecret");
    let endpoint = system_tests::localstripe_endpoint().await;
    let refused = StripePayments::from_secret(&env.config, &secret, endpoint).await;
    assert!(
        matches!(&refused, Err(e) if e.chain().contains("holds no Stripe API key")),
        "the template's placeholder is not a key"
    );
    local_stack::seed::payment_key(&env.config, &secret)
        .await
        .unwrap();
    let payments = StripePayments::from_secret(&env.config, &secret, endpoint)
        .await
        .unwrap();
    let order = shared::memory::order(OrderId::generate(), "c-1", Utc::now());
    let intent = shared::ports::Payments::start(&payments, &order)
        .await
        .unwrap();
    assert!(intent.starts_with("pi_"));
}
