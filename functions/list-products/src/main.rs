//! `GET /products`: the public catalog, a page at a time, cacheable for a minute.
//!
//! This binary only serves it: `handler` parses and answers; the use case lives in `shared`.

#[tokio::main]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::serve_http(list_products::handler::handle).await
}
