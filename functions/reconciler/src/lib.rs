//! The scheduled safety net: re-drives orders that stopped moving and checks the saga's
//! invariants, reporting violations as logs and metrics.
pub mod handler;
