//! Use cases: each takes the ports it needs, the caller and validated input, and returns domain
//! values or an [`AppError`](crate::error::AppError). No HTTP, no AWS types.

pub mod accounts;
pub mod catalog;
pub mod fulfilment;
pub mod health;
pub mod limits;
pub mod orders;
mod paging;
pub mod prices;

pub use paging::{Cursor, Limit};
