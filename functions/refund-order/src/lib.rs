//! `POST /admin/orders/{id}/refund`: support refunds a completed order in full; the refund
//! follows through the compensation queue (no stock comes back: the goods were delivered).
pub mod handler;
