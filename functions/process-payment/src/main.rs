//! Fulfilment step 2, fed by the payment queue: charges the order through the payment provider
//! (`PAID`, then on to the shipping queue) or records the decline (`PAYMENT_FAILED`, then on to
//! compensation). While the provider's circuit is open, messages wait on the payment queue. The
//! use case is `shared::service::fulfilment::Pay`.

#[tokio::main]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::serve_queue::<shared::service::fulfilment::Pay>().await
}

#[cfg(test)]
mod tests {
    use shared::domain::OrderStatus;
    use shared::service::fulfilment::Pay;
    use shared::testing;

    const EVENT: &str = include_str!("../../../events/process-payment.json");

    #[tokio::test]
    async fn the_sample_event_charges_the_reserved_order_once() {
        let sample = testing::sample::<Pay>(EVENT, None, 2).await;
        assert_eq!(sample.order().await.status, OrderStatus::Paid);
        assert_eq!(sample.memory.payments.charges(&sample.id), 1);
    }
}
