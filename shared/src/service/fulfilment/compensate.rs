//! Compensation: the compensation queue's consumer. What an unfulfilled order took goes back.

use std::sync::Arc;

use async_trait::async_trait;

use super::notices::Customers;
use super::{FulfilmentStep, StepPorts};
use crate::config::ConfigError;
use crate::domain::{Order, Payment, PaymentState};
use crate::error::AppError;
use crate::messages::Envelope;
use crate::pipeline::{COMPENSATE, Step};
use crate::ports::{Carrier, Inventory, Payments, Settlement};
use crate::wiring::{Wire, Wiring};

/// For a cancelled, declined or failed order: refunds its charge (or voids an intent that has not
/// charged yet, so a late confirmation cannot charge), then gives its stock back, once, and then
/// tells the customer, once. Whatever never happened needs nothing: an order without stock or
/// payment is only told. For an order support refunded after it completed, only the payment goes
/// back: the goods were delivered, so the shipment stands and the stock stays sold.
///
/// The payment is first *claimed* (`SETTLING`, a version-conditional write), so concurrent
/// deliveries do not both refund; a delivery that finds it claimed settles again, which finds
/// the earlier refund instead of making a second one.
pub struct Compensate {
    pub ports: StepPorts,
    pub inventory: Arc<dyn Inventory>,
    pub payments: Arc<dyn Payments>,
    pub carrier: Arc<dyn Carrier>,
    pub customers: Customers,
}

#[async_trait]
impl Wire for Compensate {
    async fn wire<W: Wiring + ?Sized>(from: &W) -> Result<Self, ConfigError> {
        let ports = StepPorts::wire(from, &COMPENSATE)?;
        Ok(Self {
            inventory: from.inventory()?,
            payments: from.payments()?,
            carrier: from.carrier(),
            customers: Customers::wire(from)?,
            ports,
        })
    }
}

#[async_trait]
impl FulfilmentStep for Compensate {
    fn ports(&self) -> &StepPorts {
        &self.ports
    }

    async fn act(&self, _: &'static Step, mut order: Order, _: &Envelope) -> Result<(), AppError> {
        if !order.owes_compensation() {
            tracing::info!(status = %order.status, "nothing to give back");
            let ports = &self.ports;
            return self
                .customers
                .record_and_tell(ports.orders.as_ref(), ports.clock.as_ref(), &order)
                .await;
        }
        let now = self.ports.clock.now();
        let unfulfilled = order.is_unfulfilled();
        if unfulfilled
            && order
                .payment
                .as_ref()
                .is_some_and(|p| p.state.owes_settlement())
        {
            // Paid orders may have had their shipment booked before the cancel won the race.
            self.carrier.cancel(&order).await?;
        }
        let mut settled = None;
        if let Some(payment) = order.payment.clone().filter(|p| p.state.owes_settlement()) {
            if payment.state != PaymentState::Settling {
                let claimed = order.revised(now, |o| {
                    o.payment = Some(Payment {
                        state: PaymentState::Settling,
                        ..payment.clone()
                    });
                });
                self.ports.orders.update(&order, &claimed).await?;
                order = claimed;
            }
            settled = Some(match self.payments.settle(&payment.intent_id).await? {
                Settlement::Refunded(refund_id) => Payment {
                    state: PaymentState::Refunded,
                    refund_id: Some(refund_id),
                    ..payment
                },
                Settlement::Voided => Payment {
                    state: PaymentState::Voided,
                    ..payment
                },
            });
        }
        // The notice is recorded with the last write of the compensation and sent after it.
        let tell = !order.notices.contains(&order.status);
        let release = order.stock_held && unfulfilled;
        let next = order.revised(now, |o| {
            if unfulfilled {
                o.stock_held = false;
            }
            if settled.is_some() {
                o.payment = settled.clone();
            }
            if tell {
                o.notices.push(o.status);
            }
        });
        if release {
            self.inventory.release(&order, &next).await?;
        } else {
            self.ports.orders.update(&order, &next).await?;
        }
        tracing::info!(stock_released = release, payment = ?next.payment.as_ref().map(|p| p.state), "compensated");
        if tell {
            self.customers
                .tell(self.ports.orders.as_ref(), &next)
                .await?;
        }
        Ok(())
    }
}
