//! `make bench`: what the service costs and how fast it is, measured on this machine and written
//! to `docs/benchmarks.md` and `docs/benchmarks.json` (the figures tracked from one change to the
//! next: the report puts each beside the previous run's).
//!
//! Nothing here is a timed test: every figure is a median (or a ratio of two medians taken side
//! by side in one run) or a count, and the report says which command produced it. The phases:
//!
//! - [`startup`]: cold start, peak memory, connections opened during init and log volume of the release binaries;
//! - sizes: the arm64 zips `make package` built;
//! - CPU: `infra/bench/cpu`, a release binary (the handlers on in-memory ports), read from its JSON;
//! - [`pipeline`]: one order counted (requests, capacity units, invocations), end-to-end
//!   latency one order at a time, throughput with 8 clients, and the emulator alone;
//! - [`load`]: an open-loop load test with a latency plot;
//! - [`cost`]: the counted order priced, beside the floor and the alternatives.

pub mod cost;
pub mod load;
pub mod pipeline;
pub mod report;
pub mod startup;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::moto_endpoint;
pub use crate::repo_root;

/// How much a run measures; `make bench` takes the defaults.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub starts: usize,
    pub invocations: usize,
    pub e2e_orders: usize,
    pub throughput_orders: usize,
    pub emulator_samples: usize,
    pub visits_per_s: f64,
    pub load_seconds: u64,
    /// Where the release binaries are (`cargo build --release`).
    pub release: PathBuf,
    /// The event sources' batching window (`BatchingWindowSeconds`), when not the template's
    /// default: `make bench BENCH_FLAGS="--window 1"` measures what a window costs in latency.
    pub window_s: Option<u64>,
}

impl Default for Plan {
    fn default() -> Self {
        Self {
            starts: 30,
            invocations: 1000,
            e2e_orders: 15,
            throughput_orders: 48,
            emulator_samples: 40,
            visits_per_s: 2.0,
            load_seconds: 60,
            release: repo_root().join("target/release"),
            window_s: None,
        }
    }
}

/// Every figure of one run. The top-level keys are the ones tracked from run to run.
#[derive(Debug, Clone, Serialize)]
pub struct Figures {
    pub date: String,
    pub commit: String,
    pub machine: String,
    pub init_ratio_worst: f64,
    pub zip_bytes_max: Option<u64>,
    pub peak_rss_mb_max: f64,
    pub create_order_cpu_us_p50: Option<f64>,
    pub wru_per_order: f64,
    pub rru_per_order: f64,
    pub requests_per_order: BTreeMap<String, f64>,
    pub cost_per_million_usd: f64,
    pub floor_per_million_usd: f64,
    pub e2e_latency_p50_ms: f64,
    pub pipeline_orders_per_s: f64,
    pub emulator_orders_per_s: f64,
    pub load: load::Load,
    pub detail: Detail,
}

/// What the report's tables are made of.
#[derive(Debug, Clone, Serialize)]
pub struct Detail {
    pub plan: Plan,
    pub startups: Vec<startup::Startup>,
    pub hello_peak_rss_mb: f64,
    pub zips: BTreeMap<String, u64>,
    pub cpu: Value,
    pub order: pipeline::OneOrder,
    pub e2e_ms: Vec<f64>,
    pub emulator_ms: BTreeMap<String, f64>,
    pub usage: cost::Usage,
    pub bill: cost::Bill,
    pub floor_usage: cost::Usage,
    pub floor_bill: cost::Bill,
    pub alternatives: Vec<(String, cost::Bill)>,
    pub memory_mb: BTreeMap<String, u64>,
    pub batching: Vec<report::Batching>,
}

pub fn median(samples: &mut [f64]) -> f64 {
    percentile(samples, 0.5)
}

