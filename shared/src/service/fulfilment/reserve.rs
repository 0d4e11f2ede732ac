//! Step 1: stock.

use super::{load, onward, past_step, transition};
use crate::domain::OrderStatus;
use crate::error::AppError;
use crate::messages::{Envelope, MessageType};
use crate::ports::{Clock, Inventory, OrderEvents, OrderRepository, Reservation};

/// What reserving stock needs.
pub struct ReservePorts<'a> {
    pub orders: &'a dyn OrderRepository,
    pub inventory: &'a dyn Inventory,
    /// The payment queue.
    pub next: &'a dyn OrderEvents,
    /// The notification queue, for rejections.
    pub notifications: &'a dyn OrderEvents,
    pub clock: &'a dyn Clock,
}

/// `PENDING` → `RESERVED` with every line's stock taken in the same transaction, then on to
/// payment; or `REJECTED` naming the product that is short, and the customer is told. A
/// redelivery of a reserved order only re-sends it to payment; any other state is past this step.
pub async fn reserve(ports: &ReservePorts<'_>, message: &Envelope) -> Result<(), AppError> {
    let order = load(ports.orders, message).await?;
    match order.status {
        OrderStatus::Pending => {}
        OrderStatus::Reserved => {
            let paying = onward(MessageType::OrderReserved, &order, message);
            return ports.next.publish(&paying).await;
        }
        _ => return past_step(&order),
    }
    let now = ports.clock.now();
    let (mut reserved, entry) = transition(&order, OrderStatus::Reserved, now, None)?;
    reserved.stock_held = true;
    match ports.inventory.reserve(&order, &reserved, &entry).await? {
        Reservation::Reserved => {
            let paying = onward(MessageType::OrderReserved, &reserved, message);
            ports.next.publish(&paying).await
        }
        Reservation::OutOfStock(product) => {
            let reason = format!("out of stock: {product}");
            let (rejected, entry) = transition(&order, OrderStatus::Rejected, now, Some(reason))?;
            ports.orders.apply(&order, &rejected, &entry).await?;
            tracing::info!(reason = ?entry.reason, "order rejected");
            let telling = onward(MessageType::OrderRejected, &rejected, message);
            ports.notifications.publish(&telling).await
        }
    }
}
