//! `POST /orders`: places an order at catalog prices and hands it to fulfilment.
pub mod handler;
