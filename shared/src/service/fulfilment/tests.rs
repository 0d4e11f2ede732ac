//! The saga over in-memory ports: every step, every compensation, and a property test over
//! random interleavings of duplicated, reordered and cancelled deliveries. (The same steps run
//! against DynamoDB on moto and localstripe in the system tests.)

use std::sync::Arc;

use chrono::{Duration, Utc};
use proptest::prelude::*;

use super::*;
use crate::domain::{Caller, OrderId, PaymentMethod, ProductId, Role};
use crate::memory::{self, FakePayments, FixedClock, MemoryStore, RecordingEvents};
use crate::ports::{Catalog, DeadLetter, OrderRepository};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Queue {
    Inventory,
    Payment,
    Shipping,
    Notification,
    Compensation,
}

const QUEUES: [Queue; 5] = [
    Queue::Inventory,
    Queue::Payment,
    Queue::Shipping,
    Queue::Notification,
    Queue::Compensation,
];

struct World {
    store: Arc<MemoryStore>,
    payments: FakePayments,
    inventory: RecordingEvents,
    payment: RecordingEvents,
    shipping: RecordingEvents,
    notification: RecordingEvents,
    compensation: RecordingEvents,
    clock: FixedClock,
    /// Messages sent and not yet delivered for good.
    in_flight: Vec<(Queue, Envelope)>,
}

const STOCK: u32 = 5;

impl World {
    fn new() -> Self {
        let store = Arc::new(MemoryStore::new());
        store.seed_product(memory::product("p-1", 500, STOCK));
        Self {
            store,
            payments: FakePayments::default(),
            inventory: RecordingEvents::default(),
            payment: RecordingEvents::default(),
            shipping: RecordingEvents::default(),
            notification: RecordingEvents::default(),
            compensation: RecordingEvents::default(),
            clock: FixedClock::new(Utc::now()),
            in_flight: Vec::new(),
        }
    }

    fn queue(&self, queue: Queue) -> &RecordingEvents {
        match queue {
            Queue::Inventory => &self.inventory,
            Queue::Payment => &self.payment,
            Queue::Shipping => &self.shipping,
            Queue::Notification => &self.notification,
            Queue::Compensation => &self.compensation,
        }
    }

    /// Moves what the steps published into the network.
    fn collect(&mut self) {
        for queue in QUEUES {
            let sent = self.queue(queue).take();
            self.in_flight.extend(sent.into_iter().map(|m| (queue, m)));
        }
    }

    /// A new order of 2 units of p-1, placed and handed to the inventory queue.
    async fn place(&mut self, card: &str) -> OrderId {
        let mut order = memory::order(OrderId::generate(), "c-1", Utc::now());
        order.payment_method = PaymentMethod::parse(card).unwrap();
        self.store.insert(&order, None).await.unwrap();
        let message = Envelope::new(
            MessageType::OrderPlaced,
            order.id.clone(),
            "corr",
            Utc::now(),
        );
        self.in_flight.push((Queue::Inventory, message));
        order.id
    }

    async fn cancel(&mut self, id: &OrderId) -> Result<(), AppError> {
        let caller = Caller {
            id: crate::domain::CustomerId::parse("c-1").unwrap(),
            role: Role::Customer,
        };
        let result = crate::service::orders::cancel_order(
            self.store.as_ref(),
            &self.compensation,
            &self.clock,
            &caller,
            id,
            "corr",
        )
        .await
        .map(|_| ());
        self.collect();
        result
    }

    async fn deliver(&mut self, queue: Queue, message: &Envelope) -> Result<(), AppError> {
        let store = self.store.as_ref();
        let result = match queue {
            Queue::Inventory => {
                let ports = ReservePorts {
                    orders: store,
                    inventory: store,
                    next: &self.payment,
                    notifications: &self.notification,
                    clock: &self.clock,
                };
                reserve(&ports, message).await
            }
            Queue::Payment => {
                let ports = PayPorts {
                    orders: store,
                    payments: &self.payments,
                    next: &self.shipping,
                    compensation: &self.compensation,
                    later: &self.payment,
                    clock: &self.clock,
                };
                pay(&ports, message).await
            }
            Queue::Shipping => {
                let ports = ShipPorts {
                    orders: store,
                    carrier: &crate::adapters::carrier::BuiltInCarrier,
                    next: &self.notification,
                    clock: &self.clock,
                };
                ship(&ports, message).await
            }
            Queue::Notification => {
                let ports = NotifyPorts {
                    orders: store,
                    notifier: &crate::adapters::notifier::LogNotifier,
                    clock: &self.clock,
                };
                notify(&ports, message).await
            }
            Queue::Compensation => {
                let ports = CompensatePorts {
                    orders: store,
                    inventory: store,
                    payments: &self.payments,
                    clock: &self.clock,
                };
                compensate(&ports, message).await
            }
        };
        self.collect();
        result
    }

