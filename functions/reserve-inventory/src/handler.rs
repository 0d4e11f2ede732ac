//! One record at a time through the reserve use case; failed records go back in
//! `batchItemFailures` for SQS to retry (and, after 5 receives, to dead-letter).

use std::convert::Infallible;
use std::sync::Arc;

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::LambdaEvent;
use serde_json::Value;
use shared::ports::{Clock, Inventory, OrderEvents, OrderRepository};
use shared::service::fulfilment::{ReservePorts, reserve};

pub struct Deps {
    pub orders: Arc<dyn OrderRepository>,
    pub inventory: Arc<dyn Inventory>,
    pub payments: Arc<dyn OrderEvents>,
    pub notifications: Arc<dyn OrderEvents>,
    pub clock: Arc<dyn Clock>,
}

pub async fn handle(deps: &Deps, event: LambdaEvent<SqsEvent>) -> Result<Value, Infallible> {
    let ports = ReservePorts {
        orders: deps.orders.as_ref(),
        inventory: deps.inventory.as_ref(),
        next: deps.payments.as_ref(),
        notifications: deps.notifications.as_ref(),
        clock: deps.clock.as_ref(),
    };
    Ok(shared::sqs::process(event.payload, |message| {
        let ports = &ports;
        async move { reserve(ports, &message).await }
    })
    .await)
}

#[cfg(test)]
mod tests {
    use lambda_runtime::Context;
    use shared::domain::{OrderId, OrderStatus};
    use shared::memory::{self, FixedClock, MemoryStore, RecordingEvents};
    use shared::messages::MessageType;

    use super::*;

    const EVENT: &str = include_str!("../../../events/reserve-inventory.json");

    #[tokio::test]
    async fn the_sample_event_reserves_and_a_garbage_record_alone_is_reported() {
        let mut event: serde_json::Value = serde_json::from_str(EVENT).unwrap();
        let body: serde_json::Value =
            serde_json::from_str(event["Records"][0]["body"].as_str().unwrap()).unwrap();
        let id = OrderId::parse(body["orderId"].as_str().unwrap()).unwrap();
        let store = Arc::new(MemoryStore::new());
        store.seed_product(memory::product("p-1", 500, 10));
        store
            .insert(
                &memory::order(id.clone(), "customer-1", chrono::Utc::now()),
                None,
            )
            .await
            .unwrap();
        let payments = Arc::new(RecordingEvents::default());
        let deps = Deps {
            orders: store.clone(),
            inventory: store.clone(),
            payments: payments.clone(),
            notifications: Arc::new(RecordingEvents::default()),
            clock: Arc::new(FixedClock::new(chrono::Utc::now())),
        };

        let mut garbage = event["Records"][0].clone();
        garbage["messageId"] = "garbage-1".into();
        garbage["body"] = "{not json".into();
        event["Records"].as_array_mut().unwrap().push(garbage);
        let event: SqsEvent = serde_json::from_value(event).unwrap();
        let response = handle(&deps, LambdaEvent::new(event, Context::default()))
            .await
            .unwrap();

        assert_eq!(
            response,
            serde_json::json!({"batchItemFailures": [{"itemIdentifier": "garbage-1"}]})
        );
        assert_eq!(
            store.get(&id).await.unwrap().unwrap().status,
            OrderStatus::Reserved
        );
        assert_eq!(payments.sent()[0].kind, MessageType::OrderReserved);
    }
}
