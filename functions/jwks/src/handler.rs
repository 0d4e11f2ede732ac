//! Public and cacheable for five minutes: the refresh period of the key ring.

use std::convert::Infallible;

use lambda_http::{Body, Request, Response};
use shared::adapters::secrets::KeyRing;
use shared::http::{self, Caching};

pub type Deps = KeyRing;

pub async fn handle(deps: &Deps, req: Request) -> Result<Response<Body>, Infallible> {
    http::serve(req, |req, _| async move {
        let tokens = deps.tokens().await?;
        Ok(http::cacheable_json(
            &req,
            tokens.jwks(),
            Caching::Public { max_age: 300 },
        ))
    })
    .await
}

#[cfg(test)]
mod tests {
    use shared::auth::keys::KeySet;
    use shared::ports::KeyStore;
    use shared::testing::{self, Memory};
    use shared::wiring::Wire;

    use super::*;

    #[tokio::test]
    async fn the_sample_event_lists_public_keys_only() {
        let memory = Memory::new();
        let store = memory.store.clone();
        let keys = KeySet::default()
            .rotated("k1")
            .unwrap()
            .rotated("k2")
            .unwrap();
        store.save(&keys).await.unwrap();
        let deps = Deps::wire(&memory).await.unwrap();
        let response = handle(
            &deps,
            testing::request_from_event(include_str!("../../../events/jwks.json")),
        )
        .await
        .unwrap();
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        let kids: Vec<_> = body["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        assert_eq!(kids, ["k2", "k1"]);
        assert_eq!(body["keys"][0]["kty"], "OKP");
        assert!(!body.to_string().contains(&keys.keys[0].private_key));
    }
}
