//! Retries with exponential backoff and full jitter, and a circuit breaker: how the service
//! treats a dependency that fails (the payment provider above all).
//!
//! Full jitter (a random wait between zero and the exponential cap) spreads the retries of many
//! concurrent Lambdas instead of synchronising them. The breaker counts *calls* that failed
//! after their retries; after `threshold` in a row it opens and calls fail at once with
//! [`AppError::Unavailable`] for `cool_down`, then lets one trial call through (half-open): its
//! success closes the circuit, its failure opens it again. The state lives in the container, so
//! each warm Lambda instance protects the provider on its own.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::AppError;

#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub attempts: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl Backoff {
    /// How long to wait before retry number `retry` (0 = the first retry): uniform in
    /// `[0, min(cap, base * 2^retry)]`.
    pub fn delay(&self, retry: u32) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(2u32.saturating_pow(retry))
            .min(self.cap);
        let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(fastrand::u64(0..=millis))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { trial_running: bool },
}

#[derive(Debug)]
pub struct CircuitBreaker {
    name: &'static str,
    threshold: u32,
    cool_down: Duration,
    state: Mutex<State>,
}

impl CircuitBreaker {
    pub fn new(name: &'static str, threshold: u32, cool_down: Duration) -> Self {
        Self {
            name,
            threshold: threshold.max(1),
            cool_down,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether a call may go out now; `Err(Unavailable)` while open.
    pub fn admit(&self, now: Instant) -> Result<(), AppError> {
        let mut state = self.lock();
        match *state {
            State::Closed { .. } => Ok(()),
            State::Open { until } if now < until => Err(AppError::Unavailable(self.name)),
            State::Open { .. }
            | State::HalfOpen {
                trial_running: false,
            } => {
                *state = State::HalfOpen {
                    trial_running: true,
                };
                tracing::info!(dependency = self.name, "circuit half-open: one trial call");
                Ok(())
            }
            State::HalfOpen {
                trial_running: true,
            } => Err(AppError::Unavailable(self.name)),
        }
    }

    pub fn succeeded(&self) {
        let mut state = self.lock();
        if !matches!(*state, State::Closed { failures: 0 }) {
            tracing::info!(dependency = self.name, "circuit closed");
        }
        *state = State::Closed { failures: 0 };
    }

    pub fn failed(&self, now: Instant) {
        let mut state = self.lock();
        let failures = match *state {
            State::Closed { failures } => failures + 1,
            _ => self.threshold,
        };
        *state = if failures >= self.threshold {
            tracing::warn!(
                dependency = self.name,
                cool_down_secs = self.cool_down.as_secs(),
                "circuit open"
            );
            crate::metrics::Metric::CircuitOpened.emit(1.0, Some(self.name));
            State::Open {
                until: now + self.cool_down,
            }
        } else {
            State::Closed { failures }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_jitter_stays_under_the_exponential_cap() {
        let backoff = Backoff {
            attempts: 4,
            base: Duration::from_millis(100),
            cap: Duration::from_millis(1_000),
        };
        for retry in 0..6 {
            let ceiling = Duration::from_millis(100 * 2u64.pow(retry)).min(backoff.cap);
            let delays: Vec<_> = (0..200).map(|_| backoff.delay(retry)).collect();
            assert!(delays.iter().all(|d| *d <= ceiling), "retry {retry}");
            assert!(
                delays.iter().any(|d| *d < ceiling / 2),
                "jittered, not fixed"
            );
        }
    }

    #[test]
    fn the_circuit_opens_after_the_threshold_and_lets_one_trial_through_after_the_cool_down() {
        let breaker = CircuitBreaker::new("payment provider", 3, Duration::from_secs(30));
        let t0 = Instant::now();
        for _ in 0..2 {
            breaker.admit(t0).unwrap();
            breaker.failed(t0);
        }
        breaker.admit(t0).unwrap();
        breaker.failed(t0);
        assert!(matches!(
            breaker.admit(t0 + Duration::from_secs(29)),
            Err(AppError::Unavailable("payment provider"))
        ));

        let later = t0 + Duration::from_secs(31);
        breaker.admit(later).unwrap();
        assert!(breaker.admit(later).is_err(), "one trial at a time");
        breaker.failed(later);
        assert!(
            breaker.admit(later).is_err(),
            "a failed trial opens it again"
        );

        let much_later = later + Duration::from_secs(31);
        breaker.admit(much_later).unwrap();
        breaker.succeeded();
        for _ in 0..5 {
            breaker.admit(much_later).unwrap();
        }
    }

    #[test]
    fn a_success_resets_the_count_of_failures() {
        let breaker = CircuitBreaker::new("p", 2, Duration::from_secs(30));
        let now = Instant::now();
        breaker.failed(now);
        breaker.succeeded();
        breaker.failed(now);
        assert!(breaker.admit(now).is_ok());
    }
}
