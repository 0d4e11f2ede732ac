//! 201 `{"email"}` for a new and an existing account alike; 400 naming `email` or `password`;
//! 429 with `Retry-After` past the sign-ups of this address.

use std::convert::Infallible;

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::http::{self, views::RegisteredView};
use shared::service::accounts::{Counted, Credentials, Registration};

pub type Deps = Registration;

pub async fn handle(deps: &Deps, req: Request) -> Result<Response<Body>, Infallible> {
    http::serve_counted(req, |req, source| async move {
        let credentials: Credentials = match http::json_body(&req) {
            Ok(credentials) => credentials,
            Err(err) => return Counted::refused(err),
        };
        deps.register(&credentials, &source).await.map(|email| {
            http::json(
                StatusCode::CREATED,
                &RegisteredView {
                    email: email.as_str(),
                },
            )
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use shared::testing::{self, Memory};
    use shared::wiring::Wire;

    use super::*;

    const EVENT: &str = include_str!("../../../events/register.json");

    #[tokio::test]
    async fn the_sample_event_registers_and_a_repeat_looks_the_same() {
        let deps = Deps::wire(&Memory::new()).await.unwrap();
        let first = handle(&deps, testing::request_from_event(EVENT))
            .await
            .unwrap();
        let again = handle(&deps, testing::request_from_event(EVENT))
            .await
            .unwrap();
        assert_eq!(first.status(), 201);
        assert_eq!(
            (again.status(), again.body()),
            (first.status(), first.body())
        );
    }

    #[tokio::test]
    async fn a_short_password_is_400_naming_it() {
        let deps = Deps::wire(&Memory::new()).await.unwrap();
        let mut event: serde_json::Value = serde_json::from_str(EVENT).unwrap();
        event["body"] = r#"{"email":"ada@example.com","password":"short"}"#.into();
        let response = handle(&deps, testing::request_from_event(&event.to_string()))
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        assert_eq!(body["errors"][0]["field"], "password");
    }
}
