//! Fulfilment step 4, fed by the notification queue: tells the customer (`COMPLETED` for a
//! shipped order, with the message in its history) or tells them why their order was rejected.
pub mod handler;
