//! The local gateway end to end: HTTP in, the API Gateway event to a function through the Lambda
//! Invoke API, the function on the real adapters and the emulator, HTTP out; and SQS messages from
//! the queue to a function, deleted, redelivered or dead-lettered.
//!
//! The functions sit behind a fake Invoke API (`system_tests::fake_lambda`) that runs the real
//! handlers in-process, so these tests need no `cargo lambda watch`.

// Test helpers panic on unexpected values by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;
use local_stack::gateway::invoke::Invoker;
use local_stack::gateway::{Gateway, sqs};
use local_stack::template::Template;
use serde_json::{Value, json};
use system_tests::{TestEnv, as_proxy, fake_lambda, repo_root};

async fn start_gateway(
    template: &Template,
    env: &TestEnv,
    invoke_url: &str,
    keys: Vec<String>,
) -> String {
    let invoker = Invoker::new(invoke_url, Duration::from_secs(30)).unwrap();
    let gateway =
        Arc::new(Gateway::from_template(template, &env.created.scope, invoker, keys).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(local_stack::gateway::serve(gateway, listener));
    url
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

#[tokio::test]
async fn a_request_travels_gateway_function_dynamodb_and_back() {
    let env = Arc::new(TestEnv::new().await);
    env.seed().await;
    let lambda_env = env.clone();
    let invoke_url = fake_lambda(Arc::new(move |name: String, payload: Value| {
        let env = lambda_env.clone();
        async move {
            match name.as_str() {
                "list-products" => {
                    let deps = list_products::handler::Deps {
                        catalog: env.catalog(),
                    };
                    as_proxy(payload, |r| list_products::handler::handle(&deps, r)).await
                }
                "get-product" => {
                    let deps = get_product::handler::Deps {
                        catalog: env.catalog(),
                    };
                    as_proxy(payload, |r| get_product::handler::handle(&deps, r)).await
                }
                "get-order" => {
                    let deps = get_order::handler::Deps {
                        orders: env.orders(),
                    };
                    as_proxy(payload, |r| get_order::handler::handle(&deps, r)).await
                }
                _ => Err(json!({"errorType": "Panic", "errorMessage": "boom"})),
            }
        }
        .boxed()
    }))
    .await;
    let template = Template::load(&repo_root().join("template.yaml")).unwrap();
    let api = start_gateway(&template, &env, &invoke_url, vec![]).await;
    let client = http();

    let listed = client
        .get(format!("{api}/products?limit=10"))
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    assert_eq!(listed.headers()["cache-control"], "public, max-age=60");
    let body: Value = listed.json().await.unwrap();
    assert_eq!(
        body["items"].as_array().unwrap().len(),
        4,
        "the seeded catalog, read from DynamoDB"
    );

    let one = client
        .get(format!("{api}/products/p-2"))
        .send()
        .await
        .unwrap();
    let etag = one.headers()["etag"].clone();
    assert_eq!(
        one.json::<Value>().await.unwrap()["unitPrice"]["amount"],
        4999
    );
    let again = client
        .get(format!("{api}/products/p-2"))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);

    let anonymous = client
        .get(format!("{api}/orders/ord_5f2b8c1e9a4d4c3b8e7f6a5b4c3d2e1f"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        anonymous.status(),
        401,
        "no authorizer yet: the function refuses a request without identity"
    );
    assert_eq!(
        anonymous.headers()["content-type"],
        "application/problem+json"
    );

    let unknown = client.get(format!("{api}/nowhere")).send().await.unwrap();
    assert_eq!(unknown.status(), 403);
    assert_eq!(
        unknown.json::<Value>().await.unwrap()["message"],
        "Missing Authentication Token"
    );

    let crashed = client.get(format!("{api}/health")).send().await.unwrap();
    assert_eq!(
        crashed.status(),
        502,
        "a failed function is a 502, as API Gateway answers"
    );
}

#[tokio::test]
async fn a_burst_beyond_the_order_creation_throttle_gets_429s() {
    let env = TestEnv::new().await;
    let invoke_url = fake_lambda(Arc::new(|_, _| {
        async { Ok(json!({"statusCode": 201, "body": "{}"})) }.boxed()
    }))
    .await;
    let template = Template::load(&repo_root().join("template.yaml")).unwrap();
    let api = start_gateway(&template, &env, &invoke_url, vec![]).await;
    let client = http();
    let started = Instant::now();
    let burst = (0..60).map(|_| client.post(format!("{api}/orders")).body("{}").send());
    let mut statuses = HashMap::new();
    for response in futures::future::join_all(burst).await {
        *statuses
            .entry(response.unwrap().status().as_u16())
            .or_insert(0) += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let passed = f64::from(statuses.get(&201).copied().unwrap_or(0));
    // Non-prod POST /orders: burst 20, 10 per second after that.
    assert!(passed >= 20.0, "the burst passes: {statuses:?}");
    assert!(
        passed <= 20.0 + 10.0 * elapsed + 1.0,
        "{statuses:?} in {elapsed:.2} s"
    );
    assert!(
        statuses.get(&429).copied().unwrap_or(0) >= 1,
        "{statuses:?}"
    );
    let read = client.get(format!("{api}/products")).send().await.unwrap();
    assert_eq!(read.status(), 201, "reads have their own, looser bucket");
}

const AUTH_TEMPLATE: &str = r#"
Resources:
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: local
      Auth:
        DefaultAuthorizer: Token
        Authorizers:
          Token:
            FunctionArn: !GetAtt AuthorizerFunction.Arn
            Identity: { Header: Authorization, ReauthorizeEvery: 300 }
        UsagePlan:
          CreateUsagePlan: PER_API
          Quota: { Limit: 3, Period: DAY }
  AuthorizerFunction:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: authorizer } }
    Properties: { CodeUri: functions/authorizer }
  EchoFunction:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: echo } }
    Properties:
      CodeUri: functions/echo
      Events:
        Private: { Type: Api, Properties: { RestApiId: !Ref Api, Path: /private, Method: GET } }
        Public: { Type: Api, Properties: { RestApiId: !Ref Api, Path: /public, Method: GET, Auth: { Authorizer: NONE } } }
        Partner: { Type: Api, Properties: { RestApiId: !Ref Api, Path: /partner, Method: GET, Auth: { Authorizer: NONE, ApiKeyRequired: true } } }
