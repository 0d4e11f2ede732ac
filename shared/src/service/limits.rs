//! Rate limits counted in DynamoDB with atomic `ADD`s, so every instance of every function sees
//! the same count and a burst of concurrent requests cannot all read "under the limit" before
//! any of them counts. They sit behind API Gateway's own throttles (per stage, method and API
//! key), which know nothing of users or accounts.
//!
//! - [`RateLimit`]: per signed-in user and scope, in fixed one-minute windows, so one user cannot
//!   take a client application's whole allowance. It is on every signed-in request, so it must
//!   not cost a write on each: an instance counts a user's hits itself and adds them to the shared
//!   counter a batch at a time (`RATE_LIMIT_BATCH`, default a tenth of the limit), learning the
//!   others' hits from that write's answer. One instance judges exactly; a user served by `n`
//!   instances of the scope's functions in a window (every one that served them, recycled ones
//!   too) can get up to `n × (batch − 1)` hits past the limit, and a user with fewer than a batch
//!   of hits per instance and minute costs no write at all. If the counter store fails, requests
//!   are judged on this instance's count alone and the batch is written with the next one (a
//!   write whose answer was lost may then count twice: a spurious 429 is possible, never a lost
//!   hit); the failure is logged. This limit protects the service, it must not take it down.
//! - [`Throttle`] with [`Budget`]s: per source address (sign-up, login) and per account and
//!   source (login). These protect accounts, so they count a sliding window (the previous fixed
//!   window's hits weighted by how much of it still overlaps, plus the current window's): nobody
//!   gets twice the budget by straddling a window's end, and every refused attempt still counts,
//!   so hammering pushes the wait further out (up to two windows). They fail closed: no counter,
//!   no password check.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use crate::config::ConfigError;
use crate::domain::Caller;
use crate::error::AppError;
use crate::ports::{Hits, RateCounter};
use crate::wiring::{Wire, Wiring};

/// What the `X-RateLimit-*` headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit: u32,
    pub remaining: u32,
    /// Epoch seconds when the window resets.
    pub reset_at: i64,
}

/// So many hits per fixed window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub limit: u32,
    pub window: Duration,
}

impl Budget {
    pub const fn per(limit: u32, window: Duration) -> Self {
        Self { limit, window }
    }
}

/// Where a request came from, as API Gateway saw the connection (`requestContext.identity
/// .sourceIp`, which a client cannot set). IPv6 addresses count by their /64: one host usually
/// holds a whole /64, and would otherwise get a fresh budget per address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Source(String);

impl Source {
    pub fn from_ip(raw: &str) -> Self {
        match raw.trim().parse::<IpAddr>() {
            Ok(IpAddr::V4(v4)) => Self(v4.to_string()),
            Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(v4.to_string()),
                None => {
                    let s = v6.segments();
                    Self(format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3]))
                }
            },
            // Only a direct invoke (no API Gateway) has no address; they all share one budget.
            Err(_) => Self("unknown".into()),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Counts hits of named subjects against budgets.
#[derive(Clone)]
pub struct Throttle {
    counter: Arc<dyn RateCounter>,
}

impl Throttle {
    pub fn new(counter: Arc<dyn RateCounter>) -> Self {
        Self { counter }
    }

    /// Counts one hit for each `(subject, budget)`, all at once, and reports the tightest quota.
    /// Refused with `RateLimited` (retry when the latest window turns) if any budget is spent,
    /// with `Unavailable` if a counter cannot be kept.
    pub async fn take(
        &self,
        hits: &[(String, Budget)],
        now: DateTime<Utc>,
    ) -> Result<Quota, AppError> {
        let verdicts = futures::future::try_join_all(
            hits.iter()
                .map(|(subject, budget)| self.count(subject, *budget, now)),
        )
        .await?;
        let refused = verdicts
            .iter()
            .filter_map(|v| Some((v, v.retry_after?)))
            .max_by_key(|(_, wait)| *wait);
        if let Some((verdict, wait)) = refused {
            return Err(AppError::RateLimited {
                limit: verdict.limit,
                reset_at: now.timestamp() + wait,
                retry_after_secs: u64::try_from(wait).unwrap_or(1).max(1),
            });
        }
        Ok(verdicts
            .iter()
            .map(|v| Quota {
                limit: v.limit,
                remaining: (f64::from(v.limit) - v.estimate).floor().max(0.0) as u32,
                reset_at: v.reset_at,
            })
            .min_by_key(|q| (q.remaining, std::cmp::Reverse(q.reset_at)))
            .unwrap_or(Quota {
                limit: 0,
                remaining: 0,
                reset_at: now.timestamp(),
            }))
    }

