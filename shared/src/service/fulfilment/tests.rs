//! The saga over the in-memory wiring, every message through the batch runner as SQS would
//! deliver it: every step, every compensation, the step contract (deadlines, error classes, stale
//! dead letters, both envelope versions), and a property test over random interleavings of
//! duplicated, reordered and cancelled deliveries. (The same use cases run against DynamoDB on
//! moto and localstripe in the system tests.)

use std::sync::Arc;
use std::time::Duration as StdDuration;

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use chrono::{Duration, Utc};
use proptest::prelude::*;

use super::*;
use crate::domain::{Actor, Caller, OrderId, PaymentMethod, ProductId, Role};
use crate::messages::{MessageType, PREVIOUS_SCHEMA_VERSION, SCHEMA_VERSION};
use crate::pipeline::{NOTIFY, PAY, Queue, SHIP};
use crate::ports::{Catalog, DeadLetter, OrderRepository};
use crate::service::orders::{CancelOrder, RefundOrder};
use crate::sqs::{Consume, consume};
use crate::testing::{self, Memory};
use crate::wiring::Wire;

const STOCK: u32 = 5;

/// Every consumer of the pipeline wired from one in-memory source, and the messages in flight.
struct World {
    memory: Arc<Memory>,
    consumers: Vec<Box<dyn Consume>>,
    dead_letters: DeadLetterHandling,
    cancel: CancelOrder,
    refund: RefundOrder,
    /// Messages sent and not yet delivered for good.
    in_flight: Vec<(Queue, Envelope)>,
    /// The schema the messages travel in.
    schema: u32,
}

impl World {
    async fn new() -> Self {
        let memory = Arc::new(Memory::new());
        memory
            .store
            .seed_product(testing::product("p-1", 500, STOCK));
        // The account of the customer every order is placed for: where the notices go.
        testing::customer_account(&memory.store, "c-1").await;
        let source = memory.as_ref();
        let consumers = consumers(source).await.unwrap();
        for queue in Queue::ALL {
            let consumers = consumers.iter().filter(|c| c.consumer().queue == queue);
            assert_eq!(consumers.count(), 1, "one consumer of {queue}");
        }
        Self {
            dead_letters: DeadLetterHandling::wire(source).await.unwrap(),
            cancel: CancelOrder::wire(source).await.unwrap(),
            refund: RefundOrder::wire(source).await.unwrap(),
            memory,
            consumers,
            in_flight: Vec::new(),
            schema: crate::messages::WRITTEN_SCHEMA_VERSION,
        }
    }

    fn consumer(&self, queue: Queue) -> &dyn Consume {
        self.consumers
            .iter()
            .find(|c| c.consumer().queue == queue)
            .unwrap()
            .as_ref()
    }

    /// Moves what was sent into the network, and hands what a consumer dead-lettered itself to
    /// failure handling, as the dead-letter queues' consumer would.
    async fn collect(&mut self) {
        loop {
            for sent in self.memory.queues.take() {
                // A delayed message is delivered once its delay has passed.
                if let Ok(delay) = chrono::Duration::from_std(sent.delay) {
                    self.memory.clock.advance(delay);
                }
                self.in_flight.push((sent.queue, sent.message));
            }
            let quarantined = self.memory.queues.take_quarantined();
            if quarantined.is_empty() {
                return;
            }
            for letter in quarantined {
                let letter = DeadLetter {
                    queue: format!("local-{}", letter.queue.dead_letter_logical_id()),
                    message_id: uuid::Uuid::new_v4().to_string(),
                    body: letter.body,
                    receives: 1,
                    at: Utc::now(),
                    problem: Some(letter.problem),
                };
                self.dead_letters.handle(&letter).await.unwrap();
            }
        }
    }

    /// A new order of 2 units of p-1, placed and handed to the inventory queue.
    async fn place(&mut self, card: &str) -> OrderId {
        let mut order = testing::order(OrderId::generate(), "c-1", Utc::now());
        order.payment_method = PaymentMethod::parse(card).unwrap();
        order.correlation_id = Some("corr".into());
        self.memory.store.insert(&order, None).await.unwrap();
        let message =
            Envelope::announcing(order.status, order.id.clone(), "corr", Utc::now()).unwrap();
        self.in_flight.push((Queue::Inventory, message));
        order.id
    }

    async fn cancel(&mut self, id: &OrderId) -> Result<(), AppError> {
        let caller = Caller {
            id: crate::domain::CustomerId::parse("c-1").unwrap(),
            role: Role::Customer,
        };
        let result = self.cancel.cancel(&caller, id, "corr").await.map(|_| ());
        self.collect().await;
        result
    }

    /// Support refunds the order in full.
    async fn refund(&mut self, id: &OrderId) -> Result<(), AppError> {
        let admin = Caller {
            id: crate::domain::CustomerId::parse("usr_admin").unwrap(),
            role: Role::Admin,
        };
        let request = crate::service::orders::RefundRequest::default();
        let result = self.refund.refund(&admin, id, &request, "corr").await;
        self.collect().await;
        result.map(|_| ())
    }

