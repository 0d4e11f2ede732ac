//! The fulfilment steps. Each one is idempotent under SQS's at-least-once, unordered delivery:
//! it reloads the order (the source of truth), does nothing if the order is already past its step,
//! makes its change together with a transition conditional on the order's version, and only then
//! hands the order to the next queue. Re-sending the next message on a replay is harmless.

use crate::domain::{Order, OrderStatus};
use crate::error::AppError;
use crate::messages::{Envelope, MessageType};
use crate::ports::{Clock, Inventory, OrderEvents, OrderRepository, Reservation};

/// The order a message names, from the source of truth; a message for an order that does not
/// exist fails (towards the dead-letter queue).
async fn load(orders: &dyn OrderRepository, message: &Envelope) -> Result<Order, AppError> {
    orders
        .get(&message.order_id)
        .await?
        .ok_or(AppError::NotFound("order"))
}

/// What reserving stock needs.
pub struct ReservePorts<'a> {
    pub orders: &'a dyn OrderRepository,
    pub inventory: &'a dyn Inventory,
    /// The payment queue.
    pub next: &'a dyn OrderEvents,
    pub clock: &'a dyn Clock,
}

/// `PENDING` → `RESERVED` with every line's stock taken in the same transaction, then on to
/// payment; or `REJECTED` naming the product that is short. A redelivery of a reserved order only
/// re-sends it to payment; any other state is past this step.
pub async fn reserve(ports: &ReservePorts<'_>, message: &Envelope) -> Result<(), AppError> {
    let order = load(ports.orders, message).await?;
    let forward = |order: &Order| {
        Envelope::new(
            MessageType::OrderReserved,
            order.id.clone(),
            &message.correlation_id,
            order.updated_at,
        )
    };
    match order.status {
        OrderStatus::Pending => {}
        OrderStatus::Reserved => return ports.next.publish(&forward(&order)).await,
        past => {
            tracing::info!(status = %past, "order is past reservation; nothing to do");
            return Ok(());
        }
    }
    let now = ports.clock.now();
    let (mut reserved, entry) = order
        .transition(OrderStatus::Reserved, now, None)
        .map_err(|e| AppError::Conflict(e.to_string()))?;
    reserved.stock_held = true;
    match ports.inventory.reserve(&order, &reserved, &entry).await? {
        Reservation::Reserved => ports.next.publish(&forward(&reserved)).await,
        Reservation::OutOfStock(product) => {
            let reason = format!("out of stock: {product}");
            let (rejected, entry) = order
                .transition(OrderStatus::Rejected, now, Some(reason.clone()))
                .map_err(|e| AppError::Conflict(e.to_string()))?;
            ports.orders.apply(&order, &rejected, &entry).await?;
            tracing::info!(%reason, "order rejected");
            Ok(())
        }
    }
}

/// What compensating needs.
pub struct CompensatePorts<'a> {
    pub orders: &'a dyn OrderRepository,
    pub inventory: &'a dyn Inventory,
    pub clock: &'a dyn Clock,
}