    /// Delivers in-flight messages, oldest first, until none is left: SQS retrying failed
    /// ones (bounded, like `maxReceiveCount`).
    async fn run_until_quiet(&mut self) {
        let mut deliveries = 0;
        while !self.in_flight.is_empty() {
            let (queue, message) = self.in_flight.remove(0);
            if self.deliver(queue, &message).await.is_err() {
                self.in_flight.push((queue, message));
            }
            deliveries += 1;
            assert!(deliveries < 500, "the saga does not quiesce");
        }
    }

    async fn order(&self, id: &OrderId) -> Order {
        OrderRepository::get(self.store.as_ref(), id)
            .await
            .unwrap()
            .unwrap()
    }

    async fn stock(&self) -> u32 {
        Catalog::get(self.store.as_ref(), &ProductId::parse("p-1").unwrap())
            .await
            .unwrap()
            .unwrap()
            .available
    }

    /// The saga's invariants once nothing is in flight.
    async fn check_invariants(&self, ids: &[OrderId]) {
        let mut held = 0;
        for id in ids {
            let order = self.order(id).await;
            assert!(
                order.status.is_terminal(),
                "{id} stopped at {}",
                order.status
            );
            let charges = self.payments.charges(id);
            let refunds = self.payments.refunds(id);
            assert!(charges <= 1, "{id} charged {charges} times");
            match order.status {
                OrderStatus::Completed => {
                    assert_eq!((charges, refunds), (1, 0), "{id}");
                    held += 2;
                }
                _ => {
                    assert_eq!(refunds, charges, "{id}: refunded = charged");
                    assert!(!order.stock_held, "{id} still holds stock");
                    assert!(!order.owes_compensation(), "{id}: {:?}", order.payment);
                }
            }
            let history = self.store.history(id).await.unwrap();
            let versions: Vec<u64> = history.iter().map(|e| e.version).collect();
            let mut sorted = versions.clone();
            sorted.dedup();
            assert_eq!(versions, sorted, "{id}: one entry per transition");
            for pair in history.windows(2) {
                assert_eq!(pair[1].from, Some(pair[0].to), "{id}: a chained timeline");
            }
            assert_eq!(history.last().map(|e| e.to), Some(order.status));
        }
        assert_eq!(
            self.stock().await + held,
            STOCK,
            "no stock leaked or made up"
        );
    }
}

#[tokio::test]
async fn an_order_goes_all_the_way_to_completed() {
    let mut w = World::new();
    let id = w.place("pm_card_visa").await;
    w.run_until_quiet().await;
    let order = w.order(&id).await;
    assert_eq!(order.status, OrderStatus::Completed);
    assert!(order.tracking_number.as_deref().unwrap().starts_with("TRK"));
    assert_eq!(w.payments.charges(&id), 1);
    assert_eq!(w.stock().await, 3);
    let steps: Vec<OrderStatus> = w
        .store
        .history(&id)
        .await
        .unwrap()
        .iter()
        .map(|e| e.to)
        .collect();
    use OrderStatus::*;
    assert_eq!(steps, [Pending, Reserved, Paid, Shipped, Completed]);
    let last = w.store.history(&id).await.unwrap().pop().unwrap();
    assert!(last.reason.unwrap().starts_with("customer notified: "));
    w.check_invariants(&[id]).await;
}

#[tokio::test]
async fn a_declined_card_fails_the_payment_and_gives_the_stock_back() {
    let mut w = World::new();
    let id = w.place("pm_card_visa_chargeDeclined").await;
    w.run_until_quiet().await;
    let order = w.order(&id).await;
    assert_eq!(order.status, OrderStatus::PaymentFailed);
    assert_eq!(w.payments.charges(&id), 0);
    assert_eq!(w.stock().await, STOCK);
    let last = w.store.history(&id).await.unwrap().pop().unwrap();
    assert_eq!(
        last.reason.as_deref(),
        Some("payment declined: Your card was declined.")
    );
    w.check_invariants(&[id]).await;
}

#[tokio::test]
async fn a_short_product_rejects_the_order_and_the_customer_is_told() {
    let mut w = World::new();
    let first = w.place("pm_card_visa").await;
    let second = w.place("pm_card_visa").await;
    let third = w.place("pm_card_visa").await;
    w.run_until_quiet().await;
    let rejected = w.order(&third).await;
    assert_eq!(rejected.status, OrderStatus::Rejected);
    let last = w.store.history(&third).await.unwrap().pop().unwrap();
    assert_eq!(last.reason.as_deref(), Some("out of stock: p-1"));
    w.check_invariants(&[first, second, third]).await;
}

