//! Money: the payment queue's consumer. Exactly one charge per order comes from two facts: an
//! order has at most one payment intent (recorded on the order with a version condition *before*
//! it is confirmed), and an intent takes money at most once however often it is confirmed.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{FulfilmentStep, StepPorts, hand_on, hand_on_after, transition};
use crate::config::ConfigError;
use crate::domain::{Order, Payment, PaymentState, Reason};
use crate::error::AppError;
use crate::flags::LiveFlags;
use crate::messages::Envelope;
use crate::metrics::Metric;
use crate::pipeline::{PAY, Step};
use crate::ports::{Charge, Payments};
use crate::wiring::{Wire, Wiring};

/// Charges a reserved order: `RESERVED` → `PAID` (on to shipping) or `PAYMENT_FAILED` (on to
/// compensation, which gives the stock back). While the provider's circuit is open, or the flags
/// pause payments, the order waits on the payment queue (`PAYMENT_PARK_SECONDS`, default 60):
/// nothing is lost, nothing hammers the provider, and no receive is burnt towards the
/// dead-letter queue.
pub struct Pay {
    pub ports: StepPorts,
    pub payments: Arc<dyn Payments>,
    pub park: Duration,
    pub flags: Arc<LiveFlags>,
}

#[async_trait]
impl Wire for Pay {
    async fn wire<W: Wiring + ?Sized>(from: &W) -> Result<Self, ConfigError> {
        let ports = StepPorts::wire(from, &PAY)?;
        Ok(Self {
            payments: from.payments()?,
            park: Duration::from_secs(from.number("PAYMENT_PARK_SECONDS", 60)?),
            flags: from.flags()?,
            ports,
        })
    }
}

#[async_trait]
impl FulfilmentStep for Pay {
    fn ports(&self) -> &StepPorts {
        &self.ports
    }

    async fn act(
        &self,
        step: &'static Step,
        order: Order,
        message: &Envelope,
    ) -> Result<(), AppError> {
        if self.flags.current().await.pause_payments {
            return self
                .park(&order, message, "payments paused by the flags")
                .await;
        }
        match self.charge(step, order.clone(), message).await {
            Err(AppError::Unavailable(what)) => self.park(&order, message, what).await,
            done => done,
        }
    }
}

/// Slack for a parked message that arrives a little before its order's `parked_until`.
const PARK_SLACK: chrono::Duration = chrono::Duration::seconds(2);

impl Pay {
    /// Parks the payment while the provider is unavailable (or payments are paused): one copy of the message waits on the
    /// payment queue (the order records until when, which also keeps the reconciler from
    /// re-driving it); any other copy arriving meanwhile is dropped, so copies do not multiply
    /// during an outage.
    async fn park(&self, order: &Order, message: &Envelope, why: &str) -> Result<(), AppError> {
        let orders = self.ports.orders.as_ref();
        let now = self.ports.clock.now();
        let current = orders
            .get(&order.id)
            .await?
            .ok_or(AppError::NotFound("order"))?;
        if current
            .parked_until
            .is_some_and(|until| until > now + PARK_SLACK)
        {
            tracing::info!(
                cause = why,
                "another copy of this payment is parked already: dropped"
            );
            return Ok(());
        }
        let park = chrono::Duration::from_std(self.park).unwrap_or(chrono::Duration::seconds(60));
        let parked = current.revised(now, |o| o.parked_until = Some(now + park));
        match orders.update(&current, &parked).await {
            Ok(()) => {}
            Err(AppError::StaleVersion(_)) => {
                tracing::info!(
                    cause = why,
                    "another copy of this payment parked first: dropped"
                );
                return Ok(());
            }
            Err(other) => return Err(other),
        }
        tracing::warn!(
            cause = why,
            park_secs = self.park.as_secs(),
            "payment parked for later"
        );
        Metric::PaymentsParked.count();
        let queues = self.ports.queues.as_ref();
        hand_on_after(queues, &parked, &message.correlation_id, self.park).await
    }

    async fn charge(&self, step: &Step, order: Order, message: &Envelope) -> Result<(), AppError> {
        let (order, intent_id) = match &order.payment {
            None => self.record_intent(order).await?,
            Some(payment) if payment.state == PaymentState::Started => {
                let intent_id = payment.intent_id.clone();
                (order, intent_id)
            }
            Some(payment) => {
                return Err(AppError::internal(
                    "payment record",
                    format!("a reserved order's payment is {:?}", payment.state),
                ));
            }
        };
        let outcome = self.payments.confirm(&order, &intent_id).await?;
        let (to, state, reason) = match outcome {
            Charge::Charged => (step.produces, PaymentState::Charged, None),
            Charge::Declined(provider_message) => (
                step.refuses,
                PaymentState::Declined,
                Some(Reason::PaymentDeclined { provider_message }),
            ),
            // Left `STARTED`, so compensation cancels it and it can never charge later.
            Charge::Abandoned(provider_message) => (
                step.refuses,
                PaymentState::Started,
                Some(Reason::PaymentDeclined { provider_message }),
            ),
        };
        let (mut next, entry) = transition(
            &order,
            to,
            self.ports.clock.now(),
            reason,
            (step.consumer.function, message),
        )?;
        next.payment = Some(Payment {
            state,
            ..Payment::started(intent_id)
        });
        // A cancel that won the race makes this stale: the retry finds the order cancelled, and
        // compensation refunds the intent it finds recorded.
        self.ports.orders.apply(&order, &next, &entry).await?;
        tracing::info!(status = %next.status, "payment settled the order's way");
        crate::metrics::outcome(&next);
        if state == PaymentState::Charged {
            let total = next.total;
            Metric::Revenue.emit(total.amount as f64, Some(&total.currency.to_string()));
        }
        hand_on(self.ports.queues.as_ref(), &next, message).await
    }

    /// Creates an intent and makes it the order's one. Against a provider that honours idempotency
    /// keys every attempt gets the same intent; where two different ones were made, the loser is
    /// cancelled before it can charge.
    async fn record_intent(&self, order: Order) -> Result<(Order, String), AppError> {
        let intent_id = self.payments.start(&order).await?;
        let recorded = order.revised(self.ports.clock.now(), |o| {
            o.payment = Some(Payment::started(intent_id.clone()));
        });
        match self.ports.orders.update(&order, &recorded).await {
            Ok(()) => Ok((recorded, intent_id)),
            Err(AppError::StaleVersion(what)) => {
                let current = self.ports.orders.get(&order.id).await?;
                let kept = current.and_then(|o| o.payment).map(|p| p.intent_id);
                if kept.as_deref() != Some(intent_id.as_str()) {
                    self.payments.abandon(&intent_id).await?;
                }
                Err(AppError::StaleVersion(what))
            }
            Err(other) => Err(other),
        }
    }
}
