//! The customer: the notification queue's consumer.

use async_trait::async_trait;

use super::notices::Customers;
use super::{FulfilmentStep, StepPorts, transition};
use crate::config::ConfigError;
use crate::domain::{Order, Reason};
use crate::error::AppError;
use crate::messages::Envelope;
use crate::pipeline::{NOTIFY, Step};
use crate::wiring::{Wire, Wiring};

/// Tells the customer, at most once per order and outcome (`notices`): a shipped order becomes
/// `COMPLETED` with its notice recorded in the same write; a rejected order's customer hears why.
pub struct Notify {
    pub ports: StepPorts,
    pub customers: Customers,
    /// The order completion SLO's threshold (`ORDER_COMPLETION_SLO_SECONDS`, default 60): an
    /// order completing later counts as `OrdersCompletedLate`, the SLO's bad events (docs/slo.md).
    pub slo: chrono::Duration,
}

#[async_trait]
impl Wire for Notify {
    async fn wire<W: Wiring + ?Sized>(from: &W) -> Result<Self, ConfigError> {
        let ports = StepPorts::wire(from, &NOTIFY)?;
        let slo = from.number("ORDER_COMPLETION_SLO_SECONDS", 60)?;
        Ok(Self {
            customers: Customers::wire(from)?,
            slo: chrono::Duration::seconds(i64::try_from(slo).unwrap_or(i64::MAX / 1_000)),
            ports,
        })
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
        let ports = &self.ports;
        self.customers
            .record_and_tell(ports.orders.as_ref(), ports.clock.as_ref(), &order)
            .await
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
        // The SLO's measure: from POST /orders to COMPLETED (OrderLatencySloAlarm), counted
        // whether or not the notice goes out.
        let took = completed.updated_at - order.created_at;
        crate::metrics::Metric::OrderCompletionSeconds
            .emit(took.num_milliseconds() as f64 / 1e3, None);
        if took > self.slo {
            crate::metrics::Metric::OrdersCompletedLate.count();
        }
        self.customers
            .tell(self.ports.orders.as_ref(), &completed)
            .await
    }
}
