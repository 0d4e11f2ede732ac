//! What a smoke test is: the event each kind of function gets, what counts as passing, and the
//! use case that runs one check and always reports back to CodeDeploy.

use async_trait::async_trait;
use serde_json::{Value, json};

/// How a function is invoked in production, from its `trigger` tag (template.yaml).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// An API route behind API Gateway (REST proxy events).
    Api,
    /// An SQS event source.
    Sqs,
    /// An EventBridge schedule.
    Schedule,
    /// The API's TOKEN authorizer.
    Authorizer,
}

impl Trigger {
    pub fn from_tag(tag: &str) -> Option<Self> {
        match tag {
            "api" => Some(Self::Api),
            "sqs" => Some(Self::Sqs),
            "schedule" => Some(Self::Schedule),
            "authorizer" => Some(Self::Authorizer),
            _ => None,
        }
    }
}

/// The harmless event a function of this trigger is invoked with: a request without credentials
/// (answered 401 or 404, never 5xx), an empty batch, one scheduled run (the reconciler is
/// idempotent), a token that is not a JWT (refused).
pub fn smoke_event(trigger: Trigger) -> Value {
    match trigger {
        Trigger::Api => json!({
            "resource": "/{proxy+}",
            "path": "/pre-traffic-check",
            "httpMethod": "GET",
            "headers": {"user-agent": "pre-traffic-check"},
            "multiValueHeaders": {"user-agent": ["pre-traffic-check"]},
            "queryStringParameters": null,
            "multiValueQueryStringParameters": null,
            "pathParameters": null,
            "stageVariables": null,
            "requestContext": {
                "resourcePath": "/{proxy+}",
                "httpMethod": "GET",
                "path": "/pre-traffic-check",
                "stage": "pre-traffic",
                "requestId": "pre-traffic-check",
                "identity": {"sourceIp": "127.0.0.1", "userAgent": "pre-traffic-check"}
            },
            "body": null,
            "isBase64Encoded": false
        }),
        Trigger::Sqs => json!({"Records": []}),
        Trigger::Schedule => json!({
            "version": "0",
            "id": "pre-traffic-check",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "time": "1970-01-01T00:00:00Z",
            "resources": [],
            "detail": {}
        }),
        Trigger::Authorizer => json!({
            "type": "TOKEN",
            "authorizationToken": "Bearer pre-traffic-check",
            "methodArn": "arn:aws:execute-api:us-east-1:000000000000:pre-traffic/check/GET/orders"
        }),
    }
}

/// What one invocation gave back.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    /// Lambda's `FunctionError` (`Unhandled`), when the function failed.
    pub function_error: Option<String>,
    pub payload: Value,
}

/// Whether the new version may take traffic; `Err` says why not.
pub fn judge(trigger: Trigger, invocation: &Invocation) -> Result<(), String> {
    let message = invocation.payload["errorMessage"].as_str().unwrap_or("");
    match (trigger, &invocation.function_error) {
        // API Gateway's contract: a refused token is the error `Unauthorized`.
        (Trigger::Authorizer, Some(_)) if message == "Unauthorized" => Ok(()),
        (Trigger::Authorizer, _) => Err(format!(
            "the authorizer did not refuse a malformed token: {}",
            invocation.payload
        )),
        (_, Some(kind)) => Err(format!("the function failed ({kind}): {message}")),
        (Trigger::Api, None) => match invocation.payload["statusCode"].as_u64() {
            Some(status) if status < 500 => Ok(()),
            Some(status) => Err(format!("the function answered {status}")),
            None => Err(format!("not an API answer: {}", invocation.payload)),
        },
        (Trigger::Sqs, None) => match invocation.payload["batchItemFailures"].as_array() {
            Some(failures) if failures.is_empty() => Ok(()),
            _ => Err(format!(
                "an empty batch did not succeed: {}",
                invocation.payload
            )),
        },
        (Trigger::Schedule, None) => Ok(()),
    }
}

/// The function version a deployment shifts traffic to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub function: String,
    pub version: String,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PortError(pub String);

#[async_trait]
pub trait Deployments: Send + Sync {
    /// The function version `deployment_id` deploys, from its AppSpec.
    async fn target(&self, deployment_id: &str) -> Result<Target, PortError>;
    /// Tells CodeDeploy whether the hook passed.
    async fn report(
        &self,
        deployment_id: &str,
        hook_execution_id: &str,
        passed: bool,
    ) -> Result<(), PortError>;
}

#[async_trait]
pub trait Functions: Send + Sync {
    /// The `trigger` tag of the function.
    async fn trigger_tag(&self, target: &Target) -> Result<Option<String>, PortError>;
    async fn invoke(&self, target: &Target, payload: &Value) -> Result<Invocation, PortError>;
}

