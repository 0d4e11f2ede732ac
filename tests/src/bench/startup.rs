//! Cold start and memory of the release binaries, as Lambda starts them: each process is spawned
//! with its function's environment and a Runtime API of ours on loopback, and its init is the
//! time from the spawn to its first `GET /runtime/invocation/next`. The bare `bench-hello`
//! (lambda_runtime and nothing else, the same release profile) is measured in the same run, so
//! what is compared is a ratio of two medians taken side by side.
//!
//! Peak memory is the process's high-water mark (`VmHWM`) after init and 1,000 invocations of
//! the function's sample event from `events/`, its log output is counted too (CloudWatch bills
//! it by the byte), and so are the connections the process opens before its first `next`: its
//! AWS endpoint and payment provider are counting proxies of ours in front of the emulators, so
//! any connection is a network call during init (the stack's own pollers are not counted).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::{Notify, mpsc};

use super::median;

/// A TCP proxy on loopback in front of `upstream` (`http://host:port[/path]`) that counts the
/// connections opened through it: the URL to give a process instead, and the count. A
/// connection is at least one call (keep-alive may carry more), so zero means none.
async fn counting_proxy(upstream: &str) -> (String, Arc<AtomicU64>) {
    let parsed = reqwest::Url::parse(upstream).unwrap();
    assert_eq!(
        parsed.scheme(),
        "http",
        "{upstream}: the emulators answer plain HTTP"
    );
    let target = format!(
        "{}:{}",
        parsed.host_str().unwrap(),
        parsed.port_or_known_default().unwrap()
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let path = parsed.path().trim_end_matches('/');
    let url = format!("http://{}{path}", listener.local_addr().unwrap());
    let opened = Arc::new(AtomicU64::new(0));
    let counted = opened.clone();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            let target = target.clone();
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    (url, opened)
}

/// What one function's starts and invocations measured.
#[derive(Debug, Clone, Serialize)]
pub struct Startup {
    pub function: String,
    pub init_ms_p50: f64,
    /// The median init over the bare hello-world's, measured in the same run.
    pub init_ratio: f64,
    pub peak_rss_mb: f64,
    /// Invocations (of 1,000) the function answered with an error (a sample event it rejects is
    /// still an invocation).
    pub errors: usize,
    /// Invocations answered within two minutes (all of them but for a slow handler).
    pub answered: usize,
    pub log_bytes_per_invocation: f64,
    /// Connections opened before the first `next` (to AWS or the payment provider), per start:
    /// network calls during init.
    pub init_connections: f64,
}

/// The Runtime API one process talks to: hands out `events`, then holds `next` open.
struct RuntimeApi {
    first_next: OnceLock<Instant>,
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<Value>>,
    answered: Mutex<(usize, usize)>,
    done: Notify,
    expected: usize,
}

async fn next(State(api): State<Arc<RuntimeApi>>) -> (HeaderMap, axum::Json<Value>) {
    let _ = api.first_next.set(Instant::now());
    let event = api.events.lock().await.recv().await;
    let Some(event) = event else {
        // No more events: hold the poll as Lambda does between invocations.
        std::future::pending::<()>().await;
        unreachable!()
    };
    let mut headers = HeaderMap::new();
    let id = uuid::Uuid::new_v4().to_string();
    let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
    headers.insert("lambda-runtime-aws-request-id", id.parse().unwrap());
    headers.insert(
        "lambda-runtime-deadline-ms",
        deadline.to_string().parse().unwrap(),
    );
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:bench"
            .parse()
            .unwrap(),
    );
    headers.insert(
        "lambda-runtime-trace-id",
        "Root=1-00000000-000000000000000000000000".parse().unwrap(),
    );
    (headers, axum::Json(event))
}

async fn answered(
    State(api): State<Arc<RuntimeApi>>,
    UrlPath((_, kind)): UrlPath<(String, String)>,
) {
    let mut answered = api.answered.lock().unwrap();
    if kind == "error" {
        answered.1 += 1;
    } else {
        answered.0 += 1;
    }
    if answered.0 + answered.1 >= api.expected {
        api.done.notify_one();
    }
}

