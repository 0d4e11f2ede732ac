//! `GET /products`: the public catalog, a page at a time, cacheable for a minute.
pub mod handler;
