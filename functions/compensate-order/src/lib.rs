//! Compensation, fed by the compensation queue: gives a cancelled or failed order's stock back,
//! exactly once. (The refund of a charged order joins here with the payment step.)
pub mod handler;
