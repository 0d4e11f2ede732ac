//! The narrow interfaces the use cases need from the outside world, one per need. DynamoDB, SQS,
//! Secrets Manager and Stripe implement them in `adapters`; `testing` implements them in memory
//! for fast use-case and handler tests.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::auth::Email;
use crate::auth::keys::KeySet;
use crate::domain::{
    CustomerId, HistoryEntry, IdempotencyKey, Order, OrderId, OrderStatus, Product, ProductDraft,
    ProductId, Role,
};
use crate::error::AppError;
use crate::messages::Envelope;
use crate::pipeline::Queue;

/// One page of a listing and where the next one starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T, C> {
    pub items: Vec<T>,
    pub next: Option<C>,
}

/// Where a customer's order listing (newest first) resumes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OrderCursor {
    #[serde(rename = "c")]
    pub created_at: DateTime<Utc>,
    #[serde(rename = "i")]
    pub id: OrderId,
}

impl OrderCursor {
    /// The position just after `order`.
    pub fn after(order: &Order) -> Self {
        Self {
            created_at: order.created_at,
            id: order.id.clone(),
        }
    }
}

/// Where an admin's listing of one status (most recently changed first) resumes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StatusCursor {
    #[serde(rename = "u")]
    pub updated_at: DateTime<Utc>,
    #[serde(rename = "i")]
    pub id: OrderId,
}

impl StatusCursor {
    /// The position just after `order`.
    pub fn after(order: &Order) -> Self {
        Self {
            updated_at: order.updated_at,
            id: order.id.clone(),
        }
    }
}

/// Which orders an admin lists: those now in `status` whose last change is in `[from, to)`;
/// an open end is unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusQuery {
    pub status: OrderStatus,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

impl StatusQuery {
    pub fn selects(&self, order: &Order) -> bool {
        order.status == self.status
            && self.from.is_none_or(|from| order.updated_at >= from)
            && self.to.is_none_or(|to| order.updated_at < to)
    }
}

#[async_trait]
pub trait OrderRepository: Send + Sync {
    /// Stores a new order and its creation history entry and, when given, completes the
    /// idempotency claim that guarded it: all of it or nothing.
    async fn insert(&self, order: &Order, claim: Option<&IdempotencyClaim>)
    -> Result<(), AppError>;

    async fn get(&self, id: &OrderId) -> Result<Option<Order>, AppError>;

    /// The customer's orders, newest first.
    async fn list_for_customer(
        &self,
        customer: &CustomerId,
        limit: u16,
        after: Option<&OrderCursor>,
    ) -> Result<Page<Order, OrderCursor>, AppError>;

    /// Replaces `current` by `next` and appends `entry`, only if the stored order is still at
    /// `current`'s version and status; otherwise [`AppError::StaleVersion`].
    async fn apply(
        &self,
        current: &Order,
        next: &Order,
        entry: &HistoryEntry,
    ) -> Result<(), AppError>;

    /// The order's audit timeline, oldest first.
    async fn history(&self, id: &OrderId) -> Result<Vec<HistoryEntry>, AppError>;

    /// Replaces `current` by `next` (a change that is not a transition, so no history entry),
    /// only if the stored order is still at `current`'s version; otherwise
    /// [`AppError::StaleVersion`].
    async fn update(&self, current: &Order, next: &Order) -> Result<(), AppError>;

    /// Every order that still owes compensation ([`Order::owes_compensation`]), however old.
    async fn owing_compensation(&self) -> Result<Vec<Order>, AppError>;

    /// A page of the orders `query` selects, most recently changed first, for support staff.
    async fn list_by_status(
        &self,
        query: StatusQuery,
        limit: u16,
        after: Option<&StatusCursor>,
    ) -> Result<Page<Order, StatusCursor>, AppError>;

    /// The orders in `status` last changed in `[from, to)`, for the reconciler.
    async fn changed_between(
        &self,
        status: OrderStatus,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Order>, AppError>;
}

/// Proof that this request holds an idempotency key, to be completed when its order is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyClaim {
    /// The key scoped to its customer: two customers may use the same key.
    pub scoped_key: String,
    /// Unique per claim, so that a request whose claim expired and was taken over cannot complete it.
    pub token: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// This request holds the key now.
    Acquired(IdempotencyClaim),
    /// An earlier request with this key finished and created `order_id`.
    Completed {
        request_hash: String,
        order_id: OrderId,
    },
    /// An earlier request with this key is still running.
    InProgress { request_hash: String },
}

