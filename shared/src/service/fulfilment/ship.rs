//! Steps 3 and 4: the parcel and the customer.

use super::{load, onward, past_step, transition};
use crate::domain::OrderStatus;
use crate::error::AppError;
use crate::messages::{Envelope, MessageType};
use crate::ports::{Carrier, Clock, Notifier, OrderEvents, OrderRepository};

/// What shipping needs.
pub struct ShipPorts<'a> {
    pub orders: &'a dyn OrderRepository,
    pub carrier: &'a dyn Carrier,
    /// The notification queue.
    pub next: &'a dyn OrderEvents,
    pub clock: &'a dyn Clock,
}

/// `PAID` → `SHIPPED` with the carrier's tracking number, then on to notification. The carrier
/// books one shipment per order, so a redelivery gets the same tracking number.
pub async fn ship(ports: &ShipPorts<'_>, message: &Envelope) -> Result<(), AppError> {
    let order = load(ports.orders, message).await?;
    match order.status {
        OrderStatus::Paid => {}
        OrderStatus::Shipped => {
            let telling = onward(MessageType::OrderShipped, &order, message);
            return ports.next.publish(&telling).await;
        }
        _ => return past_step(&order),
    }
    let tracking = ports.carrier.ship(&order).await?;
    let reason = format!("tracking number {tracking}");
    let (mut shipped, entry) = transition(
        &order,
        OrderStatus::Shipped,
        ports.clock.now(),
        Some(reason),
    )?;
    shipped.tracking_number = Some(tracking);
    ports.orders.apply(&order, &shipped, &entry).await?;
    let telling = onward(MessageType::OrderShipped, &shipped, message);
    ports.next.publish(&telling).await
}

/// What notifying needs.
pub struct NotifyPorts<'a> {
    pub orders: &'a dyn OrderRepository,
    pub notifier: &'a dyn Notifier,
    pub clock: &'a dyn Clock,
}

/// Tells the customer. A shipped order becomes `COMPLETED`, its history entry carrying the
/// message; a rejected order's customer hears why (at least once: a redelivery may tell them
/// twice).
pub async fn notify(ports: &NotifyPorts<'_>, message: &Envelope) -> Result<(), AppError> {
    let order = load(ports.orders, message).await?;
    match order.status {
        OrderStatus::Shipped => {
            let text = format!(
                "Your order {} is on its way: tracking number {}.",
                order.id,
                order.tracking_number.as_deref().unwrap_or("unknown")
            );
            ports.notifier.notify(&order, &text).await?;
            let reason = format!("customer notified: {text}");
            let (completed, entry) = transition(
                &order,
                OrderStatus::Completed,
                ports.clock.now(),
                Some(reason),
            )?;
            ports.orders.apply(&order, &completed, &entry).await?;
            // The SLO's measure: from POST /orders to COMPLETED (OrderLatencySloAlarm).
            let took = completed.updated_at - order.created_at;
            crate::telemetry::seconds(
                "OrderCompletionSeconds",
                took.num_milliseconds() as f64 / 1e3,
            );
            Ok(())
        }
        OrderStatus::Rejected => {
            let why = ports
                .orders
                .history(&order.id)
                .await?
                .pop()
                .and_then(|entry| entry.reason)
                .unwrap_or_else(|| order.status.to_string());
            let text = format!("We could not fulfil your order {}: {why}.", order.id);
            ports.notifier.notify(&order, &text).await
        }
        _ => past_step(&order),
    }
}
