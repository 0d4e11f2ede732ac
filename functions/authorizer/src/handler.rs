//! `Unauthorized` (API Gateway answers 401) for a missing, malformed, forged, expired or foreign
//! token; an error of its own (500) only when the key set cannot be read.

use aws_lambda_events::apigw::ApiGatewayCustomAuthorizerRequest;
use lambda_runtime::LambdaEvent;
use serde_json::{Value, json};
use shared::adapters::secrets::KeyRing;
use shared::auth::TokenError;
use shared::domain::{CustomerId, Role};

pub struct Deps {
    pub keys: KeyRing,
}

/// The message API Gateway turns into a 401.
pub const UNAUTHORIZED: &str = "Unauthorized";

/// `arn:…:{api}/{stage}/GET/orders/1` → `arn:…:{api}/{stage}/*/*`: every route of this stage.
fn whole_api(method_arn: &str) -> Option<String> {
    let mut parts = method_arn.splitn(3, '/');
    let (api, stage) = (parts.next()?, parts.next()?);
    Some(format!("{api}/{stage}/*/*"))
}

pub async fn handle(
    deps: &Deps,
    event: LambdaEvent<ApiGatewayCustomAuthorizerRequest>,
) -> Result<Value, &'static str> {
    let request = event.payload;
    let token = request
        .authorization_token
        .as_deref()
        .and_then(|h| h.strip_prefix("Bearer "))
        .ok_or(UNAUTHORIZED)?;
    let resource = request
        .method_arn
        .as_deref()
        .and_then(whole_api)
        .ok_or(UNAUTHORIZED)?;
    let unavailable = |e: shared::AppError| {
        tracing::error!(error = %e.chain(), "signing keys unavailable");
        "the signing keys are unavailable"
    };
    let mut verified = deps.keys.tokens().await.map_err(unavailable)?.verify(token);
    if verified == Err(TokenError::UnknownKey) {
        // A key rotated since this container read the key set: read it again, at most so often.
        verified = deps.keys.reread().await.map_err(unavailable)?.verify(token);
    }
    let claims = verified.map_err(|e| {
        tracing::info!(reason = %e, "token refused");
        UNAUTHORIZED
    })?;
    if CustomerId::parse(&claims.sub).is_err() || Role::parse(&claims.role).is_none() {
        return Err(UNAUTHORIZED);
    }
    Ok(json!({
        "principalId": claims.sub,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": resource}]
        },
        "context": {"role": claims.role}
    }))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::Utc;
    use lambda_runtime::Context;
    use shared::auth::keys::KeySet;
    use shared::auth::tokens::{TokenPolicy, Tokens};
    use shared::memory::MemoryStore;
    use shared::ports::KeyStore;

    use super::*;

    const EVENT: &str = include_str!("../../../events/authorizer.json");

    async fn deps(keys: &KeySet) -> (Deps, Arc<MemoryStore>) {
        let store = Arc::new(MemoryStore::new());
        store.save(keys).await.unwrap();
        (
            Deps {
                keys: KeyRing::new(store.clone(), TokenPolicy::from_env()),
            },
            store,
        )
    }

    fn event(authorization: &str) -> LambdaEvent<ApiGatewayCustomAuthorizerRequest> {
        let mut value: Value = serde_json::from_str(EVENT).unwrap();
        value["authorizationToken"] = authorization.into();
        LambdaEvent::new(serde_json::from_value(value).unwrap(), Context::default())
    }

    fn token(keys: &KeySet, role: Role) -> String {
        Tokens::new(keys, TokenPolicy::from_env())
            .unwrap()
            .issue("usr_1", role, Utc::now())
            .unwrap()
            .token
    }

    #[tokio::test]
    async fn a_valid_token_gets_an_api_wide_allow_with_its_role() {
        let keys = KeySet::default().rotated("k1").unwrap();
        let (deps, _) = deps(&keys).await;
        let policy = handle(
            &deps,
            event(&format!("Bearer {}", token(&keys, Role::Admin))),
        )
        .await
        .unwrap();
        assert_eq!(policy["principalId"], "usr_1");
        assert_eq!(policy["context"]["role"], "admin");
        let resource = policy["policyDocument"]["Statement"][0]["Resource"]
            .as_str()
            .unwrap();
        assert!(resource.ends_with("/local/*/*"), "{resource}");
    }

    #[tokio::test]
    async fn missing_malformed_and_foreign_tokens_are_unauthorized() {
        let keys = KeySet::default().rotated("k1").unwrap();
        let (deps, _) = deps(&keys).await;
        let stranger = KeySet::default().rotated("k9").unwrap();
        for header in [
            "",
            "Bearer",
            "Basic dXNlcjpwYXNz",
            "Bearer x.y.z",
            &format!("Bearer {}", token(&stranger, Role::Admin)),
        ] {
            assert_eq!(
                handle(&deps, event(header)).await,
                Err(UNAUTHORIZED),
                "{header:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_token_of_a_key_rotated_in_after_the_cold_start_is_accepted() {
        let v1 = KeySet::default().rotated("k1").unwrap();
        let (deps, store) = deps(&v1).await;
        handle(
            &deps,
            event(&format!("Bearer {}", token(&v1, Role::Customer))),
        )
        .await
        .unwrap();
        let v2 = v1.rotated("k2").unwrap();
        store.save(&v2).await.unwrap();
        let fresh = handle(
            &deps,
            event(&format!("Bearer {}", token(&v2, Role::Customer))),
        )
        .await;
        assert!(
            fresh.is_ok(),
            "unknown kid triggers a re-read of the key set"
        );
    }
}
