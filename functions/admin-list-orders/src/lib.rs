//! `GET /admin/orders`: support's listing of the orders in one status, most recently changed
//! first, a page at a time.
pub mod handler;