/// Gives a cancelled or failed order's stock back, once. (Refunds join here with the payment
/// step.) An order that holds no stock, or is not cancelled or failed, needs nothing.
pub async fn compensate(ports: &CompensatePorts<'_>, message: &Envelope) -> Result<(), AppError> {
    let order = load(ports.orders, message).await?;
    let Some(released) = order.stock_released(ports.clock.now()) else {
        tracing::info!(status = %order.status, stock_held = order.stock_held, "no stock to give back");
        return Ok(());
    };
    ports.inventory.release(&order, &released).await?;
    tracing::info!("stock given back");
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::Utc;

    use super::*;
    use crate::domain::OrderId;
    use crate::memory::{self, FixedClock, MemoryStore, RecordingEvents};

    struct World {
        store: Arc<MemoryStore>,
        next: RecordingEvents,
        clock: FixedClock,
    }

    impl World {
        async fn cancel(&self, message: &Envelope) {
            let order = self.store.get(&message.order_id).await.unwrap().unwrap();
            let (cancelled, entry) = order
                .transition(OrderStatus::Cancelled, Utc::now(), None)
                .unwrap();
            self.store.apply(&order, &cancelled, &entry).await.unwrap();
        }

        async fn compensate(&self, message: &Envelope) {
            let ports = CompensatePorts {
                orders: self.store.as_ref(),
                inventory: self.store.as_ref(),
                clock: &self.clock,
            };
            let cancel = Envelope::new(
                MessageType::OrderCancelled,
                message.order_id.clone(),
                "corr",
                Utc::now(),
            );
            compensate(&ports, &cancel).await.unwrap();
        }

        fn ports(&self) -> ReservePorts<'_> {
            ReservePorts {
                orders: self.store.as_ref(),
                inventory: self.store.as_ref(),
                next: &self.next,
                clock: &self.clock,
            }
        }
    }

    async fn world(stock: u32) -> (World, Envelope) {
        let store = Arc::new(MemoryStore::new());
        store.seed_product(memory::product("p-1", 500, stock));
        let order = memory::order(OrderId::generate(), "c-1", Utc::now());
        store.insert(&order, None).await.unwrap();
        let message = Envelope::new(
            MessageType::OrderPlaced,
            order.id.clone(),
            "corr",
            Utc::now(),
        );
        (
            World {
                store,
                next: RecordingEvents::default(),
                clock: FixedClock::new(Utc::now()),
            },
            message,
        )
    }

    async fn stock(store: &MemoryStore) -> u32 {
        use crate::ports::Catalog;
        Catalog::get(store, &crate::domain::ProductId::parse("p-1").unwrap())
            .await
            .unwrap()
            .unwrap()
            .available
    }

    #[tokio::test]
    async fn a_placed_order_takes_its_stock_once_however_often_it_is_delivered() {
        let (w, message) = world(5).await;
        for _ in 0..5 {
            reserve(&w.ports(), &message).await.unwrap();
        }
        assert_eq!(stock(&w.store).await, 3, "2 units taken once");
        let order = w.store.get(&message.order_id).await.unwrap().unwrap();
        assert_eq!(order.status, OrderStatus::Reserved);
        assert_eq!(
            w.store.history(&order.id).await.unwrap().len(),
            2,
            "one history entry per transition"
        );
        assert_eq!(
            w.next.sent().len(),
            5,
            "every delivery (re)sends to payment: harmless downstream"
        );
    }

    #[tokio::test]
    async fn a_short_product_rejects_the_order_and_takes_nothing() {
        let (w, message) = world(1).await;
        reserve(&w.ports(), &message).await.unwrap();
        let order = w.store.get(&message.order_id).await.unwrap().unwrap();
        assert_eq!(order.status, OrderStatus::Rejected);
        let history = w.store.history(&order.id).await.unwrap();
        assert_eq!(
            history.last().unwrap().reason.as_deref(),
            Some("out of stock: p-1")
        );
        assert_eq!(stock(&w.store).await, 1);
        assert!(w.next.sent().is_empty());
        reserve(&w.ports(), &message).await.unwrap();
        assert_eq!(
            w.store.history(&order.id).await.unwrap().len(),
            2,
            "a redelivery changes nothing"
        );
    }

    #[tokio::test]
    async fn a_cancelled_order_is_left_alone() {
        let (w, message) = world(5).await;
        w.cancel(&message).await;
        reserve(&w.ports(), &message).await.unwrap();
        assert_eq!(stock(&w.store).await, 5);
        assert!(w.next.sent().is_empty());
    }

    #[tokio::test]
    async fn a_cancelled_reservation_gives_its_stock_back_exactly_once() {
        let (w, message) = world(5).await;
        reserve(&w.ports(), &message).await.unwrap();
        assert_eq!(stock(&w.store).await, 3);
        w.cancel(&message).await;

        for _ in 0..3 {
            w.compensate(&message).await;
        }
        assert_eq!(stock(&w.store).await, 5, "given back once");
        reserve(&w.ports(), &message).await.unwrap();
        assert_eq!(
            stock(&w.store).await,
            5,
            "a late reservation message takes nothing from a cancelled order"
        );
    }

    #[tokio::test]
    async fn cancelling_before_the_reservation_leaves_nothing_to_give_back() {
        let (w, message) = world(5).await;
        w.cancel(&message).await;
        w.compensate(&message).await;
        reserve(&w.ports(), &message).await.unwrap();
        assert_eq!(stock(&w.store).await, 5);
    }

    #[tokio::test]
    async fn a_message_for_an_unknown_order_fails_for_the_dead_letter_queue() {
        let (w, _) = world(5).await;
        let stray = Envelope::new(
            MessageType::OrderPlaced,
            OrderId::generate(),
            "corr",
            Utc::now(),
        );
        assert!(matches!(
            reserve(&w.ports(), &stray).await,
            Err(AppError::NotFound(_))
        ));
    }
}
