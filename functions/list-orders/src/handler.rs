//! `limit` (1–100, default 20) and an opaque `cursor` from the previous page.

use std::convert::Infallible;

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::AppError;
use shared::http::{
    self, Authenticated,
    views::{ListView, OrderView},
};
use shared::ports::OrderCursor;
use shared::service::orders::CustomerOrders;
use shared::service::{Cursor, Limit};

pub type Deps = Authenticated<CustomerOrders>;

pub async fn handle(deps: &Deps, req: Request) -> Result<Response<Body>, Infallible> {
    http::serve_caller(req, &deps.limit, |req, _, caller| async move {
        let limit = Limit::parse(http::query_param(&req, "limit"))
            .map_err(|e| AppError::invalid("limit", e))?;
        let cursor: Option<OrderCursor> = http::query_param(&req, "cursor")
            .map(Cursor::decode)
            .transpose()
            .map_err(|e| AppError::invalid("cursor", e))?;
        let page = deps.use_case.list(&caller, limit, cursor.as_ref()).await?;
        Ok(http::json(
            StatusCode::OK,
            &ListView::<OrderView>::of(&page),
        ))
    })
    .await
}

#[cfg(test)]
mod tests {
    use shared::domain::OrderId;
    use shared::ports::OrderRepository;
    use shared::testing::{self, Memory, MemoryStore};
    use shared::wiring::Wire;

    use super::*;

    const EVENT: &str = include_str!("../../../events/list-orders.json");

    async fn place(store: &MemoryStore, customer: &str, minutes_ago: i64) {
        let at = chrono::Utc::now() - chrono::Duration::minutes(minutes_ago);
        let order = testing::order(OrderId::generate(), customer, at);
        store.insert(&order, None).await.unwrap();
    }

    fn query(limit: &str, cursor: Option<&str>) -> Request {
        let mut event: serde_json::Value = serde_json::from_str(EVENT).unwrap();
        event["queryStringParameters"] = serde_json::json!({"limit": limit});
        event["multiValueQueryStringParameters"] = serde_json::json!({"limit": [limit]});
        if let Some(cursor) = cursor {
            event["queryStringParameters"]["cursor"] = cursor.into();
            event["multiValueQueryStringParameters"]["cursor"] = serde_json::json!([cursor]);
        }
        testing::request_from_event(&event.to_string())
    }

    fn json(response: &Response<Body>) -> serde_json::Value {
        serde_json::from_slice(response.body().as_ref()).unwrap()
    }

    #[tokio::test]
    async fn pages_walk_the_callers_orders_newest_first() {
        let memory = Memory::new();
        for minutes in [30, 10, 20] {
            place(&memory.store, "customer-1", minutes).await;
        }
        place(&memory.store, "customer-2", 0).await;
        let deps = Deps::wire(&memory).await.unwrap();

        let first = json(&handle(&deps, query("2", None)).await.unwrap());
        assert_eq!(first["items"].as_array().unwrap().len(), 2);
        assert!(first["items"][0]["createdAt"].as_str() > first["items"][1]["createdAt"].as_str());
        let cursor = first["cursor"].as_str().unwrap();
        let second = json(&handle(&deps, query("2", Some(cursor))).await.unwrap());
        assert_eq!(second["items"].as_array().unwrap().len(), 1);
        assert!(second["cursor"].is_null());
    }

    #[tokio::test]
    async fn bad_limits_and_cursors_are_400_naming_them() {
        let deps = Deps::wire(&Memory::new()).await.unwrap();
        for (request, field) in [
            (query("0", None), "limit"),
            (query("500", None), "limit"),
            (query("5", Some("garbage!")), "cursor"),
        ] {
            let response = handle(&deps, request).await.unwrap();
            assert_eq!(response.status(), 400);
            assert_eq!(json(&response)["errors"][0]["field"], field);
        }
    }
}
