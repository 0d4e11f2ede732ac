//! Invariants of `template.yaml` that review alone would miss: every function crate is deployed
//! and every deployed function has a crate; every queue dead-letters after 5 receives and hides a
//! message long enough for its consumer; SQS consumers report partial failures; no policy grants
//! a wildcard; every alarm names a runbook that exists.

// Test helpers panic on unexpected values by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::Path;

use local_stack::template::Template;
use serde_yaml_ng::Value;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn template() -> (Template, Value) {
    let text = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    (
        Template::parse(&text).unwrap(),
        serde_yaml_ng::from_str(&text).unwrap(),
    )
}

#[test]
fn every_function_crate_is_deployed_and_every_function_has_a_crate() {
    let (template, _) = template();
    let deployed: BTreeSet<String> = template
        .functions()
        .into_iter()
        .map(|f| f.code_uri)
        .collect();
    let crates: BTreeSet<String> = std::fs::read_dir(root().join("functions"))
        .unwrap()
        .map(|e| format!("functions/{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    assert_eq!(deployed, crates);
    for function in template.functions() {
        assert_eq!(
            function.code_uri,
            format!("functions/{}", function.binary),
            "binary = folder"
        );
        assert!(
            root()
                .join("events")
                .join(format!("{}.json", function.binary))
                .exists(),
            "sample event for {}",
            function.binary
        );
    }
}

fn number(value: Option<&Value>) -> Option<u64> {
    value.and_then(Value::as_u64)
}

#[test]
fn queues_dead_letter_after_five_receives_and_outlast_their_consumers() {
    let (template, doc) = template();
    let default_timeout = number(
        doc.get("Globals")
            .and_then(|g| g.get("Function"))
            .and_then(|f| f.get("Timeout")),
    )
    .unwrap_or(3);
    let queues = template.resources("AWS::SQS::Queue");
    let dead_letter_targets: BTreeSet<String> = queues
        .iter()
        .filter_map(|(_, p)| p.get("RedrivePolicy")?.get("deadLetterTargetArn"))
        .map(|arn| format!("{arn:?}"))
        .collect();
    for (id, props) in &queues {
        if id.ends_with("DeadLetterQueue") {
            continue;
        }
        let redrive = props
            .get("RedrivePolicy")
            .unwrap_or_else(|| panic!("{id} has no dead-letter queue"));
        assert_eq!(number(redrive.get("maxReceiveCount")), Some(5), "{id}");
        let visibility = number(props.get("VisibilityTimeout")).unwrap_or(30);
        for function in template.functions() {
            for (_, kind, event) in &function.events {
                if kind == "SQS" && format!("{:?}", event.get("Queue")).contains(id.as_str()) {
                    let timeout = number(
                        template
                            .properties(&function.logical_id)
                            .and_then(|p| p.get("Timeout")),
                    )
                    .unwrap_or(default_timeout);
                    assert!(
                        visibility >= 6 * timeout,
                        "{id}: visibility {visibility} s < 6 × {timeout} s of {}",
                        function.logical_id
                    );
                }
            }
        }
    }
    assert!(!dead_letter_targets.is_empty());
}

#[test]
fn sqs_consumers_report_batch_item_failures() {
    let (template, _) = template();
    for function in template.functions() {
        for (name, kind, event) in &function.events {
            if kind == "SQS" {
                let types = format!("{:?}", event.get("FunctionResponseTypes"));
                assert!(
                    types.contains("ReportBatchItemFailures"),
                    "{}.{name}",
                    function.logical_id
                );
            }
        }
    }
}

fn statements(policy: &Value) -> Vec<&Value> {
    policy
        .get("Statement")
        .and_then(Value::as_sequence)
        .map(|s| s.iter().collect())
        .unwrap_or_default()
}

#[test]
fn no_policy_grants_a_wildcard_resource_or_action() {
    let (template, _) = template();
    for function in template.functions() {
        let props = template.properties(&function.logical_id).unwrap();
        for policy in props
            .get("Policies")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            for statement in statements(policy) {
                for key in ["Resource", "Action"] {
                    let rendered = format!("{:?}", statement.get(key));
                    assert!(
                        !rendered.contains("String(\"*\")"),
                        "{}: {key} {rendered}",
                        function.logical_id
                    );
                    assert!(
                        !rendered.contains(":*\""),
                        "{}: {key} {rendered}",
                        function.logical_id
                    );
                }
            }
        }
    }
}

#[test]
fn every_alarm_names_a_runbook_that_exists() {
    let (_, doc) = template();
    let resources = doc["Resources"].as_mapping().unwrap();
    let alarms: Vec<_> = resources
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::CloudWatch::Alarm"))
        .collect();
    assert!(!alarms.is_empty(), "the template declares alarms");
    for (id, alarm) in alarms {
        let description = alarm["Properties"]["AlarmDescription"]
            .as_str()
            .unwrap_or_default();
        let runbook = description
            .split("Runbook: ")
            .nth(1)
            .unwrap_or_else(|| panic!("{id:?} names no runbook: {description}"));
        assert!(
            root().join(runbook.trim()).is_file(),
            "{id:?}: {runbook} does not exist"
        );
    }
}
