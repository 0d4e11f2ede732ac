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
