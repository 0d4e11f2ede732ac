//! Invariants of `template.yaml` that review alone would miss: every function crate is deployed
//! and every deployed function has a crate; the pipeline table (`shared::pipeline`) and the
//! template agree (each consumer on its queue, its batch within its timeout, each function given
//! exactly the queues its use case sends to); every queue dead-letters after 5 receives and hides
//! a message long enough for its consumer; SQS consumers report partial failures; no policy
//! grants a wildcard; every alarm names a runbook that exists.

// Test helpers panic on unexpected values by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use std::time::Duration;

use local_stack::template::Template;
use serde_yaml_ng::Value;
use shared::domain::OrderStatus;
use shared::pipeline::{self, Queue};
use shared::sqs::REPORT_MARGIN;

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
    let (template, _) = template();
    let queues = template.resources("AWS::SQS::Queue");
    let mut consumed = 0;
    for (id, props) in &queues {
        if !id.ends_with("DeadLetterQueue") {
            let redrive = props
                .get("RedrivePolicy")
                .unwrap_or_else(|| panic!("{id} has no dead-letter queue"));
            assert_eq!(number(redrive.get("maxReceiveCount")), Some(5), "{id}");
        }
        let visibility = number(props.get("VisibilityTimeout")).unwrap_or(30);
        for function in template.functions() {
            for (_, kind, event) in &function.events {
                if kind == "SQS" && queue_of(event) == *id {
                    consumed += 1;
                    let timeout = function.timeout.as_secs();
                    assert!(
                        visibility >= 6 * timeout,
                        "{id}: visibility {visibility} s < 6 × {timeout} s of {}",
                        function.logical_id
                    );
                }
            }
        }
    }
    assert_eq!(consumed, queues.len(), "every queue has its consumer");
}

/// The logical id of the queue an SQS event reads (`!GetAtt PaymentQueue.Arn`).
fn queue_of(event: &Value) -> String {
    let rendered = format!("{:?}", event.get("Queue"));
    rendered
        .split('"')
        .nth(1)
        .and_then(|arn| arn.strip_suffix(".Arn"))
        .unwrap_or_default()
        .to_string()
}

fn function_named(template: &Template, binary: &str) -> local_stack::template::Function {
    template
        .functions()
        .into_iter()
        .find(|f| f.binary == binary)
        .unwrap_or_else(|| panic!("the template deploys no {binary}"))
}

/// `(queue logical id, BatchSize)` of every SQS event of a function.
fn sqs_sources(function: &local_stack::template::Function) -> Vec<(String, u64)> {
    function
        .events
        .iter()
        .filter(|(_, kind, _)| kind == "SQS")
        .map(|(_, _, event)| {
            (
                queue_of(event),
                number(event.get("BatchSize")).unwrap_or(10),
            )
        })
        .collect()
}

/// A consumer's whole batch, each record with its full budget, fits its timeout.
fn assert_batch_fits(function: &local_stack::template::Function, budget: Duration, batch: u64) {
    let needed = budget * u32::try_from(batch).unwrap() + REPORT_MARGIN;
    assert!(
        needed <= function.timeout,
        "{}: {batch} records × {budget:?} need {needed:?}, the timeout is {:?}",
        function.logical_id,
        function.timeout
    );
}

#[test]
fn every_consumer_of_the_pipeline_reads_its_queue_and_its_batch_fits_its_timeout() {
    let (template, _) = template();
    for queue in Queue::ALL {
        let consumer = queue.consumer();
        let function = function_named(&template, consumer.function);
        let sources = sqs_sources(&function);
        assert_eq!(sources.len(), 1, "{}: one queue", consumer.function);
        let (read, batch) = &sources[0];
        assert_eq!(read, queue.logical_id(), "{}", consumer.function);
        assert_batch_fits(&function, consumer.budget, *batch);
    }
    let dead_letters = function_named(&template, "dead-letter");
    let read: BTreeSet<String> = sqs_sources(&dead_letters)
        .into_iter()
        .map(|(queue, batch)| {
            assert_batch_fits(&dead_letters, pipeline::DEAD_LETTER_BUDGET, batch);
            queue
        })
        .collect();
    let every: BTreeSet<String> = Queue::ALL
        .iter()
        .map(|q| q.dead_letter_logical_id().to_string())
        .collect();
    assert_eq!(read, every, "dead-letter reads every dead-letter queue");
}