    async fn count(
        &self,
        subject: &str,
        budget: Budget,
        now: DateTime<Utc>,
    ) -> Result<Verdict, AppError> {
        let length = budget.window.num_seconds().max(1);
        let (start, reset_at, _) = window_of(length, now);
        // Kept through the next window, whose estimate reads this one.
        let expires = DateTime::from_timestamp(reset_at + length, 0).unwrap_or(now);
        let hits = self
            .counter
            .add(subject, 1, start, length, expires)
            .await
            .map_err(|err| {
                tracing::warn!(error = %err.chain(), "throttle counter unavailable; request refused");
                AppError::Unavailable("the request could not be counted")
            })?;
        Ok(Verdict::of(
            hits,
            budget.limit,
            now.timestamp() - start,
            length,
            reset_at,
        ))
    }
}

/// One budget's sliding-window judgement of a hit already counted.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Verdict {
    limit: u32,
    /// The hits of the last `length` seconds, estimated.
    estimate: f64,
    reset_at: i64,
    /// When another hit would be within the budget, if it is not now.
    retry_after: Option<i64>,
}

impl Verdict {
    fn of(hits: Hits, limit: u32, elapsed: i64, length: i64, reset_at: i64) -> Self {
        let overlap = |elapsed: i64| (length - elapsed).max(0) as f64 / length as f64;
        let estimate = hits.current as f64 + hits.previous as f64 * overlap(elapsed);
        let limit_f = f64::from(limit);
        let retry_after = (estimate > limit_f).then(|| {
            // The first second from now at which one more hit would be within the budget: later
            // in this window as the previous one's weight fades, or in the next, or after it.
            let fits = |t: i64| {
                let at = elapsed + t;
                let next = if at < length {
                    hits.current as f64 + 1.0 + hits.previous as f64 * overlap(at)
                } else {
                    1.0 + hits.current as f64 * overlap(at - length)
                };
                next <= limit_f
            };
            (1..=2 * length).find(|t| fits(*t)).unwrap_or(2 * length)
        });
        Self {
            limit,
            estimate,
            reset_at,
            retry_after,
        }
    }
}

/// The fixed window of `length` seconds holding `now`: its start, its end, and when its counter
/// may go.
fn window_of(length: i64, now: DateTime<Utc>) -> (i64, i64, DateTime<Utc>) {
    let start = now.timestamp() - now.timestamp().rem_euclid(length);
    let reset_at = start + length;
    let expires = DateTime::from_timestamp(reset_at, 0).unwrap_or(now) + Duration::minutes(5);
    (start, reset_at, expires)
}

fn refusal(limit: u32, reset_at: i64, now: DateTime<Utc>) -> AppError {
    AppError::RateLimited {
        limit,
        reset_at,
        retry_after_secs: u64::try_from(reset_at - now.timestamp())
            .unwrap_or(1)
            .max(1),
    }
}

pub const WINDOW_SECONDS: i64 = 60;

/// The per-user limit of one function.
pub struct RateLimit {
    counter: Arc<dyn RateCounter>,
    /// Counters are per user *and* scope (`reads`, `writes`, `admin`), each with its own limit.
    scope: String,
    per_minute: u32,
    /// Hits this instance counts itself before it adds them to the shared counter in one write.
    batch: u64,
    local: Mutex<Window>,
}

/// This instance's view of the current window.
#[derive(Default)]
struct Window {
    start: i64,
    subjects: HashMap<String, Seen>,
}

