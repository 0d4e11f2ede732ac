//! `POST /orders/{id}/cancel`: cancels the caller's order until it ships; the refund and stock
//! release follow through the compensation queue.
pub mod handler;
