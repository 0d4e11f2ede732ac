//! The scheduled safety net: re-drives orders that stopped moving and checks the saga's
//! invariants, reporting violations as logs and metrics. The use case is
//! `shared::service::fulfilment::Reconcile`; a failed run is an error for Lambda's own metrics and
//! alarms, and the next run starts over.

use lambda_runtime::LambdaEvent;
use serde_json::Value;
use shared::service::fulfilment::{Reconcile, Reconciliation};

#[tokio::main]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::serve(
        |reconcile: &'static Reconcile, event: LambdaEvent<Value>| async move {
            let run = reconcile.run();
            let found = match shared::deadline::of(&event.context) {
                Some(deadline) => shared::deadline::within(deadline, run).await,
                None => run.await,
            };
            Ok::<Reconciliation, shared::lambda::Error>(found?)
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use shared::domain::OrderId;
    use shared::pipeline::Queue;
    use shared::ports::OrderRepository;
    use shared::service::fulfilment::Reconcile;
    use shared::testing::{self, Memory};
    use shared::wiring::Wire;

    const EVENT: &str = include_str!("../../../events/reconciler.json");

    #[tokio::test]
    async fn a_run_re_drives_an_order_stalled_before_the_first_step() {
        let _: serde_json::Value = serde_json::from_str(EVENT).unwrap();
        let memory = Memory::new();
        let placed = chrono::Utc::now() - chrono::Duration::minutes(30);
        let order = testing::order(OrderId::generate(), "c-1", placed);
        memory.store.insert(&order, None).await.unwrap();
        let found = Reconcile::wire(&memory).await.unwrap().run().await.unwrap();
        assert_eq!(found.stalled, 1);
        assert_eq!(memory.queues.sent_to(Queue::Inventory).len(), 1);
    }
}
