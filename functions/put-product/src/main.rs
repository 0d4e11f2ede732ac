//! `PUT /products/{id}`: admins create or replace a product (name, price, stock).
//!
//! This binary only serves it: `handler` parses and answers; the use case lives in `shared`.

#[tokio::main]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::serve_http(put_product::handler::handle).await
}
