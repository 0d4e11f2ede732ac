//! Fulfilment step 4, fed by the notification queue: tells the customer (`COMPLETED` for a
//! shipped order) or tells them why their order was rejected. The use case is
//! `shared::service::fulfilment::Notify`.

#[tokio::main]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::serve_queue::<shared::service::fulfilment::Notify>().await
}

#[cfg(test)]
mod tests {
    use shared::domain::OrderStatus;
    use shared::service::fulfilment::Notify;
    use shared::testing;

    const EVENT: &str = include_str!("../../../events/notify-customer.json");

    #[tokio::test]
    async fn the_sample_event_completes_a_shipped_order_once() {
        let sample = testing::sample::<Notify>(EVENT, None, 2).await;
        assert_eq!(sample.order().await.status, OrderStatus::Completed);
        assert_eq!(sample.memory.notifier.told().len(), 1, "told once");
    }
}
