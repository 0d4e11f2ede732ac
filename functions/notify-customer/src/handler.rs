//! One record at a time through the notify use case.

use std::convert::Infallible;
use std::sync::Arc;

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::LambdaEvent;
use serde_json::Value;
use shared::ports::{Clock, Notifier, OrderRepository};
use shared::service::fulfilment::{NotifyPorts, notify};

pub struct Deps {
    pub orders: Arc<dyn OrderRepository>,
    pub notifier: Arc<dyn Notifier>,
    pub clock: Arc<dyn Clock>,
}

pub async fn handle(deps: &Deps, event: LambdaEvent<SqsEvent>) -> Result<Value, Infallible> {
    let ports = NotifyPorts {
        orders: deps.orders.as_ref(),
        notifier: deps.notifier.as_ref(),
        clock: deps.clock.as_ref(),
    };
    Ok(shared::sqs::process(event.payload, |message| {
        let ports = &ports;
        async move { notify(ports, &message).await }
    })
    .await)
}

#[cfg(test)]
mod tests {
    use lambda_runtime::Context;
    use shared::adapters::notifier::LogNotifier;
    use shared::domain::OrderStatus;
    use shared::memory::{self, FixedClock, MemoryStore};

    use super::*;

    const EVENT: &str = include_str!("../../../events/notify-customer.json");

    #[tokio::test]
    async fn the_sample_event_completes_a_shipped_order_once() {
        let event: SqsEvent = serde_json::from_str(EVENT).unwrap();
        let store = Arc::new(MemoryStore::new());
        let id = memory::reserved_order_of(&store, EVENT).await;
        memory::advance(&store, &id, OrderStatus::Paid).await;
        memory::advance(&store, &id, OrderStatus::Shipped).await;
        let deps = Deps {
            orders: store.clone(),
            notifier: Arc::new(LogNotifier),
            clock: Arc::new(FixedClock::new(chrono::Utc::now())),
        };
        for _ in 0..2 {
            let response = handle(&deps, LambdaEvent::new(event.clone(), Context::default()))
                .await
                .unwrap();
            assert_eq!(response, serde_json::json!({"batchItemFailures": []}));
        }
        assert_eq!(
            store.get(&id).await.unwrap().unwrap().status,
            OrderStatus::Completed
        );
        let history = store.history(&id).await.unwrap();
        assert_eq!(history.len(), 5, "one completion however often delivered");
        assert!(
            history[4]
                .reason
                .as_deref()
                .unwrap()
                .starts_with("customer notified")
        );
    }
}
