//! The time one unit of work may still take, carried with the task that does it.
//!
//! The SQS batch runner gives each record its step's budget and runs it [`within`] that deadline;
//! adapters that make slow calls (the payment provider) ask [`remaining`] to size each attempt's
//! timeout and to decide whether one more retry still fits, so a record gives up on its own, and
//! reports the failure to the circuit breaker, before the runner has to cut it off.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

tokio::task_local! {
    static DEADLINE: Instant;
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
