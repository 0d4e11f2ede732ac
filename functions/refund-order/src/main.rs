//! `POST /admin/orders/{id}/refund`: support refunds a completed order in full; the refund
//! follows through the compensation queue (no stock comes back: the goods were delivered).
//!
//! This binary only serves it: `handler` parses and answers; the use case lives in `shared`.

#[tokio::main]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::serve_http(refund_order::handler::handle).await
}
