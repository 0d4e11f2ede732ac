//! Parses the request, places the order, answers 201 with its `Location`.

use std::convert::Infallible;

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::AppError;
use shared::domain::IdempotencyKey;
use shared::http::{self, Authenticated, views::OrderView};
use shared::service::orders::{PlaceOrder, PlaceOrderRequest};

pub type Deps = Authenticated<PlaceOrder>;

pub async fn handle(deps: &Deps, req: Request) -> Result<Response<Body>, Infallible> {
    http::serve_caller(req, &deps.limit, |req, info, caller| async move {
        let key = http::header(&req, "Idempotency-Key")?
            .map(|raw| {
                IdempotencyKey::parse(raw).map_err(|e| AppError::invalid("Idempotency-Key", e))
            })
            .transpose()?;
        let request: PlaceOrderRequest = http::json_body(&req)?;
        let placed = deps
            .use_case
            .place(&caller, &request, key.as_ref(), &info.correlation_id)
            .await?;
        let response = http::json(StatusCode::CREATED, &OrderView::from(&placed.order));
        let response = http::with_header(
            response,
            "location",
            &format!("/orders/{}", placed.order.id),
        );
        Ok(if placed.replayed {
            http::with_header(response, "idempotent-replayed", "true")
        } else {
            response
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use shared::testing::{self, Memory};
    use shared::wiring::Wire;

    use super::*;

    const EVENT: &str = include_str!("../../../events/create-order.json");

    struct World {
        memory: Memory,
        deps: Deps,
    }

    async fn world() -> World {
        let memory = Memory::new();
        memory.store.seed_product(testing::product("p-1", 1250, 10));
        memory.store.seed_product(testing::product("p-2", 99, 10));
        let deps = Deps::wire(&memory).await.unwrap();
        World { memory, deps }
    }

    fn with_body(body: &str) -> Request {
        let mut event: serde_json::Value = serde_json::from_str(EVENT).unwrap();
        event["body"] = body.into();
        testing::request_from_event(&event.to_string())
    }

    fn json(response: &Response<Body>) -> serde_json::Value {
        serde_json::from_slice(response.body().as_ref()).unwrap()
    }

    #[tokio::test]
    async fn the_sample_event_places_an_order_priced_from_the_catalog() {
        let w = world().await;
        let response = handle(&w.deps, testing::request_from_event(EVENT))
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let body = json(&response);
        assert_eq!(body["status"], "PENDING");
        assert_eq!(
            body["total"],
            serde_json::json!({"amount": 2599, "currency": "EUR"})
        );
        assert_eq!(body["items"][0]["unitPrice"]["amount"], 1250);
        let location = response.headers()["location"].to_str().unwrap();
        assert_eq!(
            location,
            format!("/orders/{}", body["id"].as_str().unwrap())
        );
        assert_eq!(
            w.memory.queues.sent().len(),
            1,
            "the order is handed to fulfilment"
        );
    }

    #[tokio::test]
    async fn the_kill_switch_answers_503_with_retry_after_and_stores_nothing() {
        let w = world().await;
        w.memory
            .flags
            .set(r#"{"acceptOrders":false,"retryAfterSeconds":300}"#);
        let response = handle(&w.deps, testing::request_from_event(EVENT))
            .await
            .unwrap();
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()["retry-after"], "300");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let body = json(&response);
        assert_eq!(body["type"], "/problems/temporarily-closed");
        assert!(body["detail"].as_str().unwrap().contains("order intake"));
        assert_eq!(w.memory.store.order_count(), 0);
        assert!(w.memory.queues.sent().is_empty());
    }

    #[tokio::test]
    async fn the_same_key_and_body_return_the_same_order_once() {
        shared::metrics::recorded::take();
        let w = world().await;
        let first = json(
            &handle(&w.deps, testing::request_from_event(EVENT))
                .await
                .unwrap(),
        );
        let again = handle(&w.deps, testing::request_from_event(EVENT))
            .await
            .unwrap();
        assert_eq!(again.status(), 201);
        assert_eq!(again.headers()["idempotent-replayed"], "true");
        assert_eq!(json(&again)["id"], first["id"]);
        assert_eq!(w.memory.store.order_count(), 1);
        assert_eq!(
            shared::metrics::recorded::count(shared::metrics::Metric::OrdersPlaced),
            1,
            "placed once, not once per request"
        );
    }

    #[tokio::test]
    async fn the_same_key_with_another_body_is_refused() {
        let w = world().await;
        handle(&w.deps, testing::request_from_event(EVENT))
            .await
            .unwrap();
        let body = r#"{"items":[{"productId":"p-1","quantity":1}],"shippingAddress":{"name":"A","line1":"B","city":"C","postalCode":"D","country":"GB"},"paymentMethod":"pm_card_visa"}"#;
        let response = handle(&w.deps, with_body(body)).await.unwrap();
        assert_eq!(response.status(), 422);
        assert_eq!(json(&response)["errors"][0]["field"], "Idempotency-Key");
    }

    #[tokio::test]
    async fn a_failed_enqueue_still_answers_201_for_the_stored_order_and_a_retry_hands_it_on() {
        let w = world().await;
        w.memory.queues.fail(true);
        let stored = handle(&w.deps, testing::request_from_event(EVENT))
            .await
            .unwrap();
        assert_eq!(
            stored.status(),
            201,
            "the order is saved: a 503 would invite a second one"
        );
        assert!(w.memory.queues.sent().is_empty());
        w.memory.queues.fail(false);
        let retried = handle(&w.deps, testing::request_from_event(EVENT))
            .await
            .unwrap();
        assert_eq!(retried.status(), 201);
        assert_eq!(w.memory.queues.sent().len(), 1);
        assert_eq!(w.memory.store.order_count(), 1);
    }

    #[tokio::test]
    async fn bad_input_names_the_field() {
        let w = world().await;
        let cases = [
            (
                r#"{"items":[{"productId":"p-1","quantity":0}],"shippingAddress":{"name":"A","line1":"B","city":"C","postalCode":"D","country":"GB"},"paymentMethod":"pm_card_visa"}"#,
                400,
                "items[0].quantity",
            ),
            (
                r#"{"items":[{"productId":"p-1","quantity":1,"unitPrice":1}],"shippingAddress":{"name":"A","line1":"B","city":"C","postalCode":"D","country":"GB"},"paymentMethod":"pm_card_visa"}"#,
                400,
                "items[0].unitPrice",
            ),
            (
                r#"{"items":[{"productId":"nope","quantity":1}],"shippingAddress":{"name":"A","line1":"B","city":"C","postalCode":"D","country":"GB"},"paymentMethod":"pm_card_visa"}"#,
                422,
                "items[0].productId",
            ),
            (
                r#"{"items":[],"shippingAddress":{"name":"A","line1":"B","city":"C","postalCode":"D","country":"GB"},"paymentMethod":"pm_card_visa"}"#,
                400,
                "items",
            ),
            (
                r#"{"items":[{"productId":"p-1","quantity":1}],"shippingAddress":{"name":"A","line1":"B","city":"C","postalCode":"D","country":"gb"},"paymentMethod":"pm_card_visa"}"#,
                400,
                "shippingAddress.country",
            ),
            (
                r#"{"items":[{"productId":"p-1","quantity":1}],"shippingAddress":{"name":"A","line1":"B","city":"C","postalCode":"D","country":"GB"}}"#,
                400,
                "paymentMethod",
            ),
            (r#"{"items":"#, 400, "body"),
        ];
        for (body, status, field) in cases {
            let mut event: serde_json::Value = serde_json::from_str(EVENT).unwrap();
            event["body"] = body.into();
            event["headers"]
                .as_object_mut()
                .unwrap()
                .remove("Idempotency-Key");
            event["multiValueHeaders"]
                .as_object_mut()
                .unwrap()
                .remove("Idempotency-Key");
            let response = handle(&w.deps, testing::request_from_event(&event.to_string()))
                .await
                .unwrap();
            assert_eq!(response.status(), status, "{body}");
            assert_eq!(json(&response)["errors"][0]["field"], field, "{body}");
        }
        assert_eq!(
            w.memory.store.order_count(),
            0,
            "no bad request wrote anything"
        );
    }

    #[tokio::test]
    async fn a_request_without_identity_is_unauthenticated() {
        let w = world().await;
        let request = testing::with_principal(testing::request_from_event(EVENT), None);
        let response = handle(&w.deps, request).await.unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }
}
