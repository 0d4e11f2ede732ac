//! Structured JSON logs on stdout, which Lambda ships to CloudWatch Logs. The level comes from
//! `AWS_LAMBDA_LOG_LEVEL` (set by the function's logging config) or `RUST_LOG`, default `info`.
//! Each request's span fields (correlation id, method, path) are on every line it logs.

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
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .with_target(false)
        .with_ansi(false)
        .try_init();
}
