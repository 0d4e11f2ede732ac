//! `GET /orders/{id}`: the caller's own order (any order, with its customer, for an admin), with
//! an `ETag` for cheap revalidation.

use std::convert::Infallible;

use lambda_http::{Body, Request, Response};
use shared::domain::OrderId;
use shared::http::{self, Authenticated, Caching, views::OrderView};
use shared::service::orders::CustomerOrders;

pub type Deps = Authenticated<CustomerOrders>;

pub async fn handle(deps: &Deps, req: Request) -> Result<Response<Body>, Infallible> {
    http::serve_caller(req, &deps.limit, |req, _, caller| async move {
        let id = http::path_param(&req, "id", OrderId::parse)?;
        let order = deps.use_case.get(&caller, &id).await?;
        Ok(http::cacheable_json(
            &req,
            &OrderView::seen_by(&order, caller.is_admin()),
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

    const EVENT: &str = include_str!("../../../events/get-order.json");

    async fn deps_with_order_of(customer: &str) -> Deps {
        let memory = testing::with_sample_order(EVENT, customer, OrderStatus::Pending).await;
        Deps::wire(&memory).await.unwrap()
    }

    #[tokio::test]
    async fn the_owner_gets_the_order_and_then_a_304() {
        let deps = deps_with_order_of("customer-1").await;
        let response = handle(&deps, testing::request_from_event(EVENT))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["cache-control"], "private, no-cache");
        let etag = response.headers()["etag"].clone();

        let mut again = testing::request_from_event(EVENT);
        again.headers_mut().insert("if-none-match", etag);
        let response = handle(&deps, again).await.unwrap();
        assert_eq!(response.status(), 304);
    }

    #[tokio::test]
    async fn another_customer_gets_404() {
        let deps = deps_with_order_of("customer-2").await;
        let response = handle(&deps, testing::request_from_event(EVENT))
            .await
            .unwrap();
        assert_eq!(response.status(), 404);
    }

    #[tokio::test]
    async fn an_admin_reads_anyones_order_with_whose_it_is() {
        let deps = deps_with_order_of("customer-2").await;
        let event = EVENT.replace(r#""role": "customer""#, r#""role": "admin""#);
        assert_ne!(event, EVENT);
        let response = handle(&deps, testing::request_from_event(&event))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        assert_eq!(body["customerId"], "customer-2");
    }

    #[tokio::test]
    async fn a_malformed_id_is_400_naming_it() {
        let deps = deps_with_order_of("customer-1").await;
        let event = EVENT.replace(testing::path_id(EVENT).as_str(), "ord_NOT-AN-ID");
        let response = handle(&deps, testing::request_from_event(&event))
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        assert_eq!(body["errors"][0]["field"], "id");
    }
}
