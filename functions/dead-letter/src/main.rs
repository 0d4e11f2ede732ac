//! Failure handling, fed by every dead-letter queue: keeps the message, and fails its order (then
//! on to compensation) only while the order still waits for the step the message was for. The use
//! case is `shared::service::fulfilment::DeadLetterHandling`.

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::LambdaEvent;
use shared::service::fulfilment::DeadLetterHandling;

#[tokio::main]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::serve(
        |letters: &'static DeadLetterHandling, event: LambdaEvent<SqsEvent>| async move {
            Ok(letters.batch(&event.context, event.payload).await)
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use shared::domain::{OrderStatus, Reason};
    use shared::messages::Envelope;
    use shared::pipeline;
    use shared::ports::OrderRepository;
    use shared::service::fulfilment::DeadLetterHandling;
    use shared::testing::{self, Memory};
    use shared::wiring::Wire;

    const EVENT: &str = include_str!("../../../events/dead-letter.json");

    #[tokio::test]
    async fn the_sample_event_fails_the_order_waiting_for_its_step_and_keeps_the_message() {
        let memory = Memory::new();
        let event = testing::sqs_event(EVENT);
        let id = testing::order_of(&event);
        let body = event.records[0].body.as_deref().unwrap();
        let step = Envelope::parse(body).unwrap().queue.unwrap();
        let waiting = pipeline::steps_of(step.consumer()).next().unwrap().awaits;
        testing::stored_order(&memory.store, &id, waiting).await;
        let letters = DeadLetterHandling::wire(&memory).await.unwrap();
        let context = testing::context(Duration::from_secs(60));
        let response = letters.batch(&context, event).await;
        assert!(response.batch_item_failures.is_empty());
        let order = memory.store.get(&id).await.unwrap().unwrap();
        assert_eq!(order.status, OrderStatus::Failed);
        let history = memory.store.history(&id).await.unwrap();
        let reason = history.last().and_then(|e| e.reason.clone());
        assert_eq!(
            reason,
            Some(Reason::StepGaveUp {
                queue: step,
                receives: 5
            })
        );
        let kept = memory.store.dead_letters();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].queue, "local-PaymentDLQ");
        let unwinding = pipeline::route(OrderStatus::Failed).unwrap();
        assert_eq!(memory.queues.sent_to(unwinding).len(), 1);
    }
}
