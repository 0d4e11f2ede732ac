//! Public: no identity needed. `limit` 1–100 (default 20) and an opaque `cursor`.

use std::convert::Infallible;

use lambda_http::{Body, Request, Response};
use shared::AppError;
use shared::domain::ProductId;
use shared::http::{
    self, Caching,
    views::{ListView, ProductView},
};
use shared::service::catalog::CatalogReads;
use shared::service::{Cursor, Limit};

pub type Deps = CatalogReads;

pub async fn handle(deps: &Deps, req: Request) -> Result<Response<Body>, Infallible> {
    http::serve(req, |req, _| async move {
        let limit = Limit::parse(http::query_param(&req, "limit"))
            .map_err(|e| AppError::invalid("limit", e))?;
        let after: Option<ProductId> = http::query_param(&req, "cursor")
            .map(Cursor::decode)
            .transpose()
            .map_err(|e| AppError::invalid("cursor", e))?;
        let page = deps.list(limit, after.as_ref()).await?;
        let view = ListView::<ProductView>::of(&page);
        Ok(http::cacheable_json(
            &req,
            &view,
            Caching::Public { max_age: 60 },
        ))
    })
    .await
}

#[cfg(test)]
mod tests {
    use shared::testing::{self, Memory};
    use shared::wiring::Wire;

    use super::*;

    const EVENT: &str = include_str!("../../../events/list-products.json");

    #[tokio::test]
    async fn the_sample_event_lists_the_catalog_publicly_cacheable() {
        let memory = Memory::new();
        memory.store.seed_product(testing::product("p-1", 1250, 3));
        memory.store.seed_product(testing::product("p-2", 99, 0));
        let deps = Deps::wire(&memory).await.unwrap();
        let response = handle(&deps, testing::request_from_event(EVENT))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["cache-control"], "public, max-age=60");
        let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        assert_eq!(
            body["items"][0],
            serde_json::json!({"id": "p-1", "name": "Product p-1", "unitPrice": {"amount": 1250, "currency": "EUR"}, "available": 3})
        );
        assert!(body["cursor"].is_null());
    }
}