pub struct Ports<'a> {
    pub deployments: &'a dyn Deployments,
    pub functions: &'a dyn Functions,
    /// Only functions whose names start with this (the stage's `orders-<stage>-`) are checked.
    pub function_prefix: &'a str,
}

/// Checks the version `deployment_id` deploys and reports the verdict; returns it too. Every
/// failure on the way is a failed check, so CodeDeploy never waits for an answer that will not
/// come; only a failed report is an error (Lambda then retries the hook).
pub async fn run(
    ports: &Ports<'_>,
    deployment_id: &str,
    hook_execution_id: &str,
) -> Result<Result<(), String>, PortError> {
    let verdict = check(ports, deployment_id).await;
    match &verdict {
        Ok(()) => tracing::info!(deployment_id, "pre-traffic check passed"),
        Err(reason) => tracing::error!(deployment_id, reason, "pre-traffic check failed"),
    }
    ports
        .deployments
        .report(deployment_id, hook_execution_id, verdict.is_ok())
        .await?;
    Ok(verdict)
}

async fn check(ports: &Ports<'_>, deployment_id: &str) -> Result<(), String> {
    let target = ports
        .deployments
        .target(deployment_id)
        .await
        .map_err(|e| format!("reading the deployment: {e}"))?;
    if !target.function.starts_with(ports.function_prefix) {
        return Err(format!(
            "{} is not a function of this stage ({}*)",
            target.function, ports.function_prefix
        ));
    }
    let tag = ports
        .functions
        .trigger_tag(&target)
        .await
        .map_err(|e| format!("reading {}: {e}", target.function))?;
    let trigger = tag.as_deref().and_then(Trigger::from_tag).ok_or_else(|| {
        format!(
            "{} has no known `trigger` tag ({tag:?}); see template.yaml",
            target.function
        )
    })?;
    let invocation = ports
        .functions
        .invoke(&target, &smoke_event(trigger))
        .await
        .map_err(|e| format!("invoking {}:{}: {e}", target.function, target.version))?;
    judge(trigger, &invocation)
        .map_err(|why| format!("{}:{}: {why}", target.function, target.version))
}

