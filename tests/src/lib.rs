//! The test harness: a moto server and a localstripe server on loopback, and a fresh set of the
//! template's tables and queues for every test (under a unique name prefix), reached through the
//! same adapters and SDK clients the Lambdas use.
//!
//! Each server is started once per test process (moto single-threaded, see
//! `infra/local/moto_server.py`; localstripe as `infra/local/localstripe_server.py` adjusts it)
//! and exits with the process. Set `MOTO_ENDPOINT` or `LOCALSTRIPE_ENDPOINT` to use a server that
//! is already running instead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod api;
pub mod bench;
pub mod chaos;
pub mod drill;
pub mod functions;
pub mod fuzz;
pub mod invariants;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::collections::BTreeMap;
use std::ops::Deref;
use std::sync::Mutex;

use aws_config::SdkConfig;
use local_stack::provision::{Provisioned, provision};
use local_stack::template::Template;
use shared::adapters::stripe::{Resilience, StripePayments};
use shared::config::{ConfigError, Parameter, Secret, Table};
use shared::pipeline::Queue;
use shared::wiring::{Aws, Resources, Wiring};
use tokio::sync::OnceCell;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The project's template with every queue's visibility timeout set to `seconds`, so a failed
/// message comes back in seconds rather than minutes.
pub fn template_with_visibility(seconds: u32) -> String {
    let template = std::fs::read_to_string(repo_root().join("template.yaml")).unwrap();
    let lines: Vec<String> = template
        .lines()
        .map(|line| match line.split_once("VisibilityTimeout: ") {
            Some((indent, _)) => format!("{indent}VisibilityTimeout: {seconds}"),
            None => line.to_string(),
        })
        .collect();
    lines.join("\n")
}

static MOTO: OnceCell<String> = OnceCell::const_new();

/// The endpoint of the shared moto server, starting it on first use.
pub async fn moto_endpoint() -> &'static str {
    MOTO.get_or_init(|| async {
        match std::env::var("MOTO_ENDPOINT") {
            Ok(endpoint) if !endpoint.is_empty() => endpoint,
            _ => start_moto().await,
        }
    })
    .await
}