/// One subject's hits as this instance knows them.
#[derive(Default)]
struct Seen {
    /// The shared count at this instance's last write: every instance's hits written by then.
    shared: u64,
    /// Hits being added by a write that has not answered yet.
    sending: u64,
    /// Hits not written yet.
    unsent: u64,
}

impl Seen {
    fn estimate(&self) -> u64 {
        self.shared + self.sending + self.unsent
    }
}

#[async_trait]
impl Wire for RateLimit {
    /// The per-user limit of this function: scope `RATE_LIMIT_SCOPE` (default `api`),
    /// `RATE_LIMIT_PER_MINUTE` requests (default 120), written `RATE_LIMIT_BATCH` hits at a time
    /// (default a tenth of the limit).
    async fn wire<W: Wiring + ?Sized>(from: &W) -> Result<Self, ConfigError> {
        let per_minute =
            u32::try_from(from.number("RATE_LIMIT_PER_MINUTE", 120)?).unwrap_or(u32::MAX);
        let batch = from.number("RATE_LIMIT_BATCH", u64::from(per_minute / 10))?;
        Ok(Self::new(
            from.rate_counter()?,
            &from.setting("RATE_LIMIT_SCOPE", "api"),
            per_minute,
        )
        .batched(batch))
    }
}

impl RateLimit {
    /// A limit that writes every hit; see [`RateLimit::batched`].
    pub fn new(counter: Arc<dyn RateCounter>, scope: &str, per_minute: u32) -> Self {
        Self {
            counter,
            scope: scope.to_string(),
            per_minute,
            batch: 1,
            local: Mutex::new(Window::default()),
        }
    }

    /// Writes `batch` hits at a time (at least one).
    pub fn batched(self, batch: u64) -> Self {
        Self {
            batch: batch.max(1),
            ..self
        }
    }

    /// Counts one request of `caller`; refused past the limit.
    pub async fn take(&self, caller: &Caller, now: DateTime<Utc>) -> Result<Quota, AppError> {
        let subject = format!("{}#{}", caller.id, self.scope);
        let (start, reset_at, expires) = window_of(WINDOW_SECONDS, now);
        let (mut hits, due) = self.count_here(&subject, start);
        if due > 0 {
            let written = self
                .counter
                .add(&subject, due, start, WINDOW_SECONDS, expires)
                .await;
            self.written(
                &subject,
                start,
                due,
                written.as_ref().ok().map(|h| h.current),
            );
            // The write's answer judges the hit that made it: every hit written before it, by
            // any instance, and this batch.
            match written {
                Ok(shared) => hits = shared.current,
                Err(err) => {
                    tracing::warn!(error = %err.chain(), "rate limit counter unavailable; judged on this instance's count");
                }
            }
        }
        let limit = u64::from(self.per_minute);
        if hits > limit {
            return Err(refusal(self.per_minute, reset_at, now));
        }
        Ok(Quota {
            limit: self.per_minute,
            remaining: u32::try_from(limit - hits).unwrap_or(0),
            reset_at,
        })
    }

    /// Counts the hit in this instance: the subject's estimate, and how many hits to write now
    /// (a batch, or none).
    fn count_here(&self, subject: &str, start: i64) -> (u64, u64) {
        let mut local = self.local.lock().unwrap_or_else(PoisonError::into_inner);
        if start < local.start {
            // A request that read the clock just before the minute turned: written alone.
            return (1, 1);
        }
        if start > local.start {
            *local = Window {
                start,
                subjects: HashMap::new(),
            };
        }
        let seen = local.subjects.entry(subject.to_string()).or_default();
        seen.unsent += 1;
        let due = if seen.unsent >= self.batch {
            std::mem::take(&mut seen.unsent)
        } else {
            0
        };
        seen.sending += due;
        (seen.estimate(), due)
    }

