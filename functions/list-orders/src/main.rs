//! `GET /orders`: the caller's orders, newest first, a page at a time.
//!
//! This binary only serves it: `handler` parses and answers; the use case lives in `shared`.

#[tokio::main]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::serve_http(list_orders::handler::handle).await
}
