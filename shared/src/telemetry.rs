//! Structured JSON logs on stdout, which Lambda ships to CloudWatch Logs: one flat object per line
//! ([`crate::log_line`]). The level comes from `AWS_LAMBDA_LOG_LEVEL` (set by the function's
//! logging config) or `RUST_LOG`, default `info`. Each request's span fields (correlation id,
//! method, path) are on every line it logs.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| "info".into())
        .to_lowercase();
    let filter = EnvFilter::try_new(&level).unwrap_or_else(|_| EnvFilter::new("info"));
    // A second init (tests) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
        .event_format(crate::log_line::FlatJson::from_env())
        .with_env_filter(filter)
        .try_init();
}

/// The namespace of the service's CloudWatch metrics (`METRICS_NAMESPACE`, default
/// `OrderService`); alarms in template.yaml watch it.
/// Read once per container, like the rest of the configuration.
fn namespace() -> &'static str {
    static NAMESPACE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAMESPACE.get_or_init(|| crate::config::optional("METRICS_NAMESPACE", "OrderService"))
}

/// One CloudWatch metric in Embedded Metric Format: a JSON line on stdout that CloudWatch Logs
/// turns into a metric, with no API call and no extra latency. It is published both with its
/// dimensions and without any (the aggregate that alarms watch).
pub fn metric(name: &str, value: f64, dimensions: &[(&str, &str)]) {
    println!(
        "{}",
        emf(name, value, "Count", dimensions, chrono::Utc::now())
    );
}

/// A duration in seconds, as a metric of its own (percentiles of it feed the SLO alarms).
pub fn seconds(name: &str, value: f64) {
    println!("{}", emf(name, value, "Seconds", &[], chrono::Utc::now()));
}

fn emf(
    name: &str,
    value: f64,
    unit: &str,
    dimensions: &[(&str, &str)],
    at: chrono::DateTime<chrono::Utc>,
) -> serde_json::Value {
    let keys: Vec<&str> = dimensions.iter().map(|(k, _)| *k).collect();
    // With dimensions, also the aggregate without any; without, the one set (not twice the same).
    let sets = if keys.is_empty() {
        serde_json::json!([[]])
    } else {
        serde_json::json!([keys, []])
    };
    let mut doc = serde_json::json!({
        "_aws": {
            "Timestamp": at.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": namespace(),
                "Dimensions": sets,
                "Metrics": [{"Name": name, "Unit": unit}],
            }],
        },
        name: value,
    });
    for (key, val) in dimensions {
        doc[*key] = serde_json::Value::from(*val);
    }
    doc
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_metric_is_one_emf_document_with_its_dimensions() {
        let at = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let doc = super::emf("DeadLetters", 1.0, "Count", &[("Queue", "payment-dlq")], at);
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_000_i64);
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Dimensions"], serde_json::json!([["Queue"], []]));
        assert_eq!(directive["Metrics"][0]["Name"], "DeadLetters");
        assert_eq!(doc["DeadLetters"], 1.0);
        assert_eq!(doc["Queue"], "payment-dlq");
    }

    #[test]
    fn a_metric_without_dimensions_is_published_once_with_its_unit() {
        let at = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let doc = super::emf("OrderCompletionSeconds", 2.5, "Seconds", &[], at);
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Dimensions"], serde_json::json!([[]]));
        assert_eq!(directive["Metrics"][0]["Unit"], "Seconds");
        assert_eq!(doc["OrderCompletionSeconds"], 2.5);
    }
}