/// Every pipeline step's batching window is the one per-stage parameter, latency-first (0) by
/// default, and every stage states its own; the local stack resolves it as AWS would.
#[test]
fn every_step_batches_for_the_stage_parameter_window_which_defaults_to_none() {
    let (template, doc) = template();
    let parameter = &doc["Parameters"]["BatchingWindowSeconds"];
    assert_eq!(
        number(parameter.get("Default")),
        Some(0),
        "latency-first by default"
    );
    for queue in Queue::ALL {
        let function = function_named(&template, queue.consumer().function);
        let (_, _, event) = function
            .events
            .iter()
            .find(|(_, kind, _)| kind == "SQS")
            .unwrap();
        let window = &event["MaximumBatchingWindowInSeconds"];
        let Value::Tagged(reference) = window else {
            panic!(
                "{}: window {window:?} is not the parameter",
                function.logical_id
            );
        };
        assert_eq!(reference.tag.to_string(), "!Ref");
        assert_eq!(reference.value.as_str(), Some("BatchingWindowSeconds"));
    }
    let samconfig = std::fs::read_to_string(root().join("samconfig.toml")).unwrap();
    for stage in ["dev", "staging", "prod"] {
        let overrides = samconfig
            .lines()
            .skip_while(|l| *l != format!("[{stage}.deploy.parameters]"))
            .find(|l| l.starts_with("parameter_overrides"))
            .unwrap();
        assert!(
            overrides.contains("BatchingWindowSeconds="),
            "{stage}: {overrides}"
        );
    }
}

/// What each function's use case sends to, from the pipeline table: the queues a consumer hands
/// orders to (and its own dead-letter queue), and where the statuses the other senders produce go.
fn expected_sends() -> Vec<(&'static str, Vec<Queue>, Option<Queue>)> {
    let routes = |statuses: &[OrderStatus]| -> Vec<Queue> {
        statuses
            .iter()
            .filter_map(|s| pipeline::route(*s))
            .collect()
    };
    let mut expected: Vec<_> = Queue::ALL
        .iter()
        .map(|q| {
            let consumer = q.consumer();
            (consumer.function, pipeline::sends_to(consumer), Some(*q))
        })
        .collect();
    expected.push(("create-order", routes(&[OrderStatus::Pending]), None));
    expected.push(("cancel-order", routes(&[OrderStatus::Cancelled]), None));
    expected.push(("refund-order", routes(&[OrderStatus::Refunded]), None));
    expected.push(("dead-letter", routes(&[OrderStatus::Failed]), None));
    expected.push(("reconciler", Queue::ALL.to_vec(), None));
    expected
}