"#;

#[tokio::test]
async fn the_authorizer_decides_its_policy_is_cached_and_api_keys_have_a_quota() {
    let env = TestEnv::with_template(AUTH_TEMPLATE).await;
    let calls = Arc::new(Mutex::new(0));
    let counted = calls.clone();
    let invoke_url = fake_lambda(Arc::new(move |name: String, payload: Value| {
        let counted = counted.clone();
        async move {
            if name == "authorizer" {
                *counted.lock().unwrap() += 1;
                let effect = match payload["authorizationToken"].as_str() {
                    Some("Bearer allow") => "Allow",
                    Some("Bearer deny") => "Deny",
                    _ => return Err(json!({"errorType": "Error", "errorMessage": "Unauthorized"})),
                };
                return Ok(json!({
                    "principalId": "alice",
                    "policyDocument": {"Version": "2012-10-17", "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": "arn:aws:execute-api:*:*:*/*/GET/*"}]},
                    "context": {"role": "customer"}
                }));
            }
            let authorizer = &payload["requestContext"]["authorizer"];
            Ok(json!({"statusCode": 200, "body": json!({"authorizer": authorizer, "apiKey": payload["requestContext"]["identity"]["apiKey"]}).to_string()}))
        }
        .boxed()
    }))
    .await;
    let template = Template::parse(AUTH_TEMPLATE).unwrap();
    let api = start_gateway(&template, &env, &invoke_url, vec!["partner-key".into()]).await;
    let client = http();
    let get = |path: &str, auth: Option<&str>| {
        let mut request = client.get(format!("{api}{path}"));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        request.send()
    };

    assert_eq!(
        get("/private", None).await.unwrap().status(),
        401,
        "no token"
    );
    assert_eq!(
        get("/private", Some("Bearer nonsense"))
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        get("/private", Some("Bearer deny")).await.unwrap().status(),
        403
    );
    let allowed = get("/private", Some("Bearer allow")).await.unwrap();
    assert_eq!(allowed.status(), 200);
    let seen: Value = allowed.json().await.unwrap();
    assert_eq!(seen["authorizer"]["principalId"], "alice");
    assert_eq!(seen["authorizer"]["role"], "customer");
    let before = *calls.lock().unwrap();
    assert_eq!(
        get("/private", Some("Bearer allow"))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        *calls.lock().unwrap(),
        before,
        "the policy came from the cache"
    );

    assert_eq!(
        get("/public", None).await.unwrap().status(),
        200,
        "Authorizer: NONE"
    );

    assert_eq!(
        get("/partner", None).await.unwrap().status(),
        403,
        "no API key"
    );
    let with_key = |key: &'static str| {
        client
            .get(format!("{api}/partner"))
            .header("x-api-key", key)
            .send()
    };
    assert_eq!(with_key("wrong").await.unwrap().status(), 403);
    for _ in 0..3 {
        let response = with_key("partner-key").await.unwrap();
        assert_eq!(response.status(), 200);
    }
    let over = with_key("partner-key").await.unwrap();
    assert_eq!(over.status(), 429);
    assert_eq!(
        over.json::<Value>().await.unwrap()["message"],
        "Limit Exceeded"
    );
}

