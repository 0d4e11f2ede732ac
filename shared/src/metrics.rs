//! Every CloudWatch metric the service emits, declared once: name, unit and dimensions. Each is
//! written as one Embedded Metric Format line on stdout, which CloudWatch Logs turns into a
//! metric with no API call and no latency; a metric with dimensions is also published without
//! them, the aggregate that alarms watch.
//!
//! The dashboard and the alarms in template.yaml read these by name; a template test
//! (`every_metric_a_dashboard_or_alarm_reads_is_emitted`) checks that each one they read is in
//! [`Metric::ALL`] with the namespace and dimensions it is published with, and is emitted from the
//! code, so a widget can no longer plot a metric that nothing emits.

use crate::domain::{Order, OrderStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    // Business: one per order reaching the outcome, counted once the write of it succeeded.
    OrdersPlaced,
    OrdersCompleted,
    OrdersRejected,
    PaymentsFailed,
    OrdersCancelled,
    OrdersFailed,
    /// Completed orders support refunded in full.
    OrdersRefunded,
    /// Money charged, in minor units (cents), by currency.
    Revenue,
    /// From `POST /orders` to `COMPLETED`, in seconds (the SLO's measure).
    OrderCompletionSeconds,
    /// Orders that completed later than the completion SLO's threshold (its bad events).
    OrdersCompletedLate,
    // Pipeline.
    /// How long a step took over one message, by step.
    StepDuration,
    /// Messages a step received again (a redelivery after a failure or a timeout), by step.
    StepRetries,
    /// Messages a step failed (and SQS will redeliver), by queue.
    StepFailures,
    /// Messages kept from a dead-letter queue, by the queue they died on.
    DeadLetters,
    /// Payments parked on their queue (provider unavailable, or paused by the flags).
    PaymentsParked,
    /// A circuit breaker opened, by dependency.
    CircuitOpened,
    /// Orders the reconciler found stalled, and invariant violations it found.
    StalledOrders,
    InvariantViolations,
    /// An accepted order whose hand-off to fulfilment failed (the reconciler re-drives it).
    EnqueueFailures,
    // Configuration.
    KeySetRefreshFailures,
    FlagRefreshFailures,
    // Runtime.
    /// A container started, by function.
    ColdStart,
}

impl Metric {
    pub const ALL: [Self; 22] = [
        Self::OrdersPlaced,
        Self::OrdersCompleted,
        Self::OrdersRejected,
        Self::PaymentsFailed,
        Self::OrdersCancelled,
        Self::OrdersFailed,
        Self::OrdersRefunded,
        Self::Revenue,
        Self::OrderCompletionSeconds,
        Self::OrdersCompletedLate,
        Self::StepDuration,
        Self::StepRetries,
        Self::StepFailures,
        Self::DeadLetters,
        Self::PaymentsParked,
        Self::CircuitOpened,
        Self::StalledOrders,
        Self::InvariantViolations,
        Self::EnqueueFailures,
        Self::KeySetRefreshFailures,
        Self::FlagRefreshFailures,
        Self::ColdStart,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::OrdersPlaced => "OrdersPlaced",
            Self::OrdersCompleted => "OrdersCompleted",
            Self::OrdersRejected => "OrdersRejected",
            Self::PaymentsFailed => "PaymentsFailed",
            Self::OrdersCancelled => "OrdersCancelled",
            Self::OrdersFailed => "OrdersFailed",
            Self::OrdersRefunded => "OrdersRefunded",
            Self::Revenue => "Revenue",
            Self::OrderCompletionSeconds => "OrderCompletionSeconds",
            Self::OrdersCompletedLate => "OrdersCompletedLate",
            Self::StepDuration => "StepDuration",
            Self::StepRetries => "StepRetries",
            Self::StepFailures => "StepFailures",
            Self::DeadLetters => "DeadLetters",
            Self::PaymentsParked => "PaymentsParked",
            Self::CircuitOpened => "CircuitOpened",
            Self::StalledOrders => "StalledOrders",
            Self::InvariantViolations => "InvariantViolations",
            Self::EnqueueFailures => "EnqueueFailures",
            Self::KeySetRefreshFailures => "KeySetRefreshFailures",
            Self::FlagRefreshFailures => "FlagRefreshFailures",
            Self::ColdStart => "ColdStart",
        }
    }

    pub fn unit(self) -> &'static str {
        match self {
            Self::OrderCompletionSeconds => "Seconds",
            Self::StepDuration => "Milliseconds",
            Self::Revenue => "None",
            _ => "Count",
        }
    }

    /// The dimension it is published with (besides the aggregate without any).
    pub fn dimension(self) -> Option<&'static str> {
        match self {
            Self::Revenue => Some("Currency"),
            Self::StepDuration | Self::StepRetries => Some("Step"),
            Self::StepFailures | Self::DeadLetters => Some("Queue"),
            Self::CircuitOpened => Some("Dependency"),
            Self::ColdStart => Some("Function"),
            _ => None,
        }
    }

    /// Writes one value of the metric (with its dimension's value, if it has one).
    pub fn emit(self, value: f64, dimension: Option<&str>) {
        #[cfg(any(test, feature = "testing"))]
        recorded::push(self, dimension);
        println!(
            "{}",
            self.document(value, dimension, chrono::Utc::now(), namespace())
        );
    }

    /// One of it, counted.
    pub fn count(self) {
        self.emit(1.0, None);
    }

    fn document(
        self,
        value: f64,
        dimension: Option<&str>,
        at: chrono::DateTime<chrono::Utc>,
        namespace: &str,
    ) -> serde_json::Value {
        let pair = self.dimension().zip(dimension);
        // With a dimension, also the aggregate without any; without, the one set.
        let sets = match pair {
            Some((key, _)) => serde_json::json!([[key], []]),
            None => serde_json::json!([[]]),
        };
        let mut doc = serde_json::json!({
            "_aws": {
                "Timestamp": at.timestamp_millis(),
                "CloudWatchMetrics": [{
                    "Namespace": namespace,
                    "Dimensions": sets,
                    "Metrics": [{"Name": self.name(), "Unit": self.unit()}],
                }],
            },
            self.name(): value,
        });
        if let Some((key, val)) = pair {
            doc[key] = serde_json::Value::from(val);
        }
        doc
    }
}

