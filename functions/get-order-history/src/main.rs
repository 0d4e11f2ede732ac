//! `GET /orders/{id}/history`: an order's timeline, for its owner or an admin.
//!
//! This binary only serves it: `handler` parses and answers; the use case lives in `shared`.

#[tokio::main]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::serve_http(get_order_history::handler::handle).await
}
