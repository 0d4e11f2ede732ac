//! Step 2: money. Exactly one charge per order comes from two facts: an order has at most one
//! payment intent (recorded on the order with a version condition *before* it is confirmed),
//! and an intent takes money at most once however often it is confirmed.

use super::{load, onward, past_step, transition};
use crate::domain::{Order, OrderStatus, Payment, PaymentState};
use crate::error::AppError;
use crate::messages::{Envelope, MessageType};
use crate::ports::{Charge, Clock, OrderEvents, OrderRepository, Payments};

/// What taking payment needs.
pub struct PayPorts<'a> {
    pub orders: &'a dyn OrderRepository,
    pub payments: &'a dyn Payments,
    /// The shipping queue.
    pub next: &'a dyn OrderEvents,
    /// The compensation queue, for declined cards.
    pub compensation: &'a dyn OrderEvents,
    /// The payment queue itself, with a delay: where a message waits while the provider is
    /// unavailable, instead of burning its receives towards the dead-letter queue.
    pub later: &'a dyn OrderEvents,
    pub clock: &'a dyn Clock,
}

/// `RESERVED` → `PAID` (on to shipping) or `PAYMENT_FAILED` (on to compensation, which gives the
/// stock back). While the provider's circuit is open the message is parked on the payment queue
/// with a delay: nothing is lost and nothing hammers the provider.
pub async fn pay(ports: &PayPorts<'_>, message: &Envelope) -> Result<(), AppError> {
    let order = load(ports.orders, message).await?;
    match order.status {
        OrderStatus::Reserved => {}
        OrderStatus::Paid => {
            let shipping = onward(MessageType::OrderPaid, &order, message);
            return ports.next.publish(&shipping).await;
        }
        _ => return past_step(&order),
    }
    match charge(ports, order, message).await {
        Err(AppError::Unavailable(what)) => {
            tracing::warn!(
                dependency = what,
                "provider unavailable; payment parked for later"
            );
            ports.later.publish(message).await
        }
        done => done,
    }
}

async fn charge(ports: &PayPorts<'_>, order: Order, message: &Envelope) -> Result<(), AppError> {
    let (order, intent_id) = match &order.payment {
        None => record_intent(ports, order).await?,
        Some(payment) if payment.state == PaymentState::Started => {
            let intent_id = payment.intent_id.clone();
            (order, intent_id)
        }
        Some(payment) => {
            return Err(AppError::Conflict(format!(
                "a reserved order's payment is {:?}",
                payment.state
            )));
        }
    };
    let outcome = ports.payments.confirm(&intent_id).await?;
    let now = ports.clock.now();
    let (to, state, reason, kind, queue) = match outcome {
        Charge::Charged => (
            OrderStatus::Paid,
            PaymentState::Charged,
            None,
            MessageType::OrderPaid,
            ports.next,
        ),
        Charge::Declined(why) => (
            OrderStatus::PaymentFailed,
            PaymentState::Declined,
            Some(format!("payment declined: {why}")),
            MessageType::OrderPaymentFailed,
            ports.compensation,
        ),
    };
    let (mut next, entry) = transition(&order, to, now, reason)?;
    next.payment = Some(Payment {
        state,
        ..Payment::started(intent_id)
    });
    // A cancel that won the race makes this stale: the retry finds the order cancelled, and
    // compensation refunds the intent it finds recorded.
    ports.orders.apply(&order, &next, &entry).await?;
    tracing::info!(status = %next.status, "payment settled the order's way");
    queue.publish(&onward(kind, &next, message)).await
}

/// Creates an intent and makes it the order's one. Against a provider that honours idempotency
/// keys every attempt gets the same intent; where two different ones were made, the loser is
/// cancelled before it can charge.
async fn record_intent(ports: &PayPorts<'_>, order: Order) -> Result<(Order, String), AppError> {
    let intent_id = ports.payments.start(&order).await?;
    let recorded = order.revised(ports.clock.now(), |o| {
        o.payment = Some(Payment::started(intent_id.clone()));
    });
    match ports.orders.update(&order, &recorded).await {
        Ok(()) => Ok((recorded, intent_id)),
        Err(AppError::StaleVersion(what)) => {
            let current = ports.orders.get(&order.id).await?;
            let kept = current.and_then(|o| o.payment).map(|p| p.intent_id);
            if kept.as_deref() != Some(intent_id.as_str()) {
                ports.payments.abandon(&intent_id).await?;
            }
            Err(AppError::StaleVersion(what))
        }
        Err(other) => Err(other),
    }
}
