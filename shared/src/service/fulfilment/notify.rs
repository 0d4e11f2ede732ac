//! The customer: the notification queue's consumer.

use std::sync::Arc;

use async_trait::async_trait;

use super::{FulfilmentStep, StepPorts, transition};
use crate::config::ConfigError;
use crate::domain::{Order, Reason};
use crate::error::AppError;
use crate::messages::Envelope;
use crate::pipeline::{NOTIFY, Step};
use crate::ports::Notifier;
use crate::wiring::{Wire, Wiring};

/// Tells the customer, at most once per order and outcome: the outcome is recorded on the order
/// first, then the notice goes out, so a redelivery finds it recorded and tells nobody again (a
/// crash between the two loses that one notice rather than sending it twice). A shipped order
/// becomes `COMPLETED` with its notice; a rejected order's customer hears why.
pub struct Notify {
    pub ports: StepPorts,
    pub notifier: Arc<dyn Notifier>,
    /// The order completion SLO's threshold (`ORDER_COMPLETION_SLO_SECONDS`, default 60): an
    /// order completing later counts as `OrdersCompletedLate`, the SLO's bad events (docs/slo.md).
    pub slo: chrono::Duration,
}

#[async_trait]
impl Wire for Notify {
    async fn wire(from: &dyn Wiring) -> Result<Self, ConfigError> {
        let ports = StepPorts::wire(from, &NOTIFY)?;
        let slo = from.number("ORDER_COMPLETION_SLO_SECONDS", 60)?;
        Ok(Self {
            notifier: from.notifier(),
            slo: chrono::Duration::seconds(i64::try_from(slo).unwrap_or(i64::MAX / 1_000)),
            ports,
        })
    }
}

/// What the customer reads about an order that could not be fulfilled.
fn why_not(reason: Option<&Reason>) -> String {
    match reason {
        Some(Reason::OutOfStock { product_id }) => format!("product {product_id} is out of stock"),
        _ => "it could not be fulfilled".into(),
    }
}

#[async_trait]
impl FulfilmentStep for Notify {
    fn ports(&self) -> &StepPorts {
        &self.ports
    }

    async fn act(
        &self,
        step: &'static Step,
        order: Order,
        message: &Envelope,
    ) -> Result<(), AppError> {
        if step.produces.is_some() {
            return self.complete(&order, step, message).await;
        }
        if order.notices.contains(&order.status) {
            tracing::info!(status = %order.status, "the customer was told already");
            return Ok(());
        }
        let now = self.ports.clock.now();
        let told = order.revised(now, |o| o.notices.push(o.status));
        self.ports.orders.update(&order, &told).await?;
        let history = self.ports.orders.history(&order.id).await?;
        let reason = history
            .iter()
            .rev()
            .find(|e| e.to == order.status)
            .and_then(|e| e.reason.as_ref());
        let text = format!(
            "We could not fulfil your order {}: {}.",
            order.id,
            why_not(reason)
        );
        self.notifier.notify(&order, &text).await
    }
}

impl Notify {
    async fn complete(
        &self,
        order: &Order,
        step: &Step,
        message: &Envelope,
    ) -> Result<(), AppError> {
        let now = self.ports.clock.now();
        let reason = Some(Reason::CustomerNotified);
        let (mut completed, entry) = transition(
            order,
            step.produces,
            now,
            reason,
            (step.consumer.function, message),
        )?;
        completed.notices.push(completed.status);
        self.ports.orders.apply(order, &completed, &entry).await?;
        crate::metrics::outcome(&completed);
        let text = format!(
            "Your order {} is on its way: tracking number {}.",
            order.id,
            order.tracking_number.as_deref().unwrap_or("unknown")
        );
        self.notifier.notify(&completed, &text).await?;
        // The SLO's measure: from POST /orders to COMPLETED (OrderLatencySloAlarm).
        let took = completed.updated_at - order.created_at;
        crate::metrics::Metric::OrderCompletionSeconds
            .emit(took.num_milliseconds() as f64 / 1e3, None);
        if took > self.slo {
            crate::metrics::Metric::OrdersCompletedLate.count();
        }
        Ok(())
    }
}
