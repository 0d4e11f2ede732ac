//! The API's Lambda authorizer (TOKEN): verifies the bearer JWT and returns a policy for the whole
//! API with the caller's id and role as context (`shared::auth::authorizer`). A refused token is
//! the error `Unauthorized`, which API Gateway answers with 401; unreadable signing keys are an
//! error of their own (500).

use aws_lambda_events::apigw::ApiGatewayCustomAuthorizerRequest;
use lambda_runtime::LambdaEvent;
use shared::auth::authorizer::Authorizer;

#[tokio::main]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::serve(
        |authorizer: &'static Authorizer, event: LambdaEvent<ApiGatewayCustomAuthorizerRequest>| async move {
            Ok::<_, shared::lambda::Error>(authorizer.authorize(&event.payload).await?)
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use aws_lambda_events::apigw::ApiGatewayCustomAuthorizerRequest;
    use chrono::Utc;
    use shared::adapters::secrets::KeyRing;
    use shared::auth::authorizer::{Authorizer, Refusal};
    use shared::auth::keys::KeySet;
    use shared::auth::tokens::{TokenPolicy, Tokens};
    use shared::domain::Role;
    use shared::ports::KeyStore;
    use shared::testing::MemoryStore;

    const EVENT: &str = include_str!("../../../events/authorizer.json");

    async fn authorizer(keys: &KeySet) -> (Authorizer, Arc<MemoryStore>) {
        let store = Arc::new(MemoryStore::new());
        store.save(keys).await.unwrap();
        let keys = KeyRing::new(store.clone(), TokenPolicy::default());
        (Authorizer { keys }, store)
    }

    fn request(authorization: &str) -> ApiGatewayCustomAuthorizerRequest {
        let mut value: serde_json::Value = serde_json::from_str(EVENT).unwrap();
        value["authorizationToken"] = authorization.into();
        serde_json::from_value(value).unwrap()
    }

    fn token(keys: &KeySet, role: Role) -> String {
        Tokens::new(keys, TokenPolicy::default())
            .unwrap()
            .issue("usr_1", role, Utc::now())
            .unwrap()
            .token
    }

    #[tokio::test]
    async fn a_valid_token_gets_an_api_wide_allow_with_its_role() {
        let keys = KeySet::default().rotated("k1").unwrap();
        let (authorizer, _) = authorizer(&keys).await;
        let bearer = format!("Bearer {}", token(&keys, Role::Admin));
        let policy = authorizer.authorize(&request(&bearer)).await.unwrap();
        let policy = serde_json::to_value(policy).unwrap();
        assert_eq!(policy["principalId"], "usr_1");
        assert_eq!(policy["context"]["role"], "admin");
        let statement = &policy["policyDocument"]["Statement"][0];
        assert_eq!(statement["Effect"], "Allow");
        assert_eq!(statement["Action"][0], "execute-api:Invoke");
        let resource = statement["Resource"][0].as_str().unwrap();
        assert!(resource.ends_with("/local/*/*"), "{resource}");
    }

    #[tokio::test]
    async fn missing_malformed_and_foreign_tokens_are_unauthorized() {
        let keys = KeySet::default().rotated("k1").unwrap();
        let (authorizer, _) = authorizer(&keys).await;
        let stranger = KeySet::default().rotated("k9").unwrap();
        for header in [
            "",
            "Bearer",
            "Basic dXNlcjpwYXNz",
            "Bearer x.y.z",
            &format!("Bearer {}", token(&stranger, Role::Admin)),
        ] {
            let refused = authorizer.authorize(&request(header)).await;
            assert_eq!(refused, Err(Refusal::Unauthorized), "{header:?}");
            assert_eq!(Refusal::Unauthorized.to_string(), "Unauthorized");
        }
    }

    #[tokio::test]
    async fn a_token_of_a_key_rotated_in_after_the_cold_start_is_accepted() {
        let v1 = KeySet::default().rotated("k1").unwrap();
        let (authorizer, store) = authorizer(&v1).await;
        let first = format!("Bearer {}", token(&v1, Role::Customer));
        authorizer.authorize(&request(&first)).await.unwrap();
        let v2 = v1.rotated("k2").unwrap();
        store.save(&v2).await.unwrap();
        let fresh = format!("Bearer {}", token(&v2, Role::Customer));
        assert!(
            authorizer.authorize(&request(&fresh)).await.is_ok(),
            "an unknown kid triggers a re-read of the key set"
        );
    }
}
