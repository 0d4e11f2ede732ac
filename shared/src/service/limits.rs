//! The per-user rate limit: a fixed one-minute window counted in DynamoDB, so every instance of
//! every function sees the same count. It sits behind API Gateway's own throttles (per stage,
//! method and API key) and stops one user from taking a client application's whole allowance.
//!
//! If the counter store fails, requests pass (and the failure is logged): the limit protects the
//! service, it must not take it down.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use crate::config::ConfigError;
use crate::domain::Caller;
use crate::error::AppError;
use crate::ports::RateCounter;
use crate::wiring::{Wire, Wiring};

/// What the `X-RateLimit-*` headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit: u32,
    pub remaining: u32,
    /// Epoch seconds when the window resets.
    pub reset_at: i64,
}

pub const WINDOW_SECONDS: i64 = 60;

pub struct RateLimit {
    counter: Arc<dyn RateCounter>,
    /// Counters are per user *and* scope (`reads`, `writes`, `admin`), each with its own limit.
    scope: String,
    per_minute: u32,
}

#[async_trait]
impl Wire for RateLimit {
    /// The per-user limit of this function: scope `RATE_LIMIT_SCOPE` (default `api`),
    /// `RATE_LIMIT_PER_MINUTE` requests (default 120).
    async fn wire(from: &dyn Wiring) -> Result<Self, ConfigError> {
        let per_minute = from.number("RATE_LIMIT_PER_MINUTE", 120)?;
        Ok(Self::new(
            from.rate_counter()?,
            &from.setting("RATE_LIMIT_SCOPE", "api"),
            u32::try_from(per_minute).unwrap_or(u32::MAX),
        ))
    }
}

impl RateLimit {
    pub fn new(counter: Arc<dyn RateCounter>, scope: &str, per_minute: u32) -> Self {
        Self {
            counter,
            scope: scope.to_string(),
            per_minute,
        }
    }

    /// Counts one request of `caller`; refused past the limit.
    pub async fn take(&self, caller: &Caller, now: DateTime<Utc>) -> Result<Quota, AppError> {
        let window = now.timestamp() - now.timestamp().rem_euclid(WINDOW_SECONDS);
        let reset_at = window + WINDOW_SECONDS;
        let key = format!("{}#{}#{window}", caller.id, self.scope);
        let expires = DateTime::from_timestamp(reset_at, 0).unwrap_or(now) + Duration::minutes(5);
        let hits = match self.counter.hit(&key, expires).await {
            Ok(hits) => hits,
            Err(err) => {
                tracing::warn!(error = %err.chain(), "rate limit counter unavailable; request allowed");
                0
            }
        };
        let limit = u64::from(self.per_minute);
        if hits > limit {
            return Err(AppError::RateLimited {
                limit: self.per_minute,
                reset_at,
                retry_after_secs: u64::try_from(reset_at - now.timestamp())
                    .unwrap_or(1)
                    .max(1),
            });
        }
        Ok(Quota {
            limit: self.per_minute,
            remaining: u32::try_from(limit - hits).unwrap_or(0),
            reset_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CustomerId, Role};
    use crate::testing::MemoryStore;

    fn caller(id: &str) -> Caller {
        Caller {
            id: CustomerId::parse(id).unwrap(),
            role: Role::Customer,
        }
    }

    #[tokio::test]
    async fn the_limit_plus_one_is_refused_until_the_window_turns() {
        let limits = RateLimit::new(Arc::new(MemoryStore::new()), "writes", 3);
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let mut remaining = Vec::new();
        for _ in 0..3 {
            remaining.push(limits.take(&caller("a"), now).await.unwrap().remaining);
        }
        assert_eq!(remaining, [2, 1, 0]);
        let refused = limits.take(&caller("a"), now + Duration::seconds(10)).await;
        let Err(AppError::RateLimited {
            limit,
            reset_at,
            retry_after_secs,
        }) = refused
        else {
            panic!("expected 429, got {refused:?}");
        };
        assert_eq!((limit, reset_at, retry_after_secs), (3, 1_800_000_060, 50));
        assert!(limits.take(&caller("b"), now).await.is_ok(), "per user");
        assert!(
            limits
                .take(&caller("a"), now + Duration::seconds(60))
                .await
                .is_ok(),
            "next window"
        );
    }
}
