//! Token buckets, as API Gateway throttles: a steady `rate` per second and a `burst` capacity.
//! Stage and method settings come from the API's `MethodSettings`; usage plans add one bucket and a
//! quota per API key.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    pub rate: f64,
    pub burst: f64,
}

#[derive(Debug)]
pub struct Bucket {
    limit: Limit,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    pub fn new(limit: Limit, now: Instant) -> Self {
        Self {
            limit,
            tokens: limit.burst,
            last: now,
        }
    }

    /// Takes one token if there is one.
    pub fn try_take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.limit.rate).min(self.limit.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Buckets by key (a method, an API key), created on first use.
#[derive(Debug, Default)]
pub struct Buckets {
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Buckets {
    pub fn try_take(&self, key: &str, limit: Limit, now: Instant) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        buckets
            .entry(key.to_string())
            .or_insert_with(|| Bucket::new(limit, now))
            .try_take(now)
    }
}

/// A usage plan quota: at most `limit` requests per period, counted per key.
#[derive(Debug, Default)]
pub struct Quotas {
    used: Mutex<HashMap<(String, String), u64>>,
}

impl Quotas {
    /// Counts one request in `period` (e.g. `2026-11` for a monthly quota); false when over.
    pub fn try_count(&self, key: &str, period: &str, limit: u64) -> bool {
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        let count = used
            .entry((key.to_string(), period.to_string()))
            .or_insert(0);
        if *count >= limit {
            return false;
        }
        *count += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let start = Instant::now();
        let mut bucket = Bucket::new(
            Limit {
                rate: 2.0,
                burst: 3.0,
            },
            start,
        );
        let burst = (0..10).filter(|_| bucket.try_take(start)).count();
        assert_eq!(burst, 3);
        assert!(!bucket.try_take(start + Duration::from_millis(100)));
        assert!(
            bucket.try_take(start + Duration::from_millis(600)),
            "refilled by 2/s"
        );
        let later = start + Duration::from_secs(60);
        assert_eq!(
            (0..10).filter(|_| bucket.try_take(later)).count(),
            3,
            "never above the burst"
        );
    }

    #[test]
    fn buckets_are_per_key_and_quotas_per_period() {
        let now = Instant::now();
        let buckets = Buckets::default();
        let limit = Limit {
            rate: 0.0,
            burst: 1.0,
        };
        assert!(buckets.try_take("a", limit, now));
        assert!(!buckets.try_take("a", limit, now));
        assert!(buckets.try_take("b", limit, now));

        let quotas = Quotas::default();
        assert!(quotas.try_count("k", "2026-11", 2));
        assert!(quotas.try_count("k", "2026-11", 2));
        assert!(!quotas.try_count("k", "2026-11", 2));
        assert!(quotas.try_count("k", "2026-12", 2));
    }
}