#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    async fn claim(
        &self,
        customer: &CustomerId,
        key: &IdempotencyKey,
        request_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<ClaimOutcome, AppError>;

    /// Gives a claim back after a failure that stored nothing, so the client may retry at once.
    async fn release(&self, claim: &IdempotencyClaim) -> Result<(), AppError>;
}

#[async_trait]
pub trait Catalog: Send + Sync {
    async fn get(&self, id: &ProductId) -> Result<Option<Product>, AppError>;

    /// The products that exist among `ids`, in no particular order.
    async fn get_many(&self, ids: &[ProductId]) -> Result<Vec<Product>, AppError>;

    /// Products in id order.
    async fn list(
        &self,
        limit: u16,
        after: Option<&ProductId>,
    ) -> Result<Page<Product, ProductId>, AppError>;

    /// Creates a product (`replaces: None`, refused with [`AppError::PreconditionRequired`] if
    /// it exists) or replaces the one at version `replaces` ([`AppError::PreconditionFailed`] if
    /// it moved on: reservations change stock, so an edit never overwrites one it did not see).
    /// Returns the product as stored and whether it was new.
    async fn put(
        &self,
        draft: &ProductDraft,
        replaces: Option<u64>,
        now: DateTime<Utc>,
    ) -> Result<(Product, bool), AppError>;
}

/// The pipeline's queues, as far as one function may use them: the ones it hands orders to and,
/// for a consumer, its own queue's dead-letter queue.
#[async_trait]
pub trait Queues: Send + Sync {
    /// Sends `message` to the queue it names, visible after `delay` (at most 15 minutes).
    async fn send(&self, message: &Envelope, delay: Duration) -> Result<(), AppError>;

    /// Hands `order` to the step its status routes to, with the message of that status (nothing
    /// once it is completed).
    async fn hand_on(
        &self,
        order: &Order,
        correlation_id: &str,
        delay: Duration,
    ) -> Result<(), AppError> {
        let id = order.id.clone();
        match Envelope::announcing(order.status, id, correlation_id, order.updated_at) {
            Some(message) => self.send(&message, delay).await,
            None => Ok(()),
        }
    }

    /// Moves a record of `queue` that can never be handled (unreadable, or refused for good)
    /// straight to the queue's dead-letter queue with the `problem`, so failure handling sees it
    /// once instead of after every retry.
    async fn dead_letter(&self, queue: Queue, body: &str, problem: &str) -> Result<(), AppError>;
}

/// Where the feature-flag document of the stage is kept (SSM Parameter Store); read through
/// [`crate::flags::LiveFlags`], never per request.
#[async_trait]
pub trait FlagSource: Send + Sync {
    /// The document as stored.
    async fn fetch(&self) -> Result<String, AppError>;
}

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A dependency the deep health check asks.
#[async_trait]
pub trait Probe: Send + Sync {
    fn name(&self) -> &str;
    /// Whether the service is unavailable without it (the deep check answers 503), or only
    /// degraded (it answers 200, `degraded`).
    fn required(&self) -> bool {
        true
    }
    async fn check(&self) -> Result<(), AppError>;
}

/// An account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// `usr_` + 32 hex digits: the token subject and the customer id of the account's orders.
    pub id: String,
    pub email: Email,
    /// Argon2id PHC string.
    pub password_hash: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Creates the account unless one exists for the email; returns whether it did.
    async fn create(&self, user: &User) -> Result<bool, AppError>;

    async fn find(&self, email: &Email) -> Result<Option<User>, AppError>;

    /// The address of the account with this id, where its customer is written to.
    async fn email_of(&self, id: &CustomerId) -> Result<Option<Email>, AppError>;
}

/// Where the signing key set is kept (Secrets Manager).
#[async_trait]
pub trait KeyStore: Send + Sync {
    async fn load(&self) -> Result<KeySet, AppError>;
    async fn save(&self, keys: &KeySet) -> Result<(), AppError>;
}

/// A subject's hits in the current fixed window and in the window just before it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hits {
    pub current: u64,
    pub previous: u64,
}

