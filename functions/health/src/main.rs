//! `GET /health`: a deep check that every table answers; 503 when one does not. Public, and
//! shows no internals: only names and ok/failed.
//!
//! This binary only serves it: `handler` parses and answers; the use case lives in `shared`.

#[tokio::main]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::serve_http(health::handler::handle).await
}
