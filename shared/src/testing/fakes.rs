//! In-memory implementations of the ports, for fast use-case and handler tests. They keep the
//! same contracts as the real adapters (conditional transitions, atomic insert + claim completion,
//! the idempotency rules of `crate::idempotency`, queues a function may not send to refused),
//! which the adapter tests against the emulator check on the real thing.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::auth::Email;
use crate::auth::keys::KeySet;
use crate::domain::{
    CustomerId, HistoryEntry, IdempotencyKey, Order, OrderId, OrderStatus, Product, ProductDraft,
    ProductId,
};
use crate::error::AppError;
use crate::idempotency::{KeyRecord, LEASE, RETENTION, decide};
use crate::messages::Envelope;
use crate::pipeline::Queue;
use crate::ports::{
    Catalog, Charge, ClaimOutcome, Clock, DeadLetter, DeadLetters, Hits, IdempotencyClaim,
    IdempotencyStore, Inventory, KeyStore, Notice, Notifier, OrderCursor, OrderRepository, Page,
    Payments, Probe, Queues, RateCounter, Reservation, Settlement, StatusCursor, StatusQuery, User,
    UserRepository,
};

#[derive(Debug, Clone)]
struct Claim {
    record: KeyRecord,
    /// The holder's token while it is in progress.
    token: Option<String>,
}

#[derive(Default)]
struct State {
    orders: BTreeMap<OrderId, Order>,
    history: BTreeMap<OrderId, Vec<HistoryEntry>>,
    products: BTreeMap<ProductId, Product>,
    claims: BTreeMap<String, Claim>,
    accounts: BTreeMap<String, User>,
    hits: BTreeMap<String, u64>,
    keys: KeySet,
    dead_letters: BTreeMap<(String, String), DeadLetter>,
}

/// Orders, history, catalog and idempotency records in one lock, like one DynamoDB account.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds or replaces a product directly, for test setup.
    pub fn seed_product(&self, product: Product) {
        self.lock().products.insert(product.id.clone(), product);
    }

    pub fn order_count(&self) -> usize {
        self.lock().orders.len()
    }
}

/// The first `limit` of `rest`, and where the next page starts if anything is left.
fn page<T: Clone, C>(rest: &[&T], limit: u16, cursor: impl Fn(&T) -> C) -> Page<T, C> {
    let items: Vec<T> = rest
        .iter()
        .take(usize::from(limit))
        .map(|item| (*item).clone())
        .collect();
    let next = (rest.len() > items.len())
        .then(|| items.last().map(&cursor))
        .flatten();
    Page { items, next }
}

#[async_trait]
impl OrderRepository for MemoryStore {
    async fn insert(
        &self,
        order: &Order,
        claim: Option<&IdempotencyClaim>,
    ) -> Result<(), AppError> {
        let mut state = self.lock();
        if state.orders.contains_key(&order.id) {
            return Err(AppError::internal("order insert", "the order id exists"));
        }
        if let Some(claim) = claim {
            let held = state
                .claims
                .get_mut(&claim.scoped_key)
                .filter(|held| held.token.as_deref() == Some(claim.token.as_str()))
                .ok_or(AppError::KeyTakenOver)?;
            held.token = None;
            held.record.order_id = Some(order.id.clone());
        }
        state.orders.insert(order.id.clone(), order.clone());
        state
            .history
            .insert(order.id.clone(), vec![order.created_entry()]);
        Ok(())
    }

    async fn get(&self, id: &OrderId) -> Result<Option<Order>, AppError> {
        Ok(self.lock().orders.get(id).cloned())
    }

    async fn list_for_customer(
        &self,
        customer: &CustomerId,
        limit: u16,
        after: Option<&OrderCursor>,
    ) -> Result<Page<Order, OrderCursor>, AppError> {
        let state = self.lock();
        let mut mine: Vec<&Order> = state
            .orders
            .values()
            .filter(|o| &o.customer_id == customer)
            .collect();
        mine.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
        let start = match after {
            None => 0,
            Some(c) => mine
                .iter()
                .position(|o| (o.created_at, &o.id) < (c.created_at, &c.id))
                .unwrap_or(mine.len()),
        };
        Ok(page(&mine[start..], limit, OrderCursor::after))
    }

