//! An open-loop load test of the local stack: visits arrive at a fixed rate whatever the service
//! does, each a script a customer would follow (register, log in, browse the catalog, look at a
//! product, place an order, check its status). A request's latency runs from when it was meant
//! to be sent: its visit's arrival for the first, the previous answer for the rest. So a stall
//! shows as the latency of every request that waited behind it, not as fewer requests.
//!
//! Every order placed is then waited for and checked against the tables and the payment provider
//! (`invariants::check`): placed orders missing or unfinished count against `accounted`.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;
use shared::domain::OrderId;

use super::percentile;
use super::pipeline::{Bench, two_line_order};
use crate::invariants::{self, Placed};

#[derive(Debug, Clone, Serialize)]
pub struct Load {
    /// Requests offered per second (visits per second times the script's requests).
    pub rate_rps: f64,
    pub visits_per_s: f64,
    pub duration_s: f64,
    pub requests: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    /// Requests answered with anything but the script's expected status (or not answered).
    pub error_rate: f64,
    pub placed: usize,
    /// Placed orders found ended in the table, with every invariant holding for them.
    pub accounted: usize,
    pub invariants_hold: bool,
    /// How long after the last visit the last placed order ended.
    pub settled_s: f64,
}

/// One request of the script, as sent.
struct Sample {
    intended: Duration,
    latency: Duration,
    step: &'static str,
    status: u16,
    expected: u16,
}

/// The requests of the script per visit.
pub const SCRIPT: usize = 6;

async fn visit(
    bench: &Bench,
    n: usize,
    intended: Duration,
    origin: Instant,
) -> (Vec<Sample>, Option<OrderId>) {
    let client = &bench.client;
    let email = format!("load-{n}-{}@example.com", uuid::Uuid::new_v4().simple());
    let credentials = json!({"email": email, "password": "correct horse battery staple"});
    let tag = format!("load-{n}");
    let key = format!("load-{n}");
    let mut samples = Vec::new();
    let mut at = intended;
    let mut token = String::new();
    let mut order = None;
    let steps: [(&'static str, u16); SCRIPT] = [
        ("register", 201),
        ("login", 200),
        ("products", 200),
        ("product", 200),
        ("order", 201),
        ("status", 200),
    ];
    for (step, expected) in steps {
        let (method, path, body) = match step {
            "register" => (
                "POST",
                "/auth/register".to_string(),
                Some(credentials.clone()),
            ),
            "login" => ("POST", "/auth/login".to_string(), Some(credentials.clone())),
            "products" => ("GET", "/products".to_string(), None),
            "product" => ("GET", "/products/p-3".to_string(), None),
            "order" => ("POST", "/orders".to_string(), Some(two_line_order(&tag))),
            _ => match &order {
                Some(id) => ("GET", format!("/orders/{id}"), None),
                None => break,
            },
        };
        let bearer = (!token.is_empty()).then_some(token.as_str());
        let headers: &[(&str, &str)] = if step == "order" {
            &[("Idempotency-Key", &key)]
        } else {
            &[]
        };
        let (status, answer, _) = client.call(method, &path, bearer, body, headers).await;
        let answered = origin.elapsed();
        samples.push(Sample {
            intended: at,
            latency: answered.saturating_sub(at),
            step,
            status,
            expected,
        });
        at = answered;
        match step {
            "login" if status == 200 => {
                token = answer["token"].as_str().unwrap_or_default().to_string()
            }
            "order" if status == 201 => {
                order = answer["id"].as_str().and_then(|id| OrderId::parse(id).ok())
            }
            "login" | "order" => break,
            _ => {}
        }
    }
    (samples, order)
}

/// `visits_per_s` visits a second for `duration`, then waits up to `settle` for every order placed
/// to end; writes every request to `csv` (for the latency plot).
pub async fn run(
    bench: &Bench,
    visits_per_s: f64,
    duration: Duration,
    settle: Duration,
    csv: &Path,
) -> Load {
    let visits = (visits_per_s * duration.as_secs_f64()).round() as usize;
    let origin = Instant::now();
    // One future per visit, each asleep until its arrival: the schedule does not wait for answers.
    let visited = futures::future::join_all((0..visits).map(|n| {
        let intended = Duration::from_secs_f64(n as f64 / visits_per_s);
        async move {
            tokio::time::sleep_until((origin + intended).into()).await;
            visit(bench, n, intended, origin).await
        }
    }))
    .await;
    let mut samples = Vec::new();
    let mut placed = Placed::default();
    for (n, (visit_samples, order)) in visited.into_iter().enumerate() {
        samples.extend(visit_samples);
        if let Some(id) = order {
            bench.record(&id, &format!("load-{n}"));
            placed.orders.insert(id, format!("load-{n}"));
        }
    }
    let last_visit = Instant::now();
    let pending = bench
        .unended(placed.orders.keys().cloned().collect(), last_visit + settle)
        .await;
    let settled_s = last_visit.elapsed().as_secs_f64();
    let everything = bench.placed.lock().unwrap().clone();
    let findings = invariants::check(&bench.env, &everything, &bench.initial).await;
    let accounted = placed
        .orders
        .len()
        .saturating_sub(pending.len().max(findings.lost));

    let mut file = std::fs::File::create(csv).unwrap();
    writeln!(file, "intended_s,latency_ms,step,status").unwrap();
    for s in &samples {
        writeln!(
            file,
            "{:.3},{:.2},{},{}",
            s.intended.as_secs_f64(),
            s.latency.as_secs_f64() * 1000.0,
            s.step,
            s.status
        )
        .unwrap();
    }
    let mut latencies: Vec<f64> = samples
        .iter()
        .map(|s| s.latency.as_secs_f64() * 1000.0)
        .collect();
    let errors = samples.iter().filter(|s| s.status != s.expected).count();
    Load {
        rate_rps: visits_per_s * SCRIPT as f64,
        visits_per_s,
        duration_s: duration.as_secs_f64(),
        requests: samples.len(),
        p50_ms: percentile(&mut latencies, 0.50),
        p90_ms: percentile(&mut latencies, 0.90),
        p99_ms: percentile(&mut latencies, 0.99),
        error_rate: errors as f64 / samples.len().max(1) as f64,
        placed: placed.orders.len(),
        accounted,
        invariants_hold: findings.holds(),
        settled_s,
    }
}
