//! 200 with the cancelled order; 409 once it has shipped; 404 for anyone but the owner.

use std::convert::Infallible;

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::domain::OrderId;
use shared::http::{self, Authenticated, views::OrderView};
use shared::service::orders::CancelOrder;

pub type Deps = Authenticated<CancelOrder>;

pub async fn handle(deps: &Deps, req: Request) -> Result<Response<Body>, Infallible> {
    http::serve_caller(req, &deps.limit, |req, info, caller| async move {
        let id = http::path_param(&req, "id", OrderId::parse)?;
        let order = deps
            .use_case
            .cancel(&caller, &id, &info.correlation_id)
            .await?;
        Ok(http::json(StatusCode::OK, &OrderView::from(&order)))
    })
    .await
}

#[cfg(test)]
mod tests {
    use shared::domain::{OrderId, OrderStatus};
    use shared::messages::MessageType;
    use shared::pipeline::Queue;
    use shared::ports::OrderRepository;
    use shared::testing::{self, Memory};
    use shared::wiring::Wire;

    use super::*;

    const EVENT: &str = include_str!("../../../events/cancel-order.json");

    async fn deps_with_order_in(status: OrderStatus) -> (Deps, Memory) {
        let memory = testing::with_sample_order(EVENT, "customer-1", status).await;
        (Deps::wire(&memory).await.unwrap(), memory)
    }

    #[tokio::test]
    async fn a_paid_order_is_cancelled_and_compensation_is_requested() {
        let (deps, memory) = deps_with_order_in(OrderStatus::Paid).await;
        let response = handle(&deps, testing::request_from_event(EVENT))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        assert_eq!(body["status"], "CANCELLED");
        let sent = memory.queues.sent_to(Queue::Compensation);
        assert_eq!(sent[0].kind, MessageType::OrderCancelled);
        let history = memory.store.history(&sent[0].order_id).await.unwrap();
        assert_eq!(history.last().unwrap().to, OrderStatus::Cancelled);
    }

    #[tokio::test]
    async fn cancelling_twice_succeeds_and_changes_nothing_more() {
        let (deps, memory) = deps_with_order_in(OrderStatus::Pending).await;
        handle(&deps, testing::request_from_event(EVENT))
            .await
            .unwrap();
        let again = handle(&deps, testing::request_from_event(EVENT))
            .await
            .unwrap();
        assert_eq!(again.status(), 200);
        let id = OrderId::parse("ord_5f2b8c1e9a4d4c3b8e7f6a5b4c3d2e1f").unwrap();
        assert_eq!(
            memory.store.history(&id).await.unwrap().len(),
            2,
            "created + cancelled"
        );
    }

    #[tokio::test]
    async fn a_shipped_order_cannot_be_cancelled() {
        let (deps, memory) = deps_with_order_in(OrderStatus::Shipped).await;
        let response = handle(&deps, testing::request_from_event(EVENT))
            .await
            .unwrap();
        assert_eq!(response.status(), 409);
        assert!(memory.queues.sent().is_empty());
    }

    #[tokio::test]
    async fn another_customer_cannot_cancel() {
        let (deps, _memory) = deps_with_order_in(OrderStatus::Pending).await;
        let request = testing::with_principal(
            testing::request_from_event(EVENT),
            Some(("customer-2", "customer")),
        );
        assert_eq!(handle(&deps, request).await.unwrap().status(), 404);
    }
}