    async fn list_by_status(
        &self,
        query: StatusQuery,
        limit: u16,
        after: Option<&StatusCursor>,
    ) -> Result<Page<Order, StatusCursor>, AppError> {
        let state = self.lock();
        let mut selected: Vec<&Order> = state
            .orders
            .values()
            .filter(|o| query.selects(o))
            .filter(|o| after.is_none_or(|c| (o.updated_at, &o.id) < (c.updated_at, &c.id)))
            .collect();
        selected.sort_by(|a, b| (b.updated_at, &b.id).cmp(&(a.updated_at, &a.id)));
        Ok(page(&selected, limit, StatusCursor::after))
    }

    async fn apply(
        &self,
        current: &Order,
        next: &Order,
        entry: &HistoryEntry,
    ) -> Result<(), AppError> {
        let mut state = self.lock();
        match state.orders.get(&current.id) {
            Some(stored)
                if stored.version == current.version && stored.status == current.status => {}
            _ => return Err(AppError::StaleVersion("order")),
        }
        state.orders.insert(next.id.clone(), next.clone());
        state
            .history
            .entry(next.id.clone())
            .or_default()
            .push(entry.clone());
        Ok(())
    }

    async fn history(&self, id: &OrderId) -> Result<Vec<HistoryEntry>, AppError> {
        Ok(self.lock().history.get(id).cloned().unwrap_or_default())
    }

    async fn update(&self, current: &Order, next: &Order) -> Result<(), AppError> {
        let mut state = self.lock();
        match state.orders.get(&current.id) {
            Some(stored) if stored.version == current.version => {}
            _ => return Err(AppError::StaleVersion("order")),
        }
        state.orders.insert(next.id.clone(), next.clone());
        Ok(())
    }

    async fn owing_compensation(&self) -> Result<Vec<Order>, AppError> {
        Ok(self
            .lock()
            .orders
            .values()
            .filter(|o| o.owes_compensation())
            .cloned()
            .collect())
    }

    async fn changed_between(
        &self,
        status: OrderStatus,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Order>, AppError> {
        Ok(self
            .lock()
            .orders
            .values()
            .filter(|o| o.status == status && o.updated_at >= from && o.updated_at < to)
            .cloned()
            .collect())
    }
}

#[async_trait]
impl DeadLetters for MemoryStore {
    async fn keep(&self, letter: &DeadLetter) -> Result<(), AppError> {
        self.lock().dead_letters.insert(
            (letter.queue.clone(), letter.message_id.clone()),
            letter.clone(),
        );
        Ok(())
    }

    async fn list(&self, queue: &str) -> Result<Vec<DeadLetter>, AppError> {
        Ok(self
            .lock()
            .dead_letters
            .values()
            .filter(|l| l.queue == queue)
            .cloned()
            .collect())
    }
}

impl MemoryStore {
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.lock().dead_letters.values().cloned().collect()
    }
}

#[async_trait]
impl IdempotencyStore for MemoryStore {
    async fn claim(
        &self,
        customer: &CustomerId,
        key: &IdempotencyKey,
        request_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<ClaimOutcome, AppError> {
        let scoped_key = format!("{customer}#{key}");
        let mut state = self.lock();
        let held = state.claims.get(&scoped_key).map(|c| &c.record);
        if let Some(found) = decide(held, request_hash, now.timestamp()).found() {
            return Ok(found);
        }
        let token = uuid::Uuid::new_v4().to_string();
        state.claims.insert(
            scoped_key.clone(),
            Claim {
                record: KeyRecord {
                    request_hash: request_hash.into(),
                    order_id: None,
                    lease_until: (now + LEASE).timestamp(),
                    expires_at: (now + RETENTION).timestamp(),
                },
                token: Some(token.clone()),
            },
        );
        Ok(ClaimOutcome::Acquired(IdempotencyClaim {
            scoped_key,
            token,
        }))
    }

    async fn release(&self, claim: &IdempotencyClaim) -> Result<(), AppError> {
        let mut state = self.lock();
        if state
            .claims
            .get(&claim.scoped_key)
            .is_some_and(|held| held.token.as_deref() == Some(claim.token.as_str()))
        {
            state.claims.remove(&claim.scoped_key);
        }
        Ok(())
    }
}

#[async_trait]
impl Catalog for MemoryStore {
    async fn get(&self, id: &ProductId) -> Result<Option<Product>, AppError> {
        Ok(self.lock().products.get(id).cloned())
    }

