//! Feature flags and dynamic configuration: one JSON document per stage in SSM Parameter Store
//! (`/order-service/<stage>/flags`), read through a per-container cache. An operator changes
//! behaviour during an incident without a deploy, and the change applies within the cache's TTL
//! (`FLAGS_TTL_SECONDS`, default 30) in every warm container.
//!
//! - `acceptOrders: false` is the kill switch: `POST /orders` answers 503 problem+json with
//!   `Retry-After: retryAfterSeconds`; orders already accepted carry on through the pipeline.
//! - `pausePayments: true` holds the payment step: each message is parked on the payment queue
//!   (as while the provider's circuit is open), so nothing is charged, lost or dead-lettered, and
//!   payments resume within a park interval of the flag being cleared.
//! - `catalogCachePercent` rolls the catalog cache on the order path out to that share of
//!   customers, each customer always on the same side ([`in_rollout`]).
//!
//! A missing field keeps its default; a document that does not parse (a typo in an edit) is
//! refused as a whole, logged and counted (`FlagRefreshFailures`), and the last good flags stay in
//! force, or the defaults before any was read: the flag store is never a reason to stop taking
//! orders. The store is asked at most once per TTL per container, failures included, so steady
//! state makes no SSM call per request.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::error::AppError;
use crate::ports::{Clock, FlagSource};

/// The flags of a stage, as its document says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Flags {
    /// Whether `POST /orders` takes new orders.
    pub accept_orders: bool,
    /// What a refused order is told to wait (`Retry-After`), while intake is closed.
    pub retry_after_seconds: u32,
    /// Whether the payment step holds its messages instead of charging.
    pub pause_payments: bool,
    /// The share of customers (0 to 100) whose orders are priced through the catalog cache.
    pub catalog_cache_percent: u8,
}

impl Default for Flags {
    fn default() -> Self {
        Self {
            accept_orders: true,
            retry_after_seconds: 120,
            pause_payments: false,
            catalog_cache_percent: 100,
        }
    }
}

impl Flags {
    /// The document, or why it is refused (a field misspelt, a value of the wrong type or range).
    pub fn parse(document: &str) -> Result<Self, String> {
        let flags: Self = serde_json::from_str(document).map_err(|e| e.to_string())?;
        if flags.catalog_cache_percent > 100 {
            return Err("catalogCachePercent must be between 0 and 100".into());
        }
        Ok(flags)
    }

    /// Whether `customer`'s orders are priced through the catalog cache.
    pub fn catalog_cache_for(&self, customer: &str) -> bool {
        in_rollout("catalogCache", self.catalog_cache_percent, customer)
    }
}

/// Whether `customer` is among the `percent` per cent a rollout of `flag` reaches: a stable
/// bucket from a hash of both, so a customer does not flip between behaviours from one request
/// to the next, and a different flag rolls out to a different share of customers.
pub fn in_rollout(flag: &str, percent: u8, customer: &str) -> bool {
    let hash = crate::digest::sha256_hex(format!("{flag}:{customer}").as_bytes());
    let bucket = u64::from_str_radix(&hash[..8], 16).unwrap_or(0) % 100;
    bucket < u64::from(percent)
}

struct Checked {
    flags: Flags,
    at: DateTime<Utc>,
}

/// The flags in force, re-read from their source once `ttl` has passed since the last attempt.
pub struct LiveFlags {
    source: Arc<dyn FlagSource>,
    clock: Arc<dyn Clock>,
    ttl: chrono::Duration,
    last: Mutex<Option<Checked>>,
}

