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
    CustomerId, HistoryEntry, IdempotencyKey, Order, OrderId, Product, ProductDraft, ProductId,
};
use crate::error::AppError;
use crate::messages::Envelope;
use crate::ports::{
    Account, Catalog, ClaimOutcome, Clock, IdempotencyClaim, IdempotencyStore, Inventory, KeyStore,
    OrderCursor, OrderEvents, OrderRepository, Page, Probe, RateCounter, Reservation, User,
    UserRepository,
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
