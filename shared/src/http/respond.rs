//! Successful responses: JSON, and JSON with an `ETag` that answers `If-None-Match` with 304.

use http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Serialize;

pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Body> {
    let body = serde_json::to_string(value).unwrap_or_default();
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap_or_else(|_| Response::new(Body::Empty))
}

pub fn with_header(
    mut response: Response<Body>,
    name: &'static str,
    value: &str,
) -> Response<Body> {
    if let Ok(value) = http::HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
    response
}

/// Who may keep a copy of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caching {
    /// Per-user data: browsers may keep it but must revalidate every time.
    Private,
    /// Public data: anyone may keep it for `max_age` seconds.
    Public { max_age: u32 },
}

impl Caching {
    fn header(self) -> String {
        match self {
            Self::Private => "private, no-cache".into(),
            Self::Public { max_age } => format!("public, max-age={max_age}"),
        }
    }
}

/// A 200 JSON response with a strong `ETag` over its body; 304 with no body when the request's
/// `If-None-Match` already names it.
pub fn cacheable_json<T: Serialize>(req: &Request, value: &T, caching: Caching) -> Response<Body> {
    let body = serde_json::to_string(value).unwrap_or_default();
    let digest = crate::digest::sha256_hex(body.as_bytes());
    tagged_json(req, body, caching, format!("\"{}\"", &digest[..32]))
}

/// The strong `ETag` of a resource that carries a version (every change bumps it): what
/// `If-Match` names to replace exactly that version.
pub fn version_tag(version: u64) -> String {
    format!("\"{version}\"")
}

/// Like [`cacheable_json`], with the resource's version as its `ETag`.
pub fn versioned_json<T: Serialize>(
    req: &Request,
    value: &T,
    caching: Caching,
    version: u64,
) -> Response<Body> {
    let body = serde_json::to_string(value).unwrap_or_default();
    tagged_json(req, body, caching, version_tag(version))
}

/// The version `If-Match` names (`"7"`), if the request has one; anything else is refused naming
/// the header.
pub fn if_match_version(req: &Request) -> Result<Option<u64>, crate::AppError> {
    let Some(raw) = super::header(req, "If-Match")? else {
        return Ok(None);
    };
    raw.trim()
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .and_then(|v| v.parse().ok())
        .map(Some)
        .ok_or_else(|| {
            crate::AppError::invalid(
                "If-Match",
                crate::domain::Invalid("must be the ETag the resource was read with".into()),
            )
        })
}

fn tagged_json(req: &Request, body: String, caching: Caching, etag: String) -> Response<Body> {
    let not_modified = req
        .headers()
        .get_all(http::header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == etag || tag == "*");
    let builder = Response::builder()
        .header(http::header::ETAG, &etag)
        .header(http::header::CACHE_CONTROL, caching.header());
    let response = if not_modified {
        builder.status(StatusCode::NOT_MODIFIED).body(Body::Empty)
    } else {
        builder
            .status(StatusCode::OK)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
    };
    response.unwrap_or_else(|_| Response::new(Body::Empty))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(if_none_match: Option<&str>) -> Request {
        let mut builder = http::Request::builder();
        if let Some(tag) = if_none_match {
            builder = builder.header("if-none-match", tag);
        }
        builder.body(Body::Empty).unwrap()
    }

    #[test]
    fn a_matching_etag_gets_304_and_a_stale_one_the_body() {
        let value = serde_json::json!({"id": "p-1"});
        let first = cacheable_json(&get(None), &value, Caching::Private);
        assert_eq!(first.status(), 200);
        let etag = first.headers()["etag"].to_str().unwrap().to_string();
        assert_eq!(etag.len(), 34);
        assert_eq!(first.headers()["cache-control"], "private, no-cache");

        let again = cacheable_json(&get(Some(&etag)), &value, Caching::Private);
        assert_eq!(again.status(), 304);
        assert!(again.body().is_empty());
        let listed = cacheable_json(
            &get(Some(&format!("\"x\", W/{etag}"))),
            &value,
            Caching::Private,
        );
        assert_eq!(listed.status(), 304);

        let changed = serde_json::json!({"id": "p-2"});
        let fresh = cacheable_json(&get(Some(&etag)), &changed, Caching::Public { max_age: 60 });
        assert_eq!(fresh.status(), 200);
        assert_eq!(fresh.headers()["cache-control"], "public, max-age=60");
    }
}
