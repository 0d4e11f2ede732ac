//! Fakes, fixtures and event builders for tests, behind `cfg(test)` or the `testing` feature,
//! which no Lambda enables (function crates take it as a dev-dependency only).
//!
//! [`Memory`] is the in-memory wiring source: every port on one [`MemoryStore`], a fake payment
//! provider, recorded queues and notices, a clock that moves when told. A use case or handler is
//! built from it with the same `Wire::wire` the Lambdas use.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)]

mod events;
mod fakes;
mod fixtures;
mod logs;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

pub use events::{
    context, order_of, path_id, request_from_event, sqs_event, with_body, with_principal,
    with_record,
};
pub use fakes::{
    FakeFlags, FakePayments, FixedClock, MemoryStore, Quarantined, RecordingCarrier,
    RecordingNotifier, RecordingQueues, ScopedQueues, Sent, StaticProbe,
};
pub use fixtures::{advance, advance_to, customer_account, order, product, stored_order};
pub use logs::LogCapture;

use crate::config::ConfigError;
use crate::pipeline::Queue;
use crate::ports::{
    Carrier, Catalog, Clock, DeadLetters, IdempotencyStore, Inventory, KeyStore, Notifier,
    OrderRepository, Payments, Probe, Queues, RateCounter, UserRepository,
};
use crate::sqs::Consume;
use crate::wiring::{Wire, Wiring};

/// A memory holding the order a route's sample event names (its `id` path parameter), placed by
/// `customer` and moved on to `status`.
pub async fn with_sample_order(
    event: &str,
    customer: &str,
    status: crate::domain::OrderStatus,
) -> Memory {
    let memory = Memory::new();
    let id = path_id(event);
    memory
        .store
        .insert(&order(id.clone(), customer, chrono::Utc::now()), None)
        .await
        .unwrap();
    advance_to(&memory.store, &id, status).await;
    memory
}

/// What a step function's sample-event test looks at after the deliveries.
pub struct Sample {
    pub memory: Memory,
    /// The order the sample event names.
    pub id: crate::domain::OrderId,
}

impl Sample {
    pub async fn order(&self) -> crate::domain::Order {
        OrderRepository::get(self.memory.store.as_ref(), &self.id)
            .await
            .unwrap()
            .unwrap()
    }
}

/// A step function's sample event (`events/<function>.json`) delivered `times` times to consumer
/// `C`, for the order it names stored in `status`, or in the status the consumer's first row
/// awaits; every delivery must succeed.
pub async fn sample<C: Consume + Wire>(
    event: &str,
    status: Option<crate::domain::OrderStatus>,
    times: usize,
) -> Sample {
    let memory = Memory::new();
    let event = sqs_event(event);
    let id = order_of(&event);
    let consumer = C::wire(&memory).await.unwrap().consumer();
    let awaits = crate::pipeline::steps_of(consumer).next().unwrap().awaits;
    stored_order(&memory.store, &id, status.unwrap_or(awaits)).await;
    for _ in 0..times {
        let response = deliver::<C>(&memory, event.clone()).await;
        assert!(response.batch_item_failures.is_empty(), "{response:?}");
    }
    Sample { memory, id }
}

/// Wires consumer `C` from `memory` and runs `event` through it as Lambda would, with a deadline
/// a minute away.
pub async fn deliver<C: Consume + Wire>(
    memory: &Memory,
    event: aws_lambda_events::sqs::SqsEvent,
) -> aws_lambda_events::sqs::SqsBatchResponse {
    let consumer = C::wire(memory).await.unwrap();
    let context = context(std::time::Duration::from_secs(60));
    crate::sqs::consume(&consumer, &context, event).await
}

