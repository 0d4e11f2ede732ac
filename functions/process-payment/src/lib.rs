//! Fulfilment step 2, fed by the payment queue: charges the order through the payment provider
//! (`PAID`, then on to the shipping queue) or records the decline (`PAYMENT_FAILED`, then on to
//! compensation). While the provider's circuit is open, messages wait on the payment queue.
pub mod handler;
