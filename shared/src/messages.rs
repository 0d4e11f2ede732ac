//! The messages that chain the fulfilment steps. Each is a small, versioned envelope: it names the
//! order and carries no order state, because every consumer reloads the order from DynamoDB, the
//! source of truth, before acting.
//!
//! Versions (docs/decisions/0008-envelope-versions.md): a consumer reads the current schema and the
//! previous one, so during a canary or after a rollback neither release dead-letters the other's
//! messages. A new schema is rolled out in two releases: first readers of both that still write
//! the previous one (this release: reads 1 and 2, writes 1), then writers of the new one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{Invalid, OrderId, OrderStatus};
use crate::pipeline::{self, Queue};

/// The newest schema this release reads. Schema 2 adds `queue`, the queue the message was sent to.
pub const SCHEMA_VERSION: u32 = 2;
/// The oldest schema this release reads.
pub const PREVIOUS_SCHEMA_VERSION: u32 = 1;
/// The schema this release writes: the previous one, which the release before it reads.
pub const WRITTEN_SCHEMA_VERSION: u32 = PREVIOUS_SCHEMA_VERSION;

/// What a message announces: the status the order reached (one type per row of the pipeline).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageType {
    /// A new order waits for stock.
    OrderPlaced,
    /// The customer cancelled: compensation refunds and gives the stock back.
    OrderCancelled,
    /// Stock is held: payment is next.
    OrderReserved,
    /// Paid: shipping is next.
    OrderPaid,
    /// Handed to the carrier: the customer is told, and the order completes.
    OrderShipped,
    /// Refused for lack of stock: the customer is told why.
    OrderRejected,
    /// The card was declined: compensation gives the stock back.
    OrderPaymentFailed,
    /// A step gave up on the order: compensation refunds and gives the stock back.
    OrderFailed,
    /// Support refunded a completed order: compensation refunds the payment (the goods, and so
    /// the stock, stay with the customer).
    OrderRefunded,
    /// Written by releases before schema 2 for a reconciler re-drive, whatever the status; read
    /// like any other message, but it names no step.
    OrderStalled,
}

impl MessageType {
    /// The message that hands an order in `status` to its next step; `None` once it is done.
    pub fn announcing(status: OrderStatus) -> Option<Self> {
        pipeline::step(status).map(|s| s.message)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OrderPlaced => "OrderPlaced",
            Self::OrderCancelled => "OrderCancelled",
            Self::OrderReserved => "OrderReserved",
            Self::OrderPaid => "OrderPaid",
            Self::OrderShipped => "OrderShipped",
            Self::OrderRejected => "OrderRejected",
            Self::OrderPaymentFailed => "OrderPaymentFailed",
            Self::OrderFailed => "OrderFailed",
            Self::OrderRefunded => "OrderRefunded",
            Self::OrderStalled => "OrderStalled",
        }
    }
}

/// One message, whichever schema it came in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub kind: MessageType,
    pub order_id: OrderId,
    pub correlation_id: String,
    pub at: DateTime<Utc>,
    /// The queue it was sent to: written from schema 2 on, inferred from the type before. `None`
    /// only for a legacy `OrderStalled`, which names no step.
    pub queue: Option<Queue>,
}

/// The envelope as it travels. Unknown fields are ignored (a later schema may add some); the
/// version says what the known ones mean.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire {
    #[serde(rename = "type")]
    kind: MessageType,
    schema_version: u32,
    order_id: OrderId,
    correlation_id: String,
    at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    queue: Option<Queue>,
}

impl Envelope {
    /// The message that hands `order_id`, now in `status`, to its next step.
    pub fn announcing(
        status: OrderStatus,
        order_id: OrderId,
        correlation_id: &str,
        at: DateTime<Utc>,
    ) -> Option<Self> {
        let step = pipeline::step(status)?;
        Some(Self {
            kind: step.message,
            order_id,
            correlation_id: correlation_id.to_string(),
            at,
            queue: Some(step.queue()),
        })
    }

