//! One reconciliation per scheduled event; the event itself carries nothing the run needs.

use std::sync::Arc;

use lambda_runtime::LambdaEvent;
use serde_json::Value;
use shared::ports::{Clock, OrderEvents, OrderRepository};
use shared::service::fulfilment::{ReconcilePorts, Steps, reconcile};

pub struct Deps {
    pub orders: Arc<dyn OrderRepository>,
    pub inventory: Arc<dyn OrderEvents>,
    pub payment: Arc<dyn OrderEvents>,
    pub shipping: Arc<dyn OrderEvents>,
    pub notification: Arc<dyn OrderEvents>,
    pub compensation: Arc<dyn OrderEvents>,
    pub clock: Arc<dyn Clock>,
    pub stalled_after: chrono::Duration,
    pub window: chrono::Duration,
}

/// A failed run is an error for Lambda's own metrics and alarms; the next run starts over.
pub async fn handle(
    deps: &Deps,
    _event: LambdaEvent<Value>,
) -> Result<Value, lambda_runtime::Error> {
    let ports = ReconcilePorts {
        orders: deps.orders.as_ref(),
        steps: Steps {
            inventory: deps.inventory.as_ref(),
            payment: deps.payment.as_ref(),
            shipping: deps.shipping.as_ref(),
            notification: deps.notification.as_ref(),
            compensation: deps.compensation.as_ref(),
        },
        clock: deps.clock.as_ref(),
        stalled_after: deps.stalled_after,
        window: deps.window,
    };
    let found = reconcile(&ports).await?;
    Ok(serde_json::to_value(found)?)
}

#[cfg(test)]
mod tests {
    use lambda_runtime::Context;
    use shared::domain::OrderId;
    use shared::memory::{self, FixedClock, MemoryStore, RecordingEvents};

    use super::*;

    const EVENT: &str = include_str!("../../../events/reconciler.json");

    #[tokio::test]
    async fn the_scheduled_event_re_drives_a_stalled_order() {
        let store = Arc::new(MemoryStore::new());
        let placed = chrono::Utc::now() - chrono::Duration::minutes(30);
        store
            .insert(&memory::order(OrderId::generate(), "c-1", placed), None)
            .await
            .unwrap();
        let inventory = Arc::new(RecordingEvents::default());
        let idle = || Arc::new(RecordingEvents::default());
        let deps = Deps {
            orders: store,
            inventory: inventory.clone(),
            payment: idle(),
            shipping: idle(),
            notification: idle(),
            compensation: idle(),
            clock: Arc::new(FixedClock::new(chrono::Utc::now())),
            stalled_after: chrono::Duration::minutes(10),
            window: chrono::Duration::hours(24),
        };
        let event: Value = serde_json::from_str(EVENT).unwrap();
        let found = handle(&deps, LambdaEvent::new(event, Context::default()))
            .await
            .unwrap();
        assert_eq!(found["stalled"], 1);
        assert_eq!(inventory.sent().len(), 1);
    }
}