#[test]
fn every_function_is_given_exactly_the_queues_its_use_case_sends_to() {
    let (template, _) = template();
    let expected = expected_sends();
    for function in template.functions() {
        let (sends, dead_letters) = expected
            .iter()
            .find(|(name, _, _)| *name == function.binary)
            .map(|(_, sends, own)| (sends.clone(), *own))
            .unwrap_or_default();
        let mut variables: BTreeSet<&str> = sends.iter().map(|q| q.url_variable()).collect();
        if function.binary == "health" {
            // The deep check probes every queue (attributes only, never a send).
            variables.extend(Queue::ALL.iter().map(|q| q.url_variable()));
        }
        let mut granted: BTreeSet<&str> = sends.iter().map(|q| q.logical_id()).collect();
        if let Some(queue) = dead_letters {
            variables.insert(queue.dead_letter_url_variable());
            granted.insert(queue.dead_letter_logical_id());
        }
        let given: BTreeSet<&str> = function
            .environment
            .keys()
            .map(String::as_str)
            .filter(|k| k.ends_with("_QUEUE_URL") || k.ends_with("_DLQ_URL"))
            .collect();
        assert_eq!(given, variables, "{}: queue URLs", function.binary);
        let props = template.properties(&function.logical_id).unwrap();
        let allowed: BTreeSet<String> = props
            .get("Policies")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
            .filter_map(|policy| policy.get("SQSSendMessagePolicy"))
            .map(|p| {
                let rendered = format!("{:?}", p.get("QueueName"));
                let target = rendered.split('"').nth(1).unwrap_or_default();
                target.trim_end_matches(".QueueName").to_string()
            })
            .collect();
        let granted: BTreeSet<String> = granted.into_iter().map(str::to_string).collect();
        assert_eq!(allowed, granted, "{}: send permissions", function.binary);
    }
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

/// `(function's logical id, statement)` of every inline policy statement of every function.
fn policy_statements(template: &Template) -> Vec<(String, &Value)> {
    template
        .functions()
        .into_iter()
        .flat_map(|function| {
            let props = template.properties(&function.logical_id).unwrap();
            props
                .get("Policies")
                .and_then(Value::as_sequence)
                .into_iter()
                .flatten()
                .filter_map(|policy| policy.get("Statement")?.as_sequence())
                .flatten()
                .map(move |statement| (function.logical_id.clone(), statement))
        })
        .collect()
}

#[test]
fn no_policy_grants_a_wildcard_resource_or_action() {
    let (template, _) = template();
    for (function, statement) in policy_statements(&template) {
        for key in ["Resource", "Action"] {
            let rendered = format!("{:?}", statement.get(key));
            assert!(
                !rendered.contains("String(\"*\")"),
                "{function}: {key} {rendered}"
            );
            assert!(!rendered.contains(":*\""), "{function}: {key} {rendered}");
        }
    }
}

#[test]
fn every_alarm_names_a_runbook_that_exists() {
    let (_, doc) = template();
    let resources = doc["Resources"].as_mapping().unwrap();
    let alarms: Vec<_> = resources
        .iter()
        .filter(|(_, r)| {
            matches!(
                r["Type"].as_str(),
                Some("AWS::CloudWatch::Alarm" | "AWS::CloudWatch::CompositeAlarm")
            )
        })
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

/// The `trigger` a function's events imply, which the pre-traffic hook reads from its tag.
fn implied_trigger(function: &local_stack::template::Function, doc: &Value) -> &'static str {
    let kinds: BTreeSet<&str> = function.events.iter().map(|(_, k, _)| k.as_str()).collect();
    let rendered = format!("{:?}", doc["Resources"]["OrdersApi"]["Properties"]["Auth"]);
    match () {
        _ if kinds.contains("Api") => "api",
        _ if kinds.contains("SQS") => "sqs",
        _ if kinds.contains("Schedule") => "schedule",
        _ if rendered.contains(&function.logical_id) => "authorizer",
        _ => "deploy",
    }
}

#[test]
fn every_function_is_named_for_its_stage_and_tagged_with_its_trigger() {
    let (template, doc) = template();
    for function in template.functions() {
        let props = template.properties(&function.logical_id).unwrap();
        let trigger = implied_trigger(&function, &doc);
        let expected_name = match trigger {
            // CodeDeploy's service role may only invoke hooks named `CodeDeployHook_*`.
            "deploy" => format!("CodeDeployHook_orders-${{Stage}}-{}", function.binary),
            _ => format!("orders-${{Stage}}-{}", function.binary),
        };
        let name = format!("{:?}", props.get("FunctionName"));
        assert!(
            name.contains(&format!("String(\"{expected_name}\")")),
            "{}: FunctionName {name}, expected {expected_name}",
            function.logical_id
        );
        assert_eq!(
            props["Tags"]["trigger"].as_str(),
            Some(trigger),
            "{}: the pre-traffic hook smoke-tests by this tag",
            function.logical_id
        );
    }
}

#[test]
fn every_stage_has_its_settings_and_deploy_preference() {
    let (_, doc) = template();
    let stages = &doc["Mappings"]["StageConfig"];
    let preference = |stage: &str| {
        stages[stage]["DeployPreference"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(preference("dev"), "AllAtOnce");
    assert!(preference("staging").starts_with("Linear"));
    assert!(preference("prod").starts_with("Canary"));
    let keys = |stage: &str| -> BTreeSet<String> {
        stages[stage]
            .as_mapping()
            .unwrap()
            .keys()
            .map(|k| k.as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(keys("dev"), keys("staging"));
    assert_eq!(keys("dev"), keys("prod"));
    assert_eq!(
        keys("dev"),
        keys("local"),
        "the local stack reads the same settings"
    );
    let allowed = format!("{:?}", doc["Parameters"]["Stage"]["AllowedValues"]);
    for stage in ["dev", "staging", "prod"] {
        assert!(allowed.contains(stage));
    }
}

#[test]
fn deploys_roll_back_on_alarms_that_exist_after_a_pre_traffic_check() {
    let (template, doc) = template();
    let globals = &doc["Globals"]["Function"];
    assert_eq!(globals["AutoPublishAlias"].as_str(), Some("live"));
    let preference = &globals["DeploymentPreference"];
    let alarms = preference["Alarms"].as_sequence().unwrap();
    assert!(alarms.len() >= 2);
    for alarm in alarms {
        let name = format!("{alarm:?}");
        let id = name.split('"').nth(1).unwrap();
        assert_eq!(
            doc["Resources"][id]["Type"].as_str(),
            Some("AWS::CloudWatch::Alarm"),
            "rollback alarm {id}"
        );
    }
    let hook = format!("{:?}", preference["Hooks"]["PreTraffic"]);
    let hook_id = hook.split('"').nth(1).unwrap();
    let hook_function = template
        .functions()
        .into_iter()
        .find(|f| f.logical_id == hook_id)
        .expect("the pre-traffic hook is a function of the template");
    // The hook itself is not deployed through CodeDeploy (it would have to check itself).
    assert_eq!(
        template.properties(&hook_function.logical_id).unwrap()["DeploymentPreference"]["Enabled"]
            .as_bool(),
        Some(false)
    );
}

#[test]
fn every_grant_on_the_orders_table_follows_a_restore() {
    let (template, _) = template();
    for (function, statement) in policy_statements(&template) {
        let resource = format!("{:?}", statement.get("Resource"));
        if resource.contains("OrdersTable") {
            assert!(
                resource.contains("OrdersRepointed"),
                "{function}: {resource} ignores RestoredOrdersTable"
            );
        }
    }
}

#[test]
fn a_cached_route_keys_its_cache_on_every_path_parameter() {
    let (template, doc) = template();
    let settings = doc["Resources"]["OrdersApi"]["Properties"]["MethodSettings"]
        .as_sequence()
        .unwrap();
    let cached: Vec<(String, String)> = settings
        .iter()
        // Entries that can cache (`CachingEnabled: false` turns caching off, as `/*` does).
        .filter(|s| {
            s.get("CachingEnabled")
                .is_some_and(|c| c.as_bool() != Some(false))
        })
        .map(|s| {
            // `/~1products~1{id}` is how CloudFormation writes `/products/{id}`.
            let raw = s["ResourcePath"].as_str().unwrap();
            let path = raw.strip_prefix('/').unwrap_or(raw).replace("~1", "/");
            (path, s["HttpMethod"].as_str().unwrap().to_ascii_uppercase())
        })
        .collect();
    assert!(!cached.is_empty(), "the catalog reads can be cached");
    for (path, method) in cached {
        let event = template
            .functions()
            .into_iter()
            .flat_map(|f| f.events)
            .find(|(_, kind, e)| {
                kind == "Api"
                    && e["Path"].as_str() == Some(path.as_str())
                    && e["Method"].as_str().map(str::to_ascii_uppercase) == Some(method.clone())
            })
            .unwrap_or_else(|| panic!("no route {method} {path}"))
            .2;
        let cache_keys: BTreeSet<String> = event
            .get("RequestParameters")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
            .filter_map(Value::as_mapping)
            .flatten()
            .filter(|(_, options)| options["Caching"].as_bool() == Some(true))
            .filter_map(|(name, _)| name.as_str().map(str::to_string))
            .collect();
        for parameter in path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        {
            assert!(
                cache_keys.contains(&format!("method.request.path.{parameter}")),
                "{method} {path}: the cache must key on {parameter}"
            );
        }
    }
}

/// The logical ids of the template's resources of `kind`.
fn resources_of(doc: &Value, kind: &str) -> BTreeSet<String> {
    doc["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(kind))
        .map(|(id, _)| id.as_str().unwrap().to_string())
        .collect()
}

/// The logical id a `!Ref`/`!GetAtt` names (tags parse as tagged values).
fn named(value: &Value) -> Option<String> {
    match value {
        Value::Tagged(tagged) => {
            let inner = tagged.value.as_str()?;
            Some(inner.split('.').next()?.to_string())
        }
        Value::Mapping(m) => m.get("Ref").and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

/// Whether `statement` denies everyone every request of `actions` made without TLS.
fn denies_plain_transport(statement: &Value, action: &str) -> bool {
    let actions = format!("{:?}", statement["Action"]);
    statement["Effect"].as_str() == Some("Deny")
        && statement["Principal"].as_str() == Some("*")
        && actions.contains(action)
        && statement["Condition"]["Bool"]["aws:SecureTransport"].as_str() == Some("false")
}

#[test]
fn every_queue_and_topic_refuses_requests_without_tls() {
    let (_, doc) = template();
    let resources = doc["Resources"].as_mapping().unwrap();
    let mut covered = BTreeSet::new();
    for id in resources_of(&doc, "AWS::SQS::QueuePolicy") {
        let props = &doc["Resources"][id.as_str()]["Properties"];
        let statements = props["PolicyDocument"]["Statement"].as_sequence().unwrap();
        assert!(
            statements
                .iter()
                .any(|s| denies_plain_transport(s, "sqs:*")),
            "{id} does not deny plain HTTP"
        );
        covered.extend(
            props["Queues"]
                .as_sequence()
                .unwrap()
                .iter()
                .filter_map(named),
        );
    }
    for id in resources_of(&doc, "AWS::SNS::TopicPolicy") {
        let props = &doc["Resources"][id.as_str()]["Properties"];
        let statements = props["PolicyDocument"]["Statement"].as_sequence().unwrap();
        assert!(
            statements
                .iter()
                .any(|s| denies_plain_transport(s, "sns:Publish")),
            "{id} does not deny plain HTTP"
        );
        covered.extend(
            props["Topics"]
                .as_sequence()
                .unwrap()
                .iter()
                .filter_map(named),
        );
    }
    let mut expected = resources_of(&doc, "AWS::SQS::Queue");
    expected.extend(resources_of(&doc, "AWS::SNS::Topic"));
    assert!(!expected.is_empty() && resources.len() > expected.len());
    let uncovered: Vec<_> = expected.difference(&covered).collect();
    assert!(uncovered.is_empty(), "not TLS-only: {uncovered:?}");
}

#[test]
fn secrets_and_tables_outlive_the_stack() {
    let (_, doc) = template();
    let mut kept = resources_of(&doc, "AWS::SecretsManager::Secret");
    assert!(kept.len() >= 2, "the signing keys and the provider key");
    kept.extend(resources_of(&doc, "AWS::DynamoDB::GlobalTable"));
    for id in kept {
        let resource = &doc["Resources"][id.as_str()];
        for policy in ["DeletionPolicy", "UpdateReplacePolicy"] {
            assert_eq!(resource[policy].as_str(), Some("Retain"), "{id}: {policy}");
        }
    }
}

#[test]
fn the_web_acl_is_on_in_prod_by_default_off_elsewhere_and_rate_limits_auth() {
    let (_, doc) = template();
    let stages = doc["Mappings"]["StageConfig"].as_mapping().unwrap();
    for (stage, config) in stages {
        let expected = if stage.as_str() == Some("prod") {
            "true"
        } else {
            "false"
        };
        assert_eq!(config["WebAcl"].as_str(), Some(expected), "{stage:?}");
    }
    let acl = &doc["Resources"]["ApiWebAcl"];
    assert_eq!(acl["Condition"].as_str(), Some("ProtectsWithWaf"));
    let rules = acl["Properties"]["Rules"].as_sequence().unwrap();
    let auth = rules
        .iter()
        .find_map(|r| r["Statement"].get("RateBasedStatement"))
        .expect("a rate-based rule");
    assert_eq!(
        auth["ScopeDownStatement"]["ByteMatchStatement"]["SearchString"].as_str(),
        Some("/auth/")
    );
    assert!(rules.iter().any(|r| {
        r["Statement"]["ManagedRuleGroupStatement"]["Name"].as_str()
            == Some("AWSManagedRulesCommonRuleSet")
    }));
    assert_eq!(
        doc["Resources"]["ApiWebAclAssociation"]["Condition"].as_str(),
        Some("ProtectsWithWaf")
    );
}

/// The flags are read by exactly the functions whose use cases consult them (the kill switch in
/// create-order, the pause in process-payment), each allowed `ssm:GetParameter` on that parameter
/// and nothing else of SSM.
#[test]
fn exactly_the_functions_that_consult_the_flags_may_read_them() {
    let (template, _) = template();
    let readers: BTreeSet<String> = template
        .functions()
        .into_iter()
        .filter(|f| f.environment.contains_key("FLAGS_PARAMETER"))
        .map(|f| f.binary)
        .collect();
    assert_eq!(
        readers,
        BTreeSet::from(["create-order".to_string(), "process-payment".to_string()])
    );
    let by_binary: BTreeMap<String, String> = template
        .functions()
        .into_iter()
        .map(|f| (f.logical_id, f.binary))
        .collect();
    let mut granted = BTreeSet::new();
    for (function, statement) in policy_statements(&template) {
        let actions = format!("{:?}", statement.get("Action"));
        if !actions.contains("ssm:") {
            continue;
        }
        assert!(
            actions.contains("ssm:GetParameter") && !actions.contains("ssm:Put"),
            "{function}: {actions}"
        );
        let resource = format!("{:?}", statement.get("Resource"));
        assert!(
            resource.contains("${FlagsParameter}"),
            "{function}: {resource}"
        );
        granted.insert(by_binary[&function].clone());
    }
    assert_eq!(granted, readers);
}

/// Customers are written to by exactly the steps that tell them an outcome (notify-customer,
/// compensate-order): each has the sender, `ses:SendEmail` on that one identity, and a read of the
/// users' `byId` index to find the address; no other function may send or read it.
#[test]
fn exactly_the_steps_that_tell_customers_may_send_e_mail_and_read_their_address() {
    let (template, _) = template();
    let tellers = BTreeSet::from([
        "compensate-order".to_string(),
        "notify-customer".to_string(),
    ]);
    let senders: BTreeSet<String> = template
        .functions()
        .into_iter()
        .filter(|f| f.environment.contains_key("NOTICE_SENDER"))
        .map(|f| f.binary)
        .collect();
    assert_eq!(senders, tellers);
    let by_binary: BTreeMap<String, String> = template
        .functions()
        .into_iter()
        .map(|f| (f.logical_id, f.binary))
        .collect();
    let (mut send, mut address) = (BTreeSet::new(), BTreeSet::new());
    for (function, statement) in policy_statements(&template) {
        let actions = format!("{:?}", statement.get("Action"));
        let resource = format!("{:?}", statement.get("Resource"));
        if actions.contains("ses:") {
            assert!(!actions.contains('*'), "{function}: {actions}");
            assert!(
                resource.contains("identity/${NoticeSenderIdentity}"),
                "{function}: {resource}"
            );
            send.insert(by_binary[&function].clone());
        }
        if resource.contains("/index/byId") {
            assert!(actions.contains("dynamodb:Query"), "{function}: {actions}");
            address.insert(by_binary[&function].clone());
        }
    }
    assert_eq!(send, tellers);
    assert_eq!(address, tellers);
    // A notice names the reason of the order's last transition: its history, a Query.
    let mut history = BTreeSet::new();
    for (function, statement) in policy_statements(&template) {
        let actions = format!("{:?}", statement.get("Action"));
        let resource = format!("{:?}", statement.get("Resource"));
        if actions.contains("dynamodb:Query") && resource.contains("OrdersTable.Arn") {
            history.insert(by_binary[&function].clone());
        }
    }
    assert!(history.is_superset(&tellers), "{history:?}");
}

/// A string property, plain or under an intrinsic (`!Sub "..."`), unresolved.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Tagged(tagged) => tagged.value.as_str().map(str::to_string),
        _ => None,
    }
}

/// The metrics of our namespace that a dashboard widget or an alarm reads: (reader, name,
/// dimension keys).
fn metrics_read(doc: &Value) -> Vec<(String, String, BTreeSet<String>)> {
    let mut read = Vec::new();
    let ours = |namespace: &str| namespace.starts_with("OrderService");
    let resources = doc["Resources"].as_mapping().unwrap();
    for (id, resource) in resources {
        let id = id.as_str().unwrap().to_string();
        let props = &resource["Properties"];
        match resource["Type"].as_str() {
            Some("AWS::CloudWatch::Alarm") => {
                let mut stats: Vec<&Value> = vec![props];
                for query in props["Metrics"].as_sequence().into_iter().flatten() {
                    if let Some(metric) = query.get("MetricStat").and_then(|m| m.get("Metric")) {
                        stats.push(metric);
                    }
                }
                for stat in stats {
                    let (Some(namespace), Some(name)) =
                        (text(&stat["Namespace"]), stat["MetricName"].as_str())
                    else {
                        continue;
                    };
                    if ours(&namespace) {
                        let keys = stat["Dimensions"]
                            .as_sequence()
                            .into_iter()
                            .flatten()
                            .filter_map(|d| d["Name"].as_str().map(str::to_string))
                            .collect();
                        read.push((id.clone(), name.to_string(), keys));
                    }
                }
            }
            Some("AWS::CloudWatch::Dashboard") => {
                let body = text(&props["DashboardBody"]).unwrap();
                let body: serde_json::Value = serde_json::from_str(
                    &body
                        .replace("${Stage}", "dev")
                        .replace("${AWS::Region}", "eu-west-1"),
                )
                .unwrap();
                for widget in body["widgets"].as_array().unwrap() {
                    let mut previous: Vec<String> = Vec::new();
                    for row in widget["properties"]["metrics"]
                        .as_array()
                        .into_iter()
                        .flatten()
                    {
                        let row = row.as_array().unwrap();
                        if let Some(expression) = row[0]["expression"].as_str() {
                            if let Some(search) = expression.strip_prefix("SEARCH('{") {
                                let (schema, rest) = search.split_once('}').unwrap();
                                let mut parts = schema.split(',');
                                let namespace = parts.next().unwrap();
                                let name = rest.split('"').nth(1).unwrap();
                                if ours(namespace) {
                                    read.push((
                                        id.clone(),
                                        name.into(),
                                        parts.map(str::to_string).collect(),
                                    ));
                                }
                            }
                            continue;
                        }
                        let tokens: Vec<String> = row
                            .iter()
                            .filter_map(|t| t.as_str().map(str::to_string))
                            .collect();
                        // CloudWatch's shorthand: "." repeats the token above, "..." the rest.
                        let full: Vec<String> = if tokens[0] == "..." {
                            let keep = previous.len() - (tokens.len() - 1);
                            previous[..keep]
                                .iter()
                                .chain(&tokens[1..])
                                .cloned()
                                .collect()
                        } else {
                            tokens
                                .iter()
                                .enumerate()
                                .map(|(i, t)| {
                                    if t == "." {
                                        previous[i].clone()
                                    } else {
                                        t.clone()
                                    }
                                })
                                .collect()
                        };
                        if ours(&full[0]) {
                            let keys = full[2..].chunks(2).map(|pair| pair[0].clone()).collect();
                            read.push((id.clone(), full[1].clone(), keys));
                        }
                        previous = full;
                    }
                }
            }
            _ => {}
        }
    }
    read
}

/// Every `shared` and function source file, as text.
fn sources() -> Vec<(std::path::PathBuf, String)> {
    let mut files = Vec::new();
    let mut dirs = vec![root().join("shared/src"), root().join("functions")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                files.push((path, text));
            }
        }
    }
    files
}

/// The defect: the dashboard plotted `OrdersCompleted`, which nothing emitted. Every metric of
/// the service's namespace that a widget or an alarm reads is declared in `shared::metrics` with
/// the dimensions it is read by, and emitted from code outside the catalogue (an order outcome's
/// metric by `metrics::outcome`, whose unit tests count each outcome).
#[test]
fn every_metric_a_dashboard_or_alarm_reads_is_emitted() {
    use shared::metrics::Metric;
    let (_, doc) = template();
    let read = metrics_read(&doc);
    assert!(read.len() > 20, "the parser found the widgets: {read:?}");
    assert_eq!(
        doc["Globals"]["Function"]["Environment"]["Variables"]["METRICS_NAMESPACE"],
        serde_yaml_ng::from_str::<Value>(r#"!Sub "OrderService/${Stage}""#).unwrap(),
        "the functions publish to the namespace the alarms read"
    );
    let code: Vec<_> = sources()
        .into_iter()
        .filter(|(path, _)| !path.ends_with("shared/src/metrics.rs"))
        .collect();
    let outcome_emitted = code
        .iter()
        .any(|(_, text)| text.contains("metrics::outcome("));
    for (reader, name, keys) in read {
        let metric = Metric::ALL
            .into_iter()
            .find(|m| m.name() == name)
            .unwrap_or_else(|| {
                panic!("{reader} reads {name}, which shared::metrics does not declare")
            });
        let published: BTreeSet<String> =
            metric.dimension().map(str::to_string).into_iter().collect();
        assert!(
            keys.is_empty() || keys == published,
            "{reader} reads {name} by {keys:?}; it is published by {published:?} (and by none)"
        );
        let by_outcome = OrderStatus::ALL
            .into_iter()
            .any(|s| Metric::of_outcome(s) == Some(metric));
        let direct = code
            .iter()
            .any(|(_, text)| text.contains(&format!("Metric::{name}")));
        assert!(
            direct || (by_outcome && outcome_emitted),
            "{reader} reads {name}, which no code emits"
        );
    }
}

/// The period of an alarm: its own, or that of the metrics its expression reads (all alike).
fn alarm_period(alarm: &Value) -> u64 {
    if let Some(period) = alarm["Period"].as_u64() {
        return period;
    }
    let periods: BTreeSet<u64> = alarm["Metrics"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("MetricStat")?.get("Period")?.as_u64())
        .collect();
    assert_eq!(periods.len(), 1, "one period per alarm: {periods:?}");
    periods.into_iter().next().unwrap()
}

/// Each SLO of docs/slo.md pages on a fast and a slow burn, and each burn is multi-window: the
/// composite pages only when a long window and a short one (a twelfth of it) both burn at the
/// same rate, so a burst that has stopped does not page, and a slow leak does.
#[test]
fn every_slo_pages_on_a_fast_and_a_slow_burn_over_two_windows() {
    let (_, doc) = template();
    let resources = doc["Resources"].as_mapping().unwrap();
    let slo = std::fs::read_to_string(root().join("docs/slo.md")).unwrap();
    let mut burns = BTreeMap::new();
    for (id, resource) in resources {
        if resource["Type"].as_str() != Some("AWS::CloudWatch::CompositeAlarm") {
            continue;
        }
        let id = id.as_str().unwrap();
        let props = &resource["Properties"];
        assert!(
            props["AlarmActions"]
                .as_sequence()
                .is_some_and(|a| !a.is_empty()),
            "{id} pages"
        );
        let rule = text(&props["AlarmRule"]).unwrap();
        let windows: Vec<&Value> = rule
            .split("ALARM(\"${")
            .skip(1)
            .map(|part| part.split('}').next().unwrap())
            .map(|child| &resources[child]["Properties"])
            .collect();
        assert_eq!(windows.len(), 2, "{id}: {rule}");
        assert!(
            rule.contains(") AND ALARM("),
            "{id}: both windows, not either: {rule}"
        );
        let (long, short) = (alarm_period(windows[0]), alarm_period(windows[1]));
        assert_eq!(
            long,
            short * 12,
            "{id}: the short window is a twelfth of the long one"
        );
        assert_eq!(
            windows[0]["Threshold"], windows[1]["Threshold"],
            "{id}: one burn rate"
        );
        for window in &windows {
            assert!(
                window.get("AlarmActions").is_none(),
                "{id}: a window alone never pages"
            );
        }
        let slo_name = id.split("Slo").next().unwrap().to_string();
        burns
            .entry(slo_name)
            .or_insert_with(BTreeSet::new)
            .insert(long);
    }
    assert_eq!(burns.keys().cloned().collect::<Vec<_>>(), ["Api", "Order"]);
    for (name, longs) in burns {
        assert_eq!(
            longs,
            BTreeSet::from([3_600, 21_600]),
            "{name}: a fast and a slow burn"
        );
    }
    for alarm in [
        "api-slo-fast-burn",
        "api-slo-slow-burn",
        "order-slo-fast-burn",
        "order-slo-slow-burn",
    ] {
        assert!(slo.contains(alarm), "docs/slo.md explains {alarm}");
    }
}
