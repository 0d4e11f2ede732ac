//! 200 with the cancelled order; 409 once it has shipped; 404 for anyone but the owner.

use std::convert::Infallible;
use std::sync::Arc;

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::domain::OrderId;
use shared::http::{self, views::OrderView};
use shared::ports::{Clock, OrderEvents, OrderRepository};
use shared::service::limits::RateLimit;
use shared::service::orders::cancel_order;

pub struct Deps {
    pub limit: RateLimit,
    pub orders: Arc<dyn OrderRepository>,
    pub events: Arc<dyn OrderEvents>,
    pub clock: Arc<dyn Clock>,
}

pub async fn handle(deps: &Deps, req: Request) -> Result<Response<Body>, Infallible> {
    http::serve_caller(req, &deps.limit, |req, info, caller| async move {
        let id = http::path_param(&req, "id", OrderId::parse)?;
        let order = cancel_order(
            deps.orders.as_ref(),
            deps.events.as_ref(),
            deps.clock.as_ref(),
            &caller,
            &id,
            &info.correlation_id,
        )
        .await?;
        Ok(http::json(StatusCode::OK, &OrderView::from(&order)))
    })
    .await
}

#[cfg(test)]
mod tests {
    use shared::domain::{OrderId, OrderStatus};
    use shared::memory::{self, FixedClock, MemoryStore, RecordingEvents};
    use shared::messages::MessageType;

    use super::*;

    const EVENT: &str = include_str!("../../../events/cancel-order.json");

    async fn deps_with_order_in(
        path: &[OrderStatus],
    ) -> (Deps, Arc<MemoryStore>, Arc<RecordingEvents>) {
        let event: serde_json::Value = serde_json::from_str(EVENT).unwrap();
        let id = OrderId::parse(event["pathParameters"]["id"].as_str().unwrap()).unwrap();
        let mut order = memory::order(id, "customer-1", chrono::Utc::now());
        let store = Arc::new(MemoryStore::new());
        store.insert(&order, None).await.unwrap();
        for status in path {
            let (next, entry) = order.transition(*status, chrono::Utc::now(), None).unwrap();
            store.apply(&order, &next, &entry).await.unwrap();
            order = next;
        }
        let events = Arc::new(RecordingEvents::default());
        let deps = Deps {
            limit: memory::unlimited(),
            orders: store.clone(),
            events: events.clone(),
            clock: Arc::new(FixedClock::new(chrono::Utc::now())),
        };
        (deps, store, events)
    }

    #[tokio::test]
    async fn a_paid_order_is_cancelled_and_compensation_is_requested() {
        let (deps, store, events) =
            deps_with_order_in(&[OrderStatus::Reserved, OrderStatus::Paid]).await;
        let response = handle(&deps, memory::request_from_event(EVENT))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        assert_eq!(body["status"], "CANCELLED");
        assert_eq!(events.sent()[0].kind, MessageType::OrderCancelled);
        let history = store.history(&events.sent()[0].order_id).await.unwrap();
        assert_eq!(history.last().unwrap().to, OrderStatus::Cancelled);
    }

    #[tokio::test]
    async fn cancelling_twice_succeeds_and_changes_nothing_more() {
        let (deps, store, _) = deps_with_order_in(&[]).await;
        handle(&deps, memory::request_from_event(EVENT))
            .await
            .unwrap();
        let again = handle(&deps, memory::request_from_event(EVENT))
            .await
            .unwrap();
        assert_eq!(again.status(), 200);
        let id = OrderId::parse("ord_5f2b8c1e9a4d4c3b8e7f6a5b4c3d2e1f").unwrap();
        assert_eq!(
            store.history(&id).await.unwrap().len(),
            2,
            "created + cancelled"
        );
    }

    #[tokio::test]
    async fn a_shipped_order_cannot_be_cancelled() {
        let (deps, _, events) = deps_with_order_in(&[
            OrderStatus::Reserved,
            OrderStatus::Paid,
            OrderStatus::Shipped,
        ])
        .await;
        let response = handle(&deps, memory::request_from_event(EVENT))
            .await
            .unwrap();
        assert_eq!(response.status(), 409);
        assert!(events.sent().is_empty());
    }

    #[tokio::test]
    async fn another_customer_cannot_cancel() {
        let (deps, _, _) = deps_with_order_in(&[]).await;
        let request = memory::with_principal(
            memory::request_from_event(EVENT),
            Some(("customer-2", "customer")),
        );
        assert_eq!(handle(&deps, request).await.unwrap().status(), 404);
    }
}
