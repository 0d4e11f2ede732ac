//! The pre-traffic hook of a safe deploy, on its real adapters: CodeDeploy's deployment and the
//! functions' tags on the emulator, each new version invoked through a Lambda Invoke API that runs
//! the real handler in-process. Every function of the template passes with the tag the template
//! gives it; a version that answers 5xx, crashes, or an authorizer that lets a bad token through,
//! fails, and CodeDeploy is told either way.

// Test helpers panic on unexpected values by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use aws_sdk_codedeploy::types::{
    AppSpecContent, ComputePlatform, DeploymentOption, DeploymentStyle, DeploymentType,
    RevisionLocation, RevisionLocationType,
};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::FunctionCode;
use futures::FutureExt;
use local_stack::template::Template;
use pre_traffic_check::adapters::{CodeDeployDeployments, LambdaFunctions};
use pre_traffic_check::check::{Ports, run};
use serde_json::{Value, json};
use system_tests::{TestEnv, fake_lambda, moto_endpoint, repo_root};

const ACCOUNT: &str = "123456789012";

/// The smallest valid zip archive (an empty one): the emulator keeps the code, never runs it.
const EMPTY_ZIP: [u8; 22] = [
    0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

/// The emulator's own endpoints are on loopback: never through a proxy.
fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// Where CodeDeploy and the functions' metadata live (the emulator), and one role for them.
struct Cloud {
    codedeploy: aws_sdk_codedeploy::Client,
    lambda: aws_sdk_lambda::Client,
    role: String,
    application: String,
}

impl Cloud {
    async fn new() -> Self {
        let endpoint = moto_endpoint().await;
        let config = local_stack::sdk_config(endpoint).await;
        let stamp = uuid::Uuid::new_v4().simple().to_string()[..10].to_string();
        let role = format!("deploy-hook-{stamp}");
        // moto routes a request by the service in its credential scope and checks no signature.
        let created = http()
            .post(endpoint)
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
            )
            .form(&[
                ("Action", "CreateRole"),
                ("Version", "2010-05-08"),
                ("RoleName", role.as_str()),
                ("AssumeRolePolicyDocument", "{}"),
            ])
            .send()
            .await
            .unwrap();
        assert!(created.status().is_success(), "{:?}", created.text().await);
        let codedeploy = aws_sdk_codedeploy::Client::new(&config);
        let application = format!("orders-{stamp}");
        codedeploy
            .create_application()
            .application_name(&application)
            .compute_platform(ComputePlatform::Lambda)
            .send()
            .await
            .unwrap();
        Self {
            codedeploy,
            lambda: aws_sdk_lambda::Client::new(&config),
            role: format!("arn:aws:iam::{ACCOUNT}:role/{role}"),
            application,
        }
    }

    /// Publishes version 1 of `name` with its `trigger` tag and starts a deployment of it.
    async fn deploy(&self, name: &str, trigger: &str) -> String {
        self.lambda
            .create_function()
            .function_name(name)
            .runtime(aws_sdk_lambda::types::Runtime::Providedal2023)
            .handler("bootstrap")
            .role(&self.role)
            .code(
                FunctionCode::builder()
                    .zip_file(Blob::new(EMPTY_ZIP.to_vec()))
                    .build(),
            )
            .tags("trigger", trigger)
            .publish(true)
            .send()
            .await
            .unwrap();
        let group = format!("{name}-group");
        self.codedeploy
            .create_deployment_group()
            .application_name(&self.application)
            .deployment_group_name(&group)
            .service_role_arn(&self.role)
            .deployment_style(
                DeploymentStyle::builder()
                    .deployment_type(DeploymentType::BlueGreen)
                    .deployment_option(DeploymentOption::WithTrafficControl)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let appspec = json!({"version": 0.0, "Resources": [{"Function": {
            "Type": "AWS::Lambda::Function",
            "Properties": {"Name": name, "Alias": "live", "CurrentVersion": "1", "TargetVersion": "1"}
        }}]});
        self.codedeploy
            .create_deployment()
            .application_name(&self.application)
            .deployment_group_name(&group)
            .revision(
                RevisionLocation::builder()
                    .revision_type(RevisionLocationType::AppSpecContent)
                    .app_spec_content(
                        AppSpecContent::builder()
                            .content(appspec.to_string())
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .unwrap()
            .deployment_id
            .unwrap()
    }

    /// Runs the hook for `deployment` the way CodeDeploy does, with invocations going to
    /// `invoke_url`; returns its verdict and what CodeDeploy recorded.
    async fn hook(
        &self,
        deployment: &str,
        prefix: &str,
        invoke_url: &str,
    ) -> (Result<(), String>, String) {
        let config = local_stack::sdk_config(invoke_url).await;
        let functions =
            LambdaFunctions::new(self.lambda.clone(), aws_sdk_lambda::Client::new(&config));
        let deployments = CodeDeployDeployments::new(self.codedeploy.clone());
        let ports = Ports {
            deployments: &deployments,
            functions: &functions,
            function_prefix: prefix,
        };
        let execution = format!("hook-{deployment}");
        let verdict = run(&ports, deployment, &execution).await.unwrap();
        let hooks: Value = http()
            .get(format!("{}/_hooks", moto_endpoint().await))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let recorded = hooks[&execution]["status"]
            .as_str()
            .unwrap_or("none")
            .to_string();
        (verdict, recorded)
    }
}

/// The stage's functions as the emulator knows them: `<prefix><binary>` invoked as `<binary>`.
fn by_binary(
    prefix: String,
    inner: system_tests::functions::Dispatch,
) -> system_tests::functions::Dispatch {
    Arc::new(move |name: String, payload: Value| {
        let binary = name.strip_prefix(&prefix).unwrap_or(&name).to_string();
        inner(binary, payload)
    })
}

#[tokio::test]
async fn every_function_of_the_template_passes_its_pre_traffic_check() {
    let env = Arc::new(TestEnv::new().await);
    env.seed_with_signing_key().await;
    let cloud = Cloud::new().await;
    let prefix = format!("{}-", cloud.application);
    let dispatch = system_tests::functions::real_functions(env.clone()).await;
    let invoke_url = fake_lambda(by_binary(prefix.clone(), dispatch)).await;
    let template = Template::load(&repo_root().join("template.yaml")).unwrap();
    let mut checked = 0;
    for function in template.functions() {
        let props = template.properties(&function.logical_id).unwrap();
        let trigger = props["Tags"]["trigger"].as_str().unwrap();
        if trigger == "deploy" {
            continue;
        }
        let name = format!("{prefix}{}", function.binary);
        let deployment = cloud.deploy(&name, trigger).await;
        let (verdict, recorded) = cloud.hook(&deployment, &prefix, &invoke_url).await;
        assert_eq!(verdict, Ok(()), "{name} ({trigger})");
        assert_eq!(recorded, "Succeeded", "{name}");
        checked += 1;
    }
    assert_eq!(checked, template.functions().len() - 1);
}

#[tokio::test]
async fn a_broken_version_fails_its_check_and_codedeploy_is_told() {
    let cloud = Cloud::new().await;
    let prefix = format!("{}-", cloud.application);
    let broken = fake_lambda(Arc::new(|name: String, _payload: Value| {
        async move {
            match name.rsplit('-').next().unwrap_or_default() {
                // A route whose table is gone.
                "health" => Ok(json!({"statusCode": 503, "body": "{}"})),
                // A consumer that cannot start (its configuration is missing).
                "ship" => Err(json!({"errorType": "ConfigError", "errorMessage": "SHIPPING_QUEUE_URL is not set"})),
                // An authorizer that lets anything through.
                _ => Ok(json!({"principalId": "anyone", "policyDocument": {"Statement": [{"Effect": "Allow"}]}})),
            }
        }
        .boxed()
    }))
    .await;
    for (binary, trigger, why) in [
        ("health", "api", "answered 503"),
        ("ship", "sqs", "SHIPPING_QUEUE_URL is not set"),
        ("authorizer", "authorizer", "did not refuse"),
    ] {
        let deployment = cloud.deploy(&format!("{prefix}{binary}"), trigger).await;
        let (verdict, recorded) = cloud.hook(&deployment, &prefix, &broken).await;
        assert!(verdict.unwrap_err().contains(why), "{binary}");
        assert_eq!(recorded, "Failed", "{binary}");
    }
    // A function of another stage (or another application) is never invoked.
    let deployment = cloud.deploy("payroll-export", "api").await;
    let (verdict, recorded) = cloud.hook(&deployment, &prefix, &broken).await;
    assert!(
        verdict
            .unwrap_err()
            .contains("not a function of this stage")
    );
    assert_eq!(recorded, "Failed");
}