#[tokio::test]
async fn a_cancel_in_each_state_before_shipping_gives_everything_back() {
    // Deliveries before the cancel: 0 = PENDING, 1 = RESERVED, 2 = PAID.
    for steps in 0..3 {
        let mut w = World::new();
        let id = w.place("pm_card_visa").await;
        for _ in 0..steps {
            let (queue, message) = w.in_flight.remove(0);
            w.deliver(queue, &message).await.unwrap();
        }
        w.cancel(&id).await.unwrap();
        w.run_until_quiet().await;
        let order = w.order(&id).await;
        assert_eq!(order.status, OrderStatus::Cancelled, "after {steps} steps");
        assert_eq!(w.stock().await, STOCK, "after {steps} steps");
        assert_eq!(
            w.payments.refunds(&id),
            u32::from(steps == 2),
            "refunded only when charged"
        );
        w.check_invariants(&[id]).await;
    }
}

#[tokio::test]
async fn a_shipped_order_can_no_longer_be_cancelled() {
    let mut w = World::new();
    let id = w.place("pm_card_visa").await;
    for _ in 0..3 {
        let (queue, message) = w.in_flight.remove(0);
        w.deliver(queue, &message).await.unwrap();
    }
    assert_eq!(w.order(&id).await.status, OrderStatus::Shipped);
    assert!(matches!(w.cancel(&id).await, Err(AppError::Conflict(_))));
}

#[tokio::test]
async fn every_message_delivered_five_times_has_one_effect() {
    let mut w = World::new();
    let id = w.place("pm_card_visa").await;
    while let Some((queue, message)) = w.in_flight.first().cloned() {
        w.in_flight.remove(0);
        for _ in 0..5 {
            w.deliver(queue, &message).await.unwrap();
        }
        // Keep one copy of each onward message: the re-sends are duplicates by design.
        let mut seen = Vec::new();
        w.in_flight.retain(|(q, m)| {
            let fresh = !seen.contains(&(*q, m.kind));
            seen.push((*q, m.kind));
            fresh
        });
    }
    assert_eq!(w.order(&id).await.status, OrderStatus::Completed);
    assert_eq!(w.store.history(&id).await.unwrap().len(), 5);
    w.check_invariants(&[id]).await;
}

#[tokio::test]
async fn a_provider_outage_parks_payments_until_it_recovers() {
    let mut w = World::new();
    let id = w.place("pm_card_visa").await;
    w.payments.set_down(true);
    for _ in 0..4 {
        let (queue, message) = w.in_flight.remove(0);
        w.deliver(queue, &message).await.unwrap();
    }
    assert_eq!(w.order(&id).await.status, OrderStatus::Reserved);
    assert_eq!(
        w.in_flight.iter().map(|(q, _)| *q).collect::<Vec<_>>(),
        [Queue::Payment],
        "parked on the payment queue, not failed"
    );
    w.payments.set_down(false);
    w.run_until_quiet().await;
    assert_eq!(w.order(&id).await.status, OrderStatus::Completed);
    w.check_invariants(&[id]).await;
}

fn letter(body: String) -> DeadLetter {
    DeadLetter {
        queue: "local-ShippingDLQ".into(),
        message_id: "m-1".into(),
        body,
        receives: 5,
        at: Utc::now(),
    }
}

#[tokio::test]
async fn a_dead_letter_fails_its_order_and_compensation_refunds_it() {
    let mut w = World::new();
    let id = w.place("pm_card_visa").await;
    for _ in 0..2 {
        let (queue, message) = w.in_flight.remove(0);
        w.deliver(queue, &message).await.unwrap();
    }
    let (_, stuck) = w.in_flight.remove(0);
    let ports = DeadLetterPorts {
        orders: w.store.as_ref(),
        letters: w.store.as_ref(),
        compensation: &w.compensation,
        clock: &w.clock,
    };
    let body = serde_json::to_string(&stuck).unwrap();
    dead_letter(&ports, &letter(body.clone())).await.unwrap();
    dead_letter(&ports, &letter(body)).await.unwrap();
    w.collect();
    w.run_until_quiet().await;
    let order = w.order(&id).await;
    assert_eq!(order.status, OrderStatus::Failed);
    let last = w.store.history(&id).await.unwrap().pop().unwrap();
    assert_eq!(
        last.reason.as_deref(),
        Some("OrderPaid dead-lettered to local-ShippingDLQ after 5 receives")
    );
    assert_eq!(w.payments.refunds(&id), 1);
    assert_eq!(w.store.dead_letters().len(), 1, "kept once");
    w.check_invariants(&[id]).await;
}