/// Counters shared by every instance of every function (the rate limit table).
#[async_trait]
pub trait RateCounter: Send + Sync {
    /// Adds `hits` to `subject` in the window that starts at `window` (epoch seconds; windows
    /// are `length` seconds long) and returns its hits in that window and the one before. The
    /// counts may vanish after `expires_at`.
    async fn add(
        &self,
        subject: &str,
        hits: u64,
        window: i64,
        length: i64,
        expires_at: DateTime<Utc>,
    ) -> Result<Hits, AppError>;
}

/// What a reservation attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// Every line's stock was taken and the order moved on, in one transaction.
    Reserved,
    /// This product has fewer units than the order asks for; nothing was taken.
    OutOfStock(ProductId),
}

/// Stock movements that go with an order's transition, atomically.
#[async_trait]
pub trait Inventory: Send + Sync {
    /// Takes every line's quantity from the catalog and applies the order's transition to
    /// `next` (with `entry`), all or nothing; [`AppError::StaleVersion`] if the order changed.
    async fn reserve(
        &self,
        current: &Order,
        next: &Order,
        entry: &HistoryEntry,
    ) -> Result<Reservation, AppError>;

    /// Gives every line's quantity back and stores `next` (which holds no stock), all or nothing;
    /// [`AppError::StaleVersion`] if the order changed or already gave its stock back.
    async fn release(&self, current: &Order, next: &Order) -> Result<(), AppError>;
}

/// What confirming a payment came to. A decline is an answer, not a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Charge {
    Charged,
    /// The provider refused the card, with its reason.
    Declined(String),
    /// The payment stopped short of charging and would need the customer (3-D Secure): it is
    /// given up, and still has to be cancelled so it can never charge later.
    Abandoned(String),
}

/// How a payment that is no longer wanted ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// The money went back: the provider's refund id.
    Refunded(String),
    /// It never took money and now never will.
    Voided,
}

/// The payment provider (Stripe's PaymentIntents). An intent takes money at most once, whoever
/// confirms it and however often, which is what makes charging exactly-once.
#[async_trait]
pub trait Payments: Send + Sync {
    /// Creates the order's payment intent, unconfirmed: no money moves yet.
    async fn start(&self, order: &Order) -> Result<String, AppError>;

    /// Confirms the order's intent (or reads how an earlier confirmation ended); an intent that
    /// is not for this order's total is refused.
    async fn confirm(&self, order: &Order, intent_id: &str) -> Result<Charge, AppError>;

    /// Refunds the intent's charge, or cancels it if it has not charged; finding an earlier
    /// refund or cancellation counts as done.
    async fn settle(&self, intent_id: &str) -> Result<Settlement, AppError>;

    /// Cancels an intent that lost the race to be the order's one, before it charged.
    async fn abandon(&self, intent_id: &str) -> Result<(), AppError>;
}

/// Whoever carries the parcel.
#[async_trait]
pub trait Carrier: Send + Sync {
    /// Books the order's shipment and returns its tracking number; booking the same order again
    /// returns the same shipment.
    async fn ship(&self, order: &Order) -> Result<String, AppError>;

    /// Cancels the order's shipment if one was booked (a cancel can win the race after the
    /// booking and before the order became `SHIPPED`); nothing booked, or cancelled already,
    /// is done.
    async fn cancel(&self, order: &Order) -> Result<(), AppError>;
}

/// What a customer is told about one order's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub subject: String,
    pub text: String,
}

/// How customers hear about their orders (e-mail through SES).
#[async_trait]
pub trait Notifier: Send + Sync {
    async fn notify(&self, to: &Email, order: &Order, notice: &Notice) -> Result<(), AppError>;
}

/// A message a queue gave up on, as it arrived in its dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    /// The dead-letter queue's name.
    pub queue: String,
    pub message_id: String,
    pub body: String,
    pub receives: u32,
    pub at: DateTime<Utc>,
    /// Why the consumer gave up, when it moved the message here itself (a permanent error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// Where dead letters are kept for inspection and redrive.
#[async_trait]
pub trait DeadLetters: Send + Sync {
    /// Keeps the letter; keeping the same message again changes nothing.
    async fn keep(&self, letter: &DeadLetter) -> Result<(), AppError>;

    /// The letters kept from one dead-letter queue (by its name), for inspection and redrive.
    async fn list(&self, queue: &str) -> Result<Vec<DeadLetter>, AppError>;
}
