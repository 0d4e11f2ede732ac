//! `GET /.well-known/jwks.json`: the public keys that verify access tokens (current and previous).
pub mod handler;
