//! The parcel: the shipping queue's consumer.

use std::sync::Arc;

use async_trait::async_trait;

use super::{FulfilmentStep, StepPorts, hand_on, transition};
use crate::config::ConfigError;
use crate::domain::{Order, Reason};
use crate::error::AppError;
use crate::messages::Envelope;
use crate::pipeline::{SHIP, Step};
use crate::ports::Carrier;
use crate::wiring::{Wire, Wiring};

/// Ships a paid order: `PAID` → `SHIPPED` with the carrier's tracking number, then on to the
/// customer's notice. The carrier books one shipment per order, so a redelivery gets the same
/// tracking number.
pub struct Ship {
    pub ports: StepPorts,
    pub carrier: Arc<dyn Carrier>,
}

#[async_trait]
impl Wire for Ship {
    async fn wire<W: Wiring + ?Sized>(from: &W) -> Result<Self, ConfigError> {
        let ports = StepPorts::wire(from, &SHIP)?;
        Ok(Self {
            carrier: from.carrier(),
            ports,
        })
    }
}

#[async_trait]
impl FulfilmentStep for Ship {
    fn ports(&self) -> &StepPorts {
        &self.ports
    }

    async fn act(
        &self,
        step: &'static Step,
        order: Order,
        message: &Envelope,
    ) -> Result<(), AppError> {
        let tracking_number = self.carrier.ship(&order).await?;
        let reason = Reason::HandedToCarrier {
            tracking_number: tracking_number.clone(),
        };
        let now = self.ports.clock.now();
        let (mut shipped, entry) = transition(
            &order,
            step.produces,
            now,
            Some(reason),
            (step.consumer.function, message),
        )?;
        shipped.tracking_number = Some(tracking_number);
        self.ports.orders.apply(&order, &shipped, &entry).await?;
        hand_on(self.ports.queues.as_ref(), &shipped, message).await
    }
}
