//! The whole service on loopback for a test or a chaos run: every function of the template
//! in-process behind a fake Invoke API, the local API Gateway in front of them, and the SQS event
//! sources polling the test's queues; and a client that calls it as an integrator would.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;

use local_stack::gateway::invoke::Invoker;
use local_stack::gateway::{Gateway, sqs};
use local_stack::template::Template;
use serde_json::{Value, json};

use crate::{TestEnv, fake_lambda, functions};

/// The API key the test client sends.
pub const KEY: &str = "test-client-key";

/// The invoker of `template`'s functions behind `invoke_url`, each with its own timeout.
pub fn invoker(template: &Template, invoke_url: &str) -> Invoker {
    Invoker::new(invoke_url, Duration::from_secs(30))
        .unwrap()
        .with_timeouts(template)
}

/// The local API Gateway of `template` in front of the functions at `invoke_url`, accepting the
/// API `keys`; returns its base URL.
pub async fn gateway(
    template: &Template,
    env: &TestEnv,
    invoke_url: &str,
    keys: Vec<String>,
) -> String {
    let invoker = invoker(template, invoke_url);
    let gateway = Gateway::from_template(template, &env.created.scope, invoker, keys).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(local_stack::gateway::serve(Arc::new(gateway), listener));
    url
}

/// The service running for a test: the API's base URL, and the event sources polling its queues.
pub struct Service {
    pub url: String,
    pollers: Vec<tokio::task::JoinHandle<()>>,
    invocations: Invocations,
}

/// How many times each function was invoked, and for how long in all (what Lambda bills).
pub type Invocations = Arc<std::sync::Mutex<BTreeMap<String, (u64, Duration)>>>;

impl Service {
    /// Stops polling the queues (a chaos run starts a service per scenario; pollers left
    /// running would load the emulator for the scenarios after).
    pub fn stop(&self) {
        for poller in &self.pollers {
            poller.abort();
        }
    }

    /// Each function's invocations so far and their total duration.
    pub fn invocations(&self) -> BTreeMap<String, (u64, Duration)> {
        self.invocations.lock().unwrap().clone()
    }

    /// Each function's invocations so far and their total duration, and resets them.
    pub fn take_invocations(&self) -> BTreeMap<String, (u64, Duration)> {
        std::mem::take(&mut *self.invocations.lock().unwrap())
    }
}

/// Serves `yaml`'s API and event sources over `env`.
pub async fn serve(env: Arc<TestEnv>, yaml: &str) -> Service {
    let invocations = Invocations::default();
    let functions = functions::real_functions(env.clone()).await;
    let counted: functions::Dispatch = {
        let invocations = invocations.clone();
        Arc::new(move |name: String, event| {
            let (invocations, invoked) = (invocations.clone(), functions(name.clone(), event));
            async move {
                let started = std::time::Instant::now();
                let answer = invoked.await;
                let mut counts = invocations.lock().unwrap();
                let count = counts.entry(name).or_default();
                *count = (count.0 + 1, count.1 + started.elapsed());
                answer
            }
            .boxed()
        })
    };
    let invoke_url = fake_lambda(counted).await;
    let template = Template::parse(yaml).unwrap();
    let url = gateway(&template, &env, &invoke_url, vec![KEY.into()]).await;
    let invoker = invoker(&template, &invoke_url);
    // The queue consumers too, as `make run` polls them (straight to the emulator: the event
    // source is Lambda's, not the functions').
    let pollers = sqs::sources(&template, &env.created.scope)
        .unwrap()
        .into_iter()
        .map(|source| tokio::spawn(sqs::run(env.sqs(), invoker.clone(), source)))
        .collect();
    Service {
        url,
        pollers,
        invocations,
    }
}

/// A client of the API.
#[derive(Clone)]
pub struct Client {
    pub base: String,
    http: reqwest::Client,
}

impl Client {
    pub fn new(base: &str) -> Self {
        Self::from_address(base, std::net::Ipv4Addr::LOCALHOST)
    }

    /// A client whose requests come from `address` (any of 127.0.0.0/8 is loopback), so the
    /// gateway sees another source, as it would another customer's network.
    pub fn from_address(base: &str, address: std::net::Ipv4Addr) -> Self {
        Self {
            base: base.to_string(),
            http: reqwest::Client::builder()
                .no_proxy()
                .local_address(std::net::IpAddr::V4(address))
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        }
    }

    /// One call with the API key; `(status, body, headers)`, status 0 when no answer came.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let mut request = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .header("x-api-key", KEY);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let headers = response.headers().clone();
                let body = response.json().await.unwrap_or(Value::Null);
                (status, body, headers)
            }
            Err(_) => (0, Value::Null, reqwest::header::HeaderMap::new()),
        }
    }

    /// Registers `email` and logs in; returns the access token.
    pub async fn account(&self, email: &str) -> String {
        self.account_with(email, "correct horse battery staple")
            .await
    }

    /// Registers `email` with `password` and logs in; returns the access token.
    pub async fn account_with(&self, email: &str, password: &str) -> String {
        let credentials = json!({"email": email, "password": password});
        self.call(
            "POST",
            "/auth/register",
            None,
            Some(credentials.clone()),
            &[],
        )
        .await;
        self.login(credentials).await
    }

    /// Makes an admin account `email` (as `order-admin create-admin` does) and logs in; returns
    /// the access token.
    pub async fn admin(&self, env: &TestEnv, email: &str) -> String {
        let password = "correct horse battery staple";
        shared::service::accounts::create_admin(
            shared::wiring::Wiring::users(&**env).unwrap().as_ref(),
            &shared::auth::Email::parse(email).unwrap(),
            &shared::auth::Password::parse(password).unwrap(),
            chrono::Utc::now(),
        )
        .await
        .unwrap();
        self.login(json!({"email": email, "password": password}))
            .await
    }

    pub async fn login(&self, credentials: Value) -> String {
        let (status, body, _) = self
            .call("POST", "/auth/login", None, Some(credentials), &[])
            .await;
        assert_eq!(status, 200, "login: {body}");
        body["token"].as_str().unwrap().to_string()
    }

    pub async fn order(&self, token: &str, id: &str) -> Value {
        self.call("GET", &format!("/orders/{id}"), Some(token), None, &[])
            .await
            .1
    }
}

/// An order of `quantity` units of `product`, tagged (in its address) with the client request it
/// belongs to, so the checker can tell which stored orders one request placed.
pub fn order_body(product: &str, quantity: u32, card: &str, tag: &str) -> Value {
    json!({
        "items": [{"productId": product, "quantity": quantity}],
        "paymentMethod": card,
        "shippingAddress": {"name": "Ada Lovelace", "line1": "1 Main St", "line2": tag,
                            "city": "London", "postalCode": "N1 1AA", "country": "GB"}
    })
}
