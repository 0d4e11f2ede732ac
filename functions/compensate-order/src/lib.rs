//! Compensation, fed by the compensation queue: for a cancelled, declined or failed order,
//! refunds its charge (or voids a payment that has not charged) and gives its stock back,
//! exactly once.
pub mod handler;
