//! `POST /auth/login`: checks the password and issues a 15-minute access token.
//!
//! This binary only serves it: `handler` parses and answers; the use case lives in `shared`.

#[tokio::main]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::serve_http(login::handler::handle).await
}
