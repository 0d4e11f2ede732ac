//! `POST /auth/register`: creates a customer account.
pub mod handler;
