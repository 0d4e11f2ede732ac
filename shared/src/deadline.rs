//! The time one unit of work may still take, carried with the task that does it.
//!
//! The SQS batch runner gives each record its step's budget and runs it [`within`] that deadline;
//! adapters that make slow calls (the payment provider) ask [`remaining`] to size each attempt's
//! timeout and to decide whether one more retry still fits, so a record gives up on its own, and
//! reports the failure to the circuit breaker, before the runner has to cut it off.

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

tokio::task_local! {
    static DEADLINE: Instant;
}

/// When the invocation must have answered, from the context's deadline (epoch milliseconds).
/// `None` when the context carries none, or one that passed before the invocation began: no
/// real invocation starts after its deadline, but emulators send placeholders (`cargo lambda
/// watch` sends 600000, ten minutes after 1970). Records are then bounded by their budget only.
pub fn of(context: &lambda_runtime::Context) -> Option<Instant> {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    if context.deadline <= now_ms {
        return None;
    }
    Some(Instant::now() + Duration::from_millis(context.deadline - now_ms))
}

/// Runs `work` with `deadline` visible to [`remaining`] inside it.
pub async fn within<F: Future>(deadline: Instant, work: F) -> F::Output {
    DEADLINE.scope(deadline, work).await
}

/// The time left before the current work's deadline; `None` outside [`within`] (an API request,
/// a test), where callers use their own fixed timeouts.
pub fn remaining() -> Option<Duration> {
    DEADLINE
        .try_with(|deadline| deadline.saturating_duration_since(Instant::now()))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_is_read_from_the_context_unless_it_is_missing_or_a_placeholder() {
        let mut context = lambda_runtime::Context::default();
        assert_eq!(of(&context), None, "none given");
        context.deadline = 600_000;
        assert_eq!(of(&context), None, "cargo lambda watch's placeholder");
        let context = crate::testing::context(Duration::from_secs(30));
        let left = of(&context).unwrap() - Instant::now();
        assert!(left > Duration::from_secs(29) && left <= Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_is_seen_inside_and_shrinks_with_time() {
        assert_eq!(remaining(), None);
        let deadline = Instant::now() + Duration::from_secs(5);
        within(deadline, async {
            assert_eq!(remaining(), Some(Duration::from_secs(5)));
            tokio::time::sleep(Duration::from_secs(2)).await;
            assert_eq!(remaining(), Some(Duration::from_secs(3)));
            tokio::time::sleep(Duration::from_secs(9)).await;
            assert_eq!(remaining(), Some(Duration::ZERO));
        })
        .await;
    }
}