    /// One delivery of one message, as SQS hands it to the function: a batch of one record.
    async fn deliver(&mut self, queue: Queue, message: &Envelope) -> Result<(), AppError> {
        let event = batch(&[message.to_json_as(self.schema)]);
        let context = testing::context(StdDuration::from_secs(60));
        let response = consume(self.consumer(queue), &context, event).await;
        self.collect().await;
        match response.batch_item_failures.is_empty() {
            true => Ok(()),
            false => Err(AppError::dependency("delivery", "the record failed")),
        }
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

    /// Delivers the first `n` messages in flight once each.
    async fn step(&mut self, n: usize) {
        for _ in 0..n {
            let (queue, message) = self.in_flight.remove(0);
            self.deliver(queue, &message).await.unwrap();
        }
    }

    /// Delivers every message in flight `times` times until none is left, keeping one copy of
    /// each onward message (the re-sends are duplicates by design); returns the deliveries made.
    async fn deliver_each_until_quiet(&mut self, times: usize) -> usize {
        let mut deliveries = 0;
        while let Some((queue, message)) = self.in_flight.first().cloned() {
            self.in_flight.remove(0);
            for _ in 0..times {
                self.deliver(queue, &message).await.unwrap();
                deliveries += 1;
            }
            let mut seen = Vec::new();
            self.in_flight.retain(|(q, m)| {
                let key = (*q, m.kind, m.order_id.clone());
                let fresh = !seen.contains(&key);
                seen.push(key);
                fresh
            });
        }
        deliveries
    }

    /// Delivers messages in flight, oldest first, until order `id` is in `status`.
    async fn run_to(&mut self, id: &OrderId, status: OrderStatus) {
        for _ in 0..50 {
            if self.order(id).await.status == status {
                return;
            }
            self.step(1).await;
        }
        panic!("{id} never reached {status}");
    }

    /// Takes the message in flight for `id` on `queue`.
    fn take(&mut self, id: &OrderId, queue: Queue) -> Envelope {
        let at = self
            .in_flight
            .iter()
            .position(|(q, m)| *q == queue && &m.order_id == id)
            .unwrap_or_else(|| panic!("no message for {id} on {queue}"));
        self.in_flight.remove(at).1
    }

    async fn order(&self, id: &OrderId) -> Order {
        OrderRepository::get(self.memory.store.as_ref(), id)
            .await
            .unwrap()
            .unwrap()
    }

    async fn stock(&self) -> u32 {
        Catalog::get(
            self.memory.store.as_ref(),
            &ProductId::parse("p-1").unwrap(),
        )
        .await
        .unwrap()
        .unwrap()
        .available
    }

    fn payments(&self) -> &testing::FakePayments {
        &self.memory.payments
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
            let charges = self.payments().charges(id);
            let refunds = self.payments().refunds(id);
            assert!(charges <= 1, "{id} charged {charges} times");
            match order.status {
                OrderStatus::Completed => {
                    assert_eq!((charges, refunds), (1, 0), "{id}");
                    held += 2;
                }
                // Delivered, then refunded: the money back, the units sold.
                OrderStatus::Refunded => {
                    assert_eq!((charges, refunds), (1, 1), "{id}");
                    assert!(!order.owes_compensation(), "{id}: {:?}", order.payment);
                    held += 2;
                }
                _ => {
                    assert_eq!(refunds, charges, "{id}: refunded = charged");
                    assert!(!order.stock_held, "{id} still holds stock");
                    assert!(!order.owes_compensation(), "{id}: {:?}", order.payment);
                }
            }
            let history = self.memory.store.history(id).await.unwrap();
            let versions: Vec<u64> = history.iter().map(|e| e.version).collect();
            let mut sorted = versions.clone();
            sorted.dedup();
            assert_eq!(versions, sorted, "{id}: one entry per transition");
            for pair in history.windows(2) {
                assert_eq!(pair[1].from, Some(pair[0].to), "{id}: a chained timeline");
            }
            assert_eq!(history.last().map(|e| e.to), Some(order.status));
            let shipped = self.memory.carrier.shipments().contains(id);
            let delivered = matches!(order.status, OrderStatus::Completed | OrderStatus::Refunded);
            assert_eq!(
                shipped, delivered,
                "{id}: a live shipment only for a fulfilled order"
            );
            let told = self
                .memory
                .notifier
                .told()
                .into_iter()
                .filter(|(o, _)| o == id)
                .count();
            // Once per outcome: a refunded order was completed first.
            let outcomes = 1 + usize::from(order.status == OrderStatus::Refunded);
            assert!(told <= outcomes, "{id}: told {told} times");
        }
        assert_eq!(
            self.stock().await + held,
            STOCK,
            "no stock leaked or made up"
        );
    }