    async fn get_many(&self, ids: &[ProductId]) -> Result<Vec<Product>, AppError> {
        let state = self.lock();
        Ok(ids
            .iter()
            .filter_map(|id| state.products.get(id).cloned())
            .collect())
    }

    async fn list(
        &self,
        limit: u16,
        after: Option<&ProductId>,
    ) -> Result<Page<Product, ProductId>, AppError> {
        let state = self.lock();
        let rest: Vec<&Product> = state
            .products
            .values()
            .filter(|p| after.is_none_or(|a| &p.id > a))
            .collect();
        Ok(page(&rest, limit, |p| p.id.clone()))
    }

    async fn put(
        &self,
        draft: &ProductDraft,
        replaces: Option<u64>,
        now: DateTime<Utc>,
    ) -> Result<(Product, bool), AppError> {
        let mut state = self.lock();
        let current = state.products.get(&draft.id).map(|p| p.version);
        match (current, replaces) {
            (Some(_), None) => return Err(AppError::PreconditionRequired("product")),
            (Some(v), Some(expected)) if v != expected => {
                return Err(AppError::PreconditionFailed("product"));
            }
            (None, Some(_)) => return Err(AppError::PreconditionFailed("product")),
            _ => {}
        }
        let version = current.unwrap_or(0) + 1;
        let product = Product {
            id: draft.id.clone(),
            name: draft.name.clone(),
            unit_price: draft.unit_price,
            available: draft.available,
            version,
            updated_at: now,
        };
        state.products.insert(draft.id.clone(), product.clone());
        Ok((product, version == 1))
    }
}

/// What was sent to one queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub queue: Queue,
    pub message: Envelope,
    pub delay: std::time::Duration,
}

/// What a consumer moved to its dead-letter queue itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantined {
    pub queue: Queue,
    pub body: String,
    pub problem: String,
}

/// Every queue of the pipeline in memory: records what was sent where, and can be told to fail,
/// to test lost-enqueue recovery. Each function gets a [`ScopedQueues`] view of it.
#[derive(Default)]
pub struct RecordingQueues {
    sent: Mutex<Vec<Sent>>,
    quarantined: Mutex<Vec<Quarantined>>,
    failing: Mutex<bool>,
}

impl RecordingQueues {
    /// What was sent so far, oldest first.
    pub fn sent(&self) -> Vec<Sent> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The messages sent to `queue` so far.
    pub fn sent_to(&self, queue: Queue) -> Vec<Envelope> {
        self.sent()
            .into_iter()
            .filter(|s| s.queue == queue)
            .map(|s| s.message)
            .collect()
    }

    /// Takes what was sent so far, like consumers receiving from the queues.
    pub fn take(&self) -> Vec<Sent> {
        self.sent
            .lock()
            .map(|mut s| std::mem::take(&mut *s))
            .unwrap_or_default()
    }

    pub fn quarantined(&self) -> Vec<Quarantined> {
        self.quarantined
            .lock()
            .map(|q| q.clone())
            .unwrap_or_default()
    }

    /// Takes what was dead-lettered so far, like the dead-letter function receiving it.
    pub fn take_quarantined(&self) -> Vec<Quarantined> {
        self.quarantined
            .lock()
            .map(|mut q| std::mem::take(&mut *q))
            .unwrap_or_default()
    }

    pub fn fail(&self, failing: bool) {
        if let Ok(mut f) = self.failing.lock() {
            *f = failing;
        }
    }

    fn check_up(&self) -> Result<(), AppError> {
        if self.failing.lock().map(|f| *f).unwrap_or(false) {
            return Err(AppError::dependency(
                "queue send",
                "queue unavailable (test)",
            ));
        }
        Ok(())
    }
}

/// One function's view of the queues: like its SQS adapter, it may send only to the queues it
/// was wired with and dead-letter only its own.
pub struct ScopedQueues {
    pub all: std::sync::Arc<RecordingQueues>,
    pub sends_to: Vec<Queue>,
    pub consumes: Option<Queue>,
}

