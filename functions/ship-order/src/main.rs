//! Fulfilment step 3, fed by the shipping queue: books the shipment with the carrier (`SHIPPED`
//! with a tracking number), then on to the notification queue. The use case is
//! `shared::service::fulfilment::Ship`.

#[tokio::main]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::serve_queue::<shared::service::fulfilment::Ship>().await
}

#[cfg(test)]
mod tests {
    use shared::domain::OrderStatus;
    use shared::service::fulfilment::Ship;
    use shared::testing;

    const EVENT: &str = include_str!("../../../events/ship-order.json");

    #[tokio::test]
    async fn the_sample_event_ships_the_paid_order_with_one_tracking_number() {
        let sample = testing::sample::<Ship>(EVENT, None, 2).await;
        let order = sample.order().await;
        assert_eq!(order.status, OrderStatus::Shipped);
        assert!(order.tracking_number.unwrap().starts_with("TRK"));
    }
}
