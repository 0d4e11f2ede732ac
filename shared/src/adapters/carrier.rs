//! The built-in carrier: no outside system, a tracking number derived from the order id, so
//! booking the same order twice is the same shipment, and nothing to call off when an order is
//! cancelled after its booking. A real carrier's API goes behind the same port, keyed by the
//! order id the same way.

use async_trait::async_trait;

use crate::domain::Order;
use crate::error::AppError;
use crate::ports::Carrier;

pub struct BuiltInCarrier;

#[async_trait]
impl Carrier for BuiltInCarrier {
    async fn ship(&self, order: &Order) -> Result<String, AppError> {
        let digest = crate::digest::sha256_hex(order.id.as_str().as_bytes());
        Ok(format!("TRK{}", digest[..12].to_uppercase()))
    }

    async fn cancel(&self, _order: &Order) -> Result<(), AppError> {
        Ok(())
    }
}
