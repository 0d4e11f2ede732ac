//! `application/problem+json` responses (RFC 9457). The client sees a stable `type`, a title, a
//! detail it can act on, the fields at fault and the correlation id; causes of server-side
//! failures go to the log only.

use http::StatusCode;
use lambda_http::{Body, Response};
use serde::Serialize;

use super::RequestInfo;
use crate::error::{AppError, FieldError};

/// A problem a function answers (the gateway's own carry `requestId` instead of
/// `correlationId`: see `openapi`).
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = ServiceProblem))]
#[serde(rename_all = "camelCase")]
pub struct Problem<'a> {
    /// `/problems/<slug>`: stable, for clients to branch on.
    #[serde(rename = "type")]
    kind: String,
    title: &'static str,
    status: u16,
    detail: String,
    /// The request's path.
    instance: &'a str,
    correlation_id: &'a str,
    /// Each field at fault, for 400 and 422.
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    errors: &'a [FieldError],
}

pub fn problem(err: &AppError, info: &RequestInfo) -> Response<Body> {
    let (status, slug, title) = classify(err);
    let (detail, errors): (String, &[FieldError]) = match err {
        AppError::Invalid(errors) => (summary(errors), errors),
        AppError::Unprocessable { detail, errors } => (detail.clone(), errors),
        AppError::Dependency { .. }
        | AppError::Unavailable(_)
        | AppError::Internal { .. }
        | AppError::Rejected { .. }
        | AppError::Refused(_) => {
            tracing::error!(error = %err.chain(), "server-side failure");
            (
                "a service this request depends on is unavailable; retry later".into(),
                &[],
            )
        }
        other => (other.to_string(), &[]),
    };
    if status.is_client_error() {
        tracing::info!(status = status.as_u16(), detail = %detail, "request refused");
    }
    let body = Problem {
        kind: format!("/problems/{slug}"),
        title,
        status: status.as_u16(),
        detail,
        instance: &info.instance,
        correlation_id: &info.correlation_id,
        errors,
    };
    let mut builder = Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/problem+json")
        .header(http::header::CACHE_CONTROL, "no-store");
    match err {
        AppError::Unauthenticated => {
            builder = builder.header(http::header::WWW_AUTHENTICATE, "Bearer");
        }
        AppError::RateLimited {
            limit,
            reset_at,
            retry_after_secs,
        } => {
            builder = builder
                .header(http::header::RETRY_AFTER, retry_after_secs.to_string())
                .header("x-ratelimit-limit", limit.to_string())
                .header("x-ratelimit-remaining", "0")
                .header("x-ratelimit-reset", reset_at.to_string());
        }
        AppError::Closed {
            retry_after_secs, ..
        } => {
            builder = builder.header(http::header::RETRY_AFTER, retry_after_secs.to_string());
        }
        AppError::Dependency { .. }
        | AppError::Unavailable(_)
        | AppError::Internal { .. }
        | AppError::StaleVersion(_)
        | AppError::KeyInFlight => {
            builder = builder.header(http::header::RETRY_AFTER, "1");
        }
        _ => {}
    }
    let json = serde_json::to_string(&body).unwrap_or_default();
    builder
        .body(Body::from(json))
        .unwrap_or_else(|_| Response::new(Body::Empty))
}

fn classify(err: &AppError) -> (StatusCode, &'static str, &'static str) {
    match err {
        AppError::Invalid(_) => (
            StatusCode::BAD_REQUEST,
            "invalid-request",
            "Invalid request",
        ),
        AppError::Unprocessable { .. } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "unprocessable",
            "Request cannot be processed",
        ),
        AppError::Unauthenticated => (
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "Authentication required",
        ),
        AppError::InvalidCredentials => (
            StatusCode::UNAUTHORIZED,
            "invalid-credentials",
            "Login failed",
        ),
        AppError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", "Forbidden"),
        AppError::NotFound(_) => (StatusCode::NOT_FOUND, "not-found", "Not found"),
        AppError::NotCancellable(_) => (
            StatusCode::CONFLICT,
            "not-cancellable",
            "Order can no longer be cancelled",
        ),
        AppError::NotRefundable(_) => (
            StatusCode::CONFLICT,
            "not-refundable",
            "Order cannot be refunded",
        ),
        AppError::KeyInFlight => (
            StatusCode::CONFLICT,
            "idempotency-key-in-flight",
            "Request in progress",
        ),
        AppError::KeyTakenOver => (
            StatusCode::CONFLICT,
            "idempotency-key-taken-over",
            "Request superseded",
        ),
        AppError::StaleVersion(_) => (
            StatusCode::CONFLICT,
            "concurrent-update",
            "Concurrent update",
        ),
        AppError::PreconditionRequired(_) => (
            StatusCode::PRECONDITION_REQUIRED,
            "precondition-required",
            "If-Match required",
        ),
        AppError::PreconditionFailed(_) => (
            StatusCode::PRECONDITION_FAILED,
            "precondition-failed",
            "Changed since read",
        ),
        AppError::PayloadTooLarge { .. } => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Request body too large",
        ),
        AppError::UnsupportedMediaType => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
        ),
        AppError::RateLimited { .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "Too many requests",
        ),
        AppError::Closed { .. } => (
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily-closed",
            "Temporarily closed",
        ),
        AppError::Dependency { .. }
        | AppError::Unavailable(_)
        | AppError::Internal { .. }
        | AppError::Rejected { .. }
        | AppError::Refused(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable",
        ),
    }
}

fn summary(errors: &[FieldError]) -> String {
    match errors {
        [one] => format!("`{}` {}", one.field, one.message),
        _ => format!("{} fields are invalid; see `errors`", errors.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> RequestInfo {
        RequestInfo {
            correlation_id: "c-1".into(),
            instance: "/orders".into(),
        }
    }

    fn body(response: &Response<Body>) -> serde_json::Value {
        serde_json::from_slice(response.body().as_ref()).unwrap()
    }

    #[test]
    fn validation_problems_list_every_field() {
        let err = AppError::Invalid(vec![FieldError::new(
            "items[0].quantity",
            "must be 1 to 100",
        )]);
        let response = problem(&err, &info());
        assert_eq!(response.status(), 400);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let json = body(&response);
        assert_eq!(json["errors"][0]["field"], "items[0].quantity");
        assert_eq!(json["correlationId"], "c-1");
        assert_eq!(json["instance"], "/orders");
        assert_eq!(json["type"], "/problems/invalid-request");
    }

    #[test]
    fn dependency_failures_hide_their_cause() {
        let err = AppError::dependency("orders table", "secret internal hostname db-7.internal");
        let response = problem(&err, &info());
        assert_eq!(response.status(), 503);
        assert!(!String::from_utf8_lossy(response.body().as_ref()).contains("db-7"));
        assert_eq!(response.headers()["retry-after"], "1");
    }

    #[test]
    fn a_configuration_error_is_a_retryable_503_that_hides_its_cause() {
        let err = AppError::internal("configuration", "ORDERS_TABLE is not set");
        let response = problem(&err, &info());
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()["retry-after"], "1");
        assert!(!String::from_utf8_lossy(response.body().as_ref()).contains("ORDERS_TABLE"));
    }
}