/// The `q` quantile (nearest rank) of `samples`; 0 for none.
pub fn percentile(samples: &mut [f64], q: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.sort_by(f64::total_cmp);
    let rank = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len());
    samples[rank - 1]
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// moto's request and capacity-unit counts (`infra/local/moto_server.py`).
pub async fn moto_counts() -> BTreeMap<String, f64> {
    http()
        .get(format!("{}/_counts", moto_endpoint().await))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

pub async fn reset_moto_counts() {
    http()
        .delete(format!("{}/_counts", moto_endpoint().await))
        .send()
        .await
        .unwrap();
}

/// Every request counted (the capacity units and transaction items are not requests).
pub fn total_requests(counts: &BTreeMap<String, f64>) -> u64 {
    counts
        .iter()
        .filter(|(op, _)| {
            !op.contains(':') && !op.ends_with(".items") && !op.starts_with("dynamodb.")
        })
        .map(|(_, n)| *n as u64)
        .sum()
}

/// Requests per order by service (`dynamodb`, `sqs`, `ses`, ...), the consumers' receives
/// counted once per invocation.
fn requests_by_service(order: &pipeline::OneOrder, consumers: &[String]) -> BTreeMap<String, f64> {
    let mut by_service = BTreeMap::new();
    for (op, n) in &order.counts {
        if op.contains(':')
            || op.ends_with(".items")
            || op.starts_with("dynamodb.")
            || op.ends_with("ReceiveMessage")
        {
            continue;
        }
        let service = match op.split(['.', '_']).next().unwrap_or_default() {
            "DynamoDB" => "dynamodb",
            "AmazonSQS" => "sqs",
            "sesv2" => "ses",
            "secretsmanager" => "secretsmanager",
            "AmazonSSM" => "ssm",
            other => other,
        };
        *by_service.entry(service.to_string()).or_default() += n;
    }
    let receives: u64 = consumers
        .iter()
        .filter_map(|f| order.invocations.get(f))
        .sum();
    *by_service.entry("sqs".into()).or_default() += receives as f64;
    by_service.insert("apigateway".into(), 1.0);
    by_service.insert(
        "lambda".into(),
        order.invocations.values().sum::<u64>() as f64,
    );
    by_service
}

fn zips(functions: &[String]) -> BTreeMap<String, u64> {
    functions
        .iter()
        .filter_map(|f| {
            let zip = repo_root()
                .join("target/lambda")
                .join(f)
                .join("bootstrap.zip");
            Some((f.clone(), std::fs::metadata(zip).ok()?.len()))
        })
        .collect()
}

fn command(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let memory_gib = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!(
        "{cores} cores ({cpu}), {memory_gib:.0} GiB, {}",
        command("uname", &["-sr"])
    )
}

/// Runs every phase; `progress` hears what is going on.
pub async fn run(plan: Plan, progress: impl Fn(&str)) -> Figures {
    let functions: Vec<String> = {
        let mut names: Vec<String> = std::fs::read_dir(repo_root().join("functions"))
            .unwrap()
            .filter_map(|e| Some(e.ok()?.file_name().to_str()?.to_string()))
            .collect();
        names.sort();
        names
    };
    progress(
        "starting the local stack (moto, localstripe, every function behind the local gateway)",
    );
    let bench = pipeline::Bench::start(plan.window_s).await;
    let memory_mb: BTreeMap<String, u64> = bench
        .template
        .functions()
        .into_iter()
        .map(|f| (f.binary, f.memory_mb))
        .collect();

    progress(&format!(
        "cold start: {} starts of each release binary and of the bare hello-world, then {} invocations each",
        plan.starts, plan.invocations
    ));
    let mut environment = bench.env.created.environment(&bench.template).unwrap();
    for (key, value) in [
        ("AWS_ENDPOINT_URL", moto_endpoint().await),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("STRIPE_API_BASE", crate::localstripe_endpoint().await),
        ("STAGE", "dev"),
    ] {
        environment.insert(key.into(), value.into());
    }
    let startups = startup::measure(
        &plan.release,
        &functions,
        &environment,
        plan.starts,
        plan.invocations,
        &progress,
    )
    .await;
    let hello_peak_rss_mb =
        startup::hello_peak(&plan.release, &environment, plan.invocations).await;

    let zips = zips(&functions);
    progress(&format!(
        "zips: {} of {} built by make package",
        zips.len(),
        functions.len()
    ));
    let cpu: Value = std::fs::read_to_string(repo_root().join("target/bench/cpu.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);

    progress("one two-line order, counted");
    let order = pipeline::one_order(&bench).await;
    progress(&format!(
        "  {} with {} AWS requests",
        order.status,
        total_requests(&order.counts)
    ));
    progress(&format!(
        "end to end: {} orders one at a time",
        plan.e2e_orders
    ));
    let (e2e_p50, e2e_ms) = pipeline::end_to_end(&bench, plan.e2e_orders).await;
    progress(&format!("  p50 {e2e_p50:.0} ms"));
    progress(&format!(
        "throughput: {} orders from 8 clients",
        plan.throughput_orders
    ));
    let pipeline_orders_per_s = pipeline::throughput(&bench, plan.throughput_orders).await;
    progress(&format!("  {pipeline_orders_per_s:.2} orders/s"));
    progress("the emulator alone, for the counted order's mix of calls");
    let (emulator_orders_per_s, emulator_ms) =
        pipeline::emulator(&bench, &order, plan.emulator_samples).await;
    progress(&format!("  {emulator_orders_per_s:.2} orders/s"));

    progress(&format!(
        "load: {} visits/s ({} requests/s) for {} s, open loop",
        plan.visits_per_s,
        plan.visits_per_s * load::SCRIPT as f64,
        plan.load_seconds
    ));
    let csv = repo_root().join("target/bench/load.csv");
    std::fs::create_dir_all(csv.parent().unwrap()).unwrap();
    let load = load::run(
        &bench,
        plan.visits_per_s,
        Duration::from_secs(plan.load_seconds),
        Duration::from_secs(180),
        &csv,
    )
    .await;
    progress(&format!(
        "  p50 {:.0} ms, p99 {:.0} ms, errors {:.2}%, {} placed, {} accounted",
        load.p50_ms,
        load.p99_ms,
        load.error_rate * 100.0,
        load.placed,
        load.accounted
    ));
    bench.service.stop();

    let log_bytes: BTreeMap<String, f64> = startups
        .iter()
        .map(|s| (s.function.clone(), s.log_bytes_per_invocation))
        .collect();
    let counted = cost::Counted {
        counts: &order.counts,
        invocations: &order.invocations,
        invocation_ms: &order.invocation_ms,
        consumers: &bench.consumers,
        memory_mb: &memory_mb,
        log_bytes_per_invocation: &log_bytes,
    };
    let usage = counted.usage();
    let bill = cost::bill(&usage, cost::API_REST);
    let gb_s = |f: &str| {
        let ms = order.invocation_ms.get(f).copied().unwrap_or(0.0)
            + if f == "process-payment" {
                cost::STRIPE_MS
            } else {
                0.0
            };
        memory_mb.get(f).copied().unwrap_or(256) as f64 / 1024.0 * ms.max(1.0) / 1000.0
    };
    let steps = [
        "reserve-inventory",
        "process-payment",
        "ship-order",
        "notify-customer",
    ];
    let consumer_gb_s: f64 = steps.iter().map(|f| gb_s(f)).sum();
    let mean_log = log_bytes.values().sum::<f64>() / log_bytes.len().max(1) as f64;
    let floor_usage = cost::floor(&usage, gb_s("create-order"), consumer_gb_s, mean_log);
    let floor_bill = cost::bill(&floor_usage, cost::API_REST);
    let consumer_invocations: f64 = bench
        .consumers
        .iter()
        .filter_map(|f| order.invocations.get(f))
        .sum::<u64>() as f64;
    let alternatives = report::alternatives(&usage, consumer_invocations);

    let requests_per_order = requests_by_service(&order, &bench.consumers);
    Figures {
        date: command("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        commit: command(
            "git",
            &[
                "-C",
                repo_root().to_str().unwrap(),
                "describe",
                "--always",
                "--dirty",
            ],
        ),
        machine: machine(),
        init_ratio_worst: startups.iter().map(|s| s.init_ratio).fold(0.0, f64::max),
        zip_bytes_max: zips.values().copied().max(),
        peak_rss_mb_max: startups.iter().map(|s| s.peak_rss_mb).fold(0.0, f64::max),
        create_order_cpu_us_p50: cpu["create-order"]["p50_us"].as_f64(),
        wru_per_order: usage.wru,
        rru_per_order: usage.rru,
        requests_per_order,
        cost_per_million_usd: bill.per_million_usd,
        floor_per_million_usd: floor_bill.per_million_usd,
        e2e_latency_p50_ms: e2e_p50,
        pipeline_orders_per_s,
        emulator_orders_per_s,
        load,
        detail: Detail {
            batching: report::batching(&bench.template, &bench.env.created.scope, &order),
            plan,
            startups,
            hello_peak_rss_mb,
            zips,
            cpu,
            order,
            e2e_ms,
            emulator_ms,
            usage,
            bill,
            floor_usage,
            floor_bill,
            alternatives,
            memory_mb,
        },
    }
}

/// Writes `docs/benchmarks.json` and `docs/benchmarks.md` (beside the previous run's figures,
/// read from the JSON before it is replaced).
pub fn write(figures: &Figures, docs: &Path, command: &str) {
    let json_path = docs.join("benchmarks.json");
    let previous: Option<Value> = std::fs::read_to_string(&json_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let markdown = report::markdown(figures, previous.as_ref(), command);
    std::fs::write(
        &json_path,
        serde_json::to_string_pretty(figures).unwrap() + "\n",
    )
    .unwrap();
    std::fs::write(docs.join("benchmarks.md"), markdown).unwrap();
}
