//! `PUT /products/{id}`: admins create or replace a product (name, price, stock).
pub mod handler;
