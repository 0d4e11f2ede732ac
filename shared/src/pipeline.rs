//! The fulfilment pipeline, declared once.
//!
//! Every queue has one consumer (a function with a time budget per record), and every status an
//! order can wait in has one row: which queue's consumer acts on it, the message that announces it,
//! the status the consumer moves it to and the status it moves it to when it refuses. Everything
//! else reads this table instead of restating it: where a step hands an order next
//! ([`route`]), which status a step acts on ([`Step::awaits`]), which step a dead letter belongs
//! to and whether the order is still waiting for it ([`waiting_for`]), what the reconciler
//! re-drives, the test worlds, and the template checks (queues, environment variables, send
//! permissions, budgets, batch sizes and timeouts).
//!
//! ```text
//! PENDING ─inventory─> reserve-inventory ─> RESERVED ─payment─> process-payment ─> PAID ─shipping─> ship-order ─> SHIPPED ─notification─> notify-customer ─> COMPLETED
//!                        └─ REJECTED ─notification─> notify-customer (tells why)   └─ PAYMENT_FAILED ─┐
//! CANCELLED (cancel-order), FAILED (dead letters) ──────────────────────compensation─> compensate-order (refund, stock back)
//! ```

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::domain::OrderStatus;
use crate::messages::MessageType;

/// A queue of the pipeline, each with a dead-letter queue. Its environment variables and its
/// logical ids in `template.yaml` are derived from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Queue {
    Inventory,
    Payment,
    Shipping,
    Notification,
    Compensation,
}

impl Queue {
    pub const ALL: [Self; 5] = [
        Self::Inventory,
        Self::Payment,
        Self::Shipping,
        Self::Notification,
        Self::Compensation,
    ];

    /// `payment`: as in the queue's name `orders-<stage>-payment` and in message envelopes.
    pub fn slug(self) -> &'static str {
        match self {
            Self::Inventory => "inventory",
            Self::Payment => "payment",
            Self::Shipping => "shipping",
            Self::Notification => "notification",
            Self::Compensation => "compensation",
        }
    }

    pub fn parse(slug: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|q| q.slug() == slug)
    }

    /// The environment variable with the queue's URL: `PAYMENT_QUEUE_URL`.
    pub fn url_variable(self) -> &'static str {
        match self {
            Self::Inventory => "INVENTORY_QUEUE_URL",
            Self::Payment => "PAYMENT_QUEUE_URL",
            Self::Shipping => "SHIPPING_QUEUE_URL",
            Self::Notification => "NOTIFICATION_QUEUE_URL",
            Self::Compensation => "COMPENSATION_QUEUE_URL",
        }
    }

    /// The environment variable with its dead-letter queue's URL: `PAYMENT_DLQ_URL`.
    pub fn dead_letter_url_variable(self) -> &'static str {
        match self {
            Self::Inventory => "INVENTORY_DLQ_URL",
            Self::Payment => "PAYMENT_DLQ_URL",
            Self::Shipping => "SHIPPING_DLQ_URL",
            Self::Notification => "NOTIFICATION_DLQ_URL",
            Self::Compensation => "COMPENSATION_DLQ_URL",
        }
    }

    /// Its logical id in `template.yaml`: `PaymentQueue`.
    pub fn logical_id(self) -> &'static str {
        match self {
            Self::Inventory => "InventoryQueue",
            Self::Payment => "PaymentQueue",
            Self::Shipping => "ShippingQueue",
            Self::Notification => "NotificationQueue",
            Self::Compensation => "CompensationQueue",
        }
    }

    /// Its dead-letter queue's logical id in `template.yaml`: `PaymentDeadLetterQueue`.
    pub fn dead_letter_logical_id(self) -> &'static str {
        match self {
            Self::Inventory => "InventoryDeadLetterQueue",
            Self::Payment => "PaymentDeadLetterQueue",
            Self::Shipping => "ShippingDeadLetterQueue",
            Self::Notification => "NotificationDeadLetterQueue",
            Self::Compensation => "CompensationDeadLetterQueue",
        }
    }

    /// The one function that consumes it.
    pub fn consumer(self) -> &'static Consumer {
        match self {
            Self::Inventory => &RESERVE,
            Self::Payment => &PAY,
            Self::Shipping => &SHIP,
            Self::Notification => &NOTIFY,
            Self::Compensation => &COMPENSATE,
        }
    }
}

impl std::fmt::Display for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.slug())
    }
}

