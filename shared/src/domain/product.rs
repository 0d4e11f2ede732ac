//! A catalog product: the only source of prices, and the stock that fulfilment reserves from.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Invalid, Money, ProductId, text};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    pub id: ProductId,
    pub name: String,
    pub unit_price: Money,
    /// Units that can still be reserved.
    pub available: u32,
    pub version: u64,
    pub updated_at: DateTime<Utc>,
}

/// What an admin may set on a product; the version and time are the store's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductDraft {
    pub id: ProductId,
    pub name: String,
    pub unit_price: Money,
    pub available: u32,
}

/// The most units of one product the catalog tracks.
pub const MAX_STOCK: i64 = 1_000_000_000;

pub fn product_name(raw: &str) -> Result<String, Invalid> {
    text(raw, 1, 200)
}

pub fn stock(raw: i64) -> Result<u32, Invalid> {
    match u32::try_from(raw) {
        Ok(n) if i64::from(n) <= MAX_STOCK => Ok(n),
        _ => Err(Invalid::new(format!(
            "must be an integer from 0 to {MAX_STOCK}"
        ))),
    }
}
