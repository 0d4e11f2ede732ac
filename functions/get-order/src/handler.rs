//! Owner only: anyone else's order, or a missing one, is 404 alike.

use std::convert::Infallible;
use std::sync::Arc;

use lambda_http::{Body, Request, Response};
use shared::domain::OrderId;
use shared::http::{self, Caching, views::OrderView};
use shared::ports::OrderRepository;
use shared::service::limits::RateLimit;
use shared::service::orders::get_order;

pub struct Deps {
    pub limit: RateLimit,
    pub orders: Arc<dyn OrderRepository>,
}

pub async fn handle(deps: &Deps, req: Request) -> Result<Response<Body>, Infallible> {
    http::serve_caller(req, &deps.limit, |req, _, caller| async move {
        let id = http::path_param(&req, "id", OrderId::parse)?;
        let order = get_order(deps.orders.as_ref(), &caller, &id).await?;
        Ok(http::cacheable_json(
            &req,
            &OrderView::from(&order),
            Caching::Private,
        ))
    })
    .await
}

#[cfg(test)]
mod tests {
    use shared::memory::{self, MemoryStore};

    use super::*;
    use shared::domain::OrderId;

    const EVENT: &str = include_str!("../../../events/get-order.json");

    fn sample_id() -> OrderId {
        let event: serde_json::Value = serde_json::from_str(EVENT).unwrap();
        OrderId::parse(event["pathParameters"]["id"].as_str().unwrap()).unwrap()
    }

    async fn store_with_order_of(customer: &str) -> Arc<MemoryStore> {
        let store = Arc::new(MemoryStore::new());
        let order = memory::order(sample_id(), customer, chrono::Utc::now());
        store.insert(&order, None).await.unwrap();
        store
    }

    #[tokio::test]
    async fn the_owner_gets_the_order_and_then_a_304() {
        let deps = Deps {
            limit: memory::unlimited(),
            orders: store_with_order_of("customer-1").await,
        };
        let response = handle(&deps, memory::request_from_event(EVENT))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["cache-control"], "private, no-cache");
        let etag = response.headers()["etag"].clone();

        let mut again = memory::request_from_event(EVENT);
        again.headers_mut().insert("if-none-match", etag);
        let response = handle(&deps, again).await.unwrap();
        assert_eq!(response.status(), 304);
    }

    #[tokio::test]
    async fn another_customer_gets_404() {
        let deps = Deps {
            limit: memory::unlimited(),
            orders: store_with_order_of("customer-2").await,
        };
        let response = handle(&deps, memory::request_from_event(EVENT))
            .await
            .unwrap();
        assert_eq!(response.status(), 404);
    }

    #[tokio::test]
    async fn a_malformed_id_is_400_naming_it() {
        let deps = Deps {
            limit: memory::unlimited(),
            orders: Arc::new(MemoryStore::new()),
        };
        let event = EVENT.replace(sample_id().as_str(), "ord_NOT-AN-ID");
        let response = handle(&deps, memory::request_from_event(&event))
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        assert_eq!(body["errors"][0]["field"], "id");
    }
}