    /// Reads a message body of the current or the previous schema; anything else is refused.
    pub fn parse(body: &str) -> Result<Self, Invalid> {
        let wire: Wire = serde_json::from_str(body)
            .map_err(|e| Invalid(format!("not a message envelope: {e}")))?;
        let queue = match wire.schema_version {
            SCHEMA_VERSION => Some(
                wire.queue
                    .ok_or_else(|| Invalid("a schema 2 envelope names its queue".into()))?,
            ),
            PREVIOUS_SCHEMA_VERSION => pipeline::step_of_message(wire.kind).map(|s| s.queue()),
            other => {
                return Err(Invalid(format!(
                    "schema version {other} is neither {PREVIOUS_SCHEMA_VERSION} nor {SCHEMA_VERSION}"
                )));
            }
        };
        Ok(Self {
            kind: wire.kind,
            order_id: wire.order_id,
            correlation_id: wire.correlation_id,
            at: wire.at,
            queue,
        })
    }

    /// The body in schema `version` (the previous one carries no queue).
    pub fn to_json_as(&self, version: u32) -> String {
        let wire = Wire {
            kind: self.kind,
            schema_version: version,
            order_id: self.order_id.clone(),
            correlation_id: self.correlation_id.clone(),
            at: self.at,
            queue: self.queue.filter(|_| version >= SCHEMA_VERSION),
        };
        serde_json::to_string(&wire).unwrap_or_default()
    }

    /// The body as this release sends it ([`WRITTEN_SCHEMA_VERSION`]).
    pub fn to_json(&self) -> String {
        self.to_json_as(WRITTEN_SCHEMA_VERSION)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reader of the release before schema 2, as it was: exactly these fields, version 1.
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    #[allow(dead_code)]
    struct PreviousRelease {
        #[serde(rename = "type")]
        kind: MessageType,
        schema_version: u32,
        order_id: OrderId,
        correlation_id: String,
        at: DateTime<Utc>,
    }

    fn reserved() -> Envelope {
        Envelope::announcing(
            OrderStatus::Reserved,
            OrderId::generate(),
            "c-1",
            Utc::now(),
        )
        .unwrap()
    }

    #[test]
    fn what_this_release_writes_the_previous_release_reads() {
        let body = reserved().to_json();
        let previous: PreviousRelease = serde_json::from_str(&body).unwrap();
        assert_eq!(previous.schema_version, 1);
    }

    #[test]
    fn both_schemas_read_back_with_their_queue() {
        let message = reserved();
        for version in [PREVIOUS_SCHEMA_VERSION, SCHEMA_VERSION] {
            let read = Envelope::parse(&message.to_json_as(version)).unwrap();
            assert_eq!(read, message, "schema {version}");
        }
    }

    #[test]
    fn other_schemas_and_garbage_are_refused_and_unknown_fields_ignored() {
        let mut body: serde_json::Value =
            serde_json::from_str(&reserved().to_json_as(SCHEMA_VERSION)).unwrap();
        body["futureField"] = "ignored".into();
        assert!(Envelope::parse(&body.to_string()).is_ok());
        body["schemaVersion"] = 3.into();
        assert!(Envelope::parse(&body.to_string()).is_err());
        body["schemaVersion"] = 2.into();
        body.as_object_mut().unwrap().remove("queue");
        assert!(
            Envelope::parse(&body.to_string()).is_err(),
            "v2 names its queue"
        );
        assert!(Envelope::parse("{not json").is_err());
    }

    #[test]
    fn a_legacy_re_drive_names_no_step() {
        let legacy = format!(
            r#"{{"type":"OrderStalled","schemaVersion":1,"orderId":"{}","correlationId":"reconciler","at":"2026-11-01T00:00:00Z"}}"#,
            OrderId::generate()
        );
        let read = Envelope::parse(&legacy).unwrap();
        assert_eq!(read.kind, MessageType::OrderStalled);
        assert_eq!(read.queue, None);
    }
}
