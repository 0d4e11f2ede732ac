//! Owner or admin; anyone else gets 404, as for the order.

use std::convert::Infallible;

use lambda_http::{Body, Request, Response};
use shared::domain::OrderId;
use shared::http::{
    self, Authenticated, Caching,
    views::{HistoryListView, HistoryView},
};
use shared::service::orders::CustomerOrders;

pub type Deps = Authenticated<CustomerOrders>;

pub async fn handle(deps: &Deps, req: Request) -> Result<Response<Body>, Infallible> {
    http::serve_caller(req, &deps.limit, |req, _, caller| async move {
        let id = http::path_param(&req, "id", OrderId::parse)?;
        let history = deps.use_case.history(&caller, &id).await?;
        let items = history
            .iter()
            .map(|entry| HistoryView::of(entry, caller.is_admin()))
            .collect();
        Ok(http::cacheable_json(
            &req,
            &HistoryListView { items },
            Caching::Private,
        ))
    })
    .await
}

#[cfg(test)]
mod tests {
    use shared::domain::OrderStatus;
    use shared::testing;
    use shared::wiring::Wire;

    use super::*;

    const EVENT: &str = include_str!("../../../events/get-order-history.json");

    async fn deps_with_order_of(customer: &str) -> Deps {
        let memory = testing::with_sample_order(EVENT, customer, OrderStatus::Reserved).await;
        Deps::wire(&memory).await.unwrap()
    }

    #[tokio::test]
    async fn the_owner_gets_the_timeline_oldest_first() {
        let deps = deps_with_order_of("customer-1").await;
        let response = handle(&deps, testing::request_from_event(EVENT))
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
        let response = handle(&deps, testing::request_from_event(EVENT))
            .await
            .unwrap();
        assert_eq!(response.status(), 404);
        let admin = testing::with_principal(
            testing::request_from_event(EVENT),
            Some(("admin-1", "admin")),
        );
        let response = handle(&deps, admin).await.unwrap();
        assert_eq!(response.status(), 200);
    }
}
