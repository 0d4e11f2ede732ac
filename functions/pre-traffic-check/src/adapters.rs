//! CodeDeploy (the deployment's AppSpec, the hook's verdict) and Lambda (the version's tags, one
//! invocation), over the AWS SDK.

use async_trait::async_trait;
use aws_sdk_codedeploy::types::LifecycleEventStatus;
use aws_sdk_lambda::primitives::Blob;
use serde_json::Value;

use crate::check::{Deployments, Functions, Invocation, PortError, Target, target_of};

fn port_error<E: std::error::Error>(err: E) -> PortError {
    PortError(aws_sdk_lambda::error::DisplayErrorContext(err).to_string())
}

pub struct CodeDeployDeployments {
    client: aws_sdk_codedeploy::Client,
}

impl CodeDeployDeployments {
    pub fn new(client: aws_sdk_codedeploy::Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl Deployments for CodeDeployDeployments {
    async fn target(&self, deployment_id: &str) -> Result<Target, PortError> {
        let found = self
            .client
            .get_deployment()
            .deployment_id(deployment_id)
            .send()
            .await
            .map_err(port_error)?;
        let content = found
            .deployment_info()
            .and_then(|d| d.revision())
            .and_then(|r| r.app_spec_content())
            .and_then(|a| a.content())
            .ok_or_else(|| PortError(format!("deployment {deployment_id} has no AppSpec")))?;
        target_of(content)
    }

    async fn report(
        &self,
        deployment_id: &str,
        hook_execution_id: &str,
        passed: bool,
    ) -> Result<(), PortError> {
        let status = if passed {
            LifecycleEventStatus::Succeeded
        } else {
            LifecycleEventStatus::Failed
        };
        self.client
            .put_lifecycle_event_hook_execution_status()
            .deployment_id(deployment_id)
            .lifecycle_event_hook_execution_id(hook_execution_id)
            .status(status)
            .send()
            .await
            .map_err(port_error)?;
        Ok(())
    }
}

/// Reads tags with one client and invokes with another: the same client in the cloud; in tests
/// the invocations go to a local Invoke API serving the real handlers.
pub struct LambdaFunctions {
    control: aws_sdk_lambda::Client,
    invoke: aws_sdk_lambda::Client,
}

impl LambdaFunctions {
    pub fn new(control: aws_sdk_lambda::Client, invoke: aws_sdk_lambda::Client) -> Self {
        Self { control, invoke }
    }
}

#[async_trait]
impl Functions for LambdaFunctions {
    async fn trigger_tag(&self, target: &Target) -> Result<Option<String>, PortError> {
        let found = self
            .control
            .get_function()
            .function_name(&target.function)
            .qualifier(&target.version)
            .send()
            .await
            .map_err(port_error)?;
        Ok(found.tags().and_then(|tags| tags.get("trigger")).cloned())
    }

    async fn invoke(&self, target: &Target, payload: &Value) -> Result<Invocation, PortError> {
        let answer = self
            .invoke
            .invoke()
            .function_name(&target.function)
            .qualifier(&target.version)
            .payload(Blob::new(payload.to_string()))
            .send()
            .await
            .map_err(port_error)?;
        let payload = answer
            .payload()
            .map(|blob| serde_json::from_slice(blob.as_ref()).unwrap_or(Value::Null))
            .unwrap_or(Value::Null);
        Ok(Invocation {
            function_error: answer.function_error().map(str::to_string),
            payload,
        })
    }
}