/// Starts one of `infra/local/`'s Python servers on a free loopback port with `extra` arguments;
/// it exits with this process (`--parent-pid`).
pub fn start_server(script: &str, extra: &[&str]) -> String {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port();
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let mut server = Command::new(python)
        .arg(repo_root().join("infra/local").join(script))
        .args(["--port", &port.to_string(), "--quiet"])
        .args(extra)
        .args(["--parent-pid", &std::process::id().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 with moto[server] and localstripe installed (make test installs them)");
    // The server exits with this process; reap it then.
    std::thread::spawn(move || server.wait());
    format!("http://127.0.0.1:{port}")
}

async fn start_moto() -> String {
    let endpoint = start_server("moto_server.py", &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let config = local_stack::sdk_config(&endpoint).await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    while client.list_tables().send().await.is_err() {
        assert!(
            Instant::now() < deadline,
            "moto did not start on {endpoint}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    endpoint
}

static LOCALSTRIPE: OnceCell<String> = OnceCell::const_new();

/// The local payment provider's API key.
pub const STRIPE_KEY: &str = "sk_test_local";

/// The endpoint of the shared localstripe server, starting it on first use.
pub async fn localstripe_endpoint() -> &'static str {
    LOCALSTRIPE
        .get_or_init(|| async {
            if let Ok(endpoint) = std::env::var("LOCALSTRIPE_ENDPOINT")
                && !endpoint.is_empty()
            {
                return endpoint;
            }
            let endpoint = start_server("localstripe_server.py", &[]);
            let http = reqwest::Client::builder().no_proxy().build().unwrap();
            let deadline = Instant::now() + Duration::from_secs(60);
            while http
                .get(format!("{endpoint}/v1/customers"))
                .bearer_auth(STRIPE_KEY)
                .send()
                .await
                .is_err()
            {
                assert!(
                    Instant::now() < deadline,
                    "localstripe did not start on {endpoint}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            endpoint
        })
        .await
}

/// A Stripe adapter of its own on localstripe, with the production retry and breaker settings.
pub async fn payments() -> Arc<StripePayments> {
    Arc::new(
        StripePayments::new(
            localstripe_endpoint().await,
            STRIPE_KEY.into(),
            Resilience::default(),
        )
        .unwrap(),
    )
}

/// One test's own copy of everything the template declares, and the production wiring over it:
/// the functions' ports are built exactly as in the Lambdas, only the names come from here.
pub struct TestEnv {
    /// Straight to the emulator: what the harness itself reads and writes with.
    pub config: SdkConfig,
    pub created: Provisioned,
    wiring: Aws<TestResources>,
}

/// Every e-mail the emulator's SES accepted (all tests' alike: tell them apart by order id), read
/// from the moto server's `/_ses`: what the functions really sent, not what they meant to.
pub async fn sent_emails() -> Vec<serde_json::Value> {
    let url = format!("{}/_ses", moto_endpoint().await);
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The e-mails among `sent` about one order (its id is in every notice's subject).
pub fn emails_about<'a>(
    sent: &'a [serde_json::Value],
    order: &shared::domain::OrderId,
) -> Vec<&'a serde_json::Value> {
    sent.iter()
        .filter(|m| {
            m["subject"]
                .as_str()
                .is_some_and(|s| s.contains(order.as_str()))
        })
        .collect()
}

/// The names of one test's resources, by logical id, and its settings (the template's defaults
/// unless a test overrides them).
pub struct TestResources {
    created: Provisioned,
    settings: Mutex<BTreeMap<&'static str, String>>,
}

impl TestResources {
    fn named(&self, logical_id: &'static str) -> Result<String, ConfigError> {
        self.created
            .name(logical_id)
            .map(str::to_string)
            .ok_or(ConfigError::Missing(logical_id))
    }
}

impl Resources for TestResources {
    fn table(&self, table: Table) -> Result<String, ConfigError> {
        self.named(table.logical_id())
    }
    fn queue_url(&self, queue: Queue) -> Result<String, ConfigError> {
        self.named(queue.logical_id())
    }
    fn dead_letter_url(&self, queue: Queue) -> Result<String, ConfigError> {
        self.named(queue.dead_letter_logical_id())
    }
    fn secret(&self, secret: Secret) -> Result<String, ConfigError> {
        self.named(secret.logical_id())
    }
    fn parameter(&self, parameter: Parameter) -> Result<String, ConfigError> {
        self.named(parameter.logical_id())
    }
    fn setting(&self, name: &'static str, default: &str) -> String {
        self.settings
            .lock()
            .unwrap()
            .get(name)
            .cloned()
            .unwrap_or_else(|| default.to_string())
    }
}

impl Deref for TestEnv {
    type Target = Aws<TestResources>;
    fn deref(&self) -> &Self::Target {
        &self.wiring
    }
}

impl TestEnv {
    /// Everything `template.yaml` declares.
    pub async fn new() -> Self {
        let yaml = std::fs::read_to_string(repo_root().join("template.yaml")).unwrap();
        Self::with_template(&yaml).await
    }

    /// Everything a test's own template declares, with the local payment provider's key in its
    /// secret (if it declares one) and its endpoint as `STRIPE_API_BASE`.
    pub async fn with_template(yaml: &str) -> Self {
        Self::through(yaml, moto_endpoint().await).await
    }

    /// Like [`TestEnv::with_template`], with the functions reaching the emulator through
    /// `endpoint` (a fault proxy in front of it); the harness itself goes straight to it.
    pub async fn through(yaml: &str, endpoint: &str) -> Self {
        let config = local_stack::sdk_config(moto_endpoint().await).await;
        let functions_config = local_stack::sdk_config(endpoint).await;
        let template = Template::parse(yaml).unwrap();
        let prefix = format!("t{}-", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let created = provision(&config, &template, &prefix, "local")
            .await
            .unwrap();
        let resources = TestResources {
            created: created.clone(),
            settings: Mutex::new(BTreeMap::new()),
        };
        let sender = created
            .environment(&template)
            .unwrap()
            .get("NOTICE_SENDER")
            .cloned()
            .unwrap_or_default();
        let env = Self {
            wiring: Aws::new(functions_config, resources),
            config,
            created,
        };
        env.set("NOTICE_SENDER", &sender);
        env.set("STRIPE_API_BASE", localstripe_endpoint().await);
        if let Some(secret) = env.created.name(Secret::PaymentProvider.logical_id()) {
            local_stack::seed::payment_key(&env.config, secret)
                .await
                .unwrap();
        }
        env
    }

    /// The same resources with the orders table replaced by `table`: the stage repointed at a
    /// restored table (its `RestoredOrdersTable` parameter), as the functions then see it.
    pub fn repointed(&self, table: &str) -> Self {
        let mut created = self.created.clone();
        created
            .scope
            .refs
            .insert(Table::Orders.logical_id().into(), table.into());
        let settings = self.wiring.resources().settings.lock().unwrap().clone();
        let resources = TestResources {
            created: created.clone(),
            settings: Mutex::new(settings),
        };
        Self {
            wiring: Aws::new(self.wiring.sdk_config().clone(), resources),
            config: self.config.clone(),
            created,
        }
    }

    /// An SQS client straight to the emulator (the functions' own go through their endpoint).
    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.config)
    }

    /// A DynamoDB client straight to the emulator.
    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.config)
    }

    /// The production wiring over this test's resources.
    pub fn wiring(&self) -> &dyn Wiring {
        &self.wiring
    }

    /// Overrides a setting for what is wired from now on (`STRIPE_API_BASE`, ...).
    pub fn set(&self, name: &'static str, value: &str) {
        self.wiring
            .resources()
            .settings
            .lock()
            .unwrap()
            .insert(name, value.to_string());
    }

    pub fn name(&self, logical_id: &str) -> String {
        self.created
            .name(logical_id)
            .unwrap_or_else(|| panic!("template has no {logical_id}"))
            .to_string()
    }

    /// A key ring over this test's signing key secret, as login, jwks and the authorizer build it.
    pub fn key_ring(&self) -> shared::adapters::secrets::KeyRing {
        shared::adapters::secrets::KeyRing::new(
            self.key_store().unwrap(),
            shared::auth::tokens::TokenPolicy::default(),
        )
    }

    /// A per-user rate limit counted in this test's rate limit table.
    pub fn limit(&self, scope: &str, per_minute: u32) -> shared::service::limits::RateLimit {
        shared::service::limits::RateLimit::new(self.rate_counter().unwrap(), scope, per_minute)
    }

    /// Seeds the demo catalog (p-1 … p-4).
    pub async fn seed(&self) {
        local_stack::seed::demo_catalog(&self.config, &self.name("ProductsTable"))
            .await
            .unwrap();
    }

    /// What `make run` bootstraps before the first request: the demo catalog and the first
    /// signing key.
    pub async fn seed_with_signing_key(&self) {
        self.seed().await;
        shared::service::accounts::rotate_signing_key(
            shared::wiring::Wiring::key_store(&**self).unwrap().as_ref(),
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    }

    /// Replaces the stage's feature-flag document, as `order-admin flags set` does.
    pub async fn set_flags(&self, document: &str) {
        shared::adapters::ssm::SsmFlagSource::new(
            aws_sdk_ssm::Client::new(&self.config),
            self.name("FlagsParameter"),
        )
        .store(document)
        .await
        .unwrap();
    }

    /// How often the emulator was asked for the secret or parameter `logical_id` of this
    /// environment, by anyone (moto_server.py counts reads by name).
    pub async fn reads_of(&self, logical_id: &str) -> u64 {
        let counts = bench::moto_counts().await;
        let name = self.name(logical_id);
        ["AmazonSSM.GetParameter", "secretsmanager.GetSecretValue"]
            .iter()
            .filter_map(|target| counts.get(&format!("{target}:{name}")))
            .map(|n| *n as u64)
            .sum()
    }

    /// Every message waiting on `queue`, received and deleted.
    pub async fn drain(&self, queue: &str) -> Vec<serde_json::Value> {
        let url = self.name(queue);
        let mut bodies = Vec::new();
        loop {
            let out = self
                .sqs()
                .receive_message()
                .queue_url(&url)
                .max_number_of_messages(10)
                .send()
                .await
                .unwrap();
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                return bodies;
            }
            for message in messages {
                bodies.push(serde_json::from_str(message.body().unwrap()).unwrap());
                self.sqs()
                    .delete_message()
                    .queue_url(&url)
                    .receipt_handle(message.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
    }
}

/// An API Gateway request built from a sample event in `events/`, with its authorizer principal
/// replaced (or removed with `None`).
pub fn event(name: &str, principal: Option<(&str, &str)>) -> serde_json::Value {
    let path = repo_root().join("events").join(format!("{name}.json"));
    let mut event: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let context = &mut event["requestContext"];
    match principal {
        Some((id, role)) => {
            context["authorizer"] = serde_json::json!({"principalId": id, "role": role});
        }
        None => {
            context.as_object_mut().unwrap().remove("authorizer");
        }
    }
    event
}

pub fn request(event: &serde_json::Value) -> lambda_http::Request {
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

pub fn body(response: &lambda_http::Response<lambda_http::Body>) -> serde_json::Value {
    if response.body().is_empty() {
        return serde_json::Value::Null;
    }
    serde_json::from_slice(response.body().as_ref()).unwrap()
}

/// What a fake function answers: `Ok` a result, `Err` an error document (a crashed function).
pub type Answer = Result<serde_json::Value, serde_json::Value>;
type Dispatch = Arc<
    dyn Fn(String, serde_json::Value) -> futures::future::BoxFuture<'static, Answer> + Send + Sync,
>;

/// A Lambda Invoke API on a loopback port, like the one `cargo lambda watch` serves, whose
/// functions are `dispatch(name, payload)`. Returns its base URL.
pub async fn fake_lambda(dispatch: Dispatch) -> String {
    use axum::extract::{Path, State};
    use axum::response::IntoResponse;

    // Like Lambda's Invoke API, the payload is JSON whatever the request's content type says.
    async fn invoke(
        State(dispatch): State<Dispatch>,
        Path(name): Path<String>,
        body: axum::body::Bytes,
    ) -> axum::response::Response {
        let Ok(payload) = serde_json::from_slice(&body) else {
            let error = serde_json::json!({"Type": "User", "message": "the payload is not JSON"});
            return (axum::http::StatusCode::BAD_REQUEST, axum::Json(error)).into_response();
        };
        match dispatch(name, payload).await {
            Ok(result) => axum::Json(result).into_response(),
            Err(error) => {
                ([("x-amz-function-error", "Unhandled")], axum::Json(error)).into_response()
            }
        }
    }

    let app = axum::Router::new()
        .route(
            "/2015-03-31/functions/{name}/invocations",
            axum::routing::post(invoke),
        )
        .with_state(dispatch);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// Runs an API handler as the Lambda runtime would for a proxy event: event in, proxy result out.
pub async fn as_proxy<F, Fut>(payload: serde_json::Value, handle: F) -> Answer
where
    F: FnOnce(lambda_http::Request) -> Fut,
    Fut: std::future::Future<
            Output = Result<lambda_http::Response<lambda_http::Body>, std::convert::Infallible>,
        >,
{
    let request = lambda_http::request::from_str(&payload.to_string())
        .map_err(|e| serde_json::json!({"errorMessage": e.to_string()}))?;
    let Ok(response) = handle(request).await;
    let mut headers = serde_json::Map::new();
    for (name, value) in response.headers() {
        let entry = headers
            .entry(name.as_str().to_string())
            .or_insert_with(|| serde_json::json!([]));
        if let Some(list) = entry.as_array_mut() {
            list.push(serde_json::json!(value.to_str().unwrap_or_default()));
        }
    }
    Ok(serde_json::json!({
        "statusCode": response.status().as_u16(),
        "multiValueHeaders": headers,
        "body": String::from_utf8_lossy(response.body().as_ref()),
        "isBase64Encoded": false,
    }))
}

/// What the payment provider holds for one order: its charges that succeeded and the refunds
/// made against them, read from localstripe's own API.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ProviderRecord {
    pub charges: usize,
    pub refunds: usize,
}

pub async fn provider_record(order_id: &str) -> ProviderRecord {
    let mut record = ProviderRecord::default();
    for (_, refunds) in provider_payments(Some(order_id)).await {
        record.charges += 1;
        record.refunds += refunds.len();
    }
    record
}

/// Every succeeded payment intent at the local provider (of `order` only, if given) with its
/// refunds, read from localstripe's own API (all pages): what the provider, not our
/// bookkeeping, says happened to the money.
pub async fn provider_payments(
    order: Option<&str>,
) -> Vec<(serde_json::Value, Vec<serde_json::Value>)> {
    let base = localstripe_endpoint().await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let get = |url: String| {
        let http = http.clone();
        async move {
            http.get(url)
                .bearer_auth(STRIPE_KEY)
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    let mut payments = Vec::new();
    let mut after = String::new();
    loop {
        let page = get(format!("{base}/v1/payment_intents?limit=100{after}")).await;
        let intents = page["data"].as_array().cloned().unwrap_or_default();
        for intent in &intents {
            let ours = order.is_none_or(|order| intent["metadata"]["order_id"] == order);
            if !ours || intent["status"] != "succeeded" {
                continue;
            }
            let id = intent["id"].as_str().unwrap();
            let refunds = get(format!("{base}/v1/refunds?payment_intent={id}")).await;
            let refunds = refunds["data"].as_array().cloned().unwrap_or_default();
            payments.push((intent.clone(), refunds));
        }
        match intents.last() {
            Some(last) if page["has_more"] == true => {
                after = format!("&starting_after={}", last["id"].as_str().unwrap());
            }
            _ => return payments,
        }
    }
}

/// A payment provider that can be taken down: a loopback proxy in front of localstripe that
/// answers 503 while down, or holds every request without answering while hanging, and counts
/// the requests it got.
#[derive(Clone)]
pub struct FlakyProvider {
    pub url: String,
    up: Arc<std::sync::atomic::AtomicBool>,
    hanging: Arc<std::sync::atomic::AtomicBool>,
    requests: Arc<std::sync::atomic::AtomicUsize>,
}

impl FlakyProvider {
    pub async fn start() -> Self {
        use std::sync::atomic::Ordering;
        let target = localstripe_endpoint().await.to_string();
        let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let hanging = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let requests = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let (state_up, state_hanging, state_requests) =
            (up.clone(), hanging.clone(), requests.clone());
        let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
            let (up, hanging, requests, http, target) = (
                state_up.clone(),
                state_hanging.clone(),
                state_requests.clone(),
                http.clone(),
                target.clone(),
            );
            async move {
                requests.fetch_add(1, Ordering::SeqCst);
                if hanging.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_secs(120)).await;
                }
                if !up.load(Ordering::SeqCst) {
                    return (axum::http::StatusCode::SERVICE_UNAVAILABLE, Vec::new());
                }
                let (parts, body) = request.into_parts();
                let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
                let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
                let mut forward = http.request(parts.method, format!("{target}{path}"));
                for (name, value) in &parts.headers {
                    if name != "host" {
                        forward = forward.header(name, value);
                    }
                }
                let answer = forward.body(body).send().await.unwrap();
                let status = axum::http::StatusCode::from_u16(answer.status().as_u16()).unwrap();
                (status, answer.bytes().await.unwrap().to_vec())
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url,
            up,
            hanging,
            requests,
        }
    }

    pub fn set_up(&self, up: bool) {
        self.up.store(up, std::sync::atomic::Ordering::SeqCst);
    }

    /// Holds every request from now on without answering (a provider that accepts connections
    /// and never replies).
    pub fn set_hanging(&self, hanging: bool) {
        self.hanging
            .store(hanging, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn requests(&self) -> usize {
        self.requests.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Runs an SQS consumer as the Lambda runtime would: the event in, with a context whose deadline
/// is the function's timeout away, and its batch response out.
pub async fn as_sqs<F, Fut>(payload: serde_json::Value, timeout: Duration, handle: F) -> Answer
where
    F: FnOnce(aws_lambda_events::sqs::SqsEvent, lambda_runtime::Context) -> Fut,
    Fut: std::future::Future<Output = aws_lambda_events::sqs::SqsBatchResponse>,
{
    let event = serde_json::from_value(payload)
        .map_err(|e| serde_json::json!({"errorMessage": e.to_string()}))?;
    let response = handle(event, context(timeout)).await;
    Ok(serde_json::to_value(response).unwrap())
}

/// A Lambda context whose deadline is `timeout` from now.
pub fn context(timeout: Duration) -> lambda_runtime::Context {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let mut context = lambda_runtime::Context::default();
    context.deadline = u64::try_from((now + timeout).as_millis()).unwrap();
    context
}
