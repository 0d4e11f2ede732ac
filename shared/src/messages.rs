//! The messages that chain the fulfilment steps. Each is a small, versioned envelope: it names the
//! order and carries no order state, because every consumer reloads the order from DynamoDB, the
//! source of truth, before acting.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::OrderId;

/// The envelope schema version; consumers refuse versions they do not know.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageType {
    /// A new order waits for stock: read by reserve-inventory.
    OrderPlaced,
    /// The customer cancelled: read by compensate-order (refund, release stock).
    OrderCancelled,
    /// Stock is held: read by process-payment.
    OrderReserved,
    /// Paid: read by ship-order.
    OrderPaid,
    /// Handed to the carrier: read by notify-customer.
    OrderShipped,
    /// Refused for lack of stock: read by notify-customer.
    OrderRejected,
    /// The card was declined: read by compensate-order (release stock) and notify-customer.
    OrderPaymentFailed,
    /// A step gave up (dead-lettered): read by compensate-order (refund, release stock).
    OrderFailed,
    /// A reconciler nudge for an order that stopped moving: read by whichever step it is stuck
    /// before, which acts on the order's state like on any other message.
    OrderStalled,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Envelope {
    #[serde(rename = "type")]
    pub kind: MessageType,
    pub schema_version: u32,
    pub order_id: OrderId,
    pub correlation_id: String,
    pub at: DateTime<Utc>,
}

impl Envelope {
    /// Reads a message body; anything but a known envelope of this schema version is refused.
    pub fn parse(body: &str) -> Result<Self, crate::domain::Invalid> {
        let envelope: Self = serde_json::from_str(body)
            .map_err(|e| crate::domain::Invalid(format!("not a message envelope: {e}")))?;
        if envelope.schema_version != SCHEMA_VERSION {
            return Err(crate::domain::Invalid(format!(
                "schema version {} is not {SCHEMA_VERSION}",
                envelope.schema_version
            )));
        }
        Ok(envelope)
    }

    pub fn new(
        kind: MessageType,
        order_id: OrderId,
        correlation_id: &str,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            kind,
            schema_version: SCHEMA_VERSION,
            order_id,
            correlation_id: correlation_id.to_string(),
            at,
        }
    }
}
