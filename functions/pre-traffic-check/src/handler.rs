//! One CodeDeploy lifecycle event in, one verdict reported back.

use std::sync::Arc;

use aws_lambda_events::codedeploy::CodeDeployLifecycleEvent;
use lambda_runtime::LambdaEvent;
use serde::Serialize;

use crate::check::{Deployments, Functions, Ports, run};

pub struct Deps {
    pub deployments: Arc<dyn Deployments>,
    pub functions: Arc<dyn Functions>,
    pub function_prefix: String,
}

/// What the hook answers (CodeDeploy reads the verdict it was told, not this; it is for logs and
/// the Lambda console).
#[derive(Debug, Serialize)]
pub struct Verdict {
    pub passed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

pub async fn handle(
    deps: &Deps,
    event: LambdaEvent<CodeDeployLifecycleEvent>,
) -> Result<Verdict, lambda_runtime::Error> {
    let ports = Ports {
        deployments: deps.deployments.as_ref(),
        functions: deps.functions.as_ref(),
        function_prefix: &deps.function_prefix,
    };
    let hook = event.payload;
    let verdict = run(
        &ports,
        &hook.deployment_id,
        &hook.lifecycle_event_hook_execution_id,
    )
    .await?;
    Ok(match verdict {
        Ok(()) => Verdict {
            passed: true,
            reason: None,
        },
        Err(reason) => Verdict {
            passed: false,
            reason: Some(reason),
        },
    })
}