    /// Takes in the answer of the write of `sent` hits: the shared count it returned, or none
    /// when it failed (the hits are kept, to go with the next batch).
    fn written(&self, subject: &str, start: i64, sent: u64, shared: Option<u64>) {
        let mut local = self.local.lock().unwrap_or_else(PoisonError::into_inner);
        if local.start != start {
            return; // the window turned meanwhile
        }
        if let Some(seen) = local.subjects.get_mut(subject) {
            seen.sending = seen.sending.saturating_sub(sent);
            match shared {
                Some(shared) => seen.shared = seen.shared.max(shared),
                None => seen.unsent += sent,
            }
        }
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

    #[tokio::test]
    async fn a_batched_limit_starts_each_window_afresh_and_writes_only_full_batches() {
        let store = Arc::new(MemoryStore::new());
        let limits = RateLimit::new(store.clone(), "reads", 30).batched(10);
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        for _ in 0..25 {
            limits.take(&caller("a"), now).await.unwrap();
        }
        let next = now + Duration::seconds(60);
        let first = limits.take(&caller("a"), next).await.unwrap();
        assert_eq!(
            first.remaining, 29,
            "the last window's unwritten hits are gone with it"
        );
        let written = store
            .add("a#reads", 0, now.timestamp(), WINDOW_SECONDS, next)
            .await
            .unwrap();
        assert_eq!(written.current, 20, "two batches written, five hits never");
    }

    #[tokio::test]
    async fn a_throttle_reports_its_tightest_budget_and_refuses_when_any_is_spent() {
        let throttle = Throttle::new(Arc::new(MemoryStore::new()));
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let wide = Budget::per(10, Duration::minutes(15));
        let narrow = Budget::per(2, Duration::minutes(15));
        let hits = |who: &str| vec![("source".to_string(), wide), (who.to_string(), narrow)];
        let first = throttle.take(&hits("a"), now).await.unwrap();
        assert_eq!((first.limit, first.remaining), (2, 1));
        throttle.take(&hits("a"), now).await.unwrap();
        let refused = throttle.take(&hits("a"), now).await;
        assert!(
            matches!(refused, Err(AppError::RateLimited { limit: 2, .. })),
            "{refused:?}"
        );
        let other = throttle.take(&hits("b"), now).await.unwrap();
        assert_eq!(
            (other.limit, other.remaining),
            (2, 1),
            "b has its own budget; the shared one has 6 left"
        );
    }

    #[tokio::test]
    async fn straddling_a_window_end_gets_no_second_budget_and_hammering_waits_longer() {
        let throttle = Throttle::new(Arc::new(MemoryStore::new()));
        let budget = Budget::per(5, Duration::minutes(15));
        let hits = [("login#x".to_string(), budget)];
        let boundary = DateTime::from_timestamp(1_800_000_000, 0).unwrap(); // a multiple of 900 s
        let before = boundary - Duration::seconds(1);
        for _ in 0..5 {
            throttle.take(&hits, before).await.unwrap();
        }
        let after = boundary + Duration::seconds(1);
        let Err(AppError::RateLimited {
            retry_after_secs: first_wait,
            ..
        }) = throttle.take(&hits, after).await
        else {
            panic!("a fresh fixed window would have allowed 5 more");
        };
        for _ in 0..20 {
            let _ = throttle.take(&hits, after).await;
        }
        let Err(AppError::RateLimited {
            retry_after_secs: later_wait,
            ..
        }) = throttle.take(&hits, after).await
        else {
            panic!("still refused");
        };
        assert!(
            later_wait > first_wait,
            "{later_wait} s after hammering, {first_wait} s before"
        );
        assert!(later_wait <= 2 * 900);
        let retry = after + Duration::seconds(i64::try_from(later_wait).unwrap());
        assert!(
            throttle.take(&hits, retry).await.is_ok(),
            "allowed when Retry-After said"
        );
    }

    #[test]
    fn sources_are_addresses_and_ipv6_counts_by_its_64() {
        assert_eq!(Source::from_ip("203.0.113.7").to_string(), "203.0.113.7");
        assert_eq!(
            Source::from_ip("2001:db8:1:2:aaaa::1"),
            Source::from_ip("2001:db8:1:2:bbbb::9")
        );
        assert_eq!(
            Source::from_ip("2001:db8:1:2::1").to_string(),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            Source::from_ip("::ffff:203.0.113.7").to_string(),
            "203.0.113.7"
        );
        assert_eq!(Source::from_ip("").to_string(), "unknown");
    }
}