#[async_trait]
impl Queues for ScopedQueues {
    async fn send(&self, message: &Envelope, delay: std::time::Duration) -> Result<(), AppError> {
        let queue = message
            .queue
            .filter(|q| self.sends_to.contains(q))
            .ok_or_else(|| {
                AppError::internal(
                    "queue configuration",
                    format!("this function may not send to {:?}", message.queue),
                )
            })?;
        self.all.check_up()?;
        if let Ok(mut sent) = self.all.sent.lock() {
            sent.push(Sent {
                queue,
                message: message.clone(),
                delay,
            });
        }
        Ok(())
    }

    async fn dead_letter(&self, queue: Queue, body: &str, problem: &str) -> Result<(), AppError> {
        if self.consumes != Some(queue) {
            return Err(AppError::internal(
                "queue configuration",
                format!("this function may not dead-letter {queue}"),
            ));
        }
        self.all.check_up()?;
        if let Ok(mut quarantined) = self.all.quarantined.lock() {
            quarantined.push(Quarantined {
                queue,
                body: body.into(),
                problem: problem.into(),
            });
        }
        Ok(())
    }
}

/// A carrier that keeps its bookings: shipments booked, and the ones called off.
#[derive(Default)]
pub struct RecordingCarrier {
    booked: Mutex<BTreeMap<OrderId, bool>>,
}

impl RecordingCarrier {
    /// Orders with a booked shipment that was not cancelled.
    pub fn shipments(&self) -> Vec<OrderId> {
        let booked = self.booked.lock().unwrap_or_else(|p| p.into_inner());
        booked
            .iter()
            .filter(|(_, live)| **live)
            .map(|(id, _)| id.clone())
            .collect()
    }
}

#[async_trait]
impl crate::ports::Carrier for RecordingCarrier {
    async fn ship(&self, order: &Order) -> Result<String, AppError> {
        let tracking = crate::adapters::carrier::BuiltInCarrier.ship(order).await?;
        let mut booked = self.booked.lock().unwrap_or_else(|p| p.into_inner());
        booked.insert(order.id.clone(), true);
        Ok(tracking)
    }

    async fn cancel(&self, order: &Order) -> Result<(), AppError> {
        let mut booked = self.booked.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(live) = booked.get_mut(&order.id) {
            *live = false;
        }
        Ok(())
    }
}

/// What customers were told.
#[derive(Default)]
pub struct RecordingNotifier {
    told: Mutex<Vec<(OrderId, String)>>,
}

