//! Compensation, fed by the compensation queue: for a cancelled, declined or failed order,
//! refunds its charge (or voids a payment that has not charged) and gives its stock back, exactly
//! once. The use case is `shared::service::fulfilment::Compensate`.

#[tokio::main]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::serve_queue::<shared::service::fulfilment::Compensate>().await
}

#[cfg(test)]
mod tests {
    use shared::domain::{OrderStatus, ProductId};
    use shared::ports::Catalog;
    use shared::service::fulfilment::Compensate;
    use shared::testing;

    const EVENT: &str = include_str!("../../../events/compensate-order.json");

    #[tokio::test]
    async fn the_sample_event_gives_a_cancelled_orders_stock_back_once() {
        let sample = testing::sample::<Compensate>(EVENT, Some(OrderStatus::Cancelled), 2).await;
        assert!(!sample.order().await.stock_held);
        let p1 = ProductId::parse("p-1").unwrap();
        let product = Catalog::get(sample.memory.store.as_ref(), &p1)
            .await
            .unwrap();
        assert_eq!(product.unwrap().available, 10, "given back once");
    }
}
