//! `status` (required), `from` and `to` (RFC 3339, the last change in `[from, to)`), `limit`
//! (1–100, default 20) and an opaque `cursor` from the previous page. Admins only: anyone else
//! gets 404, whatever the query.

use std::convert::Infallible;

use chrono::{DateTime, Utc};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::AppError;
use shared::domain::{Invalid, OrderStatus};
use shared::http::{
    self, Authenticated,
    views::{ListView, OrderView},
};
use shared::ports::{StatusCursor, StatusQuery};
use shared::service::orders::AdminOrders;
use shared::service::{Cursor, Limit};

pub type Deps = Authenticated<AdminOrders>;

pub async fn handle(deps: &Deps, req: Request) -> Result<Response<Body>, Infallible> {
    http::serve_caller(req, &deps.limit, |req, _, caller| async move {
        AdminOrders::admit(&caller)?;
        let query = status_query(&req)?;
        let limit = Limit::parse(http::query_param(&req, "limit"))
            .map_err(|e| AppError::invalid("limit", e))?;
        let cursor: Option<StatusCursor> = http::query_param(&req, "cursor")
            .map(Cursor::decode)
            .transpose()
            .map_err(|e| AppError::invalid("cursor", e))?;
        let page = deps
            .use_case
            .list(&caller, query, limit, cursor.as_ref())
            .await?;
        Ok(http::json(
            StatusCode::OK,
            &ListView::mapped(&page, |order| OrderView::seen_by(order, true)),
        ))
    })
    .await
}

fn status_query(req: &Request) -> Result<StatusQuery, AppError> {
    let status = http::query_param(req, "status")
        .ok_or_else(|| Invalid::new("is required"))
        .and_then(OrderStatus::parse)
        .map_err(|e| AppError::invalid("status", e))?;
    let from = instant(req, "from")?;
    let to = instant(req, "to")?;
    if let (Some(from), Some(to)) = (from, to)
        && from >= to
    {
        return Err(AppError::invalid(
            "to",
            Invalid::new("must be after `from`"),
        ));
    }
    Ok(StatusQuery { status, from, to })
}

fn instant(req: &Request, name: &str) -> Result<Option<DateTime<Utc>>, AppError> {
    http::query_param(req, name)
        .map(|raw| {
            DateTime::parse_from_rfc3339(raw)
                .map(|at| at.with_timezone(&Utc))
                .map_err(|_| {
                    AppError::invalid(
                        name,
                        Invalid::new("must be an RFC 3339 time, e.g. 2026-12-01T00:00:00Z"),
                    )
                })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use shared::domain::{OrderId, OrderStatus};
    use shared::ports::OrderRepository;
    use shared::testing::{self, Memory, MemoryStore};
    use shared::wiring::Wire;

    use super::*;

    const EVENT: &str = include_str!("../../../events/admin-list-orders.json");

    async fn place(store: &MemoryStore, customer: &str, minutes_ago: i64, status: OrderStatus) {
        let at = chrono::Utc::now() - chrono::Duration::minutes(minutes_ago);
        let mut order = testing::order(OrderId::generate(), customer, at);
        order.status = status;
        store.insert(&order, None).await.unwrap();
    }

    fn query(role: &str, params: &[(&str, &str)]) -> Request {
        let mut event: serde_json::Value = serde_json::from_str(EVENT).unwrap();
        event["requestContext"]["authorizer"]["role"] = role.into();
        let single: serde_json::Map<_, _> = params
            .iter()
            .map(|(k, v)| (k.to_string(), (*v).into()))
            .collect();
        let multi: serde_json::Map<_, _> = params
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::json!([v])))
            .collect();
        event["queryStringParameters"] = single.into();
        event["multiValueQueryStringParameters"] = multi.into();
        testing::request_from_event(&event.to_string())
    }

    fn json(response: &Response<Body>) -> serde_json::Value {
        serde_json::from_slice(response.body().as_ref()).unwrap()
    }

    #[tokio::test]
    async fn an_admin_pages_through_one_status_across_customers_newest_first() {
        let memory = Memory::new();
        for (customer, minutes) in [("customer-1", 30), ("customer-2", 10), ("customer-3", 20)] {
            place(&memory.store, customer, minutes, OrderStatus::Pending).await;
        }
        place(&memory.store, "customer-1", 0, OrderStatus::Completed).await;
        let deps = Deps::wire(&memory).await.unwrap();

        let first = json(
            &handle(
                &deps,
                query("admin", &[("status", "PENDING"), ("limit", "2")]),
            )
            .await
            .unwrap(),
        );
        let items = first["items"].as_array().unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0]["customerId"], "customer-2");
        assert_eq!(items[1]["customerId"], "customer-3");
        let cursor = first["cursor"].as_str().unwrap();
        let second = json(
            &handle(
                &deps,
                query(
                    "admin",
                    &[("status", "PENDING"), ("limit", "2"), ("cursor", cursor)],
                ),
            )
            .await
            .unwrap(),
        );
        assert_eq!(second["items"].as_array().unwrap().len(), 1);
        assert_eq!(second["items"][0]["customerId"], "customer-1");
        assert!(second["cursor"].is_null());
    }

    #[tokio::test]
    async fn from_and_to_bound_the_last_change() {
        let memory = Memory::new();
        for minutes in [50, 30, 10] {
            place(&memory.store, "customer-1", minutes, OrderStatus::Pending).await;
        }
        let deps = Deps::wire(&memory).await.unwrap();
        let at = |minutes| (chrono::Utc::now() - chrono::Duration::minutes(minutes)).to_rfc3339();
        let (from, to) = (at(40), at(20));
        let page = json(
            &handle(
                &deps,
                query(
                    "admin",
                    &[("status", "PENDING"), ("from", &from), ("to", &to)],
                ),
            )
            .await
            .unwrap(),
        );
        assert_eq!(page["items"].as_array().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_customer_gets_404_whatever_the_query() {
        let memory = Memory::new();
        place(&memory.store, "customer-1", 1, OrderStatus::Pending).await;
        let deps = Deps::wire(&memory).await.unwrap();
        for params in [
            &[("status", "PENDING")][..],
            &[("status", "NOPE")][..],
            &[][..],
        ] {
            let response = handle(&deps, query("customer", params)).await.unwrap();
            assert_eq!(response.status(), 404, "{params:?}");
            assert!(!json(&response).to_string().contains("customer-1"));
        }
    }

    #[tokio::test]
    async fn bad_queries_are_400_naming_the_field() {
        let deps = Deps::wire(&Memory::new()).await.unwrap();
        for (params, field) in [
            (&[][..], "status"),
            (&[("status", "pending")][..], "status"),
            (&[("status", "PAID"), ("from", "yesterday")][..], "from"),
            (
                &[
                    ("status", "PAID"),
                    ("from", "2026-12-02T00:00:00Z"),
                    ("to", "2026-12-01T00:00:00Z"),
                ][..],
                "to",
            ),
            (&[("status", "PAID"), ("limit", "0")][..], "limit"),
            (&[("status", "PAID"), ("cursor", "garbage!")][..], "cursor"),
        ] {
            let response = handle(&deps, query("admin", params)).await.unwrap();
            assert_eq!(response.status(), 400, "{params:?}");
            assert_eq!(json(&response)["errors"][0]["field"], field, "{params:?}");
        }
    }
}
