//! The safety net, run on a schedule: orders that stopped moving are handed to their step again,
//! orders that still owe compensation are sent to it again, and paid orders in flight are
//! checked for their charge.
//!
//! It reads only what can need it, however old: the orders in flight (a non-terminal status, from
//! the `byStatus` index) and the orders that owe compensation (the sparse `byDebt` index), never
//! the completed and settled ones, so its work grows with the orders in flight, not with all
//! orders ever placed, and an order whose compensation keeps failing stays in view (and its
//! alarm on) until it is settled. A run stops early when its invocation's time runs short; the
//! next run starts over.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Duration;

use super::hand_on_after;
use crate::config::ConfigError;
use crate::domain::{Order, OrderStatus, PaymentState};
use crate::error::AppError;
use crate::metrics::Metric;
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
}

/// Time kept back from the invocation's deadline: a run stops starting queries below it.
const RUN_MARGIN: std::time::Duration = std::time::Duration::from_secs(5);

#[async_trait]
impl Wire for Reconcile {
    async fn wire<W: Wiring + ?Sized>(from: &W) -> Result<Self, ConfigError> {
        let minutes = |name, default| -> Result<Duration, ConfigError> {
            let n = from.number(name, default)?;
            Ok(Duration::minutes(i64::try_from(n).unwrap_or(i64::MAX)))
        };
        Ok(Self {
            orders: from.orders()?,
            queues: from.queues(&Queue::ALL, None)?,
            clock: from.clock(),
            stalled_after: minutes("STALLED_AFTER_MINUTES", 10)?,
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
    /// Invariant: a paid or shipped order without exactly one recorded charge.
    pub paid_without_charge: usize,
    /// Whether the run stopped before reading everything (its time ran short).
    pub cut_short: bool,
}

impl Reconcile {
    /// One run. Violations are logged one by one and counted as metrics.
    pub async fn run(&self) -> Result<Reconciliation, AppError> {
        let now = self.clock.now();
        let deadline = now - self.stalled_after;
        let mut found = Reconciliation::default();
        let in_flight = OrderStatus::ALL.into_iter().filter(|s| !s.is_terminal());
        for status in in_flight {
            if time_short() {
                found.cut_short = true;
                break;
            }
            let since = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
            for order in self.orders.changed_between(status, since, now).await? {
                if order.updated_at < deadline && pipeline::route(status).is_some() {
                    tracing::warn!(order_id = %order.id, %status, "stalled order sent to its step again");
                    self.redrive(&order).await?;
                    found.stalled += 1;
                } else if charged_status(status) && !charged_once(&order) {
                    tracing::error!(order_id = %order.id, %status, payment = ?order.payment, "invariant violated: paid order without its charge");
                    found.paid_without_charge += 1;
                }
            }
        }
        if !found.cut_short && !time_short() {
            for order in self.orders.owing_compensation().await? {
                if order.updated_at < deadline && order.status.is_terminal() {
                    tracing::error!(order_id = %order.id, status = %order.status, stock_held = order.stock_held, payment = ?order.payment, "invariant violated: unfulfilled order still owes compensation");
                    self.redrive(&order).await?;
                    found.unsettled += 1;
                }
            }
        } else {
            found.cut_short = true;
        }
        if found.cut_short {
            tracing::warn!(
                "reconciliation cut short by the invocation's deadline; the next run starts over"
            );
        }
        Metric::StalledOrders.emit(found.stalled as f64, None);
        Metric::InvariantViolations
            .emit((found.unsettled + found.paid_without_charge) as f64, None);
        tracing::info!(?found, "reconciled");
        Ok(found)
    }

    /// The order's status message again, to the queue its status routes to, under the
    /// correlation id of the request that placed it (orders stored before it was kept get one
    /// naming the reconciler).
    async fn redrive(&self, order: &Order) -> Result<(), AppError> {
        let correlation = order
            .correlation_id
            .clone()
            .unwrap_or_else(|| format!("reconciler-{}", order.id));
        hand_on_after(
            self.queues.as_ref(),
            order,
            &correlation,
            std::time::Duration::ZERO,
        )
        .await
    }
}

/// Whether the run's invocation is close to its deadline.
fn time_short() -> bool {
    crate::deadline::remaining().is_some_and(|left| left < RUN_MARGIN)
}

fn charged_status(status: OrderStatus) -> bool {
    matches!(status, OrderStatus::Paid | OrderStatus::Shipped)
}

fn charged_once(order: &Order) -> bool {
    order
        .payment
        .as_ref()
        .is_some_and(|p| p.state == PaymentState::Charged && p.refund_id.is_none())
}
