//! The one error type of the use cases. It knows nothing of HTTP or SQS: the HTTP edge maps it to a
//! status and a problem document, and queue consumers ask [`AppError::is_retryable`].

use std::error::Error as StdError;

use crate::domain::{IllegalTransition, Invalid, OrderStatus};

/// One problem with one field of the request, as shown to the client.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    /// Where the problem is, as a JSON path (`items[0].quantity`), a header name
    /// (`Idempotency-Key`), a query parameter (`limit`) or a path parameter (`id`).
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn invalid(field: impl Into<String>, invalid: Invalid) -> Self {
        Self::new(field, invalid.0)
    }
}

type Cause = Box<dyn StdError + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request is malformed: wrong shape, types or values.
    #[error("the request is invalid")]
    Invalid(Vec<FieldError>),
    /// The request is well formed but cannot be carried out as asked (unknown product, an
    /// idempotency key reused for a different request, ...).
    #[error("{detail}")]
    Unprocessable {
        detail: String,
        errors: Vec<FieldError>,
    },
    #[error("authentication is required")]
    Unauthenticated,
    /// A login failed. One answer for a wrong password, an unknown account and a locked one, so
    /// the answer tells nobody which accounts exist.
    #[error(
        "the email or password is wrong, or the account is locked for a while after repeated failures"
    )]
    InvalidCredentials,
    #[error("{0}")]
    Forbidden(String),
    /// The resource does not exist *for this caller*: someone else's order is not found either.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The order has moved past the point where a customer may cancel it.
    #[error("the order can no longer be cancelled: it is {0}")]
    NotCancellable(OrderStatus),
    /// Only a completed order can be refunded (a cancellation refunds the others).
    #[error("only a completed order can be refunded: it is {0}")]
    NotRefundable(OrderStatus),
    /// Another request with the same `Idempotency-Key` is still running, or its claim is
    /// changing hands; the same request succeeds when retried shortly.
    #[error("a request with this Idempotency-Key is still being processed; retry shortly")]
    KeyInFlight,
    /// This request held the key too long and a retry took it over; the retry creates the order.
    #[error(
        "this request's Idempotency-Key was taken over by a retry; the retry creates the order"
    )]
    KeyTakenOver,
    /// Replacing this resource needs `If-Match` with the version it replaces.
    #[error("the {0} exists: replacing it needs If-Match with the ETag it was read with")]
    PreconditionRequired(&'static str),
    /// `If-Match` names a version that is no longer current: someone (an order, another admin)
    /// changed it since it was read.
    #[error("the {0} changed since it was read: read it again and retry")]
    PreconditionFailed(&'static str),
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("the request body must be JSON (`Content-Type: application/json`)")]
    UnsupportedMediaType,
    #[error("too many requests: at most {limit} per minute; retry after {retry_after_secs} s")]
    RateLimited {
        limit: u32,
        /// Epoch seconds when the window resets.
        reset_at: i64,
        retry_after_secs: u64,
    },
    /// A write lost an optimistic-locking race: someone else changed the item first.
    #[error("the {0} was changed concurrently")]
    StaleVersion(&'static str),
    /// A step asked for a transition the state machine forbids. Repeating it cannot help.
    #[error(transparent)]
    Refused(#[from] IllegalTransition),
    /// An outside system refused the request itself (an unknown payment method, say): the same
    /// request will be refused again, so it is not retried.
    #[error("{what} was refused: {reason}")]
    Rejected { what: &'static str, reason: String },
    /// A dependency failed so often that calls to it stop for a while (an open circuit breaker).
    #[error("{0} is unavailable for now")]
    Unavailable(&'static str),
    /// The operators closed this for now with a feature flag (`crate::flags`); nothing was done.
    #[error("{what} is paused by the operators; retry after {retry_after_secs} s")]
    Closed {
        what: &'static str,
        retry_after_secs: u64,
    },
    /// A dependency (DynamoDB, SQS, the payment provider) failed. The cause is logged, never
    /// shown to the client.
    #[error("{what} failed")]
    Dependency {
        what: &'static str,
        #[source]
        cause: Cause,
    },
    /// The function is misconfigured or met data its code does not expect. Retried (a fix or a
    /// redeploy makes it pass) and logged as an error; the client sees a 503, never the cause.
    #[error("{what} is broken")]
    Internal {
        what: &'static str,
        #[source]
        cause: Cause,
    },
}

impl AppError {
    pub fn invalid(field: impl Into<String>, invalid: Invalid) -> Self {
        Self::Invalid(vec![FieldError::invalid(field, invalid)])
    }

    pub fn dependency(what: &'static str, cause: impl Into<Cause>) -> Self {
        Self::Dependency {
            what,
            cause: cause.into(),
        }
    }

    pub fn internal(what: &'static str, cause: impl Into<Cause>) -> Self {
        Self::Internal {
            what,
            cause: cause.into(),
        }
    }

    /// Whether trying the same thing again later may succeed: true for failing dependencies,
    /// lost races and broken configuration (which a deploy fixes), false for anything the
    /// request itself got wrong or the state machine refuses.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Dependency { .. }
                | Self::Unavailable(_)
                | Self::Closed { .. }
                | Self::StaleVersion(_)
                | Self::RateLimited { .. }
                | Self::KeyInFlight
                | Self::Internal { .. }
        )
    }

    /// The error and every cause below it, for logs.
    pub fn chain(&self) -> String {
        let mut out = self.to_string();
        let mut source = self.source();
        while let Some(cause) = source {
            out.push_str(": ");
            out.push_str(&cause.to_string());
            source = cause.source();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_names_every_cause() {
        let io = std::io::Error::other("connection reset");
        let err = AppError::dependency("orders table", io);
        assert_eq!(err.chain(), "orders table failed: connection reset");
        assert!(err.is_retryable());
        assert!(!AppError::NotFound("order").is_retryable());
        assert!(AppError::internal("configuration", "ORDERS_TABLE is not set").is_retryable());
    }
}
