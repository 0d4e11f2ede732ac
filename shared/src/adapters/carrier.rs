//! The built-in carrier: no outside system, a tracking number derived from the order id, so
//! booking the same order twice is the same shipment. A real carrier's API goes behind the same
//! port, keyed by the order id the same way.

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use crate::domain::Order;
use crate::error::AppError;
use crate::ports::Carrier;

pub struct BuiltInCarrier;

#[async_trait]
impl Carrier for BuiltInCarrier {
    async fn ship(&self, order: &Order) -> Result<String, AppError> {
        let digest = Sha256::digest(order.id.as_str().as_bytes());
        let hex: String = digest.iter().take(6).map(|b| format!("{b:02X}")).collect();
        Ok(format!("TRK{hex}"))
    }
}
