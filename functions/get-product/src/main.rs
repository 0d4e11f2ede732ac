//! `GET /products/{id}`: one product, public and cacheable for a minute.
//!
//! This binary only serves it: `handler` parses and answers; the use case lives in `shared`.

#[tokio::main]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::serve_http(get_product::handler::handle).await
}
