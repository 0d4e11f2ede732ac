//! `POST /auth/login`: checks the password and issues a 15-minute access token.
pub mod handler;
