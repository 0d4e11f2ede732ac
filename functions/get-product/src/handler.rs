//! Public: no identity needed.

use std::convert::Infallible;

use lambda_http::{Body, Request, Response};
use shared::domain::ProductId;
use shared::http::{self, Caching, views::ProductView};
use shared::service::catalog::CatalogReads;

pub type Deps = CatalogReads;

pub async fn handle(deps: &Deps, req: Request) -> Result<Response<Body>, Infallible> {
    http::serve(req, |req, _| async move {
        let id = http::path_param(&req, "id", ProductId::parse)?;
        let product = deps.get(&id).await?;
        Ok(http::versioned_json(
            &req,
            &ProductView::from(&product),
            Caching::Public { max_age: 60 },
            product.version,
        ))
    })
    .await
}

#[cfg(test)]
mod tests {
    use shared::testing::{self, Memory};
    use shared::wiring::Wire;

    use super::*;

    const EVENT: &str = include_str!("../../../events/get-product.json");

    #[tokio::test]
    async fn a_product_is_found_and_an_unknown_one_is_404() {
        let memory = Memory::new();
        memory.store.seed_product(testing::product("p-1", 1250, 3));
        let deps = Deps::wire(&memory).await.unwrap();
        let response = handle(&deps, testing::request_from_event(EVENT))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.headers().contains_key("etag"));

        let missing = EVENT.replace("p-1", "p-404");
        let response = handle(&deps, testing::request_from_event(&missing))
            .await
            .unwrap();
        assert_eq!(response.status(), 404);
    }
}
