//! The safety net, run on a schedule: orders that stopped moving are nudged again, and the
//! saga's invariants are checked on every order that changed within the window.

use chrono::Duration;

use crate::domain::{Order, OrderStatus, PaymentState};
use crate::error::AppError;
use crate::messages::{Envelope, MessageType};
use crate::ports::{Clock, OrderEvents, OrderRepository};

/// The queue of every step, by the state an order waits in before it.
pub struct Steps<'a> {
    pub inventory: &'a dyn OrderEvents,
    pub payment: &'a dyn OrderEvents,
    pub shipping: &'a dyn OrderEvents,
    pub notification: &'a dyn OrderEvents,
    pub compensation: &'a dyn OrderEvents,
}

impl Steps<'_> {
    fn after(&self, status: OrderStatus) -> Option<&dyn OrderEvents> {
        match status {
            OrderStatus::Pending => Some(self.inventory),
            OrderStatus::Reserved => Some(self.payment),
            OrderStatus::Paid => Some(self.shipping),
            OrderStatus::Shipped => Some(self.notification),
            _ => None,
        }
    }
}

/// What reconciling needs.
pub struct ReconcilePorts<'a> {
    pub orders: &'a dyn OrderRepository,
    pub steps: Steps<'a>,
    pub clock: &'a dyn Clock,
    /// How long an order may sit in a state before it counts as stalled.
    pub stalled_after: Duration,
    /// How far back the run looks.
    pub window: Duration,
}

/// What one run found and did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reconciliation {
    /// Non-terminal orders older than the deadline, sent to their step again.
    pub stalled: usize,
    /// Invariant: an unfulfilled order past the deadline still holds stock or an unsettled
    /// payment. Sent to compensation again.
    pub unsettled: usize,
    /// Invariant: a paid, shipped or completed order without exactly one recorded charge.
    pub paid_without_charge: usize,
}

/// One run. Violations are logged one by one and counted as metrics.
pub async fn reconcile(ports: &ReconcilePorts<'_>) -> Result<Reconciliation, AppError> {
    let now = ports.clock.now();
    let deadline = now - ports.stalled_after;
    let since = now - ports.window;
    let mut found = Reconciliation::default();
    for status in OrderStatus::ALL {
        for order in ports.orders.changed_between(status, since, now).await? {
            let overdue = order.updated_at < deadline;
            if let Some(step) = ports.steps.after(status).filter(|_| overdue) {
                tracing::warn!(order_id = %order.id, %status, "stalled order sent to its step again");
                step.publish(&nudge(&order, MessageType::OrderStalled))
                    .await?;
                found.stalled += 1;
            } else if overdue && order.owes_compensation() {
                tracing::error!(order_id = %order.id, %status, stock_held = order.stock_held, payment = ?order.payment, "invariant violated: unfulfilled order still owes compensation");
                ports
                    .steps
                    .compensation
                    .publish(&nudge(&order, MessageType::OrderStalled))
                    .await?;
                found.unsettled += 1;
            } else if charged_status(status) && !charged_once(&order) {
                tracing::error!(order_id = %order.id, %status, payment = ?order.payment, "invariant violated: paid order without its charge");
                found.paid_without_charge += 1;
            }
        }
    }
    crate::telemetry::metric("StalledOrders", found.stalled as f64, &[]);
    crate::telemetry::metric(
        "InvariantViolations",
        (found.unsettled + found.paid_without_charge) as f64,
        &[],
    );
    tracing::info!(?found, "reconciled");
    Ok(found)
}

fn charged_status(status: OrderStatus) -> bool {
    matches!(
        status,
        OrderStatus::Paid | OrderStatus::Shipped | OrderStatus::Completed
    )
}

fn charged_once(order: &Order) -> bool {
    order
        .payment
        .as_ref()
        .is_some_and(|p| p.state == PaymentState::Charged && p.refund_id.is_none())
}

fn nudge(order: &Order, kind: MessageType) -> Envelope {
    Envelope::new(
        kind,
        order.id.clone(),
        &format!("reconciler-{}", order.id),
        order.updated_at,
    )
}
