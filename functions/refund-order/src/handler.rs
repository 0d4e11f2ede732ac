//! Admins only (anyone else gets 404): 200 with the order, `REFUNDED`; an empty body refunds the
//! whole total, `{"amount": {...}}` must state that total (422 for a partial amount); 409 for an
//! order that has not completed (cancelling refunds those).

use std::convert::Infallible;

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::domain::OrderId;
use shared::http::{self, Authenticated, views::OrderView};
use shared::service::orders::{AdminOrders, RefundOrder, RefundRequest};

pub type Deps = Authenticated<RefundOrder>;

pub async fn handle(deps: &Deps, req: Request) -> Result<Response<Body>, Infallible> {
    http::serve_caller(req, &deps.limit, |req, info, caller| async move {
        AdminOrders::admit(&caller)?;
        let id = http::path_param(&req, "id", OrderId::parse)?;
        let request: RefundRequest = http::optional_json_body(&req)?;
        let order = deps
            .use_case
            .refund(&caller, &id, &request, &info.correlation_id)
            .await?;
        Ok(http::json(
            StatusCode::OK,
            &OrderView::seen_by(&order, true),
        ))
    })
    .await
}

#[cfg(test)]
mod tests {
    use shared::domain::{Actor, OrderStatus, Reason};
    use shared::messages::MessageType;
    use shared::pipeline::Queue;
    use shared::ports::OrderRepository;
    use shared::testing::{self, Memory};
    use shared::wiring::Wire;

    use super::*;

    const EVENT: &str = include_str!("../../../events/refund-order.json");

    async fn deps_with_order_in(status: OrderStatus) -> (Deps, Memory) {
        let memory = testing::with_sample_order(EVENT, "customer-1", status).await;
        (Deps::wire(&memory).await.unwrap(), memory)
    }

    fn with(body: Option<&str>, role: &str) -> Request {
        let mut event: serde_json::Value = serde_json::from_str(EVENT).unwrap();
        event["body"] = body.into();
        event["requestContext"]["authorizer"]["role"] = role.into();
        testing::request_from_event(&event.to_string())
    }

    fn json(response: &Response<Body>) -> serde_json::Value {
        serde_json::from_slice(response.body().as_ref()).unwrap()
    }

    #[tokio::test]
    async fn a_completed_order_is_refunded_by_the_admin_through_compensation() {
        let (deps, memory) = deps_with_order_in(OrderStatus::Completed).await;
        let response = handle(&deps, with(None, "admin")).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(json(&response)["status"], "REFUNDED");
        let sent = memory.queues.sent_to(Queue::Compensation);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].kind, MessageType::OrderRefunded);
        let history = memory.store.history(&sent[0].order_id).await.unwrap();
        let last = history.last().unwrap();
        assert_eq!(last.to, OrderStatus::Refunded);
        assert_eq!(last.reason, Some(Reason::RefundedBySupport));
        assert_eq!(last.actor, Some(Actor::Admin("usr_admin".into())));
        // A retry answers the same and hands the order on again; the provider refunds once.
        let again = handle(&deps, with(None, "admin")).await.unwrap();
        assert_eq!(again.status(), 200);
        assert_eq!(memory.queues.sent_to(Queue::Compensation).len(), 2);
        assert_eq!(
            memory.store.history(&sent[0].order_id).await.unwrap().len(),
            history.len()
        );
    }

    #[tokio::test]
    async fn only_the_whole_total_is_refunded() {
        let (deps, memory) = deps_with_order_in(OrderStatus::Completed).await;
        let id = testing::path_id(EVENT);
        let total = memory.store.get(&id).await.unwrap().unwrap().total;
        let partial = format!(
            r#"{{"amount": {{"amount": {}, "currency": "{}"}}}}"#,
            total.amount - 1,
            total.currency.as_str()
        );
        let response = handle(&deps, with(Some(&partial), "admin")).await.unwrap();
        assert_eq!(response.status(), 422);
        assert_eq!(json(&response)["errors"][0]["field"], "amount");
        assert!(memory.queues.sent_to(Queue::Compensation).is_empty());
        let whole = format!(
            r#"{{"amount": {{"amount": {}, "currency": "{}"}}}}"#,
            total.amount,
            total.currency.as_str()
        );
        let response = handle(&deps, with(Some(&whole), "admin")).await.unwrap();
        assert_eq!(response.status(), 200);
    }

    #[tokio::test]
    async fn an_order_not_yet_completed_is_refused_and_a_customer_finds_no_such_route() {
        let (deps, memory) = deps_with_order_in(OrderStatus::Shipped).await;
        let response = handle(&deps, with(None, "admin")).await.unwrap();
        assert_eq!(response.status(), 409);
        assert_eq!(json(&response)["type"], "/problems/not-refundable");
        let (deps, _) = deps_with_order_in(OrderStatus::Completed).await;
        let response = handle(&deps, with(None, "customer")).await.unwrap();
        assert_eq!(response.status(), 404);
        let bad = handle(&deps, with(Some(r#"{"amount": 5}"#), "admin"))
            .await
            .unwrap();
        assert_eq!(bad.status(), 400);
        assert!(memory.queues.sent_to(Queue::Compensation).is_empty());
    }
}
