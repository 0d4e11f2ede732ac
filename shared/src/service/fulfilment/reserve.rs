//! Stock: the inventory queue's consumer.

use std::sync::Arc;

use async_trait::async_trait;

use super::{FulfilmentStep, StepPorts, hand_on, transition};
use crate::config::ConfigError;
use crate::domain::{Order, Reason};
use crate::error::AppError;
use crate::messages::Envelope;
use crate::pipeline::{RESERVE, Step};
use crate::ports::{Inventory, Reservation};
use crate::wiring::{Wire, Wiring};

/// Reserves an order's stock: `PENDING` → `RESERVED` with every line's stock taken in the same
/// transaction, then on to payment; or `REJECTED` naming the product that is short, and on to
/// the customer's notice.
pub struct Reserve {
    pub ports: StepPorts,
    pub inventory: Arc<dyn Inventory>,
}

#[async_trait]
impl Wire for Reserve {
    async fn wire<W: Wiring + ?Sized>(from: &W) -> Result<Self, ConfigError> {
        let ports = StepPorts::wire(from, &RESERVE)?;
        Ok(Self {
            inventory: from.inventory()?,
            ports,
        })
    }
}

#[async_trait]
impl FulfilmentStep for Reserve {
    fn ports(&self) -> &StepPorts {
        &self.ports
    }

    async fn act(
        &self,
        step: &'static Step,
        order: Order,
        message: &Envelope,
    ) -> Result<(), AppError> {
        let queues = self.ports.queues.as_ref();
        let now = self.ports.clock.now();
        let (mut reserved, entry) = transition(
            &order,
            step.produces,
            now,
            None,
            (step.consumer.function, message),
        )?;
        reserved.stock_held = true;
        match self.inventory.reserve(&order, &reserved, &entry).await? {
            Reservation::Reserved => hand_on(queues, &reserved, message).await,
            Reservation::OutOfStock(product_id) => {
                tracing::info!(product_id = %product_id, "order rejected: out of stock");
                let reason = Reason::OutOfStock { product_id };
                let (rejected, entry) = transition(
                    &order,
                    step.refuses,
                    now,
                    Some(reason),
                    (step.consumer.function, message),
                )?;
                self.ports.orders.apply(&order, &rejected, &entry).await?;
                crate::metrics::outcome(&rejected);
                hand_on(queues, &rejected, message).await
            }
        }
    }
}
