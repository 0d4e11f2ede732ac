//! Fulfilment step 3, fed by the shipping queue: books the shipment with the carrier
//! (`SHIPPED` with a tracking number), then on to the notification queue.
pub mod handler;