    async fn last_reason(&self, id: &OrderId) -> Option<Reason> {
        self.memory
            .store
            .history(id)
            .await
            .unwrap()
            .pop()
            .unwrap()
            .reason
    }
}

/// The status a consumer's (first) row waits for.
fn awaits(consumer: &'static crate::pipeline::Consumer) -> OrderStatus {
    crate::pipeline::steps_of(consumer).next().unwrap().awaits
}

/// An SQS event of one record per body.
fn batch(bodies: &[String]) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let mut record = SqsMessage::default();
            record.message_id = Some(format!("m-{i}"));
            record.body = Some(body.clone());
            record.event_source_arn = Some("arn:aws:sqs:us-east-1:000000000000:local-q".into());
            record
        })
        .collect();
    event
}

#[tokio::test]
async fn an_order_goes_all_the_way_to_completed() {
    let mut w = World::new().await;
    let id = w.place("pm_card_visa").await;
    w.run_until_quiet().await;
    let order = w.order(&id).await;
    assert_eq!(order.status, OrderStatus::Completed);
    assert!(order.tracking_number.as_deref().unwrap().starts_with("TRK"));
    assert_eq!(w.payments().charges(&id), 1);
    assert_eq!(w.stock().await, 3);
    let history = w.memory.store.history(&id).await.unwrap();
    let steps: Vec<OrderStatus> = history.iter().map(|e| e.to).collect();
    assert_eq!(steps, crate::pipeline::happy_path());
    let actors: Vec<_> = history.iter().map(|e| e.actor.clone().unwrap()).collect();
    assert_eq!(
        actors,
        [
            Actor::Customer("c-1".into()),
            Actor::Step("reserve-inventory".into()),
            Actor::Step("process-payment".into()),
            Actor::Step("ship-order".into()),
            Actor::Step("notify-customer".into()),
        ],
        "each entry says who made it"
    );
    assert_eq!(w.last_reason(&id).await, Some(Reason::CustomerNotified));
    let told = w.memory.notifier.told();
    assert_eq!(told.len(), 1);
    assert!(told[0].1.contains("is on its way"), "{told:?}");
    w.check_invariants(&[id]).await;
}

#[tokio::test]
async fn a_declined_card_fails_the_payment_and_gives_the_stock_back() {
    let mut w = World::new().await;
    let id = w.place("pm_card_visa_chargeDeclined").await;
    w.run_until_quiet().await;
    let order = w.order(&id).await;
    assert_eq!(order.status, OrderStatus::PaymentFailed);
    assert_eq!(w.payments().charges(&id), 0);
    assert_eq!(w.stock().await, STOCK);
    assert_eq!(
        w.last_reason(&id).await,
        Some(Reason::PaymentDeclined {
            provider_message: "Your card was declined.".into()
        })
    );
    w.check_invariants(&[id]).await;
}

#[tokio::test]
async fn a_short_product_rejects_the_order_and_the_customer_is_told_why() {
    let mut w = World::new().await;
    let first = w.place("pm_card_visa").await;
    let second = w.place("pm_card_visa").await;
    let third = w.place("pm_card_visa").await;
    w.run_until_quiet().await;
    assert_eq!(w.order(&third).await.status, OrderStatus::Rejected);
    assert_eq!(
        w.last_reason(&third).await,
        Some(Reason::OutOfStock {
            product_id: ProductId::parse("p-1").unwrap()
        })
    );
    let told: Vec<_> = w
        .memory
        .notifier
        .told()
        .into_iter()
        .filter(|(id, _)| id == &third)
        .collect();
    assert_eq!(told.len(), 1);
    assert!(
        told[0].1.contains("product p-1 is out of stock"),
        "{told:?}"
    );
    w.check_invariants(&[first, second, third]).await;
}

#[tokio::test]
async fn a_cancel_in_each_state_before_shipping_gives_everything_back() {
    let cancellable = crate::pipeline::happy_path()
        .into_iter()
        .filter(|s| s.is_cancellable());
    for status in cancellable {
        let mut w = World::new().await;
        let id = w.place("pm_card_visa").await;
        w.run_to(&id, status).await;
        let charged = w.payments().charges(&id);
        w.cancel(&id).await.unwrap();
        w.run_until_quiet().await;
        let order = w.order(&id).await;
        assert_eq!(
            order.status,
            OrderStatus::Cancelled,
            "cancelled in {status}"
        );
        assert_eq!(w.stock().await, STOCK, "cancelled in {status}");
        assert_eq!(
            w.payments().refunds(&id),
            charged,
            "refunded only when charged"
        );
        w.check_invariants(&[id]).await;
    }
}