/// The namespace of the service's metrics (`METRICS_NAMESPACE`, `OrderService/<stage>` in
/// template.yaml, so alarms never mix stages), read once per container.
fn namespace() -> &'static str {
    static NAMESPACE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAMESPACE.get_or_init(|| crate::config::optional("METRICS_NAMESPACE", "OrderService"))
}

/// The business outcome an order reached, once its write succeeded: placed, completed, rejected,
/// payment failed, cancelled or failed (other statuses are steps on the way, not outcomes).
pub fn outcome(order: &Order) {
    if let Some(metric) = Metric::of_outcome(order.status) {
        metric.count();
    }
}

impl Metric {
    /// The metric that counts orders reaching `status`, if it is an outcome.
    pub fn of_outcome(status: OrderStatus) -> Option<Self> {
        Some(match status {
            OrderStatus::Pending => Self::OrdersPlaced,
            OrderStatus::Completed => Self::OrdersCompleted,
            OrderStatus::Rejected => Self::OrdersRejected,
            OrderStatus::PaymentFailed => Self::PaymentsFailed,
            OrderStatus::Cancelled => Self::OrdersCancelled,
            OrderStatus::Failed => Self::OrdersFailed,
            OrderStatus::Refunded => Self::OrdersRefunded,
            OrderStatus::Reserved | OrderStatus::Paid | OrderStatus::Shipped => return None,
        })
    }
}

/// What this thread emitted, for tests (a `#[tokio::test]` runs on one thread).
#[cfg(any(test, feature = "testing"))]
pub mod recorded {
    use std::cell::RefCell;

    use super::Metric;

    thread_local! {
        static EMITTED: RefCell<Vec<(Metric, Option<String>)>> = const { RefCell::new(Vec::new()) };
    }

    pub(super) fn push(metric: Metric, dimension: Option<&str>) {
        EMITTED.with(|e| e.borrow_mut().push((metric, dimension.map(str::to_string))));
    }

    /// Everything emitted on this thread since the last call.
    pub fn take() -> Vec<(Metric, Option<String>)> {
        EMITTED.with(|e| std::mem::take(&mut *e.borrow_mut()))
    }

    /// How often `metric` was emitted on this thread since the last [`take`].
    pub fn count(metric: Metric) -> usize {
        EMITTED.with(|e| e.borrow().iter().filter(|(m, _)| *m == metric).count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap()
    }

    #[test]
    fn a_metric_is_one_emf_document_with_its_dimension_and_the_aggregate() {
        let line = Metric::DeadLetters
            .document(1.0, Some("payment-dlq"), at(), "OrderService/dev")
            .to_string();
        // Parsed back as CloudWatch would read the log line.
        let doc: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_000_i64);
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "OrderService/dev");
        assert_eq!(directive["Dimensions"], serde_json::json!([["Queue"], []]));
        assert_eq!(directive["Metrics"][0]["Name"], "DeadLetters");
        assert_eq!(directive["Metrics"][0]["Unit"], "Count");
        assert_eq!(doc["DeadLetters"], 1.0);
        assert_eq!(doc["Queue"], "payment-dlq");
    }

    #[test]
    fn a_metric_without_dimensions_is_published_once_with_its_unit() {
        let doc = Metric::OrderCompletionSeconds.document(2.5, None, at(), "OrderService");
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Dimensions"], serde_json::json!([[]]));
        assert_eq!(directive["Metrics"][0]["Unit"], "Seconds");
        assert_eq!(doc["OrderCompletionSeconds"], 2.5);
    }

    #[test]
    fn every_metric_has_its_own_name_and_every_referenced_key_is_a_member() {
        let mut names: Vec<_> = Metric::ALL.iter().map(|m| m.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Metric::ALL.len());
        for metric in Metric::ALL {
            let doc = metric.document(1.0, Some("x"), at(), "OrderService");
            for set in doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
                .as_array()
                .unwrap()
            {
                for key in set.as_array().unwrap() {
                    assert!(doc.get(key.as_str().unwrap()).is_some(), "{metric:?}");
                }
            }
        }
    }
}