/// The function that consumes a queue, and how long it may spend on one record.
#[derive(Debug, PartialEq, Eq)]
pub struct Consumer {
    pub queue: Queue,
    /// The function crate: its folder, binary and `orders-<stage>-<function>`.
    pub function: &'static str,
    /// The most one record may take, external calls included. The batch runner starts a record
    /// only while this much time is left before the invocation's deadline, so the template gives
    /// the function `budget × BatchSize` and more (checked by the template invariants).
    pub budget: Duration,
    /// Whether, while its dependency is unavailable, it parks messages on its own queue with a
    /// delay (so it also sends to the queue it consumes).
    pub parks: bool,
}

pub const RESERVE: Consumer = Consumer {
    queue: Queue::Inventory,
    function: "reserve-inventory",
    budget: Duration::from_secs(5),
    parks: false,
};
pub const PAY: Consumer = Consumer {
    queue: Queue::Payment,
    function: "process-payment",
    // Two provider calls (create, confirm), each retried within what is left.
    budget: Duration::from_secs(10),
    parks: true,
};
pub const SHIP: Consumer = Consumer {
    queue: Queue::Shipping,
    function: "ship-order",
    budget: Duration::from_secs(5),
    parks: false,
};
pub const NOTIFY: Consumer = Consumer {
    queue: Queue::Notification,
    function: "notify-customer",
    budget: Duration::from_secs(5),
    parks: false,
};
pub const COMPENSATE: Consumer = Consumer {
    queue: Queue::Compensation,
    function: "compensate-order",
    // Up to three provider calls (read the intent, look for a refund, refund or cancel).
    budget: Duration::from_secs(10),
    parks: false,
};

/// The most one dead letter may take (keep it, judge it, fail its order, hand it on): the
/// dead-letter function consumes every dead-letter queue under the same contract.
pub const DEAD_LETTER_BUDGET: Duration = Duration::from_secs(5);

/// What happens to an order waiting in one status: the row of the pipeline for that status.
#[derive(Debug, PartialEq, Eq)]
pub struct Step {
    /// The status the order waits in; in any other status the step has nothing to do.
    pub awaits: OrderStatus,
    /// Who acts on it, fed by which queue.
    pub consumer: &'static Consumer,
    /// The message that hands an order in `awaits` to the consumer.
    pub message: MessageType,
    /// The status the step moves the order to when its work succeeds; `None` for a step that acts
    /// without a transition (telling the customer why, giving back what an order took).
    pub produces: Option<OrderStatus>,
    /// The status for an order the step refuses on the order's own facts (no stock, a declined
    /// card); the refused order then follows that status's row.
    pub refuses: Option<OrderStatus>,
}

impl Step {
    pub fn queue(&self) -> Queue {
        self.consumer.queue
    }
}

/// The pipeline: one row per status an order can wait in. `COMPLETED` has no row: it is done.
pub const PIPELINE: [Step; 9] = [
    Step {
        awaits: OrderStatus::Pending,
        consumer: &RESERVE,
        message: MessageType::OrderPlaced,
        produces: Some(OrderStatus::Reserved),
        refuses: Some(OrderStatus::Rejected),
    },
    Step {
        awaits: OrderStatus::Reserved,
        consumer: &PAY,
        message: MessageType::OrderReserved,
        produces: Some(OrderStatus::Paid),
        refuses: Some(OrderStatus::PaymentFailed),
    },
    Step {
        awaits: OrderStatus::Paid,
        consumer: &SHIP,
        message: MessageType::OrderPaid,
        produces: Some(OrderStatus::Shipped),
        refuses: None,
    },
    Step {
        awaits: OrderStatus::Shipped,
        consumer: &NOTIFY,
        message: MessageType::OrderShipped,
        produces: Some(OrderStatus::Completed),
        refuses: None,
    },
    Step {
        awaits: OrderStatus::Rejected,
        consumer: &NOTIFY,
        message: MessageType::OrderRejected,
        produces: None,
        refuses: None,
    },
    Step {
        awaits: OrderStatus::PaymentFailed,
        consumer: &COMPENSATE,
        message: MessageType::OrderPaymentFailed,
        produces: None,
        refuses: None,
    },
    Step {
        awaits: OrderStatus::Cancelled,
        consumer: &COMPENSATE,
        message: MessageType::OrderCancelled,
        produces: None,
        refuses: None,
    },
    Step {
        awaits: OrderStatus::Failed,
        consumer: &COMPENSATE,
        message: MessageType::OrderFailed,
        produces: None,
        refuses: None,
    },
    Step {
        awaits: OrderStatus::Refunded,
        consumer: &COMPENSATE,
        message: MessageType::OrderRefunded,
        produces: None,
        refuses: None,
    },
];

/// The row of an order waiting in `status`; `None` once it is done.
pub fn step(status: OrderStatus) -> Option<&'static Step> {
    PIPELINE.iter().find(|s| s.awaits == status)
}

