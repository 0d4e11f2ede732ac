//! The idempotency state machine of `Idempotency-Key`, independent of its store. The DynamoDB
//! store expresses [`decide`] as the condition of its claiming write (so the decision is atomic
//! there) and calls it to explain a refused write; the in-memory store calls it under its lock.
//! Both therefore keep the same lease, expiry and takeover rules.
//!
//! A key's life: claimed (`IN_PROGRESS`, with a lease and a token) → completed in the same
//! transaction that stores the order (`COMPLETED`, naming it) → forgotten after [`RETENTION`].
//! A claim whose holder died may be taken over once its lease has run out, and only by the same
//! request (same hash), so a key can never end up naming an order of another request.

use chrono::Duration;

use crate::domain::OrderId;
use crate::ports::ClaimOutcome;

/// How long a request may hold a key before a retry may take it over: longer than the function's
/// timeout, so a live request is never overtaken.
pub const LEASE: Duration = Duration::seconds(30);
/// How long a key is remembered after its first use.
pub const RETENTION: Duration = Duration::hours(24);

/// A key as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub request_hash: String,
    /// Set once the request that holds the key stored its order.
    pub order_id: Option<OrderId>,
    /// Epoch seconds until which the holder may still complete it.
    pub lease_until: i64,
    /// Epoch seconds after which the key is forgotten.
    pub expires_at: i64,
}

/// What a new request with a key finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The key is free, forgotten, or held by a dead holder of the same request: claim it.
    Claim,
    /// A request with this key finished and stored `order_id`.
    Completed {
        request_hash: String,
        order_id: OrderId,
    },
    /// A request with this key is still running.
    InProgress { request_hash: String },
}

impl Decision {
    /// What a request that found the key taken learns; `None` when it may claim the key.
    pub fn found(self) -> Option<ClaimOutcome> {
        match self {
            Self::Claim => None,
            Self::Completed {
                request_hash,
                order_id,
            } => Some(ClaimOutcome::Completed {
                request_hash,
                order_id,
            }),
            Self::InProgress { request_hash } => Some(ClaimOutcome::InProgress { request_hash }),
        }
    }
}

pub fn decide(existing: Option<&KeyRecord>, request_hash: &str, now: i64) -> Decision {
    let Some(held) = existing.filter(|held| held.expires_at >= now) else {
        return Decision::Claim;
    };
    match &held.order_id {
        Some(order_id) => Decision::Completed {
            request_hash: held.request_hash.clone(),
            order_id: order_id.clone(),
        },
        None if held.lease_until < now && held.request_hash == request_hash => Decision::Claim,
        None => Decision::InProgress {
            request_hash: held.request_hash.clone(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(hash: &str, order: Option<OrderId>, lease_until: i64, expires_at: i64) -> KeyRecord {
        KeyRecord {
            request_hash: hash.into(),
            order_id: order,
            lease_until,
            expires_at,
        }
    }

    #[test]
    fn a_free_or_forgotten_key_is_claimed() {
        assert_eq!(decide(None, "h", 100), Decision::Claim);
        let forgotten = held("other", Some(OrderId::generate()), 0, 99);
        assert_eq!(decide(Some(&forgotten), "h", 100), Decision::Claim);
    }

    #[test]
    fn a_completed_key_names_its_order_whatever_the_lease() {
        let id = OrderId::generate();
        let done = held("h", Some(id.clone()), 0, 1_000);
        assert_eq!(
            decide(Some(&done), "x", 100),
            Decision::Completed {
                request_hash: "h".into(),
                order_id: id
            }
        );
    }

    #[test]
    fn only_the_same_request_takes_over_a_claim_whose_lease_ran_out() {
        let live = held("h", None, 200, 1_000);
        let in_progress = Decision::InProgress {
            request_hash: "h".into(),
        };
        assert_eq!(decide(Some(&live), "h", 100), in_progress);
        let dead = held("h", None, 50, 1_000);
        assert_eq!(decide(Some(&dead), "h", 100), Decision::Claim);
        assert_eq!(decide(Some(&dead), "other", 100), in_progress);
    }
}
