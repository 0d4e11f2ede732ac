//! 200 `{"token","tokenType":"Bearer","expiresIn"}`; 401 for any failure, alike; 429 with
//! `Retry-After` past the attempts of this account from this address, or of this address.

use std::convert::Infallible;

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::http;
use shared::service::accounts::{Counted, Credentials, Login};

pub type Deps = Login;

pub async fn handle(deps: &Deps, req: Request) -> Result<Response<Body>, Infallible> {
    http::serve_counted(req, |req, source| async move {
        let credentials: Credentials = match http::json_body(&req) {
            Ok(credentials) => credentials,
            Err(err) => return Counted::refused(err),
        };
        deps.login(&credentials, &source).await.map(|issued| {
            http::with_header(
                http::json(StatusCode::OK, &issued),
                "cache-control",
                "no-store",
            )
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use shared::auth::keys::KeySet;
    use shared::ports::KeyStore;
    use shared::service::accounts::register;
    use shared::testing::{self, Memory};
    use shared::wiring::Wire;

    use super::*;

    const EVENT: &str = include_str!("../../../events/login.json");

    async fn deps() -> Deps {
        let memory = Memory::new();
        let store = memory.store.clone();
        store
            .save(&KeySet::default().rotated("k1").unwrap())
            .await
            .unwrap();
        let event: serde_json::Value = serde_json::from_str(EVENT).unwrap();
        let credentials: Credentials =
            serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
        register(store.as_ref(), &credentials, chrono::Utc::now())
            .await
            .unwrap();
        Deps::wire(&memory).await.unwrap()
    }

    #[tokio::test]
    async fn the_sample_event_logs_in_and_a_wrong_password_is_401() {
        let deps = deps().await;
        let response = handle(&deps, testing::request_from_event(EVENT))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        assert_eq!(body["tokenType"], "Bearer");
        assert_eq!(body["expiresIn"], 900);

        let mut event: serde_json::Value = serde_json::from_str(EVENT).unwrap();
        event["body"] = r#"{"email":"ada@example.com","password":"not the password"}"#.into();
        let response = handle(&deps, testing::request_from_event(&event.to_string()))
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
    }
}
