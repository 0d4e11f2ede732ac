//! `GET /.well-known/jwks.json`: the public keys that verify access tokens (current and previous).
//!
//! This binary only serves it: `handler` parses and answers; the use case lives in `shared`.

#[tokio::main]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::serve_http(jwks::handler::handle).await
}