impl LiveFlags {
    pub fn new(
        source: Arc<dyn FlagSource>,
        clock: Arc<dyn Clock>,
        ttl: std::time::Duration,
    ) -> Self {
        Self {
            source,
            clock,
            ttl: chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::seconds(30)),
            last: Mutex::new(None),
        }
    }

    /// How long a change takes to apply, at most.
    pub fn ttl(&self) -> chrono::Duration {
        self.ttl
    }

    pub async fn current(&self) -> Flags {
        let mut last = self.last.lock().await;
        let now = self.clock.now();
        if let Some(checked) = last.as_ref()
            && now < checked.at + self.ttl
        {
            return checked.flags.clone();
        }
        let read = match self.source.fetch().await {
            Ok(document) => Flags::parse(&document)
                .map_err(|reason| AppError::internal("the flags document", reason)),
            Err(err) => Err(err),
        };
        let flags = match read {
            Ok(flags) => flags,
            Err(err) => {
                let kept = last.as_ref().map(|c| c.flags.clone());
                tracing::error!(
                    error = %err.chain(),
                    kept = if kept.is_some() { "the last good flags" } else { "the defaults" },
                    "could not refresh the feature flags"
                );
                crate::metrics::Metric::FlagRefreshFailures.count();
                kept.unwrap_or_default()
            }
        };
        *last = Some(Checked {
            flags: flags.clone(),
            at: now,
        });
        flags
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::testing::{FakeFlags, FixedClock};

    fn live(source: &Arc<FakeFlags>, clock: &Arc<FixedClock>) -> LiveFlags {
        LiveFlags::new(source.clone(), clock.clone(), Duration::from_secs(30))
    }

    #[tokio::test]
    async fn a_change_applies_once_the_ttl_has_passed_and_not_before() {
        let source = Arc::new(FakeFlags::with(r#"{"acceptOrders":true}"#));
        let clock = Arc::new(FixedClock::new(Utc::now()));
        let flags = live(&source, &clock);
        assert!(flags.current().await.accept_orders);
        source.set(r#"{"acceptOrders":false}"#);
        clock.advance(chrono::Duration::seconds(29));
        assert!(flags.current().await.accept_orders, "still within the TTL");
        clock.advance(chrono::Duration::seconds(1));
        assert!(
            !flags.current().await.accept_orders,
            "read again at the TTL"
        );
        assert_eq!(source.reads(), 2);
    }

    #[tokio::test]
    async fn the_source_is_read_once_per_ttl_however_many_requests_ask() {
        let source = Arc::new(FakeFlags::with("{}"));
        let clock = Arc::new(FixedClock::new(Utc::now()));
        let flags = live(&source, &clock);
        for _ in 0..1_000 {
            flags.current().await;
        }
        assert_eq!(source.reads(), 1);
    }

    #[tokio::test]
    async fn a_broken_document_keeps_the_last_good_flags_and_is_not_retried_on_every_request() {
        let source = Arc::new(FakeFlags::with(r#"{"acceptOrders":false}"#));
        let clock = Arc::new(FixedClock::new(Utc::now()));
        let flags = live(&source, &clock);
        assert!(!flags.current().await.accept_orders);
        source.set(r#"{"acceptOrder":true}"#);
        clock.advance(chrono::Duration::seconds(31));
        assert!(!flags.current().await.accept_orders, "the typo is refused");
        flags.current().await;
        assert_eq!(
            source.reads(),
            2,
            "the failed read counts as this TTL's read"
        );
    }

    #[tokio::test]
    async fn an_unreadable_store_before_any_read_means_the_defaults() {
        let source = Arc::new(FakeFlags::unreadable());
        let clock = Arc::new(FixedClock::new(Utc::now()));
        assert_eq!(live(&source, &clock).current().await, Flags::default());
    }

    #[test]
    fn missing_fields_keep_their_defaults_and_out_of_range_values_are_refused() {
        let flags = Flags::parse(r#"{"pausePayments":true}"#).unwrap();
        assert!(flags.pause_payments && flags.accept_orders);
        assert_eq!(flags.catalog_cache_percent, 100);
        assert!(Flags::parse(r#"{"catalogCachePercent":101}"#).is_err());
        assert!(Flags::parse(r#"{"acceptOrders":"no"}"#).is_err());
    }

    #[test]
    fn a_rollout_reaches_about_its_share_of_customers_and_always_the_same_ones() {
        let customers: Vec<String> = (0..10_000).map(|i| format!("usr_{i:032x}")).collect();
        let reached = customers
            .iter()
            .filter(|c| in_rollout("catalogCache", 25, c))
            .count();
        assert!((2_250..=2_750).contains(&reached), "{reached} of 10000");
        assert!(customers.iter().all(|c| in_rollout("x", 100, c)));
        assert!(!customers.iter().any(|c| in_rollout("x", 0, c)));
        let widened: Vec<_> = customers
            .iter()
            .filter(|c| in_rollout("catalogCache", 25, c))
            .collect();
        assert!(
            widened.iter().all(|c| in_rollout("catalogCache", 50, c)),
            "widening a rollout keeps everyone it reached"
        );
    }
}
