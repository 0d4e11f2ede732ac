//! One record at a time through the pay use case; failed records go back in
//! `batchItemFailures` for SQS to retry.

use std::convert::Infallible;
use std::sync::Arc;

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::LambdaEvent;
use serde_json::Value;
use shared::ports::{Clock, OrderEvents, OrderRepository, Payments};
use shared::service::fulfilment::{PayPorts, pay};

pub struct Deps {
    pub orders: Arc<dyn OrderRepository>,
    pub payments: Arc<dyn Payments>,
    pub shipping: Arc<dyn OrderEvents>,
    pub compensation: Arc<dyn OrderEvents>,
    /// The payment queue, delayed: where messages wait out a provider outage.
    pub later: Arc<dyn OrderEvents>,
    pub clock: Arc<dyn Clock>,
}

pub async fn handle(deps: &Deps, event: LambdaEvent<SqsEvent>) -> Result<Value, Infallible> {
    let ports = PayPorts {
        orders: deps.orders.as_ref(),
        payments: deps.payments.as_ref(),
        next: deps.shipping.as_ref(),
        compensation: deps.compensation.as_ref(),
        later: deps.later.as_ref(),
        clock: deps.clock.as_ref(),
    };
    Ok(shared::sqs::process(event.payload, |message| {
        let ports = &ports;
        async move { pay(ports, &message).await }
    })
    .await)
}

#[cfg(test)]
mod tests {
    use lambda_runtime::Context;
    use shared::domain::OrderStatus;
    use shared::memory::{self, FakePayments, FixedClock, MemoryStore, RecordingEvents};
    use shared::messages::MessageType;

    use super::*;

    const EVENT: &str = include_str!("../../../events/process-payment.json");

    #[tokio::test]
    async fn the_sample_event_charges_the_reserved_order_once() {
        let event: SqsEvent = serde_json::from_str(EVENT).unwrap();
        let store = Arc::new(MemoryStore::new());
        let id = memory::reserved_order_of(&store, EVENT).await;
        let payments = Arc::new(FakePayments::default());
        let shipping = Arc::new(RecordingEvents::default());
        let deps = Deps {
            orders: store.clone(),
            payments: payments.clone(),
            shipping: shipping.clone(),
            compensation: Arc::new(RecordingEvents::default()),
            later: Arc::new(RecordingEvents::default()),
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
            OrderStatus::Paid
        );
        assert_eq!(
            payments.charges(&id),
            1,
            "a redelivery charges nothing more"
        );
        assert!(
            shipping
                .sent()
                .iter()
                .all(|m| m.kind == MessageType::OrderPaid)
        );
    }
}