/// Support's refund of a delivered order gives the money back once however often its message is
/// delivered, keeps the shipment and the stock as they are, and tells the customer once.
#[tokio::test]
async fn a_refund_of_a_completed_order_returns_the_money_once_and_keeps_the_goods_sold() {
    let mut w = World::new().await;
    let id = w.place("pm_card_visa").await;
    w.run_until_quiet().await;
    assert_eq!(w.order(&id).await.status, OrderStatus::Completed);
    assert!(matches!(
        w.cancel(&id).await,
        Err(AppError::NotCancellable(OrderStatus::Completed))
    ));
    w.refund(&id).await.unwrap();
    w.refund(&id).await.unwrap();
    w.deliver_each_until_quiet(3).await;
    let order = w.order(&id).await;
    assert_eq!(order.status, OrderStatus::Refunded);
    assert_eq!(w.payments().refunds(&id), 1);
    assert_eq!(w.stock().await, STOCK - 2, "the units stay sold");
    assert_eq!(w.last_reason(&id).await, Some(Reason::RefundedBySupport));
    w.check_invariants(std::slice::from_ref(&id)).await;
    let told: Vec<_> = w
        .memory
        .notifier
        .told()
        .into_iter()
        .filter(|(o, _)| *o == id)
        .collect();
    assert_eq!(told.len(), 2, "completed, then refunded: {told:?}");
}

#[tokio::test]
async fn only_a_completed_order_can_be_refunded() {
    let mut w = World::new().await;
    let id = w.place("pm_card_visa").await;
    w.run_to(&id, OrderStatus::Shipped).await;
    assert!(matches!(
        w.refund(&id).await,
        Err(AppError::NotRefundable(OrderStatus::Shipped))
    ));
}

#[tokio::test]
async fn a_shipped_order_can_no_longer_be_cancelled() {
    let mut w = World::new().await;
    let id = w.place("pm_card_visa").await;
    w.run_to(&id, OrderStatus::Shipped).await;
    assert!(matches!(
        w.cancel(&id).await,
        Err(AppError::NotCancellable(OrderStatus::Shipped))
    ));
}

#[tokio::test]
async fn every_message_delivered_five_times_has_one_effect() {
    let mut w = World::new().await;
    let id = w.place("pm_card_visa").await;
    w.deliver_each_until_quiet(5).await;
    assert_eq!(w.order(&id).await.status, OrderStatus::Completed);
    let transitions = crate::pipeline::happy_path().len();
    assert_eq!(
        w.memory.store.history(&id).await.unwrap().len(),
        transitions
    );
    w.check_invariants(&[id]).await;
}

/// Business metrics count outcomes, not deliveries: each order's outcome once, however often its
/// messages arrive, with the revenue it charged.
#[tokio::test]
async fn each_outcome_is_counted_once_whatever_the_redeliveries() {
    use crate::metrics::{Metric, recorded};
    recorded::take();
    let mut w = World::new().await;
    let paid = w.place("pm_card_visa").await;
    let declined = w.place("pm_card_visa_chargeDeclined").await;
    let deliveries = w.deliver_each_until_quiet(3).await;
    assert_eq!(w.order(&paid).await.status, OrderStatus::Completed);
    assert_eq!(w.order(&declined).await.status, OrderStatus::PaymentFailed);
    let emitted = recorded::take();
    let count = |metric| emitted.iter().filter(|(m, _)| *m == metric).count();
    assert_eq!(count(Metric::OrdersCompleted), 1);
    assert_eq!(count(Metric::PaymentsFailed), 1);
    assert_eq!(count(Metric::OrderCompletionSeconds), 1);
    assert_eq!(
        count(Metric::OrdersRejected) + count(Metric::OrdersFailed),
        0
    );
    let revenue: Vec<_> = emitted
        .iter()
        .filter(|(m, _)| *m == Metric::Revenue)
        .collect();
    assert_eq!(revenue, [&(Metric::Revenue, Some("EUR".to_string()))]);
    assert_eq!(
        count(Metric::StepDuration),
        deliveries,
        "one per message handled"
    );
    assert!(
        emitted
            .iter()
            .filter(|(m, _)| *m == Metric::StepDuration)
            .all(|(_, step)| step.is_some()),
        "by step"
    );
}

#[tokio::test]
async fn rejections_cancellations_and_failures_are_counted_as_their_outcome() {
    use crate::metrics::{Metric, recorded};
    recorded::take();
    let mut w = World::new().await;
    let first = w.place("pm_card_visa").await;
    let second = w.place("pm_card_visa").await;
    let third = w.place("pm_card_visa").await;
    w.run_until_quiet().await;
    assert_eq!(w.order(&third).await.status, OrderStatus::Rejected);
    assert_eq!(recorded::count(Metric::OrdersRejected), 1);
    assert_eq!(recorded::count(Metric::OrdersCompleted), 2);
    let _ = (first, second);

    let mut w = World::new().await;
    let cancelled = w.place("pm_card_visa").await;
    w.cancel(&cancelled).await.unwrap();
    w.cancel(&cancelled).await.unwrap();
    w.run_until_quiet().await;
    assert_eq!(
        recorded::count(Metric::OrdersCancelled),
        1,
        "the repeat changes nothing"
    );

    let mut w = World::new().await;
    let failed = w.place("pm_card_visa").await;
    w.run_to(&failed, awaits(&SHIP)).await;
    let body = w.take(&failed, SHIP.queue).to_json();
    w.dead_letters
        .handle(&letter(SHIP.queue, body.clone()))
        .await
        .unwrap();
    w.dead_letters
        .handle(&letter(SHIP.queue, body))
        .await
        .unwrap();
    assert_eq!(recorded::count(Metric::OrdersFailed), 1);
    assert_eq!(
        recorded::count(Metric::DeadLetters),
        2,
        "each letter kept is counted"
    );
}

