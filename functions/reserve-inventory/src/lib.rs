//! Fulfilment step 1, fed by the inventory queue: reserves the order's stock (`RESERVED`, then on
//! to the payment queue) or rejects it (`REJECTED`, naming the product that is short, and the customer is told).
pub mod handler;
