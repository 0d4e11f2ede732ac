//! The HTTP edge every API function shares: it turns an API Gateway request into the caller,
//! typed input and a correlation id, and turns a use case's result into a response. Errors become
//! `application/problem+json` (RFC 9457) here and nowhere else.

mod body;
#[cfg(feature = "openapi")]
pub mod openapi;
mod problem;
mod respond;
pub mod views;

use std::convert::Infallible;
use std::future::Future;
use std::time::Instant;

pub use body::{MAX_BODY_BYTES, json_body, optional_json_body};
use lambda_http::request::RequestContext;
pub use lambda_http::{Body, Request, RequestExt, Response};
pub use problem::problem;
pub use respond::{
    Caching, cacheable_json, if_match_version, json, version_tag, versioned_json, with_header,
};
use tracing::Instrument;

use crate::config::ConfigError;
use crate::domain::{Caller, CustomerId, Invalid, Role};
use crate::error::AppError;
use crate::service::accounts::Counted;
use crate::service::limits::{Quota, RateLimit, Source};
use crate::wiring::{Wire, Wiring};

/// What an authenticated route holds: the per-user rate limit, and the use case it serves.
pub struct Authenticated<U> {
    pub limit: RateLimit,
    pub use_case: U,
}

#[async_trait::async_trait]
impl<U: Wire> Wire for Authenticated<U> {
    async fn wire<W: Wiring + ?Sized>(from: &W) -> Result<Self, ConfigError> {
        Ok(Self {
            limit: RateLimit::wire(from).await?,
            use_case: U::wire(from).await?,
        })
    }
}

pub const CORRELATION_HEADER: &str = "x-correlation-id";
/// The longest correlation id taken from a client.
const MAX_CORRELATION_ID: usize = 128;

/// What every response and log line of one request carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestInfo {
    pub correlation_id: String,
    /// The request path, the problem document's `instance`.
    pub instance: String,
}

impl RequestInfo {
    pub fn of(req: &Request) -> Self {
        let from_client = req
            .headers()
            .get(CORRELATION_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|v| is_safe_token(v, MAX_CORRELATION_ID));
        let from_gateway = || match req.request_context_ref() {
            Some(RequestContext::ApiGatewayV1(ctx)) => ctx.request_id.clone(),
            _ => None,
        };
        let correlation_id = from_client
            .map(str::to_string)
            .or_else(from_gateway)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        Self {
            correlation_id,
            instance: req.uri().path().to_string(),
        }
    }
}

fn is_safe_token(value: &str, max: usize) -> bool {
    !value.is_empty()
        && value.len() <= max
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// Runs one request through `handler`: sets up the log span, turns an error into a problem
/// response, adds the correlation id header and logs one line with the outcome. Never fails, so
/// the Lambda runtime never sees an error from an API function.
pub async fn serve<F, Fut>(req: Request, handler: F) -> Result<Response<Body>, Infallible>
where
    F: FnOnce(Request, RequestInfo) -> Fut,
    Fut: Future<Output = Result<Response<Body>, AppError>>,
{
    let started = Instant::now();
    let info = RequestInfo::of(&req);
    let method = req.method().to_string();
    let span = tracing::info_span!(
        "request",
        correlation_id = %info.correlation_id,
        method = %method,
        path = %info.instance,
    );
    if req.headers().get(CORRELATION_HEADER).is_some_and(|v| {
        v.to_str()
            .map_or(true, |v| !is_safe_token(v, MAX_CORRELATION_ID))
    }) {
        // Recorded, not refused: the request goes on under a fresh id.
        span.in_scope(|| {
            tracing::info!(
                "x-correlation-id refused (1-128 of A-Z a-z 0-9 - _ . :); a new one is used"
            );
        });
    }
    let result = handler(req, info.clone()).instrument(span.clone()).await;
    let mut response = result.unwrap_or_else(|err| problem(&err, &info));
    if let Ok(value) = http::HeaderValue::from_str(&info.correlation_id) {
        response.headers_mut().insert(CORRELATION_HEADER, value);
    }
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            duration_ms = started.elapsed().as_millis() as u64,
            "request handled"
        );
    });
    Ok(response)
}