const QUEUE_TEMPLATE: &str = r#"
Resources:
  WorkQueue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 1
      RedrivePolicy: { deadLetterTargetArn: !GetAtt WorkDeadLetterQueue.Arn, maxReceiveCount: 2 }
  WorkDeadLetterQueue:
    Type: AWS::SQS::Queue
  WorkerFunction:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: worker } }
    Properties:
      CodeUri: functions/worker
      Events:
        Work:
          Type: SQS
          Properties:
            Queue: !GetAtt WorkQueue.Arn
            BatchSize: 10
            FunctionResponseTypes: [ReportBatchItemFailures]
"#;

#[tokio::test]
async fn queue_messages_are_deleted_on_success_redelivered_on_failure_and_dead_lettered() {
    let env = TestEnv::with_template(QUEUE_TEMPLATE).await;
    let deliveries: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let seen = deliveries.clone();
    let invoke_url = fake_lambda(Arc::new(move |_, event: Value| {
        let seen = seen.clone();
        async move {
            let mut failures = Vec::new();
            for record in event["Records"].as_array().unwrap() {
                let body = record["body"].as_str().unwrap().to_string();
                let count = record["attributes"]["ApproximateReceiveCount"]
                    .as_str()
                    .unwrap_or("?")
                    .to_string();
                if body == "poison" {
                    failures.push(json!({"itemIdentifier": record["messageId"]}));
                }
                seen.lock().unwrap().push((body, count));
            }
            Ok(json!({"batchItemFailures": failures}))
        }
        .boxed()
    }))
    .await;
    let template = Template::parse(QUEUE_TEMPLATE).unwrap();
    let source = sqs::sources(&template, &env.created.scope)
        .unwrap()
        .remove(0);
    assert!(source.report_failures);
    for body in ["good", "poison"] {
        env.sqs()
            .send_message()
            .queue_url(env.name("WorkQueue"))
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    let poller = tokio::spawn(sqs::run(
        env.sqs(),
        Invoker::new(&invoke_url, Duration::from_secs(10)).unwrap(),
        source,
    ));

    let deadline = Instant::now() + Duration::from_secs(30);
    let dead = loop {
        let out = env
            .sqs()
            .receive_message()
            .queue_url(env.name("WorkDeadLetterQueue"))
            .send()
            .await
            .unwrap();
        if let Some(message) = out.messages.unwrap_or_default().into_iter().next() {
            break message;
        }
        assert!(
            Instant::now() < deadline,
            "the poison message never reached the DLQ: {:?}",
            deliveries.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    poller.abort();

    assert_eq!(dead.body(), Some("poison"));
    let seen = deliveries.lock().unwrap().clone();
    let good: Vec<_> = seen.iter().filter(|(b, _)| b == "good").collect();
    let poison: Vec<_> = seen.iter().filter(|(b, _)| b == "poison").collect();
    assert_eq!(good.len(), 1, "a handled message is deleted: {seen:?}");
    assert_eq!(
        poison.len(),
        2,
        "a failed message comes back until maxReceiveCount: {seen:?}"
    );
    assert_eq!(poison[1].1, "2", "with its receive count");
}
