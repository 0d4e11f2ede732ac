//! Owner or admin; anyone else gets 404, as for the order.

use std::convert::Infallible;
use std::sync::Arc;

use lambda_http::{Body, Request, Response};
use shared::domain::OrderId;
use shared::http::{self, Caching, views::HistoryView};
use shared::ports::OrderRepository;
use shared::service::limits::RateLimit;
use shared::service::orders::order_history;

pub struct Deps {
    pub limit: RateLimit,
    pub orders: Arc<dyn OrderRepository>,
}

pub async fn handle(deps: &Deps, req: Request) -> Result<Response<Body>, Infallible> {
    http::serve_caller(req, &deps.limit, |req, _, caller| async move {
        let id = http::path_param(&req, "id", OrderId::parse)?;
        let history = order_history(deps.orders.as_ref(), &caller, &id).await?;
        let items: Vec<HistoryView> = history.iter().map(HistoryView::from).collect();
        Ok(http::cacheable_json(
            &req,
            &serde_json::json!({ "items": items }),
            Caching::Private,
        ))
    })
    .await
}

#[cfg(test)]
mod tests {
    use shared::domain::OrderStatus;
    use shared::memory::{self, MemoryStore};

    use super::*;

    const EVENT: &str = include_str!("../../../events/get-order-history.json");

    fn sample_id() -> OrderId {
        let event: serde_json::Value = serde_json::from_str(EVENT).unwrap();
        OrderId::parse(event["pathParameters"]["id"].as_str().unwrap()).unwrap()
    }

    async fn deps_with_order_of(customer: &str) -> Deps {
        let store = Arc::new(MemoryStore::new());
        let order = memory::order(sample_id(), customer, chrono::Utc::now());
        store.insert(&order, None).await.unwrap();
        memory::advance(&store, &order.id, OrderStatus::Reserved).await;
        Deps {
            limit: memory::unlimited(),
            orders: store,
        }
    }

    #[tokio::test]
    async fn the_owner_gets_the_timeline_oldest_first() {
        let deps = deps_with_order_of("customer-1").await;
        let response = handle(&deps, memory::request_from_event(EVENT))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        assert_eq!(body["items"][0]["to"], "PENDING");
        assert_eq!(body["items"][1]["from"], "PENDING");
        assert_eq!(body["items"][1]["to"], "RESERVED");
    }

    #[tokio::test]
    async fn another_customer_gets_404_and_an_admin_gets_it() {
        let deps = deps_with_order_of("customer-2").await;
        let response = handle(&deps, memory::request_from_event(EVENT))
            .await
            .unwrap();
        assert_eq!(response.status(), 404);
        let admin = memory::with_principal(
            memory::request_from_event(EVENT),
            Some(("admin-1", "admin")),
        );
        let response = handle(&deps, admin).await.unwrap();
        assert_eq!(response.status(), 200);
    }
}
