//! One record at a time through the ship use case.

use std::convert::Infallible;
use std::sync::Arc;

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::LambdaEvent;
use serde_json::Value;
use shared::ports::{Carrier, Clock, OrderEvents, OrderRepository};
use shared::service::fulfilment::{ShipPorts, ship};

pub struct Deps {
    pub orders: Arc<dyn OrderRepository>,
    pub carrier: Arc<dyn Carrier>,
    pub notifications: Arc<dyn OrderEvents>,
    pub clock: Arc<dyn Clock>,
}

pub async fn handle(deps: &Deps, event: LambdaEvent<SqsEvent>) -> Result<Value, Infallible> {
    let ports = ShipPorts {
        orders: deps.orders.as_ref(),
        carrier: deps.carrier.as_ref(),
        next: deps.notifications.as_ref(),
        clock: deps.clock.as_ref(),
    };
    Ok(shared::sqs::process(event.payload, |message| {
        let ports = &ports;
        async move { ship(ports, &message).await }
    })
    .await)
}

#[cfg(test)]
mod tests {
    use lambda_runtime::Context;
    use shared::adapters::carrier::BuiltInCarrier;
    use shared::domain::OrderStatus;
    use shared::memory::{self, FixedClock, MemoryStore, RecordingEvents};

    use super::*;

    const EVENT: &str = include_str!("../../../events/ship-order.json");

    #[tokio::test]
    async fn the_sample_event_ships_a_paid_order_with_a_tracking_number() {
        let event: SqsEvent = serde_json::from_str(EVENT).unwrap();
        let store = Arc::new(MemoryStore::new());
        let id = memory::reserved_order_of(&store, EVENT).await;
        memory::advance(&store, &id, OrderStatus::Paid).await;
        let notifications = Arc::new(RecordingEvents::default());
        let deps = Deps {
            orders: store.clone(),
            carrier: Arc::new(BuiltInCarrier),
            notifications: notifications.clone(),
            clock: Arc::new(FixedClock::new(chrono::Utc::now())),
        };
        let response = handle(&deps, LambdaEvent::new(event, Context::default()))
            .await
            .unwrap();
        assert_eq!(response, serde_json::json!({"batchItemFailures": []}));
        let order = store.get(&id).await.unwrap().unwrap();
        assert_eq!(order.status, OrderStatus::Shipped);
        assert!(order.tracking_number.is_some());
        assert_eq!(notifications.sent().len(), 1);
    }
}
