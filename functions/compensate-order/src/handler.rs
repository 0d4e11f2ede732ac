//! One record at a time through the compensate use case; failures go back for SQS to retry.

use std::convert::Infallible;
use std::sync::Arc;

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::LambdaEvent;
use serde_json::Value;
use shared::ports::{Clock, Inventory, OrderRepository, Payments};
use shared::service::fulfilment::{CompensatePorts, compensate};

pub struct Deps {
    pub orders: Arc<dyn OrderRepository>,
    pub inventory: Arc<dyn Inventory>,
    pub payments: Arc<dyn Payments>,
    pub clock: Arc<dyn Clock>,
}

pub async fn handle(deps: &Deps, event: LambdaEvent<SqsEvent>) -> Result<Value, Infallible> {
    let ports = CompensatePorts {
        orders: deps.orders.as_ref(),
        inventory: deps.inventory.as_ref(),
        payments: deps.payments.as_ref(),
        clock: deps.clock.as_ref(),
    };
    Ok(shared::sqs::process(event.payload, |message| {
        let ports = &ports;
        async move { compensate(ports, &message).await }
    })
    .await)
}

#[cfg(test)]
mod tests {
    use lambda_runtime::Context;
    use shared::domain::{OrderId, OrderStatus, ProductId};
    use shared::memory::{self, FixedClock, MemoryStore};
    use shared::ports::Catalog;

    use super::*;

    const EVENT: &str = include_str!("../../../events/compensate-order.json");

    #[tokio::test]
    async fn the_sample_event_gives_a_cancelled_orders_stock_back() {
        let event: serde_json::Value = serde_json::from_str(EVENT).unwrap();
        let body: serde_json::Value =
            serde_json::from_str(event["Records"][0]["body"].as_str().unwrap()).unwrap();
        let id = OrderId::parse(body["orderId"].as_str().unwrap()).unwrap();
        let store = Arc::new(MemoryStore::new());
        store.seed_product(memory::product("p-1", 500, 8));
        let mut order = memory::order(id, "customer-1", chrono::Utc::now());
        store.insert(&order, None).await.unwrap();
        for status in [OrderStatus::Reserved, OrderStatus::Cancelled] {
            let (mut next, entry) = order.transition(status, chrono::Utc::now(), None).unwrap();
            next.stock_held = true;
            store.apply(&order, &next, &entry).await.unwrap();
            order = next;
        }
        let deps = Deps {
            orders: store.clone(),
            inventory: store.clone(),
            payments: Arc::new(shared::memory::FakePayments::default()),
            clock: Arc::new(FixedClock::new(chrono::Utc::now())),
        };
        let event: SqsEvent = serde_json::from_value(event).unwrap();
        let response = handle(&deps, LambdaEvent::new(event, Context::default()))
            .await
            .unwrap();
        assert_eq!(response, serde_json::json!({"batchItemFailures": []}));
        let p1 = Catalog::get(store.as_ref(), &ProductId::parse("p-1").unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(p1.available, 10, "the order's 2 units are back");
    }
}