/// Everything in memory.
pub struct Memory {
    pub store: Arc<MemoryStore>,
    pub payments: Arc<FakePayments>,
    pub queues: Arc<RecordingQueues>,
    pub notifier: Arc<RecordingNotifier>,
    pub carrier: Arc<RecordingCarrier>,
    pub clock: Arc<FixedClock>,
    /// The flag document; the defaults (`{}`) unless a test sets another.
    pub flags: Arc<FakeFlags>,
    settings: Mutex<BTreeMap<&'static str, String>>,
}

impl Default for Memory {
    fn default() -> Self {
        Self {
            store: Arc::new(MemoryStore::new()),
            payments: Arc::new(FakePayments::default()),
            queues: Arc::new(RecordingQueues::default()),
            notifier: Arc::new(RecordingNotifier::default()),
            carrier: Arc::new(RecordingCarrier::default()),
            clock: Arc::new(FixedClock::new(chrono::Utc::now())),
            flags: Arc::new(FakeFlags::with("{}")),
            settings: Mutex::new(BTreeMap::new()),
        }
    }
}

impl Memory {
    pub fn new() -> Self {
        Self::default()
    }

    /// Overrides a setting (`RATE_LIMIT_PER_MINUTE`, ...).
    pub fn set(&self, name: &'static str, value: &str) {
        self.settings.lock().unwrap().insert(name, value.into());
    }
}

impl Wiring for Memory {
    fn orders(&self) -> Result<Arc<dyn OrderRepository>, ConfigError> {
        Ok(self.store.clone())
    }
    fn inventory(&self) -> Result<Arc<dyn Inventory>, ConfigError> {
        Ok(self.store.clone())
    }
    fn catalog(&self) -> Result<Arc<dyn Catalog>, ConfigError> {
        Ok(self.store.clone())
    }
    fn idempotency(&self) -> Result<Arc<dyn IdempotencyStore>, ConfigError> {
        Ok(self.store.clone())
    }
    fn users(&self) -> Result<Arc<dyn UserRepository>, ConfigError> {
        Ok(self.store.clone())
    }
    fn dead_letters(&self) -> Result<Arc<dyn DeadLetters>, ConfigError> {
        Ok(self.store.clone())
    }
    fn key_store(&self) -> Result<Arc<dyn KeyStore>, ConfigError> {
        Ok(self.store.clone())
    }
    fn rate_counter(&self) -> Result<Arc<dyn RateCounter>, ConfigError> {
        Ok(self.store.clone())
    }
    fn queues(
        &self,
        sends_to: &[Queue],
        consumes: Option<Queue>,
    ) -> Result<Arc<dyn Queues>, ConfigError> {
        Ok(Arc::new(ScopedQueues {
            all: self.queues.clone(),
            sends_to: sends_to.to_vec(),
            consumes,
        }))
    }
    fn payments(&self) -> Result<Arc<dyn Payments>, ConfigError> {
        Ok(self.payments.clone())
    }
    fn carrier(&self) -> Arc<dyn Carrier> {
        self.carrier.clone()
    }
    fn notifier(&self) -> Result<Arc<dyn Notifier>, ConfigError> {
        Ok(self.notifier.clone())
    }
    fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }
    fn flags(&self) -> Result<Arc<crate::flags::LiveFlags>, ConfigError> {
        let ttl = self.number("FLAGS_TTL_SECONDS", 30)?;
        Ok(Arc::new(crate::flags::LiveFlags::new(
            self.flags.clone(),
            self.clock.clone(),
            std::time::Duration::from_secs(ttl),
        )))
    }
    fn probes(&self) -> Result<Vec<Box<dyn Probe>>, ConfigError> {
        Ok(["orders", "products", "idempotency"]
            .into_iter()
            .map(|name| {
                Box::new(StaticProbe {
                    name,
                    healthy: true,
                }) as Box<dyn Probe>
            })
            .collect())
    }
    fn setting(&self, name: &'static str, default: &str) -> String {
        self.settings
            .lock()
            .unwrap()
            .get(name)
            .cloned()
            .unwrap_or_else(|| default.to_string())
    }
}
