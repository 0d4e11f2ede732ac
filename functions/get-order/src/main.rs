//! `GET /orders/{id}`: the caller's own order, with an `ETag` for cheap revalidation.
//!
//! This binary only serves it: `handler` parses and answers; the use case lives in `shared`.

#[tokio::main]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::serve_http(get_order::handler::handle).await
}