#[tokio::test]
async fn an_unreadable_dead_letter_is_kept_and_changes_nothing() {
    let w = World::new();
    let ports = DeadLetterPorts {
        orders: w.store.as_ref(),
        letters: w.store.as_ref(),
        compensation: &w.compensation,
        clock: &w.clock,
    };
    dead_letter(&ports, &letter("{not json".into()))
        .await
        .unwrap();
    assert_eq!(w.store.dead_letters()[0].body, "{not json");
    assert!(w.compensation.sent().is_empty());
}

#[tokio::test]
async fn the_reconciler_re_drives_a_stalled_order_and_an_unsettled_one() {
    let mut w = World::new();
    let lost = w.place("pm_card_visa").await;
    w.in_flight.clear(); // the enqueue was lost
    let cancelled = w.place("pm_card_visa").await;
    for _ in 0..2 {
        let (queue, message) = w.in_flight.remove(0);
        w.deliver(queue, &message).await.unwrap();
    }
    w.cancel(&cancelled).await.unwrap();
    w.in_flight.clear(); // the compensation message was lost

    let later = FixedClock::new(Utc::now() + Duration::minutes(30));
    let ports = ReconcilePorts {
        orders: w.store.as_ref(),
        steps: Steps {
            inventory: &w.inventory,
            payment: &w.payment,
            shipping: &w.shipping,
            notification: &w.notification,
            compensation: &w.compensation,
        },
        clock: &later,
        stalled_after: Duration::minutes(10),
        window: Duration::hours(24),
    };
    let found = reconcile(&ports).await.unwrap();
    assert_eq!(
        found,
        Reconciliation {
            stalled: 1,
            unsettled: 1,
            paid_without_charge: 0
        }
    );
    w.collect();
    w.run_until_quiet().await;
    assert_eq!(w.order(&lost).await.status, OrderStatus::Completed);
    assert_eq!(w.payments.refunds(&cancelled), 1);
    w.check_invariants(&[lost, cancelled]).await;
}

#[tokio::test]
async fn a_message_for_an_unknown_order_fails_for_the_dead_letter_queue() {
    let mut w = World::new();
    let stray = Envelope::new(
        MessageType::OrderPlaced,
        OrderId::generate(),
        "corr",
        Utc::now(),
    );
    assert!(matches!(
        w.deliver(Queue::Inventory, &stray).await,
        Err(AppError::NotFound(_))
    ));
}

/// One thing that happens to the system.
#[derive(Debug, Clone)]
enum Event {
    /// Delivers the in-flight message at this position (modulo their number); `duplicate`
    /// leaves a copy in flight, as SQS may.
    Deliver { pick: usize, duplicate: bool },
    /// The customer cancels this order (modulo the orders).
    Cancel { order: usize },
    /// The payment provider goes down or comes back.
    Provider { up: bool },
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        6 => (any::<usize>(), prop::bool::weighted(0.3))
            .prop_map(|(pick, duplicate)| Event::Deliver { pick, duplicate }),
        1 => any::<usize>().prop_map(|order| Event::Cancel { order }),
        1 => any::<bool>().prop_map(|up| Event::Provider { up }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Three orders competing for 5 units (room for two), one with a declining card; random
    /// deliveries, duplicates, reorderings and cancels; then everything left is delivered. Every
    /// order ends, nothing is charged twice, every unfulfilled order got everything back, and
    /// the stock adds up.
    #[test]
    fn any_interleaving_of_deliveries_and_cancels_keeps_the_invariants(
        events in prop::collection::vec(event(), 0..60)
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async {
            let mut w = World::new();
            let ids = vec![
                w.place("pm_card_visa").await,
                w.place("pm_card_visa_chargeDeclined").await,
                w.place("pm_card_visa").await,
            ];
            for event in events {
                match event {
                    Event::Deliver { pick, duplicate } if !w.in_flight.is_empty() => {
                        let at = pick % w.in_flight.len();
                        let (queue, message) = if duplicate {
                            w.in_flight[at].clone()
                        } else {
                            w.in_flight.remove(at)
                        };
                        if w.deliver(queue, &message).await.is_err() {
                            w.in_flight.push((queue, message));
                        }
                    }
                    Event::Deliver { .. } => {}
                    Event::Cancel { order } => {
                        let _ = w.cancel(&ids[order % ids.len()]).await;
                    }
                    Event::Provider { up } => w.payments.set_down(!up),
                }
            }
            w.payments.set_down(false);
            w.run_until_quiet().await;
            w.check_invariants(&ids).await;
        });
    }
}
