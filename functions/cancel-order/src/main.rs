//! `POST /orders/{id}/cancel`: cancels the caller's order until it ships; the refund and stock
//! release follow through the compensation queue.
//!
//! This binary only serves it: `handler` parses and answers; the use case lives in `shared`.

#[tokio::main]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::serve_http(cancel_order::handler::handle).await
}