async fn runtime_api(events: Vec<Value>) -> (Arc<RuntimeApi>, String) {
    let (sender, receiver) = mpsc::unbounded_channel();
    let expected = events.len();
    for event in events {
        sender.send(event).unwrap();
    }
    drop(sender);
    let api = Arc::new(RuntimeApi {
        first_next: OnceLock::new(),
        events: tokio::sync::Mutex::new(receiver),
        answered: Mutex::new((0, 0)),
        done: Notify::new(),
        expected,
    });
    let app = axum::Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route("/2018-06-01/runtime/invocation/{id}/{kind}", post(answered))
        .route("/2018-06-01/runtime/init/error", post(|| async {}))
        .with_state(api.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (api, address)
}

/// One process of `binary` against a fresh Runtime API holding `events`.
struct Process {
    child: std::process::Child,
    spawned: Instant,
    api: Arc<RuntimeApi>,
}

impl Process {
    async fn start(
        binary: &Path,
        name: &str,
        env: &BTreeMap<String, String>,
        events: Vec<Value>,
        log: Stdio,
    ) -> Self {
        let (api, address) = runtime_api(events).await;
        let mut command = Command::new(binary);
        command
            .env_clear()
            .envs(env)
            .env("AWS_LAMBDA_RUNTIME_API", address)
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(Stdio::null());
        let spawned = Instant::now();
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", binary.display()));
        Self {
            child,
            spawned,
            api,
        }
    }

    /// How long the process took to ask for its first event (None if it exited first or took
    /// longer than 10 s).
    async fn init(&mut self) -> Option<Duration> {
        let waited = Instant::now();
        while waited.elapsed() < Duration::from_secs(10) {
            if let Some(at) = self.api.first_next.get() {
                return Some(at.duration_since(self.spawned));
            }
            if self.child.try_wait().ok().flatten().is_some() {
                return None;
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        None
    }

    /// The process's peak resident memory so far, in MiB.
    fn peak_rss_mb(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The median init of `starts` fresh processes of `binary`.
async fn median_init(
    binary: &Path,
    name: &str,
    env: &BTreeMap<String, String>,
    starts: usize,
) -> f64 {
    let mut inits = Vec::new();
    for _ in 0..starts {
        let mut process = Process::start(binary, name, env, Vec::new(), Stdio::null()).await;
        if let Some(init) = process.init().await {
            inits.push(init.as_secs_f64() * 1000.0);
        }
    }
    assert!(!inits.is_empty(), "{name} never asked for an event");
    median(&mut inits)
}

/// Measures every function in `functions` (binary names) from `release` (the release build's
/// directory), interleaving the hello-world's starts with each function's so that both see the
/// same machine.
pub async fn measure(
    release: &Path,
    functions: &[String],
    env: &BTreeMap<String, String>,
    starts: usize,
    invocations: usize,
    progress: impl Fn(&str),
) -> Vec<Startup> {
    let hello = release.join("bench-hello");
    let mut env = env.clone();
    let mut counters = Vec::new();
    for endpoint in ["AWS_ENDPOINT_URL", "STRIPE_API_BASE"] {
        let upstream = env.get(endpoint).unwrap_or_else(|| panic!("no {endpoint}"));
        let (url, opened) = counting_proxy(upstream).await;
        env.insert(endpoint.into(), url);
        counters.push(opened);
    }
    let connections = || {
        counters
            .iter()
            .map(|c| c.load(Ordering::SeqCst))
            .sum::<u64>()
    };
    let env = &env;
    let mut measured = Vec::new();
    for name in functions {
        let binary = release.join(name);
        let hello_ms = median_init(&hello, "bench-hello", env, starts).await;
        let before = connections();
        let init_ms = median_init(&binary, name, env, starts).await;
        let init_connections = (connections() - before) as f64 / starts as f64;
        let event: Value = serde_json::from_str(
            &std::fs::read_to_string(
                super::repo_root()
                    .join("events")
                    .join(format!("{name}.json")),
            )
            .unwrap(),
        )
        .unwrap();
        let log = tempfile(name);
        let process = Process::start(
            &binary,
            name,
            env,
            vec![event; invocations],
            Stdio::from(std::fs::File::create(&log).unwrap()),
        )
        .await;
        // A slow handler (the reconciler scans on moto) is measured on what it answered in time.
        let _ = tokio::time::timeout(Duration::from_secs(120), process.api.done.notified()).await;
        let peak_rss_mb = process.peak_rss_mb();
        let (ok, errors) = *process.api.answered.lock().unwrap();
        drop(process);
        let answered = (ok + errors).max(1);
        let log_bytes = std::fs::metadata(&log).map_or(0, |m| m.len());
        let _ = std::fs::remove_file(&log);
        let startup = Startup {
            function: name.clone(),
            init_ms_p50: init_ms,
            init_ratio: init_ms / hello_ms,
            peak_rss_mb,
            errors,
            answered,
            log_bytes_per_invocation: log_bytes as f64 / answered as f64,
            init_connections,
        };
        progress(&format!(
            "  {name}: init {init_ms:.1} ms ({:.2}x hello-world's {hello_ms:.1} ms), peak RSS {peak_rss_mb:.1} MiB, {errors} errors, {init_connections:.1} connections in init",
            startup.init_ratio
        ));
        measured.push(startup);
    }
    measured
}

fn tempfile(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("bench-{name}-{}.log", std::process::id()))
}

/// The bare hello-world's peak memory after the same number of invocations, for scale.
pub async fn hello_peak(release: &Path, env: &BTreeMap<String, String>, invocations: usize) -> f64 {
    let events = vec![serde_json::json!({"hello": "world"}); invocations];
    let process = Process::start(
        &release.join("bench-hello"),
        "bench-hello",
        env,
        events,
        Stdio::null(),
    )
    .await;
    let _ = tokio::time::timeout(Duration::from_secs(60), process.api.done.notified()).await;
    process.peak_rss_mb()
}