/// The row whose message is `kind`; `None` for messages that name no status (a legacy re-drive).
pub fn step_of_message(kind: MessageType) -> Option<&'static Step> {
    PIPELINE.iter().find(|s| s.message == kind)
}

/// Where an order in `status` goes next: the queue of the step that acts on it.
pub fn route(status: OrderStatus) -> Option<Queue> {
    step(status).map(Step::queue)
}

/// The statuses an order goes through when every step succeeds, from `PENDING` to `COMPLETED`.
pub fn happy_path() -> Vec<OrderStatus> {
    let mut path = vec![OrderStatus::Pending];
    while let Some(next) = path.last().and_then(|s| step(*s)).and_then(|s| s.produces) {
        path.push(next);
    }
    path
}

/// Whether an order in `status` is still waiting for the consumer of `queue` to move it on: the
/// only case in which that consumer giving up on it (a dead letter) may fail the order. A
/// terminal order is never waiting: compensation and rejection notices do not transition.
pub fn waiting_for(status: OrderStatus, queue: Queue) -> bool {
    !status.is_terminal() && route(status) == Some(queue)
}

/// The rows a consumer acts on.
pub fn steps_of(consumer: &Consumer) -> impl Iterator<Item = &'static Step> + '_ {
    PIPELINE.iter().filter(move |s| s.consumer == consumer)
}

/// Every queue a consumer hands orders to: where the statuses it produces or refuses go, and its
/// own queue if it parks messages there.
pub fn sends_to(consumer: &Consumer) -> Vec<Queue> {
    let mut queues: Vec<Queue> = steps_of(consumer)
        .flat_map(|s| [s.produces, s.refuses])
        .flatten()
        .filter_map(route)
        .chain(consumer.parks.then_some(consumer.queue))
        .collect();
    queues.sort();
    queues.dedup();
    queues
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn every_status_but_completed_has_exactly_one_row() {
        for status in OrderStatus::ALL {
            let rows = PIPELINE.iter().filter(|s| s.awaits == status).count();
            let expected = usize::from(status != OrderStatus::Completed);
            assert_eq!(rows, expected, "{status}");
        }
    }

    #[test]
    fn every_transition_of_the_table_is_one_the_state_machine_allows() {
        for step in &PIPELINE {
            for to in [step.produces, step.refuses].into_iter().flatten() {
                assert!(step.awaits.can_become(to), "{} -> {to}", step.awaits);
            }
        }
    }

    #[test]
    fn every_message_type_announces_one_status_and_every_queue_has_its_consumer() {
        let messages: BTreeSet<_> = PIPELINE
            .iter()
            .map(|s| format!("{:?}", s.message))
            .collect();
        assert_eq!(messages.len(), PIPELINE.len());
        for queue in Queue::ALL {
            assert_eq!(queue.consumer().queue, queue);
            assert!(
                steps_of(queue.consumer()).count() > 0,
                "{queue} feeds no row"
            );
            assert_eq!(Queue::parse(queue.slug()), Some(queue));
        }
    }

    #[test]
    fn the_happy_path_and_the_failure_routes_follow_the_table() {
        use OrderStatus::*;
        assert_eq!(route(Pending), Some(Queue::Inventory));
        assert_eq!(route(Reserved), Some(Queue::Payment));
        assert_eq!(route(Paid), Some(Queue::Shipping));
        assert_eq!(route(Shipped), Some(Queue::Notification));
        assert_eq!(route(Completed), None);
        assert_eq!(happy_path(), [Pending, Reserved, Paid, Shipped, Completed]);
        assert_eq!(route(Rejected), Some(Queue::Notification));
        for unfulfilled in [PaymentFailed, Cancelled, Failed] {
            assert_eq!(route(unfulfilled), Some(Queue::Compensation));
        }
        assert_eq!(sends_to(&RESERVE), [Queue::Payment, Queue::Notification]);
        assert_eq!(
            sends_to(&PAY),
            [Queue::Payment, Queue::Shipping, Queue::Compensation],
            "payment parks on its own queue"
        );
        assert_eq!(sends_to(&SHIP), [Queue::Notification]);
        assert!(sends_to(&NOTIFY).is_empty());
        assert!(sends_to(&COMPENSATE).is_empty());
    }

    #[test]
    fn an_order_waits_for_one_step_at_a_time_and_never_once_it_ended() {
        use OrderStatus::*;
        assert!(waiting_for(Reserved, Queue::Payment));
        assert!(!waiting_for(Shipped, Queue::Payment), "past payment");
        assert!(!waiting_for(Pending, Queue::Payment), "not there yet");
        for ended in OrderStatus::ALL.into_iter().filter(|s| s.is_terminal()) {
            for queue in Queue::ALL {
                assert!(!waiting_for(ended, queue), "{ended} {queue}");
            }
        }
    }
}
