//! Every record, readable or not, through the dead-letter use case.

use std::convert::Infallible;
use std::sync::Arc;

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::LambdaEvent;
use serde_json::Value;
use shared::ports::{Clock, DeadLetter, DeadLetters, OrderEvents, OrderRepository};
use shared::service::fulfilment::{DeadLetterPorts, dead_letter};

pub struct Deps {
    pub orders: Arc<dyn OrderRepository>,
    pub letters: Arc<dyn DeadLetters>,
    pub compensation: Arc<dyn OrderEvents>,
    pub clock: Arc<dyn Clock>,
}

pub async fn handle(deps: &Deps, event: LambdaEvent<SqsEvent>) -> Result<Value, Infallible> {
    let ports = DeadLetterPorts {
        orders: deps.orders.as_ref(),
        letters: deps.letters.as_ref(),
        compensation: deps.compensation.as_ref(),
        clock: deps.clock.as_ref(),
    };
    Ok(shared::sqs::process_records(event.payload, |record| {
        let ports = &ports;
        async move {
            let letter = DeadLetter {
                queue: record.queue,
                message_id: record.message_id,
                body: record.body,
                receives: record.receives,
                at: ports.clock.now(),
            };
            dead_letter(ports, &letter).await
        }
    })
    .await)
}

#[cfg(test)]
mod tests {
    use lambda_runtime::Context;
    use shared::domain::OrderStatus;
    use shared::memory::{self, FixedClock, MemoryStore, RecordingEvents};

    use super::*;

    const EVENT: &str = include_str!("../../../events/dead-letter.json");

    #[tokio::test]
    async fn the_sample_event_fails_the_order_and_keeps_the_message() {
        let event: SqsEvent = serde_json::from_str(EVENT).unwrap();
        let store = Arc::new(MemoryStore::new());
        let id = memory::reserved_order_of(&store, EVENT).await;
        let compensation = Arc::new(RecordingEvents::default());
        let deps = Deps {
            orders: store.clone(),
            letters: store.clone(),
            compensation: compensation.clone(),
            clock: Arc::new(FixedClock::new(chrono::Utc::now())),
        };
        let response = handle(&deps, LambdaEvent::new(event, Context::default()))
            .await
            .unwrap();
        assert_eq!(response, serde_json::json!({"batchItemFailures": []}));
        assert_eq!(
            store.get(&id).await.unwrap().unwrap().status,
            OrderStatus::Failed
        );
        let kept = store.dead_letters();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].queue, "local-PaymentDLQ");
        assert_eq!(kept[0].receives, 5);
        assert_eq!(compensation.sent().len(), 1);
    }
}
