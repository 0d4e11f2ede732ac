//! In-memory implementations of the ports, for fast use-case and handler tests. They keep the
//! same contracts as the DynamoDB adapters (conditional transitions, atomic insert + claim
//! completion), which the adapter tests against the emulator check on the real thing.

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
use crate::messages::Envelope;
use crate::ports::{
    Account, Catalog, Charge, ClaimOutcome, Clock, DeadLetter, DeadLetters, IdempotencyClaim,
    IdempotencyStore, Inventory, KeyStore, OrderCursor, OrderEvents, OrderRepository, Page,
    Payments, Probe, RateCounter, Reservation, Settlement, User, UserRepository,
};

#[derive(Debug, Clone)]
struct Claim {
    request_hash: String,
    token: Option<String>,
    order_id: Option<OrderId>,
}

#[derive(Default)]
struct State {
    orders: BTreeMap<OrderId, Order>,
    history: BTreeMap<OrderId, Vec<HistoryEntry>>,
    products: BTreeMap<ProductId, Product>,
    claims: BTreeMap<String, Claim>,
    accounts: BTreeMap<String, Account>,
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

#[async_trait]
impl OrderRepository for MemoryStore {
    async fn insert(
        &self,
        order: &Order,
        claim: Option<&IdempotencyClaim>,
    ) -> Result<(), AppError> {
        let mut state = self.lock();
        if state.orders.contains_key(&order.id) {
            return Err(AppError::Conflict("order exists".into()));
        }
        if let Some(claim) = claim {
            let held = state
                .claims
                .get_mut(&claim.scoped_key)
                .filter(|held| held.token.as_deref() == Some(claim.token.as_str()))
                .ok_or_else(|| AppError::Conflict("idempotency claim was taken over".into()))?;
            held.token = None;
            held.order_id = Some(order.id.clone());
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
        let rest = &mine[start..];
        let items: Vec<Order> = rest
            .iter()
            .take(usize::from(limit))
            .map(|o| (*o).clone())
            .collect();
        let next = (rest.len() > items.len())
            .then(|| items.last())
            .flatten()
            .map(|o| OrderCursor {
                created_at: o.created_at,
                id: o.id.clone(),
            });
        Ok(Page { items, next })
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
        _now: DateTime<Utc>,
    ) -> Result<ClaimOutcome, AppError> {
        let scoped_key = format!("{customer}#{key}");
        let mut state = self.lock();
        if let Some(held) = state.claims.get(&scoped_key) {
            return Ok(match &held.order_id {
                Some(order_id) => ClaimOutcome::Completed {
                    request_hash: held.request_hash.clone(),
                    order_id: order_id.clone(),
                },
                None => ClaimOutcome::InProgress {
                    request_hash: held.request_hash.clone(),
                },
            });
        }
        let token = uuid::Uuid::new_v4().to_string();
        state.claims.insert(
            scoped_key.clone(),
            Claim {
                request_hash: request_hash.into(),
                token: Some(token.clone()),
                order_id: None,
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
        let items: Vec<Product> = rest
            .iter()
            .take(usize::from(limit))
            .map(|p| (*p).clone())
            .collect();
        let next = (rest.len() > items.len())
            .then(|| items.last().map(|p| p.id.clone()))
            .flatten();
        Ok(Page { items, next })
    }

    async fn put(
        &self,
        draft: &ProductDraft,
        now: DateTime<Utc>,
    ) -> Result<(Product, bool), AppError> {
        let mut state = self.lock();
        let version = state.products.get(&draft.id).map_or(0, |p| p.version) + 1;
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

/// Records what was published; can be told to fail, to test lost-enqueue recovery.
#[derive(Default)]
pub struct RecordingEvents {
    sent: Mutex<Vec<Envelope>>,
    failing: Mutex<bool>,
}

impl RecordingEvents {
    pub fn sent(&self) -> Vec<Envelope> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub fn fail(&self, failing: bool) {
        if let Ok(mut f) = self.failing.lock() {
            *f = failing;
        }
    }

    /// Takes what was published so far, like a consumer receiving from the queue.
    pub fn take(&self) -> Vec<Envelope> {
        self.sent
            .lock()
            .map(|mut s| std::mem::take(&mut *s))
            .unwrap_or_default()
    }
}

#[async_trait]
impl OrderEvents for RecordingEvents {
    async fn publish(&self, message: &Envelope) -> Result<(), AppError> {
        if self.failing.lock().map(|f| *f).unwrap_or(false) {
            return Err(AppError::dependency(
                "queue send",
                "queue unavailable (test)",
            ));
        }
        if let Ok(mut sent) = self.sent.lock() {
            sent.push(message.clone());
        }
        Ok(())
    }
}

/// A clock that stands still.
pub struct FixedClock(DateTime<Utc>);

impl FixedClock {
    pub fn new(at: DateTime<Utc>) -> Self {
        Self(at)
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
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

/// A product priced in EUR, for test setup.
pub fn product(id: &str, amount: i64, available: u32) -> Product {
    Product {
        id: ProductId::parse(id).unwrap_or_else(|_| panic!("test product id {id:?}")),
        name: format!("Product {id}"),
        unit_price: crate::domain::Money::new(
            amount,
            crate::domain::Currency::parse("EUR").unwrap_or_else(|_| unreachable!()),
        )
        .unwrap_or_else(|_| panic!("test price {amount}")),
        available,
        version: 1,
        updated_at: Utc::now(),
    }
}

/// Parses an API Gateway event file (as in `events/`) into a request, for handler tests.
pub fn request_from_event(json: &str) -> lambda_http::Request {
    lambda_http::request::from_str(json)
        .unwrap_or_else(|e| panic!("sample event does not parse: {e}"))
}

/// Replaces an event's authorizer context (`None` removes it), for identity tests.
pub fn with_principal(
    mut request: lambda_http::Request,
    principal: Option<(&str, &str)>,
) -> lambda_http::Request {
    use lambda_http::RequestExt;
    use lambda_http::request::RequestContext;
    let Some(RequestContext::ApiGatewayV1(mut ctx)) = request.request_context_ref().cloned() else {
        panic!("not a REST API event");
    };
    ctx.authorizer.fields.clear();
    if let Some((id, role)) = principal {
        ctx.authorizer
            .fields
            .insert("principalId".into(), id.into());
        ctx.authorizer.fields.insert("role".into(), role.into());
    }
    request = request.with_request_context(RequestContext::ApiGatewayV1(ctx));
    request
}

/// A `PENDING` order of one line (2 × 5.00 EUR), for test setup.
pub fn order(id: OrderId, customer: &str, created_at: DateTime<Utc>) -> Order {
    let product = product("p-1", 500, 5);
    Order::place(
        id,
        CustomerId::parse(customer).unwrap_or_else(|_| panic!("test customer {customer:?}")),
        vec![crate::domain::OrderItem {
            product_id: product.id,
            quantity: crate::domain::Quantity::new(2).unwrap_or_else(|_| unreachable!()),
            unit_price: product.unit_price,
        }],
        crate::domain::ShippingAddress {
            name: "Ada Lovelace".into(),
            line1: "1 Main St".into(),
            line2: None,
            city: "London".into(),
            postal_code: "N1 1AA".into(),
            country: "GB".into(),
        },
        crate::domain::PaymentMethod::parse("pm_card_visa").unwrap_or_else(|_| unreachable!()),
        created_at,
    )
    .unwrap_or_else(|e| panic!("test order: {e}"))
}

#[async_trait]
impl UserRepository for MemoryStore {
    async fn create(&self, user: &User) -> Result<bool, AppError> {
        let mut state = self.lock();
        if state.accounts.contains_key(user.email.as_str()) {
            return Ok(false);
        }
        let account = Account {
            user: user.clone(),
            failed_logins: 0,
            locked_until: None,
        };
        state.accounts.insert(user.email.to_string(), account);
        Ok(true)
    }

    async fn find(&self, email: &Email) -> Result<Option<Account>, AppError> {
        Ok(self.lock().accounts.get(email.as_str()).cloned())
    }

    async fn login_failed(&self, email: &Email) -> Result<u32, AppError> {
        let mut state = self.lock();
        Ok(state.accounts.get_mut(email.as_str()).map_or(0, |a| {
            a.failed_logins += 1;
            a.failed_logins
        }))
    }

    async fn lock(&self, email: &Email, until: DateTime<Utc>) -> Result<(), AppError> {
        if let Some(a) = self.lock().accounts.get_mut(email.as_str()) {
            a.locked_until = Some(until);
            a.failed_logins = 0;
        }
        Ok(())
    }

    async fn login_succeeded(&self, email: &Email) -> Result<(), AppError> {
        if let Some(a) = self.lock().accounts.get_mut(email.as_str()) {
            a.locked_until = None;
            a.failed_logins = 0;
        }
        Ok(())
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
    async fn hit(&self, key: &str, _expires_at: DateTime<Utc>) -> Result<u64, AppError> {
        let mut state = self.lock();
        let hits = state.hits.entry(key.to_string()).or_insert(0);
        *hits += 1;
        Ok(*hits)
    }
}

/// A rate limit no test reaches, for handler tests about something else.
pub fn unlimited() -> crate::service::limits::RateLimit {
    crate::service::limits::RateLimit::new(
        std::sync::Arc::new(MemoryStore::new()),
        "test",
        u32::MAX,
    )
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
        let mut state = self.lock()?;
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

    async fn confirm(&self, intent_id: &str) -> Result<Charge, AppError> {
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
        let mut state = self.lock()?;
        let intent = intent(&mut state, intent_id)?;
        if intent.status == FakeIntentStatus::Unconfirmed {
            intent.status = FakeIntentStatus::Cancelled;
        }
        Ok(())
    }
}

/// Stores a `RESERVED` order (holding its stock) for the order named by the first record of an
/// SQS sample event; returns its id. For step handler tests.
pub async fn reserved_order_of(store: &MemoryStore, sqs_event: &str) -> OrderId {
    let event: serde_json::Value =
        serde_json::from_str(sqs_event).unwrap_or_else(|e| panic!("sample event: {e}"));
    let body: serde_json::Value = serde_json::from_str(
        event["Records"][0]["body"]
            .as_str()
            .unwrap_or_else(|| panic!("sample event without a body")),
    )
    .unwrap_or_else(|e| panic!("sample body: {e}"));
    let id = OrderId::parse(body["orderId"].as_str().unwrap_or_default())
        .unwrap_or_else(|_| panic!("sample body without an order id"));
    store.seed_product(product("p-1", 500, 10));
    let order = self::order(id.clone(), "customer-1", Utc::now());
    store
        .insert(&order, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    advance(store, &id, OrderStatus::Reserved).await;
    id
}

/// Moves a stored order on to `status`, as the step before it would (a reserved order holds
/// its stock, a paid one has its charge, a shipped one its tracking number).
pub async fn advance(store: &MemoryStore, id: &OrderId, status: OrderStatus) {
    let order = OrderRepository::get(store, id)
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("no order {id}"));
    let (mut next, entry) = order
        .transition(status, Utc::now(), None)
        .unwrap_or_else(|e| panic!("{e}"));
    match status {
        OrderStatus::Reserved => next.stock_held = true,
        OrderStatus::Paid => {
            next.payment = Some(crate::domain::Payment {
                state: crate::domain::PaymentState::Charged,
                ..crate::domain::Payment::started("pi_test".into())
            });
        }
        OrderStatus::Shipped => next.tracking_number = Some("TRK000000000000".into()),
        _ => {}
    }
    store
        .apply(&order, &next, &entry)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}
