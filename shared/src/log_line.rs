//! One flat JSON object per log line, so CloudWatch Logs Insights finds every field at the top
//! level (`filter correlation_id = …`, `filter order_id = …`): the fields of every span the event
//! is in, the event's own, and the function's identity. `tracing-subscriber`'s JSON format nests
//! span fields under `span`, where the runbooks' queries matched nothing.
//!
//! Each line carries `timestamp` (RFC 3339, ms), `level`, `message`, `function_name`,
//! `function_version`, and inside an invocation `function_request_id`, `xray_trace_id` (from the
//! Lambda runtime's span) and `cold_start` (true for the container's first invocation); then the
//! request's and step's own fields (`correlation_id`, `order_id`, …). Values are rendered as
//! values: strings, numbers and booleans, `%`-fields by their `Display`.

use std::fmt;
use std::sync::OnceLock;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The Lambda runtime's span fields, renamed to the log's spelling.
const RENAMED: [(&str, &str); 3] = [
    ("requestId", "function_request_id"),
    ("xrayTraceId", "xray_trace_id"),
    ("tenantId", "tenant_id"),
];

/// The formatter; `function_name` and `function_version` come from Lambda's environment.
pub struct FlatJson {
    function_name: String,
    function_version: String,
    first_request: OnceLock<String>,
}

impl FlatJson {
    pub fn new(function_name: &str, function_version: &str) -> Self {
        Self {
            function_name: function_name.to_string(),
            function_version: function_version.to_string(),
            first_request: OnceLock::new(),
        }
    }

    /// From `AWS_LAMBDA_FUNCTION_NAME` and `AWS_LAMBDA_FUNCTION_VERSION` (`local` outside Lambda).
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).unwrap_or_else(|_| "local".into());
        Self::new(
            &var("AWS_LAMBDA_FUNCTION_NAME"),
            &var("AWS_LAMBDA_FUNCTION_VERSION"),
        )
    }

    /// The line for an event with `fields` (spans' first, then the event's).
    fn line(&self, level: &str, fields: Map<String, Value>) -> Map<String, Value> {
        let mut line = Map::new();
        line.insert(
            "timestamp".into(),
            chrono::Utc::now()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                .into(),
        );
        line.insert("level".into(), level.into());
        if let Some(message) = fields.get("message") {
            line.insert("message".into(), message.clone());
        }
        line.insert("function_name".into(), self.function_name.clone().into());
        line.insert(
            "function_version".into(),
            self.function_version.clone().into(),
        );
        if let Some(Value::String(request)) = fields.get("function_request_id") {
            let first = self.first_request.get_or_init(|| request.clone());
            line.insert("cold_start".into(), (first == request).into());
        }
        for (key, value) in fields {
            line.entry(key).or_insert(value);
        }
        line
    }
}

fn renamed(key: String) -> String {
    RENAMED
        .iter()
        .find(|(from, _)| *from == key)
        .map_or(key, |(_, to)| (*to).to_string())
}

impl<S> FormatEvent<S, JsonFields> for FlatJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = Map::new();
        // Outermost span first, so an inner span's field wins over an outer one's.
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                let Some(formatted) = extensions.get::<FormattedFields<JsonFields>>() else {
                    continue;
                };
                if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(formatted) {
                    fields.extend(map.into_iter().map(|(k, v)| (renamed(k), v)));
                }
            }
        }
        event.record(&mut Collect(&mut fields));
        let line = self.line(event.metadata().level().as_str(), fields);
        writeln!(writer, "{}", Value::Object(line))
    }
}

/// An event's fields as JSON values.
struct Collect<'a>(&'a mut Map<String, Value>);

impl Visit for Collect<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(field.name().into(), value.to_string().into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::LogCapture;

    fn lines(emit: impl FnOnce()) -> Vec<Value> {
        let buffer = LogCapture::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(JsonFields::new())
            .event_format(FlatJson::new("orders-dev-create-order", "7"))
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        buffer
            .text()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn span_and_event_fields_are_top_level_values_with_the_functions_identity() {
        let reason = "out of stock: p-1";
        let lines = lines(|| {
            for request in ["req-1", "req-2"] {
                let invoke = tracing::info_span!(
                    "Lambda runtime invoke",
                    requestId = request,
                    xrayTraceId = "Root=1-abc"
                );
                let _invoke = invoke.enter();
                let step =
                    tracing::info_span!("request", correlation_id = %"corr-9", order_id = "ord_1");
                let _step = step.enter();
                tracing::info!(status = 409_u16, reason, took_ms = 12.5, "order rejected");
            }
        });
        assert_eq!(lines.len(), 2);
        let first = &lines[0];
        for (key, value) in [
            ("level", Value::from("INFO")),
            ("message", "order rejected".into()),
            ("function_name", "orders-dev-create-order".into()),
            ("function_version", "7".into()),
            ("function_request_id", "req-1".into()),
            ("xray_trace_id", "Root=1-abc".into()),
            ("correlation_id", "corr-9".into()),
            ("order_id", "ord_1".into()),
            ("reason", "out of stock: p-1".into()),
            ("status", 409.into()),
            ("took_ms", 12.5.into()),
            ("cold_start", true.into()),
        ] {
            assert_eq!(first[key], value, "{key} in {first}");
        }
        assert!(first.get("span").is_none() && first.get("fields").is_none());
        assert!(first["timestamp"].as_str().unwrap().ends_with('Z'));
        assert_eq!(
            lines[1]["cold_start"], false,
            "the second invocation is warm"
        );
    }
}