#[tokio::test]
async fn a_provider_outage_parks_payments_until_it_recovers() {
    let mut w = World::new().await;
    let id = w.place("pm_card_visa").await;
    w.payments().set_down(true);
    w.run_to(&id, awaits(&PAY)).await;
    w.step(3).await;
    assert_eq!(w.order(&id).await.status, awaits(&PAY));
    assert_eq!(
        w.in_flight.iter().map(|(q, _)| *q).collect::<Vec<_>>(),
        [PAY.queue],
        "parked on the payment queue, not failed"
    );
    w.payments().set_down(false);
    w.run_until_quiet().await;
    assert_eq!(w.order(&id).await.status, OrderStatus::Completed);
    w.check_invariants(&[id]).await;
}

#[tokio::test]
async fn paused_payments_wait_on_their_queue_uncharged_and_resume_when_the_flag_clears() {
    let mut w = World::new().await;
    w.memory.flags.set(r#"{"pausePayments":true}"#);
    let id = w.place("pm_card_visa").await;
    w.run_to(&id, awaits(&PAY)).await;
    for _ in 0..5 {
        w.memory.clock.advance(Duration::seconds(61));
        w.step(1).await;
    }
    assert_eq!(w.order(&id).await.status, awaits(&PAY));
    assert!(
        w.order(&id).await.payment.is_none(),
        "nothing charged, no intent"
    );
    assert_eq!(
        w.in_flight.iter().map(|(q, _)| *q).collect::<Vec<_>>(),
        [PAY.queue],
        "one copy waits on the payment queue: nothing lost, nothing dead-lettered"
    );
    w.memory.flags.set(r#"{"pausePayments":false}"#);
    w.memory.clock.advance(Duration::seconds(61));
    w.run_until_quiet().await;
    assert_eq!(w.order(&id).await.status, OrderStatus::Completed);
    w.check_invariants(&[id]).await;
}

/// The defect: each copy of a payment message (a duplicate, a reconciler re-drive) was parked on
/// its own during an outage, so copies multiplied with every run. One copy parks per window.
#[tokio::test]
async fn copies_of_a_payment_message_during_an_outage_collapse_to_one_parked_copy() {
    let mut w = World::new().await;
    let id = w.place("pm_card_visa").await;
    w.run_to(&id, awaits(&PAY)).await;
    let paying = w.take(&id, PAY.queue);
    w.payments().set_down(true);
    // Four copies arrive together, before any parked one comes back.
    let context = testing::context(StdDuration::from_secs(60));
    for _ in 0..4 {
        let response = consume(w.consumer(PAY.queue), &context, batch(&[paying.to_json()])).await;
        assert!(response.batch_item_failures.is_empty());
    }
    w.collect().await;
    assert_eq!(w.in_flight.len(), 1, "one parked copy: {:?}", w.in_flight);
    assert!(w.order(&id).await.parked_until.is_some());
    // An 11-minute outage: the parked copy comes back every minute and parks again, so the order
    // never looks stalled and the reconciler adds no copy of its own.
    for _ in 0..11 {
        w.memory.clock.advance(Duration::seconds(61));
        w.step(1).await;
    }
    assert_eq!(w.in_flight.len(), 1);
    let reconcile = Reconcile::wire(w.memory.as_ref()).await.unwrap();
    assert_eq!(reconcile.run().await.unwrap().stalled, 0);
    w.payments().set_down(false);
    w.memory.clock.advance(Duration::seconds(60));
    w.run_until_quiet().await;
    assert_eq!(w.order(&id).await.status, OrderStatus::Completed);
    w.check_invariants(&[id]).await;
}

fn letter(queue: Queue, body: String) -> DeadLetter {
    DeadLetter {
        queue: format!("local-{}", queue.dead_letter_logical_id()),
        message_id: "m-1".into(),
        body,
        receives: 5,
        at: Utc::now(),
        problem: None,
    }
}

#[tokio::test]
async fn a_dead_letter_fails_its_order_and_compensation_refunds_it() {
    let mut w = World::new().await;
    let id = w.place("pm_card_visa").await;
    w.run_to(&id, awaits(&SHIP)).await;
    let queue = SHIP.queue;
    let body = w.take(&id, queue).to_json();
    w.dead_letters
        .handle(&letter(queue, body.clone()))
        .await
        .unwrap();
    w.dead_letters.handle(&letter(queue, body)).await.unwrap();
    w.collect().await;
    w.run_until_quiet().await;
    assert_eq!(w.order(&id).await.status, OrderStatus::Failed);
    assert_eq!(
        w.last_reason(&id).await,
        Some(Reason::StepGaveUp {
            queue: SHIP.queue,
            receives: 5
        })
    );
    assert_eq!(w.payments().refunds(&id), 1);
    assert_eq!(w.memory.store.dead_letters().len(), 1, "kept once");
    w.check_invariants(&[id]).await;
}

/// The defect: a dead letter failed an order in any non-terminal state, so a late letter of
/// the payment step for a shipped order refunded goods that had left.
#[tokio::test]
async fn a_stale_payment_letter_for_a_shipped_order_is_kept_and_never_applied() {
    let mut w = World::new().await;
    let id = w.place("pm_card_visa").await;
    w.run_to(&id, awaits(&PAY)).await;
    let payment_message = w.take(&id, PAY.queue);
    w.in_flight.insert(0, (PAY.queue, payment_message.clone()));
    w.run_to(&id, OrderStatus::Shipped).await;
    for schema in [PREVIOUS_SCHEMA_VERSION, SCHEMA_VERSION] {
        let body = payment_message.to_json_as(schema);
        w.dead_letters
            .handle(&letter(PAY.queue, body))
            .await
            .unwrap();
    }
    w.collect().await;
    assert_eq!(w.order(&id).await.status, OrderStatus::Shipped);
    assert_eq!(w.payments().refunds(&id), 0, "no refund after shipping");
    assert_eq!(w.memory.store.dead_letters().len(), 1, "kept");
    assert!(
        w.in_flight.iter().all(|(q, _)| *q != Queue::Compensation),
        "nothing sent to compensation"
    );
    w.run_until_quiet().await;
    assert_eq!(w.order(&id).await.status, OrderStatus::Completed);
    w.check_invariants(&[id]).await;
}

#[tokio::test]
async fn a_letter_that_names_no_step_is_kept_and_never_applied() {
    let mut w = World::new().await;
    let id = w.place("pm_card_visa").await;
    let legacy = format!(
        r#"{{"type":"OrderStalled","schemaVersion":1,"orderId":"{id}","correlationId":"reconciler","at":"2026-11-01T00:00:00Z"}}"#
    );
    w.dead_letters
        .handle(&letter(Queue::Inventory, legacy))
        .await
        .unwrap();
    assert_eq!(w.order(&id).await.status, OrderStatus::Pending);
    w.run_until_quiet().await;
    assert_eq!(w.order(&id).await.status, OrderStatus::Completed);
}

#[tokio::test]
async fn an_unreadable_dead_letter_is_kept_and_changes_nothing() {
    let mut w = World::new().await;
    w.dead_letters
        .handle(&letter(Queue::Payment, "{not json".into()))
        .await
        .unwrap();
    assert_eq!(w.memory.store.dead_letters()[0].body, "{not json");
    w.collect().await;
    assert!(w.in_flight.is_empty());
}

#[tokio::test]
async fn permanent_errors_go_to_failure_handling_once_and_are_not_retried() {
    let mut w = World::new().await;
    // An unreadable record, and a message for an order that does not exist.
    let stray =
        Envelope::announcing(OrderStatus::Pending, OrderId::generate(), "c", Utc::now()).unwrap();
    let event = batch(&["{not json".into(), stray.to_json()]);
    let context = testing::context(StdDuration::from_secs(60));
    let response = consume(w.consumer(Queue::Inventory), &context, event).await;
    assert!(
        response.batch_item_failures.is_empty(),
        "nothing is left for SQS to retry"
    );
    let quarantined = w.memory.queues.quarantined();
    assert_eq!(quarantined.len(), 2);
    assert!(quarantined[0].problem.starts_with("unreadable message"));
    assert!(quarantined[1].problem.contains("order not found"));
    w.collect().await;
    assert_eq!(w.memory.store.dead_letters().len(), 2, "both kept");

    // A payment method the provider refuses: the order fails once, its stock goes back.
    let id = w.place("pm_unknown").await;
    w.run_until_quiet().await;
    assert_eq!(w.order(&id).await.status, OrderStatus::Failed);
    assert_eq!(
        w.last_reason(&id).await,
        Some(Reason::StepGaveUp {
            queue: PAY.queue,
            receives: 1
        })
    );
    w.check_invariants(&[id]).await;
}

#[tokio::test]
async fn every_step_reads_both_envelope_schemas() {
    for schema in [PREVIOUS_SCHEMA_VERSION, SCHEMA_VERSION] {
        let mut w = World::new().await;
        w.memory
            .store
            .seed_product(testing::product("p-1", 500, 100));
        w.schema = schema;
        let completed = w.place("pm_card_visa").await;
        let declined = w.place("pm_card_visa_chargeDeclined").await;
        let cancelled = w.place("pm_card_visa").await;
        w.step(3).await;
        w.cancel(&cancelled).await.unwrap();
        w.run_until_quiet().await;
        assert_eq!(
            w.order(&completed).await.status,
            OrderStatus::Completed,
            "v{schema}"
        );
        assert_eq!(
            w.order(&declined).await.status,
            OrderStatus::PaymentFailed,
            "v{schema}"
        );
        assert_eq!(
            w.order(&cancelled).await.status,
            OrderStatus::Cancelled,
            "v{schema}"
        );
        assert!(w.memory.queues.quarantined().is_empty(), "v{schema}");
    }
}

/// The defect: one provider call could take 15 s while a batch of records ran one after another,
/// so a slow provider timed the whole invocation out and every record came back, untried ones
/// included. Now a record gets its budget, and those that cannot start in time are reported.
#[tokio::test(start_paused = true)]
async fn a_slow_provider_never_makes_a_batch_overrun_its_deadline() {
    let mut w = World::new().await;
    w.memory
        .store
        .seed_product(testing::product("p-1", 500, 100));
    let mut bodies = Vec::new();
    for _ in 0..10 {
        let id = w.place("pm_card_visa").await;
        w.run_to(&id, awaits(&PAY)).await;
        bodies.push(w.take(&id, PAY.queue).to_json());
    }
    // Each provider call takes 4 s: one record (create + confirm) takes 8 s of its 10 s budget.
    w.payments().set_latency(StdDuration::from_secs(4));
    let timeout = StdDuration::from_secs(30);
    let context = testing::context(timeout);
    let started = tokio::time::Instant::now();
    let response = consume(w.consumer(PAY.queue), &context, batch(&bodies)).await;
    let took = started.elapsed();
    assert!(took < timeout, "the invocation answered in time ({took:?})");
    let failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    // Records start at 0, 8 and 16 s, each with its 10 s budget still ahead; at 24 s only 6 s
    // are left, so the other seven are reported unstarted.
    assert_eq!(failed, ["m-3", "m-4", "m-5", "m-6", "m-7", "m-8", "m-9"]);
    w.collect().await;
    assert_eq!(
        w.in_flight
            .iter()
            .filter(|(q, _)| Some(*q) == crate::pipeline::route(OrderStatus::Paid))
            .count(),
        3,
        "the three that ran were paid and handed on"
    );
}

#[tokio::test(start_paused = true)]
async fn a_record_that_overruns_its_budget_is_cut_off_and_retried() {
    let mut w = World::new().await;
    let id = w.place("pm_card_visa").await;
    w.run_to(&id, awaits(&PAY)).await;
    let paying = w.take(&id, PAY.queue);
    w.payments().set_latency(StdDuration::from_secs(60));
    let context = testing::context(StdDuration::from_secs(120));
    let started = tokio::time::Instant::now();
    let response = consume(w.consumer(PAY.queue), &context, batch(&[paying.to_json()])).await;
    let took = started.elapsed();
    let budget = crate::pipeline::PAY.budget;
    assert!(
        took >= budget && took < budget + StdDuration::from_secs(1),
        "{took:?}"
    );
    assert_eq!(response.batch_item_failures.len(), 1);
    assert_eq!(w.order(&id).await.status, awaits(&PAY));
}

#[tokio::test]
async fn the_reconciler_re_drives_a_stalled_order_and_an_unsettled_one() {
    let mut w = World::new().await;
    let lost = w.place("pm_card_visa").await;
    w.in_flight.clear(); // the enqueue was lost
    let cancelled = w.place("pm_card_visa").await;
    w.run_to(&cancelled, OrderStatus::Paid).await;
    w.cancel(&cancelled).await.unwrap();
    w.in_flight.clear(); // the compensation message was lost

    w.memory.clock.advance(Duration::minutes(30));
    let reconcile = Reconcile::wire(w.memory.as_ref()).await.unwrap();
    let found = reconcile.run().await.unwrap();
    assert_eq!(
        found,
        Reconciliation {
            stalled: 1,
            unsettled: 1,
            paid_without_charge: 0,
            cut_short: false,
        }
    );
    w.collect().await;
    let kinds: Vec<_> = w.in_flight.iter().map(|(q, m)| (*q, m.kind)).collect();
    assert!(kinds.contains(&(Queue::Inventory, MessageType::OrderPlaced)));
    assert!(kinds.contains(&(Queue::Compensation, MessageType::OrderCancelled)));
    assert!(
        w.in_flight.iter().all(|(_, m)| m.correlation_id == "corr"),
        "re-drives carry the placing request's correlation id"
    );
    w.run_until_quiet().await;
    assert_eq!(w.order(&lost).await.status, OrderStatus::Completed);
    assert_eq!(w.payments().refunds(&cancelled), 1);
    let history = w.memory.store.history(&lost).await.unwrap();
    assert_eq!(history.len(), crate::pipeline::happy_path().len());
    assert!(
        history
            .iter()
            .all(|e| e.correlation_id.as_deref() == Some("corr")),
        "every entry of the re-driven journey keeps the placing request's id: {history:?}"
    );
    w.check_invariants(&[lost, cancelled]).await;
}

/// The defect: the reconciler looked back 24 hours, so an order whose compensation kept failing
/// fell out of its view after a day, its alarm cleared, and the refund was never made.
#[tokio::test]
async fn an_unsettled_order_stays_in_the_reconcilers_view_however_old() {
    let mut w = World::new().await;
    let id = w.place("pm_card_visa").await;
    w.run_to(&id, OrderStatus::Paid).await;
    w.cancel(&id).await.unwrap();
    w.in_flight.clear(); // every compensation attempt was lost
    w.memory.clock.advance(Duration::days(3));
    let reconcile = Reconcile::wire(w.memory.as_ref()).await.unwrap();
    assert_eq!(reconcile.run().await.unwrap().unsettled, 1);
    w.collect().await;
    w.run_until_quiet().await;
    assert_eq!(
        w.payments().refunds(&id),
        1,
        "refunded three days late, but refunded"
    );
    w.check_invariants(&[id]).await;
}

/// The defect: a cancel that won the race after the carrier booked the shipment left a booked
/// shipment for a cancelled order. Compensation now calls it off.
#[tokio::test]
async fn a_cancel_after_the_carrier_booked_calls_the_shipment_off() {
    use crate::ports::Carrier;
    let mut w = World::new().await;
    let id = w.place("pm_card_visa").await;
    w.run_to(&id, awaits(&SHIP)).await;
    // ship-order booked, then lost the race to the cancel before its transition.
    w.memory.carrier.ship(&w.order(&id).await).await.unwrap();
    w.take(&id, SHIP.queue);
    w.cancel(&id).await.unwrap();
    w.run_until_quiet().await;
    assert_eq!(w.order(&id).await.status, OrderStatus::Cancelled);
    assert!(w.memory.carrier.shipments().is_empty(), "called off");
    w.check_invariants(&[id]).await;
}

/// The defect: the customer was told before the write, so a redelivery after a crash between the
/// two told them twice. The outcome is recorded first. Every outcome is told, once: completed and
/// rejected by notify-customer, payment failed and cancelled by compensation once it has given
/// everything back.
#[tokio::test]
async fn every_notice_goes_out_at_most_once_whatever_the_redeliveries() {
    let mut w = World::new().await;
    w.memory.store.seed_product(testing::product("p-1", 500, 4));
    let done = w.place("pm_card_visa").await;
    let declined = w.place("pm_card_visa_chargeDeclined").await;
    let cancelled = w.place("pm_card_visa").await;
    w.cancel(&cancelled).await.unwrap();
    w.run_until_quiet().await;
    w.memory.store.seed_product(testing::product("p-1", 500, 1));
    let rejected = w.place("pm_card_visa").await;
    w.run_until_quiet().await;
    let outcomes = [
        (
            &done,
            OrderStatus::Completed,
            OrderStatus::Shipped,
            NOTIFY.queue,
        ),
        (
            &rejected,
            OrderStatus::Rejected,
            OrderStatus::Rejected,
            NOTIFY.queue,
        ),
        (
            &declined,
            OrderStatus::PaymentFailed,
            OrderStatus::PaymentFailed,
            Queue::Compensation,
        ),
        (
            &cancelled,
            OrderStatus::Cancelled,
            OrderStatus::Cancelled,
            Queue::Compensation,
        ),
    ];
    for (id, outcome, announced, queue) in outcomes {
        assert_eq!(w.order(id).await.status, outcome);
        let message = Envelope::announcing(announced, (*id).clone(), "again", Utc::now()).unwrap();
        for _ in 0..3 {
            w.deliver(queue, &message).await.unwrap();
        }
    }
    let told = w.memory.notifier.told();
    assert_eq!(told.len(), 4, "{told:?}");
    for (id, says) in [
        (&done, "is on its way"),
        (&rejected, "out of stock"),
        (&declined, "was declined"),
        (&cancelled, "is cancelled"),
    ] {
        let about: Vec<_> = told.iter().filter(|(o, _)| o == id).collect();
        assert_eq!(about.len(), 1, "{id}: {told:?}");
        assert!(about[0].1.starts_with("c-1@example.com: "), "{about:?}");
        assert!(about[0].1.contains(says), "{about:?}");
    }
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
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        runtime.block_on(async {
            let mut w = World::new().await;
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
                    Event::Provider { up } => w.payments().set_down(!up),
                }
            }
            w.payments().set_down(false);
            w.run_until_quiet().await;
            w.check_invariants(&ids).await;
        });
    }
}
