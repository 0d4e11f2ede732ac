//! `GET /orders/{id}/history`: an order's timeline, for its owner or an admin.
pub mod handler;
