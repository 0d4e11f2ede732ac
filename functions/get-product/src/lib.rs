//! `GET /products/{id}`: one product, public and cacheable for a minute.
pub mod handler;
