//! One CodeDeploy lifecycle event in, one verdict reported back.

use std::sync::Arc;

use lambda_runtime::LambdaEvent;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::check::{Deployments, Functions, Ports, run};

pub struct Deps {
    pub deployments: Arc<dyn Deployments>,
    pub functions: Arc<dyn Functions>,
    pub function_prefix: String,
}

/// What CodeDeploy sends a lifecycle hook.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HookEvent {
    pub deployment_id: String,
    pub lifecycle_event_hook_execution_id: String,
}

pub async fn handle(
    deps: &Deps,
    event: LambdaEvent<HookEvent>,
) -> Result<Value, lambda_runtime::Error> {
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
        Ok(()) => json!({"passed": true}),
        Err(reason) => json!({"passed": false, "reason": reason}),
    })
}
