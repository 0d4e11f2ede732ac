//! The CPU one request or one record costs in the handlers themselves: create-order and
//! get-order on their sample events, and each fulfilment step on the messages the one before it
//! sent, all in process on the in-memory ports (no I/O, so the time measured on one thread is
//! CPU time). Built with the release profile, as the Lambdas are.
//!
//! `make bench` runs it; it prints the medians and writes them as JSON to `$BENCH_OUT`
//! (default `target/bench/cpu.json`): `{"create-order": {"p50_us": .., "p90_us": .., "n": ..}, ..}`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::{Value, json};
use shared::service::fulfilment::{Notify, Pay, Reserve, Ship};
use shared::sqs::Consume;
use shared::testing::{self, Memory};
use shared::wiring::Wire;

const CREATE: &str = include_str!("../../../../events/create-order.json");
const GET: &str = include_str!("../../../../events/get-order.json");

/// Orders run through; the first `WARM_UP` are not counted.
const ORDERS: usize = 3000;
const WARM_UP: usize = 300;

fn with_key(event: &str, key: &str) -> lambda_http::Request {
    let mut event: Value = serde_json::from_str(event).unwrap();
    event["headers"]["Idempotency-Key"] = json!(key);
    event["multiValueHeaders"]["Idempotency-Key"] = json!([key]);
    testing::request_from_event(&event.to_string())
}

fn for_order(id: &str) -> lambda_http::Request {
    let mut event: Value = serde_json::from_str(GET).unwrap();
    event["pathParameters"]["id"] = json!(id);
    event["path"] = json!(format!("/orders/{id}"));
    testing::request_from_event(&event.to_string())
}

fn quantile(samples: &mut [f64], q: f64) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[((samples.len() - 1) as f64 * q).round() as usize]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let measured = runtime.block_on(measure());
    let mut report = BTreeMap::new();
    for (name, mut samples) in measured {
        let p50 = quantile(&mut samples, 0.5);
        let p90 = quantile(&mut samples, 0.9);
        println!(
            "{name:>18}: p50 {p50:8.1} µs  p90 {p90:8.1} µs  ({} samples)",
            samples.len()
        );
        report.insert(
            name,
            json!({"p50_us": p50, "p90_us": p90, "n": samples.len()}),
        );
    }
    let out = std::env::var("BENCH_OUT").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../target/bench/cpu.json"
        )
        .to_string()
    });
    if let Some(dir) = std::path::Path::new(&out).parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::write(&out, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    println!("wrote {out}");
}

async fn measure() -> BTreeMap<String, Vec<f64>> {
    let memory = Memory::new();
    memory.set("RATE_LIMIT_PER_MINUTE", "1000000000");
    memory
        .store
        .seed_product(testing::product("p-1", 1250, 1_000_000));
    memory
        .store
        .seed_product(testing::product("p-2", 99, 1_000_000));
    let create = create_order::handler::Deps::wire(&memory).await.unwrap();
    let get = get_order::handler::Deps::wire(&memory).await.unwrap();
    let steps: Vec<Box<dyn Consume>> = vec![
        Box::new(Reserve::wire(&memory).await.unwrap()),
        Box::new(Pay::wire(&memory).await.unwrap()),
        Box::new(Ship::wire(&memory).await.unwrap()),
        Box::new(Notify::wire(&memory).await.unwrap()),
    ];
    let mut times: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut record = |name: &str, started: Instant, i: usize| {
        if i >= WARM_UP {
            let us = started.elapsed().as_secs_f64() * 1e6;
            times.entry(name.to_string()).or_default().push(us);
        }
    };
    for i in 0..ORDERS {
        let request = with_key(CREATE, &format!("bench-{i}"));
        let started = Instant::now();
        let response = create_order::handler::handle(&create, request)
            .await
            .unwrap();
        record("create-order", started, i);
        assert_eq!(
            response.status(),
            201,
            "create-order answered {}",
            response.status()
        );
        let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        let id = body["id"].as_str().unwrap().to_string();

        // The order through the pipeline, each step on what the one before sent it.
        while let Some(sent) = memory.queues.take().into_iter().next() {
            let Some(step) = steps.iter().find(|s| s.consumer().queue == sent.queue) else {
                break;
            };
            let started = Instant::now();
            step.handle(&sent.message).await.unwrap();
            record(step.consumer().function, started, i);
        }

        let request = for_order(&id);
        let started = Instant::now();
        let response = get_order::handler::handle(&get, request).await.unwrap();
        record("get-order", started, i);
        assert_eq!(
            response.status(),
            200,
            "get-order answered {}",
            response.status()
        );
    }
    times
}
