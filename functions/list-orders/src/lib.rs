//! `GET /orders`: the caller's orders, newest first, a page at a time.
pub mod handler;
