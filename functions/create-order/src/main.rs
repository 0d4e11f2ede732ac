//! `POST /orders`: places an order at catalog prices and hands it to fulfilment.
//!
//! This binary only serves it: `handler` parses and answers; the use case lives in `shared`.

#[tokio::main]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::serve_http(create_order::handler::handle).await
}
