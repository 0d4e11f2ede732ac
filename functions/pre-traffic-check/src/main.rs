//! Wiring only: clients and configuration once per cold start. Deployment tooling has its own
//! clients (CodeDeploy, Lambda) outside the order service's wiring, and the SDK's default
//! timeouts: invoking a new version may take as long as that function's own timeout.

use std::sync::Arc;

use pre_traffic_check::adapters::{CodeDeployDeployments, LambdaFunctions};
use pre_traffic_check::handler::{self, Deps};
use shared::config;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let lambda = aws_sdk_lambda::Client::new(&aws);
    let deps = Deps {
        deployments: Arc::new(CodeDeployDeployments::new(aws_sdk_codedeploy::Client::new(
            &aws,
        ))),
        functions: Arc::new(LambdaFunctions::new(lambda.clone(), lambda)),
        function_prefix: config::required("FUNCTION_PREFIX")?,
    };
    lambda_runtime::run(lambda_runtime::service_fn(|event| {
        handler::handle(&deps, event)
    }))
    .await
}
