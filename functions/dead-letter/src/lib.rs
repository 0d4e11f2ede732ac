//! Failure handling, fed by every dead-letter queue: keeps the message, marks its order `FAILED`
//! with the reason, counts a `DeadLetters` metric, and sends the order to compensation.
pub mod handler;