/// The function and version in a Lambda AppSpec (JSON or YAML):
/// `Resources: [{<name>: {Type: AWS::Lambda::Function, Properties: {Name, Alias, CurrentVersion, TargetVersion}}}]`.
pub fn target_of(appspec: &str) -> Result<Target, PortError> {
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(appspec)
        .map_err(|e| PortError(format!("the AppSpec is not JSON or YAML: {e}")))?;
    let properties = doc
        .get("Resources")
        .and_then(serde_yaml_ng::Value::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(serde_yaml_ng::Value::as_mapping)
        .flat_map(|resource| resource.values())
        .find(|r| r.get("Type").and_then(|t| t.as_str()) == Some("AWS::Lambda::Function"))
        .and_then(|r| r.get("Properties"))
        .ok_or_else(|| PortError("the AppSpec names no Lambda function".into()))?;
    let text = |key: &str| match properties.get(key) {
        Some(serde_yaml_ng::Value::String(s)) => Some(s.clone()),
        Some(serde_yaml_ng::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    Ok(Target {
        function: text("Name").ok_or_else(|| PortError("the AppSpec has no Name".into()))?,
        version: text("TargetVersion")
            .ok_or_else(|| PortError("the AppSpec has no TargetVersion".into()))?,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    struct FakeDeployments {
        appspec: &'static str,
        reports: Mutex<Vec<bool>>,
    }

    #[async_trait]
    impl Deployments for FakeDeployments {
        async fn target(&self, _: &str) -> Result<Target, PortError> {
            target_of(self.appspec)
        }
        async fn report(&self, _: &str, _: &str, passed: bool) -> Result<(), PortError> {
            self.reports
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(passed);
            Ok(())
        }
    }

    struct FakeFunctions {
        tag: Option<&'static str>,
        answer: Invocation,
        invoked: Mutex<Vec<(Target, Value)>>,
    }

    #[async_trait]
    impl Functions for FakeFunctions {
        async fn trigger_tag(&self, _: &Target) -> Result<Option<String>, PortError> {
            Ok(self.tag.map(str::to_string))
        }
        async fn invoke(&self, target: &Target, payload: &Value) -> Result<Invocation, PortError> {
            self.invoked
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((target.clone(), payload.clone()));
            Ok(self.answer.clone())
        }
    }

    const APPSPEC: &str = r#"{"version":0.0,"Resources":[{"GetOrderFunction":{"Type":"AWS::Lambda::Function","Properties":{"Name":"orders-dev-get-order","Alias":"live","CurrentVersion":"3","TargetVersion":"4"}}}]}"#;

    fn answer(function_error: Option<&str>, payload: Value) -> Invocation {
        Invocation {
            function_error: function_error.map(str::to_string),
            payload,
        }
    }

    async fn check_with(
        appspec: &'static str,
        tag: Option<&'static str>,
        invocation: Invocation,
    ) -> (Result<(), String>, Vec<bool>, Vec<(Target, Value)>) {
        let deployments = FakeDeployments {
            appspec,
            reports: Mutex::new(Vec::new()),
        };
        let functions = FakeFunctions {
            tag,
            answer: invocation,
            invoked: Mutex::new(Vec::new()),
        };
        let ports = Ports {
            deployments: &deployments,
            functions: &functions,
            function_prefix: "orders-dev-",
        };
        let verdict = run(&ports, "d-1", "hook-1").await.unwrap();
        (
            verdict,
            deployments.reports.into_inner().unwrap(),
            functions.invoked.into_inner().unwrap(),
        )
    }

    #[tokio::test]
    async fn a_version_that_answers_a_stray_request_below_500_passes() {
        let (verdict, reports, invoked) = check_with(
            APPSPEC,
            Some("api"),
            answer(None, json!({"statusCode": 401})),
        )
        .await;
        assert_eq!(verdict, Ok(()));
        assert_eq!(reports, [true]);
        assert_eq!(
            invoked[0].0,
            Target {
                function: "orders-dev-get-order".into(),
                version: "4".into()
            }
        );
        assert_eq!(invoked[0].1["httpMethod"], "GET");
    }

    #[tokio::test]
    async fn a_version_that_answers_5xx_or_crashes_fails_and_is_reported() {
        let (verdict, reports, _) = check_with(
            APPSPEC,
            Some("api"),
            answer(None, json!({"statusCode": 503})),
        )
        .await;
        assert!(verdict.unwrap_err().contains("answered 503"));
        assert_eq!(reports, [false]);
        let crash = answer(
            Some("Unhandled"),
            json!({"errorType": "ConfigError", "errorMessage": "ORDERS_TABLE is not set"}),
        );
        let (verdict, reports, _) = check_with(APPSPEC, Some("sqs"), crash).await;
        assert!(verdict.unwrap_err().contains("ORDERS_TABLE is not set"));
        assert_eq!(reports, [false]);
    }

    #[tokio::test]
    async fn consumers_must_take_an_empty_batch_and_the_authorizer_must_refuse() {
        let ok = answer(None, json!({"batchItemFailures": []}));
        assert_eq!(check_with(APPSPEC, Some("sqs"), ok).await.0, Ok(()));
        let refused = answer(Some("Unhandled"), json!({"errorMessage": "Unauthorized"}));
        assert_eq!(
            check_with(APPSPEC, Some("authorizer"), refused).await.0,
            Ok(())
        );
        let allowed = answer(
            None,
            json!({"policyDocument": {"Statement": [{"Effect": "Allow"}]}}),
        );
        let (verdict, reports, _) = check_with(APPSPEC, Some("authorizer"), allowed).await;
        assert!(verdict.unwrap_err().contains("did not refuse"));
        assert_eq!(reports, [false]);
        assert_eq!(
            check_with(APPSPEC, Some("schedule"), answer(None, json!({})))
                .await
                .0,
            Ok(())
        );
    }

    #[tokio::test]
    async fn an_untagged_or_foreign_function_is_never_invoked_and_fails() {
        let (verdict, reports, invoked) = check_with(APPSPEC, None, answer(None, json!({}))).await;
        assert!(verdict.unwrap_err().contains("trigger"));
        assert_eq!(reports, [false]);
        assert!(invoked.is_empty());
        const FOREIGN: &str = "Resources:\n  - Other:\n      Type: AWS::Lambda::Function\n      Properties: {Name: payroll, TargetVersion: 2}\n";
        let (verdict, _, invoked) = check_with(FOREIGN, Some("api"), answer(None, json!({}))).await;
        assert!(
            verdict
                .unwrap_err()
                .contains("not a function of this stage")
        );
        assert!(invoked.is_empty());
    }

    #[test]
    fn an_appspec_without_a_function_is_an_error() {
        assert!(target_of("{}").is_err());
        assert!(target_of("not: [yaml").is_err());
        let yaml = "Resources:\n  - F:\n      Type: AWS::Lambda::Function\n      Properties: {Name: f, TargetVersion: 12}\n";
        assert_eq!(target_of(yaml).unwrap().version, "12");
    }
}
