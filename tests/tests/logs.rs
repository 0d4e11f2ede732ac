//! The logs of an order's whole journey, as the functions write them: every line one flat JSON
//! object, one correlation id finding the request and every step of the pipeline (the query the
//! runbooks use), and no password, token, API key or provider secret anywhere.

// Test helpers panic on unexpected values by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use shared::log_line::FlatJson;
use shared::testing::LogCapture;
use system_tests::TestEnv;
use system_tests::api::{self, Client};

const PASSWORD: &str = "a password nobody logs 42";

#[tokio::test]
async fn one_correlation_id_finds_an_orders_journey_and_no_secret_is_ever_logged() {
    let captured = LogCapture::default();
    let writer = captured.clone();
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .event_format(FlatJson::new("in-process", "test"))
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || writer.clone())
            .finish(),
    )
    .unwrap();

    // The project's template, redelivering in seconds (a step that overruns on a loaded machine
    // comes back soon, not after 6 minutes).
    let yaml = system_tests::template_with_visibility(5);
    let env = Arc::new(TestEnv::with_template(&yaml).await);
    env.seed_with_signing_key().await;
    let service = api::serve(env.clone(), &yaml).await;
    let client = Client::new(&service.url);
    let token = client.account_with("ada@example.com", PASSWORD).await;
    let (status, placed, headers) = client
        .call(
            "POST",
            "/orders",
            Some(&token),
            Some(api::order_body("p-1", 1, "pm_card_visa", "logs")),
            &[("x-correlation-id", "journey-1")],
        )
        .await;
    assert_eq!(status, 201, "{placed}");
    assert_eq!(headers["x-correlation-id"], "journey-1");
    let id = placed["id"].as_str().unwrap().to_string();
    // And one whose payment method the provider refuses for good: dead-lettered, FAILED.
    let mut poison = api::order_body("p-1", 1, "pm_card_visa", "logs");
    poison["paymentMethod"] = json!("pm_does_not_exist");
    let (status, failing, _) = client
        .call("POST", "/orders", Some(&token), Some(poison), &[])
        .await;
    assert_eq!(status, 201, "{failing}");
    let failing = failing["id"].as_str().unwrap().to_string();
    let started = std::time::Instant::now();
    for (order, end) in [(&id, "COMPLETED"), (&failing, "FAILED")] {
        while client.order(&token, order).await["status"] != end {
            if started.elapsed() > Duration::from_secs(90) {
                let text = captured.text();
                let trouble: Vec<&str> = text
                    .lines()
                    .filter(|l| l.contains("\"WARN\"") || l.contains("\"ERROR\""))
                    .collect();
                panic!(
                    "{order} not {end}; warnings and errors:\n{}",
                    trouble.join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    service.stop();

    let text = captured.text();
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    assert!(lines.len() > 10, "{} lines", lines.len());
    for line in &lines {
        for key in ["timestamp", "level", "message", "function_name"] {
            assert!(line.get(key).is_some(), "{key} missing: {line}");
        }
        assert!(line.get("span").is_none(), "nested span fields: {line}");
    }
    // `filter correlation_id = "journey-1"`, as incident-response.md runs it.
    let journey: Vec<&Value> = lines
        .iter()
        .filter(|l| l["correlation_id"] == "journey-1")
        .collect();
    let kinds: std::collections::BTreeSet<&str> =
        journey.iter().filter_map(|l| l["kind"].as_str()).collect();
    assert!(
        journey
            .iter()
            .any(|l| l["method"] == "POST"
                && l["path"].as_str().is_some_and(|p| p.ends_with("/orders"))),
        "the request"
    );
    // Each step's lines name the message it handled: reserve, pay, ship, notify.
    for handled in ["OrderPlaced", "OrderReserved", "OrderPaid", "OrderShipped"] {
        assert!(kinds.contains(handled), "{handled} missing from {kinds:?}");
    }
    // `filter order_id = …`, as dead-letters.md runs it: the steps' lines carry it.
    assert!(
        lines
            .iter()
            .filter(|l| l["order_id"] == id.as_str())
            .count()
            >= 4
    );

    // Every saved query of the template, run over these lines.
    let template = local_stack::template::Template::parse(&yaml).unwrap();
    let queries = template.resources("AWS::Logs::QueryDefinition");
    assert_eq!(queries.len(), 4);
    for (name, props) in queries {
        let query = props["QueryString"]
            .as_str()
            .unwrap()
            .replace("CORRELATION_ID", "journey-1");
        let found = lines.iter().filter(|l| matches(&query, l)).count();
        match name.as_str() {
            // A local run has no request over a second: the filter's fields must exist, though.
            "SlowRequestsQuery" => assert!(
                lines
                    .iter()
                    .any(|l| l["message"] == "request handled" && l["duration_ms"].is_u64()),
                "{name}"
            ),
            "OrderJourneyQuery" => assert_eq!(found, journey.len(), "{name}"),
            _ => assert!(found >= 1, "{name} found nothing: {query}"),
        }
    }

    let secrets = [
        PASSWORD,
        token.as_str(),
        api::KEY,
        system_tests::STRIPE_KEY,
        "Bearer ",
        "passwordHash",
        "$argon2",
    ];
    for secret in secrets {
        assert!(!text.contains(secret), "{secret:?} is in the logs");
    }
}

/// Whether a Logs Insights query's `filter` holds for `line`, for the forms our queries use:
/// `field = "text"`, `field > number`, `ispresent(field)`, joined by `and`.
fn matches(query: &str, line: &Value) -> bool {
    let Some(filter) = query
        .split(" | ")
        .find_map(|part| part.trim().strip_prefix("filter "))
    else {
        return true;
    };
    filter.split(" and ").all(|condition| {
        let condition = condition.trim();
        if let Some(field) = condition
            .strip_prefix("ispresent(")
            .and_then(|c| c.strip_suffix(')'))
        {
            return line.get(field).is_some_and(|v| !v.is_null());
        }
        if let Some((field, text)) = condition.split_once(" = ") {
            return line[field.trim()].as_str() == Some(text.trim().trim_matches('"'));
        }
        if let Some((field, number)) = condition.split_once(" > ") {
            let bound: f64 = number.trim().parse().unwrap();
            return line[field.trim()].as_f64().is_some_and(|v| v > bound);
        }
        panic!("a filter this test cannot read: {condition}");
    })
}
