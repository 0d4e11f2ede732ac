//! Fulfilment step 1, fed by the inventory queue: reserves the order's stock (`RESERVED`, then on
//! to the payment queue) or rejects it (`REJECTED`, naming the product that is short, and on to
//! the customer's notice). The use case is `shared::service::fulfilment::Reserve`; the batch
//! runner (`shared::sqs`) enforces the step contract.

#[tokio::main]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::serve_queue::<shared::service::fulfilment::Reserve>().await
}

#[cfg(test)]
mod tests {
    use shared::domain::OrderStatus;
    use shared::pipeline;
    use shared::service::fulfilment::Reserve;
    use shared::testing::{self, Memory};

    const EVENT: &str = include_str!("../../../events/reserve-inventory.json");

    #[tokio::test]
    async fn the_sample_event_reserves_the_pending_order_once() {
        let sample = testing::sample::<Reserve>(EVENT, None, 2).await;
        let order = sample.order().await;
        assert_eq!(order.status, OrderStatus::Reserved);
        let next = pipeline::route(order.status).unwrap();
        assert_eq!(sample.memory.queues.sent_to(next).len(), 2);
    }

    #[tokio::test]
    async fn a_garbage_record_alone_is_dead_lettered() {
        let memory = Memory::new();
        let event = testing::with_record(testing::sqs_event(EVENT), "garbage-1", "{not json");
        let id = testing::order_of(&event);
        testing::stored_order(&memory.store, &id, OrderStatus::Pending).await;
        let response = testing::deliver::<Reserve>(&memory, event).await;
        assert!(response.batch_item_failures.is_empty());
        assert_eq!(memory.queues.quarantined()[0].body, "{not json");
    }
}