impl RecordingNotifier {
    /// Each notice sent: the order and `to: subject: text`.
    pub fn told(&self) -> Vec<(OrderId, String)> {
        self.told.lock().map(|t| t.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl Notifier for RecordingNotifier {
    async fn notify(&self, to: &Email, order: &Order, notice: &Notice) -> Result<(), AppError> {
        if let Ok(mut told) = self.told.lock() {
            let line = format!("{to}: {}: {}", notice.subject, notice.text);
            told.push((order.id.clone(), line));
        }
        Ok(())
    }
}

/// A clock that stands still until a test moves it.
pub struct FixedClock(Mutex<DateTime<Utc>>);

impl FixedClock {
    pub fn new(at: DateTime<Utc>) -> Self {
        Self(Mutex::new(at))
    }

    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = at;
    }

    pub fn advance(&self, by: chrono::Duration) {
        let mut now = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *now += by;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A flag store holding one document, counting its reads; unreadable until given one if built so.
#[derive(Default)]
pub struct FakeFlags {
    document: Mutex<Option<String>>,
    reads: std::sync::atomic::AtomicUsize,
}

impl FakeFlags {
    pub fn with(document: &str) -> Self {
        let flags = Self::default();
        flags.set(document);
        flags
    }

    pub fn unreadable() -> Self {
        Self::default()
    }

    pub fn set(&self, document: &str) {
        *self.document.lock().unwrap() = Some(document.to_string());
    }

    pub fn reads(&self) -> usize {
        self.reads.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[async_trait]
impl crate::ports::FlagSource for FakeFlags {
    async fn fetch(&self) -> Result<String, AppError> {
        self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.document
            .lock()
            .unwrap()
            .clone()
            .ok_or(AppError::Unavailable("flag store"))
    }
}

/// A probe that answers as told.
pub struct StaticProbe {
    pub name: &'static str,
    pub healthy: bool,
}

#[async_trait]
impl Probe for StaticProbe {
    fn name(&self) -> &str {
        self.name
    }

    async fn check(&self) -> Result<(), AppError> {
        if self.healthy {
            Ok(())
        } else {
            Err(AppError::dependency(self.name, "down (test)"))
        }
    }
}

#[async_trait]
impl UserRepository for MemoryStore {
    async fn create(&self, user: &User) -> Result<bool, AppError> {
        let mut state = self.lock();
        if state.accounts.contains_key(user.email.as_str()) {
            return Ok(false);
        }
        state.accounts.insert(user.email.to_string(), user.clone());
        Ok(true)
    }

    async fn find(&self, email: &Email) -> Result<Option<User>, AppError> {
        Ok(self.lock().accounts.get(email.as_str()).cloned())
    }

    async fn email_of(&self, id: &CustomerId) -> Result<Option<Email>, AppError> {
        Ok(self
            .lock()
            .accounts
            .values()
            .find(|u| u.id == id.as_str())
            .map(|u| u.email.clone()))
    }
}

#[async_trait]
impl KeyStore for MemoryStore {
    async fn load(&self) -> Result<KeySet, AppError> {
        Ok(self.lock().keys.clone())
    }

    async fn save(&self, keys: &KeySet) -> Result<(), AppError> {
        self.lock().keys = keys.clone();
        Ok(())
    }
}

#[async_trait]
impl RateCounter for MemoryStore {
    async fn add(
        &self,
        subject: &str,
        hits: u64,
        window: i64,
        length: i64,
        _expires_at: DateTime<Utc>,
    ) -> Result<Hits, AppError> {
        let mut state = self.lock();
        let current = state.hits.entry(format!("{subject}#{window}")).or_insert(0);
        *current += hits;
        let current = *current;
        let previous = state
            .hits
            .get(&format!("{subject}#{}", window - length))
            .copied()
            .unwrap_or(0);
        Ok(Hits { current, previous })
    }
}

#[async_trait]
impl Inventory for MemoryStore {
    async fn reserve(
        &self,
        current: &Order,
        next: &Order,
        entry: &HistoryEntry,
    ) -> Result<Reservation, AppError> {
        let mut state = self.lock();
        match state.orders.get(&current.id) {
            Some(stored)
                if stored.version == current.version && stored.status == current.status => {}
            _ => return Err(AppError::StaleVersion("order")),
        }
        for item in &current.items {
            let available = state
                .products
                .get(&item.product_id)
                .map_or(0, |p| p.available);
            if available < item.quantity.get() {
                return Ok(Reservation::OutOfStock(item.product_id.clone()));
            }
        }
        for item in &current.items {
            if let Some(product) = state.products.get_mut(&item.product_id) {
                product.available -= item.quantity.get();
                product.version += 1;
            }
        }
        state.orders.insert(next.id.clone(), next.clone());
        state
            .history
            .entry(next.id.clone())
            .or_default()
            .push(entry.clone());
        Ok(Reservation::Reserved)
    }

    async fn release(&self, current: &Order, next: &Order) -> Result<(), AppError> {
        let mut state = self.lock();
        match state.orders.get(&current.id) {
            Some(stored) if stored.version == current.version && stored.stock_held => {}
            _ => return Err(AppError::StaleVersion("order")),
        }
        for item in &current.items {
            if let Some(product) = state.products.get_mut(&item.product_id) {
                product.available += item.quantity.get();
                product.version += 1;
            }
        }
        state.orders.insert(next.id.clone(), next.clone());
        Ok(())
    }
}

/// A payment provider with Stripe's PaymentIntent rules: an intent charges at most once, a
/// declining card (`pm_card_visa_chargeDeclined`) declines, a refund is made once. It does *not*
/// honour idempotency keys (neither does localstripe), so a step that creates two intents for
/// one order is caught by [`FakePayments::charges`]. Can be taken down, to test outages.
#[derive(Default)]
pub struct FakePayments {
    state: Mutex<FakePaymentsState>,
}

#[derive(Default)]
struct FakePaymentsState {
    intents: BTreeMap<String, FakeIntent>,
    down: bool,
    /// How long each call takes (tokio time, so a paused test clock skips it).
    latency: std::time::Duration,
}

struct FakeIntent {
    order: OrderId,
    declines: bool,
    status: FakeIntentStatus,
    refunds: u32,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FakeIntentStatus {
    Unconfirmed,
    Succeeded,
    Declined,
    Cancelled,
}

impl FakePayments {
    fn lock(&self) -> Result<MutexGuard<'_, FakePaymentsState>, AppError> {
        let state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if state.down {
            return Err(AppError::Unavailable("payment provider"));
        }
        Ok(state)
    }

    /// Makes every call take `latency`.
    pub fn set_latency(&self, latency: std::time::Duration) {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .latency = latency;
    }

    async fn wait(&self) {
        let latency = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .latency;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
    }

    pub fn set_down(&self, down: bool) {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .down = down;
    }

    fn count(&self, order: &OrderId, what: impl Fn(&FakeIntent) -> u32) -> u32 {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .intents
            .values()
            .filter(|i| &i.order == order)
            .map(what)
            .sum()
    }

    /// Successful charges taken for the order.
    pub fn charges(&self, order: &OrderId) -> u32 {
        self.count(order, |i| {
            u32::from(i.status == FakeIntentStatus::Succeeded)
        })
    }

    /// Refunds made for the order.
    pub fn refunds(&self, order: &OrderId) -> u32 {
        self.count(order, |i| i.refunds)
    }
}

fn intent<'a>(state: &'a mut FakePaymentsState, id: &str) -> Result<&'a mut FakeIntent, AppError> {
    state
        .intents
        .get_mut(id)
        .ok_or_else(|| AppError::dependency("payment", format!("no intent {id}")))
}

#[async_trait]
impl Payments for FakePayments {
    async fn start(&self, order: &Order) -> Result<String, AppError> {
        self.wait().await;
        let mut state = self.lock()?;
        if order.payment_method.as_str() == "pm_unknown" {
            return Err(AppError::Rejected {
                what: "payment creation",
                reason: "No such PaymentMethod: 'pm_unknown'".into(),
            });
        }
        let id = format!("pi_{}", state.intents.len() + 1);
        let declines = order.payment_method.as_str() == "pm_card_visa_chargeDeclined";
        state.intents.insert(
            id.clone(),
            FakeIntent {
                order: order.id.clone(),
                declines,
                status: FakeIntentStatus::Unconfirmed,
                refunds: 0,
            },
        );
        Ok(id)
    }

    async fn confirm(&self, _order: &Order, intent_id: &str) -> Result<Charge, AppError> {
        self.wait().await;
        let mut state = self.lock()?;
        let intent = intent(&mut state, intent_id)?;
        if intent.status == FakeIntentStatus::Unconfirmed {
            intent.status = if intent.declines {
                FakeIntentStatus::Declined
            } else {
                FakeIntentStatus::Succeeded
            };
        }
        Ok(match intent.status {
            FakeIntentStatus::Succeeded => Charge::Charged,
            FakeIntentStatus::Cancelled => Charge::Declined("the payment was cancelled".into()),
            _ => Charge::Declined("Your card was declined.".into()),
        })
    }

    async fn settle(&self, intent_id: &str) -> Result<Settlement, AppError> {
        self.wait().await;
        let mut state = self.lock()?;
        let intent = intent(&mut state, intent_id)?;
        match intent.status {
            FakeIntentStatus::Succeeded => {
                intent.refunds = 1;
                Ok(Settlement::Refunded(format!("re_{intent_id}")))
            }
            _ => {
                intent.status = FakeIntentStatus::Cancelled;
                Ok(Settlement::Voided)
            }
        }
    }

    async fn abandon(&self, intent_id: &str) -> Result<(), AppError> {
        self.wait().await;
        let mut state = self.lock()?;
        let intent = intent(&mut state, intent_id)?;
        if intent.status == FakeIntentStatus::Unconfirmed {
            intent.status = FakeIntentStatus::Cancelled;
        }
        Ok(())
    }
}
