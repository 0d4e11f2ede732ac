//! Reading a JSON body into a request type, with errors that name the offending field.

use lambda_http::Request;
use serde::de::DeserializeOwned;

use crate::error::{AppError, FieldError};

/// The largest request body accepted: 32 KiB, plenty for 50 order lines.
pub const MAX_BODY_BYTES: usize = 32 * 1024;

pub fn json_body<T: DeserializeOwned>(req: &Request) -> Result<T, AppError> {
    if let Some(content_type) = req.headers().get(http::header::CONTENT_TYPE) {
        let essence = content_type
            .to_str()
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if essence != "application/json" && !essence.ends_with("+json") {
            return Err(AppError::UnsupportedMediaType);
        }
    }
    let bytes: &[u8] = req.body().as_ref();
    if bytes.len() > MAX_BODY_BYTES {
        return Err(AppError::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        });
    }
    // serde would also read a struct from an array; the API takes objects only.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(AppError::Invalid(vec![FieldError::new(
            "body",
            "must be a JSON object",
        )]));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(field_error)?;
    de.end().map_err(|_| {
        AppError::Invalid(vec![FieldError::new(
            "body",
            "has data after the JSON value",
        )])
    })?;
    Ok(value)
}

/// A body that may be left out: none (or only whitespace) reads as `T::default()`; anything else
/// as [`json_body`] reads it.
pub fn optional_json_body<T: DeserializeOwned + Default>(req: &Request) -> Result<T, AppError> {
    let bytes: &[u8] = req.body().as_ref();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    json_body(req)
}

fn field_error(err: serde_path_to_error::Error<serde_json::Error>) -> AppError {
    let inner = err.inner();
    if inner.is_syntax() || inner.is_eof() {
        return AppError::Invalid(vec![FieldError::new(
            "body",
            format!(
                "is not valid JSON (line {}, column {})",
                inner.line(),
                inner.column()
            ),
        )]);
    }
    let path = err.path().to_string();
    let message = without_position(&inner.to_string());
    // serde reports a missing field at its parent; name the field itself.
    let field = missing_field(&message)
        .map(|name| join(&path, name))
        .unwrap_or_else(|| {
            if path == "." {
                "body".to_string()
            } else {
                path
            }
        });
    AppError::Invalid(vec![FieldError::new(field, message)])
}

/// serde_json appends " at line L column C"; the field name says where already.
fn without_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.split('`').next()
}

fn join(path: &str, name: &str) -> String {
    if path == "." {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Line {
        quantity: u32,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Shape {
        items: Vec<Line>,
    }

    fn request(body: &str) -> Request {
        http::Request::builder()
            .header("content-type", "application/json")
            .body(lambda_http::Body::from(body))
            .unwrap()
    }

    fn field_of(body: &str) -> String {
        match json_body::<Shape>(&request(body)) {
            Err(AppError::Invalid(errors)) => errors[0].field.clone(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn errors_name_the_field_where_they_are() {
        assert_eq!(
            field_of(r#"{"items":[{"quantity":"2"}]}"#),
            "items[0].quantity"
        );
        assert_eq!(
            field_of(r#"{"items":[{"quantity":1,"price":5}]}"#),
            "items[0].price"
        );
        assert_eq!(field_of(r#"{}"#), "items");
        assert_eq!(field_of(r#"{"items":[]"#), "body");
        assert_eq!(field_of(r#"[1]"#), "body");
        assert_eq!(field_of(""), "body");
        assert_eq!(field_of(r#"{"items":[]} {}"#), "body");
    }

    #[test]
    fn non_json_and_oversized_bodies_are_refused() {
        let form = http::Request::builder()
            .header("content-type", "application/x-www-form-urlencoded")
            .body(lambda_http::Body::from("a=b"))
            .unwrap();
        assert!(matches!(
            json_body::<Shape>(&form),
            Err(AppError::UnsupportedMediaType)
        ));
        let big = format!(r#"{{"items":[],"pad":"{}"}}"#, "x".repeat(MAX_BODY_BYTES));
        assert!(matches!(
            json_body::<Shape>(&request(&big)),
            Err(AppError::PayloadTooLarge { .. })
        ));
    }
}
