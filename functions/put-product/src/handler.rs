//! 201 when the product is new; 200 when it replaced the version `If-Match` names (428 without
//! it, 412 when the product changed since, stock moved by orders included); 403 for anyone but an
//! admin. The answer's `ETag` is the new version.

use std::convert::Infallible;

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::domain::ProductId;
use shared::http::{self, Authenticated, views::ProductView};
use shared::service::catalog::{CatalogAdmin, PutProductRequest};

pub type Deps = Authenticated<CatalogAdmin>;

pub async fn handle(deps: &Deps, req: Request) -> Result<Response<Body>, Infallible> {
    http::serve_caller(req, &deps.limit, |req, _, caller| async move {
        let id = http::path_param(&req, "id", ProductId::parse)?;
        let request: PutProductRequest = http::json_body(&req)?;
        let replaces = http::if_match_version(&req)?;
        let (product, created) = deps.use_case.put(&caller, id, &request, replaces).await?;
        let status = if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        let response = http::json(status, &ProductView::from(&product));
        Ok(http::with_header(
            response,
            "etag",
            &http::version_tag(product.version),
        ))
    })
    .await
}

#[cfg(test)]
mod tests {
    use shared::testing::{self, Memory};
    use shared::wiring::Wire;

    use super::*;

    const EVENT: &str = include_str!("../../../events/put-product.json");

    async fn deps() -> Deps {
        Deps::wire(&Memory::new()).await.unwrap()
    }

    fn with_body(body: serde_json::Value) -> Request {
        let mut event: serde_json::Value = serde_json::from_str(EVENT).unwrap();
        event["body"] = body.to_string().into();
        testing::request_from_event(&event.to_string())
    }

    #[tokio::test]
    async fn an_admin_creates_then_replaces_the_version_read_and_no_other() {
        let deps = deps().await;
        let created = handle(&deps, testing::request_from_event(EVENT))
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
        let etag = created.headers()["etag"].clone();
        let blind = handle(&deps, testing::request_from_event(EVENT))
            .await
            .unwrap();
        assert_eq!(blind.status(), 428, "no If-Match, no overwrite");
        let mut replace = testing::request_from_event(EVENT);
        replace.headers_mut().insert("if-match", etag.clone());
        assert_eq!(handle(&deps, replace).await.unwrap().status(), 200);
        let mut stale = testing::request_from_event(EVENT);
        stale.headers_mut().insert("if-match", etag);
        let stale = handle(&deps, stale).await.unwrap();
        assert_eq!(stale.status(), 412, "the version it read is gone");
    }

    #[tokio::test]
    async fn a_customer_is_forbidden() {
        let request = testing::with_principal(
            testing::request_from_event(EVENT),
            Some(("customer-1", "customer")),
        );
        assert_eq!(handle(&deps().await, request).await.unwrap().status(), 403);
    }

    #[tokio::test]
    async fn bad_fields_are_named() {
        let cases = [
            (
                serde_json::json!({"name": "", "unitPrice": {"amount": 1, "currency": "EUR"}, "available": 1}),
                "name",
            ),
            (
                serde_json::json!({"name": "x", "unitPrice": {"amount": -1, "currency": "EUR"}, "available": 1}),
                "unitPrice.amount",
            ),
            (
                serde_json::json!({"name": "x", "unitPrice": {"amount": 1, "currency": "euro"}, "available": 1}),
                "unitPrice.currency",
            ),
            (
                serde_json::json!({"name": "x", "unitPrice": {"amount": 1.5, "currency": "EUR"}, "available": 1}),
                "unitPrice.amount",
            ),
            (
                serde_json::json!({"name": "x", "unitPrice": {"amount": 1, "currency": "EUR"}, "available": -3}),
                "available",
            ),
            (
                serde_json::json!({"name": "x", "unitPrice": {"amount": 1, "currency": "EUR"}}),
                "available",
            ),
        ];
        let deps = deps().await;
        for (body, field) in cases {
            let response = handle(&deps, with_body(body.clone())).await.unwrap();
            assert_eq!(response.status(), 400, "{body}");
            let problem: serde_json::Value =
                serde_json::from_slice(response.body().as_ref()).unwrap();
            assert_eq!(problem["errors"][0]["field"], field, "{body}");
        }
    }
}
