//! The pure core of the order service: no AWS types, no I/O, no clocks.
//!
//! Everything here is built through validating constructors (`parse`, `new`), so a value of one of
//! these types is valid by construction and the rest of the code never re-checks it.

mod address;
mod caller;
mod ids;
mod money;
mod order;
mod product;

pub use address::{AddressInput, ShippingAddress};
pub use caller::{Caller, Role};
pub use ids::{CustomerId, IdempotencyKey, OrderId, PaymentMethod, ProductId};
pub use money::MAX_AMOUNT;
pub use money::{Currency, Money};
pub use order::{
    Actor, HistoryEntry, IllegalTransition, Order, OrderItem, OrderStatus, Payment, PaymentState,
    Quantity, Reason,
};
pub use product::{MAX_STOCK, Product, ProductDraft, product_name, stock};

/// Why a raw value was refused. The message is safe to show to the client; the caller adds the
/// field name, because only it knows where the value came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl Invalid {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// Checks a free-text value: trimmed length in `min..=max` characters and no control characters.
pub(crate) fn text(value: &str, min: usize, max: usize) -> Result<String, Invalid> {
    let trimmed = value.trim();
    let len = trimmed.chars().count();
    if len < min {
        return Err(Invalid::new(if min == 1 {
            "must not be empty".to_string()
        } else {
            format!("must be at least {min} characters")
        }));
    }
    if len > max {
        return Err(Invalid::new(format!("must be at most {max} characters")));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(Invalid::new("must not contain control characters"));
    }
    Ok(trimmed.to_string())
}