/// Like [`serve`], for routes of an authenticated caller: the caller comes from the authorizer
/// context, the per-user rate limit is counted before the handler runs, and every answer (errors
/// too) carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` (epoch seconds).
pub async fn serve_caller<F, Fut>(
    req: Request,
    limit: &RateLimit,
    handler: F,
) -> Result<Response<Body>, Infallible>
where
    F: FnOnce(Request, RequestInfo, Caller) -> Fut,
    Fut: Future<Output = Result<Response<Body>, AppError>>,
{
    serve(req, |req, info| async move {
        let caller = caller(&req)?;
        let quota = limit.take(&caller, chrono::Utc::now()).await?;
        let response = handler(req, info.clone(), caller)
            .await
            .unwrap_or_else(|err| problem(&err, &info));
        Ok(with_quota(response, &quota))
    })
    .await
}

/// Like [`serve`], for the routes that count a caller's source address themselves (sign-up and
/// login, which have no signed-in user to count): the handler's answer, errors included, carries
/// the `X-RateLimit-*` headers of what it was counted against.
pub async fn serve_counted<F, Fut>(req: Request, handler: F) -> Result<Response<Body>, Infallible>
where
    F: FnOnce(Request, Source) -> Fut,
    Fut: Future<Output = Counted<Response<Body>>>,
{
    serve(req, |req, info| async move {
        let source = source(&req);
        let counted = handler(req, source).await;
        let response = counted.outcome.unwrap_or_else(|err| problem(&err, &info));
        Ok(match counted.quota {
            Some(quota) => with_quota(response, &quota),
            None => response,
        })
    })
    .await
}

/// Adds `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` (epoch seconds).
pub fn with_quota(response: Response<Body>, quota: &Quota) -> Response<Body> {
    let response = with_header(response, "x-ratelimit-limit", &quota.limit.to_string());
    let response = with_header(
        response,
        "x-ratelimit-remaining",
        &quota.remaining.to_string(),
    );
    with_header(response, "x-ratelimit-reset", &quota.reset_at.to_string())
}

/// The address API Gateway saw the request come from (`requestContext.identity.sourceIp`).
pub fn source(req: &Request) -> Source {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(ctx)) => {
            Source::from_ip(ctx.identity.source_ip.as_deref().unwrap_or_default())
        }
        _ => Source::from_ip(""),
    }
}

/// The authenticated caller, from the authorizer context that API Gateway adds to the event
/// (`requestContext.authorizer.principalId` and `.role`). Without it the request is refused.
pub fn caller(req: &Request) -> Result<Caller, AppError> {
    let fields = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(ctx)) => &ctx.authorizer.fields,
        _ => return Err(AppError::Unauthenticated),
    };
    let principal = fields
        .get("principalId")
        .and_then(|v| v.as_str())
        .ok_or(AppError::Unauthenticated)?;
    let id = CustomerId::parse(principal).map_err(|_| AppError::Unauthenticated)?;
    let role = match fields.get("role").and_then(|v| v.as_str()) {
        None => Role::Customer,
        Some(raw) => Role::parse(raw).ok_or(AppError::Unauthenticated)?,
    };
    Ok(Caller { id, role })
}

/// A path parameter parsed into its type; a missing or malformed one names itself.
pub fn path_param<T>(
    req: &Request,
    name: &str,
    parse: impl FnOnce(&str) -> Result<T, Invalid>,
) -> Result<T, AppError> {
    let raw = req
        .path_parameters_ref()
        .and_then(|p| p.first(name))
        .ok_or_else(|| AppError::invalid(name, Invalid("is required".into())))?;
    parse(raw).map_err(|e| AppError::invalid(name, e))
}

/// A query parameter, if present (empty values count as absent).
pub fn query_param<'r>(req: &'r Request, name: &str) -> Option<&'r str> {
    req.query_string_parameters_ref()
        .and_then(|q| q.first(name))
        .filter(|v| !v.is_empty())
}

/// A header, if present, by its documented name (matched case-insensitively); a value that is
/// not visible ASCII is refused naming the header as documented.
pub fn header<'r>(req: &'r Request, name: &str) -> Result<Option<&'r str>, AppError> {
    match req.headers().get(name) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .map(Some)
            .map_err(|_| AppError::invalid(name, Invalid("must be visible ASCII".into()))),
    }
}
