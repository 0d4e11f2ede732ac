//! The safety net, run on a schedule: orders that stopped moving are handed to their step again,
//! and the saga's invariants are checked on every order that changed within the window.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Duration;

use super::hand_on_after;
use crate::config::ConfigError;
use crate::domain::{Order, OrderStatus, PaymentState};
use crate::error::AppError;
use crate::pipeline::{self, Queue};
use crate::ports::{Clock, OrderRepository, Queues};
use crate::wiring::{Wire, Wiring};

pub struct Reconcile {
    pub orders: Arc<dyn OrderRepository>,
    /// Every queue of the pipeline: a stalled order may wait before any step.
    pub queues: Arc<dyn Queues>,
    pub clock: Arc<dyn Clock>,
    /// How long an order may sit in a state before it counts as stalled.
    pub stalled_after: Duration,
    /// How far back the run looks.
    pub window: Duration,
}

#[async_trait]
impl Wire for Reconcile {
    async fn wire(from: &dyn Wiring) -> Result<Self, ConfigError> {
        let minutes = |name, default| -> Result<Duration, ConfigError> {
            let n = from.number(name, default)?;
            Ok(Duration::minutes(i64::try_from(n).unwrap_or(i64::MAX)))
        };
        Ok(Self {
            orders: from.orders()?,
            queues: from.queues(&Queue::ALL, None)?,
            clock: from.clock(),
            stalled_after: minutes("STALLED_AFTER_MINUTES", 10)?,
            window: minutes("RECONCILE_WINDOW_MINUTES", 1440)?,
        })
    }
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

impl Reconcile {
    /// One run. Violations are logged one by one and counted as metrics.
    pub async fn run(&self) -> Result<Reconciliation, AppError> {
        let now = self.clock.now();
        let deadline = now - self.stalled_after;
        let since = now - self.window;
        let mut found = Reconciliation::default();
        for status in OrderStatus::ALL {
            for order in self.orders.changed_between(status, since, now).await? {
                let overdue = order.updated_at < deadline;
                let routed = pipeline::route(status).is_some();
                if overdue && routed && !status.is_terminal() {
                    tracing::warn!(order_id = %order.id, %status, "stalled order sent to its step again");
                    self.redrive(&order).await?;
                    found.stalled += 1;
                } else if overdue && order.owes_compensation() {
                    tracing::error!(order_id = %order.id, %status, stock_held = order.stock_held, payment = ?order.payment, "invariant violated: unfulfilled order still owes compensation");
                    self.redrive(&order).await?;
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

    /// The order's status message again, to the queue its status routes to.
    async fn redrive(&self, order: &Order) -> Result<(), AppError> {
        let correlation = format!("reconciler-{}", order.id);
        hand_on_after(
            self.queues.as_ref(),
            order,
            &correlation,
            std::time::Duration::ZERO,
        )
        .await
    }
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
