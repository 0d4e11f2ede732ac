//! `GET /orders/{id}`: the caller's own order, with an `ETag` for cheap revalidation.
pub mod handler;
