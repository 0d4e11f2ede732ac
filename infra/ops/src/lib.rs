//! What `order-admin` does, as functions over the production ports and SDK clients, so that the
//! tests run each command against the emulator exactly as an operator runs it against a stage.

pub mod dead_letters;
pub mod restore;
pub mod stage;

use chrono::{DateTime, Utc};
use shared::AppError;
use shared::domain::{Order, OrderStatus};
use shared::ports::OrderRepository;

/// Every order in a non-terminal state whose last change is older than `older_than`, oldest
/// first: the stalled orders the reconciler re-drives, for a person to look at (orders that
/// still owe compensation are the reconciler's other list: its invariant violations).
pub async fn stuck(
    orders: &dyn OrderRepository,
    older_than: chrono::Duration,
    now: DateTime<Utc>,
) -> Result<Vec<Order>, AppError> {
    let mut stuck = Vec::new();
    for status in OrderStatus::ALL.into_iter().filter(|s| !s.is_terminal()) {
        stuck.extend(
            orders
                .changed_between(status, DateTime::UNIX_EPOCH, now - older_than)
                .await?,
        );
    }
    stuck.sort_by_key(|o| o.updated_at);
    Ok(stuck)
}
