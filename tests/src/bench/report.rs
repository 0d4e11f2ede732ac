//! `docs/benchmarks.md` from one run's [`Figures`], and the parts of it that are models rather
//! than measurements: the cost alternatives and the paper model of the same figures in AWS.

use std::fmt::Write;

use local_stack::template::{Scope, Template};
use serde::Serialize;
use serde_json::Value;

use super::cost::{self, Bill, Usage};
use super::pipeline::OneOrder;
use super::{Figures, load};

/// Lambda gives a function one vCPU at 1,769 MB, and CPU in proportion below that.
const MB_PER_VCPU: f64 = 1769.0;
/// Paper-model assumptions, each named in the report.
const AWS_CALL_MS: f64 = 20.0;
const ESM_OVERHEAD_MS: f64 = 25.0;
const API_OVERHEAD_MS: f64 = 15.0;
const SECONDS_PER_MONTH: f64 = 30.0 * 24.0 * 3600.0;
/// Lambda's SQS event source keeps five long polls (20 s) open per queue whatever the traffic.
const IDLE_POLLS_PER_QUEUE_MONTH: f64 = 5.0 * 3.0 * 60.0 * 24.0 * 30.0;

/// One SQS event source, as the template configures it, and its hop in the paper model.
#[derive(Debug, Clone, Serialize)]
pub struct Batching {
    pub function: String,
    pub batch_size: usize,
    pub window_s: f64,
    pub handler_ms: f64,
    /// One order alone: it waits the whole window for a batch that never fills.
    pub hop_ms_alone: f64,
    pub hop_ms_at_1000_per_s: f64,
}

pub fn batching(template: &Template, scope: &Scope, order: &OneOrder) -> Vec<Batching> {
    let sources = local_stack::gateway::sqs::sources(template, scope).unwrap_or_default();
    sources
        .into_iter()
        .filter(|s| order.invocations.contains_key(&s.function))
        .map(|s| {
            let n = order.invocations[&s.function].max(1) as f64;
            let handler_ms = order.invocation_ms.get(&s.function).copied().unwrap_or(0.0) / n;
            let window_s = s.window.as_secs_f64();
            let fill_s = (s.batch_size as f64 / 1000.0).min(window_s);
            Batching {
                function: s.function,
                batch_size: s.batch_size,
                window_s,
                handler_ms,
                hop_ms_alone: window_s * 1000.0 + ESM_OVERHEAD_MS + handler_ms,
                hop_ms_at_1000_per_s: fill_s * 1000.0 + ESM_OVERHEAD_MS + handler_ms,
            }
        })
        .collect()
}

/// The counted order's bill beside the choices an operator has.
pub fn alternatives(usage: &Usage, consumer_invocations: f64) -> Vec<(String, Bill)> {
    let platform_logs_only = Usage {
        log_bytes: usage.lambda_invocations * cost::PLATFORM_LOG_BYTES,
        ..usage.clone()
    };
    let scaled = |factor: f64| Usage {
        lambda_gb_s: usage.lambda_gb_s * factor,
        ..usage.clone()
    };
    vec![
        (
            "as counted: REST API, one order per batch, 256/512 MB, INFO logs".into(),
            cost::bill(usage, cost::API_REST),
        ),
        (
            "full batches of 5 (every consumer)".into(),
            cost::bill(
                &cost::batched(usage, consumer_invocations, 5.0),
                cost::API_REST,
            ),
        ),
        (
            "full batches of 10 (every consumer)".into(),
            cost::bill(
                &cost::batched(usage, consumer_invocations, 10.0),
                cost::API_REST,
            ),
        ),
        (
            "HTTP API instead of REST (no API keys, usage plans or WAF)".into(),
            cost::bill(usage, cost::API_HTTP),
        ),
        (
            "every function at 128 MB (same duration: I/O-bound)".into(),
            cost::bill(&scaled(0.5), cost::API_REST),
        ),
        (
            "every function at twice its memory (same duration)".into(),
            cost::bill(&scaled(2.0), cost::API_REST),
        ),
        (
            "x86_64 instead of arm64 (same duration)".into(),
            cost::bill(
                &scaled(cost::LAMBDA_X86_GB_S.usd / cost::LAMBDA_ARM_GB_S.usd),
                cost::API_REST,
            ),
        ),
        (
            "LogLevel WARN (Lambda's own lines only)".into(),
            cost::bill(&platform_logs_only, cost::API_REST),
        ),
    ]
}

fn previous_number(previous: Option<&Value>, path: &[&str]) -> String {
    let mut value = previous;
    for key in path {
        value = value.and_then(|v| v.get(key));
    }
    match value.and_then(Value::as_f64) {
        Some(n) => format_number(n),
        None => "–".into(),
    }
}

fn format_number(n: f64) -> String {
    if n.abs() >= 100.0 {
        format!("{n:.0}")
    } else if n.abs() >= 10.0 {
        format!("{n:.1}")
    } else {
        format!("{n:.2}")
    }
}

fn table(out: &mut String, header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) {
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(
        out,
        "|{}|",
        header.iter().map(|_| "---").collect::<Vec<_>>().join("|")
    );
    for row in rows {
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    out.push('\n');
}

pub fn markdown(f: &Figures, previous: Option<&Value>, command: &str) -> String {
    let d = &f.detail;
    let mut out = String::new();
    let _ = writeln!(out, "# Benchmarks\n");
    let _ = writeln!(
        out,
        "Written by `{command}` on {} at `{}`, on {}. Every figure below comes from that one run \
         (medians, or ratios of medians measured side by side, or counts); none is typed by hand. \
         The machine is shared and noisy, so compare ratios and counts first. `docs/benchmarks.json` \
         holds the same figures; the *previous* column is the run before this one \
         (`{}`).\n",
        f.date,
        f.commit,
        f.machine,
        previous
            .and_then(|p| p["commit"].as_str())
            .unwrap_or("none"),
    );

    let _ = writeln!(out, "## Summary\n");
    let load = &f.load;
    let rows: Vec<(&str, &[&str], f64, &str)> = vec![
        (
            "worst init / bare hello-world",
            &["init_ratio_worst"],
            f.init_ratio_worst,
            "≤ 2.5",
        ),
        (
            "largest zip, bytes",
            &["zip_bytes_max"],
            f.zip_bytes_max.map_or(f64::NAN, |z| z as f64),
            "≤ 2,500,000",
        ),
        (
            "peak RSS, MiB (init + invocations)",
            &["peak_rss_mb_max"],
            f.peak_rss_mb_max,
            "≤ 32",
        ),
        (
            "create-order CPU, µs p50",
            &["create_order_cpu_us_p50"],
            f.create_order_cpu_us_p50.unwrap_or(f64::NAN),
            "",
        ),
        (
            "DynamoDB write units per order",
            &["wru_per_order"],
            f.wru_per_order,
            "≤ 14",
        ),
        (
            "DynamoDB read units per order",
            &["rru_per_order"],
            f.rru_per_order,
            "",
        ),
        (
            "cost per million orders, USD",
            &["cost_per_million_usd"],
            f.cost_per_million_usd,
            "≤ 1.25 × floor",
        ),
        (
            "floor per million orders, USD",
            &["floor_per_million_usd"],
            f.floor_per_million_usd,
            "",
        ),
        (
            "one order placed → ended, ms p50",
            &["e2e_latency_p50_ms"],
            f.e2e_latency_p50_ms,
            "≤ 1,500",
        ),
        (
            "pipeline, orders/s (8 clients)",
            &["pipeline_orders_per_s"],
            f.pipeline_orders_per_s,
            "≥ 0.8 × emulator",
        ),
        (
            "emulator alone, orders/s",
            &["emulator_orders_per_s"],
            f.emulator_orders_per_s,
            "",
        ),
        ("load p50, ms", &["load", "p50_ms"], load.p50_ms, ""),
        ("load p99, ms", &["load", "p99_ms"], load.p99_ms, ""),
        (
            "load error rate",
            &["load", "error_rate"],
            load.error_rate,
            "",
        ),
    ];
    table(
        &mut out,
        &["figure", "this run", "previous", "target (issue 16)"],
        rows.into_iter().map(|(name, path, value, target)| {
            vec![
                name.into(),
                if value.is_nan() {
                    "not measured".into()
                } else {
                    format_number(value)
                },
                previous_number(previous, path),
                target.into(),
            ]
        }),
    );
    let _ = writeln!(
        out,
        "Cost ratio to the floor: **{:.2}x**. Pipeline over emulator: **{:.2}**.\n",
        f.cost_per_million_usd / f.floor_per_million_usd,
        f.pipeline_orders_per_s / f.emulator_orders_per_s
    );

    let _ = writeln!(out, "## Cold start, memory, init calls, logs\n");
    let _ = writeln!(
        out,
        "Each release binary (`cargo build --release`, the Lambda profile: opt-level s, thin LTO, one \
         codegen unit, stripped; native, not arm64) is spawned {} times with its function's \
         environment against a Runtime API on loopback; init is spawn to the first \
         `GET /runtime/invocation/next`, and the bare `bench-hello` (lambda_runtime only) is measured \
         right before each function, so each ratio is of two medians taken together. Then one process \
         answers {} invocations of `events/<function>.json` (a sample event a function rejects is still \
         an invocation: *errors*); peak RSS is its `VmHWM` then (the hello-world's: {:.1} MiB). *Init \
         connections* are those opened before the first `next`, per start: the function's AWS \
         endpoint and payment provider are counting proxies in front of the emulators.\n",
        d.plan.starts, d.plan.invocations, d.hello_peak_rss_mb
    );
    table(
        &mut out,
        &[
            "function",
            "init ms p50",
            "× hello",
            "peak RSS MiB",
            "errors",
            "log bytes/invocation",
            "init connections",
            "zip KiB",
        ],
        d.startups.iter().map(|s| {
            vec![
                s.function.clone(),
                format!("{:.1}", s.init_ms_p50),
                format!("{:.2}", s.init_ratio),
                format!("{:.1}", s.peak_rss_mb),
                s.errors.to_string(),
                format!("{:.0}", s.log_bytes_per_invocation),
                format!("{:.1}", s.init_connections),
                d.zips
                    .get(&s.function)
                    .map_or("–".into(), |z| format!("{}", z / 1024)),
            ]
        }),
    );
    if d.zips.is_empty() {
        let _ = writeln!(
            out,
            "No zips were found in `target/lambda/`: run `make package` (arm64) before `make bench` to measure them.\n"
        );
    } else {
        let _ = writeln!(
            out,
            "Zips: arm64 release zips from `make package`, one function at a time.\n"
        );
    }

    let _ = writeln!(out, "## Handler CPU\n");
    let _ = writeln!(
        out,
        "`infra/bench/cpu` (release): the real handlers and steps on the in-memory ports (no I/O), \
         one thread, release profile, the two-line sample order run through create-order, every step and \
         get-order, 3,000 times after 300 warm-ups.\n"
    );
    match d.cpu.as_object() {
        Some(cpu) => table(
            &mut out,
            &["handler", "µs p50", "µs p90"],
            cpu.iter().map(|(name, v)| {
                vec![
                    name.clone(),
                    format!("{:.1}", v["p50_us"].as_f64().unwrap_or(0.0)),
                    format!("{:.1}", v["p90_us"].as_f64().unwrap_or(0.0)),
                ]
            }),
        ),
        None => {
            let _ = writeln!(out, "Not measured (no `target/bench/cpu.json`).\n");
        }
    }

    let _ = writeln!(out, "## One order, counted\n");
    let _ = writeln!(
        out,
        "A two-line order (two units of p-1, one of p-3, by card), placed after a warm-up order, counted \
         from `POST /orders` until notify-customer handled it: the emulator's requests by operation and the \
         capacity units `infra/local/moto_server.py` computes from the items' sizes (moto's own \
         `ConsumedCapacity` is a constant), and the functions invoked. It ended **{}**. Receives are the \
         consumers' invocations (the idle polls of the local event sources are not per order).\n",
        d.order.status
    );
    table(
        &mut out,
        &["counted", "n"],
        d.order
            .counts
            .iter()
            .filter(|(op, _)| !op.ends_with("ReceiveMessage"))
            .map(|(op, n)| vec![format!("`{op}`"), format_number(*n)]),
    );
    table(
        &mut out,
        &["function", "invocations", "local ms (all)", "memory MB"],
        d.order.invocations.iter().map(|(name, n)| {
            vec![
                name.clone(),
                n.to_string(),
                format!(
                    "{:.0}",
                    d.order.invocation_ms.get(name).copied().unwrap_or(0.0)
                ),
                d.memory_mb.get(name).map_or("–".into(), u64::to_string),
            ]
        }),
    );
    table(
        &mut out,
        &["service", "requests per order"],
        f.requests_per_order
            .iter()
            .map(|(s, n)| vec![s.clone(), format_number(*n)]),
    );

    let _ = writeln!(out, "## Cost per million orders\n");
    let _ = writeln!(
        out,
        "The counted usage at list prices, beside the floor: the cheapest correct design of this \
         topology (REST API with the authorizer's answer cached; create-order, then reserve, pay, ship \
         and notify through queues at full batches of 10; the place put conditionally on its \
         idempotency key, 1 WRU; one transaction of both stocks and the order, 6 WRU; one update per \
         later step, 3 WRU; one batch read of the prices, 1 RRU; four sends and a receive and a delete \
         per batch, 4.8 SQS requests; the same billed time and logs per invocation as ours). Billed time \
         is the local duration of each invocation plus {:.0} ms of the real Stripe API for the payment; \
         logs are each function's measured bytes per invocation plus {:.0} bytes of Lambda's own lines; \
         X-Ray records {:.0}% of the traces. The notice e-mail (SES, $100 per million) is the same in \
         every design and is left out of the totals compared.\n",
        cost::STRIPE_MS,
        cost::PLATFORM_LOG_BYTES,
        cost::XRAY_SAMPLED * 100.0
    );
    let lines: Vec<&str> = d.bill.lines.keys().copied().collect();
    table(
        &mut out,
        &["line", "ours", "floor"],
        lines
            .iter()
            .map(|line| {
                vec![
                    (*line).to_string(),
                    format!("${:.2}", d.bill.lines[line]),
                    format!("${:.2}", d.floor_bill.lines[line]),
                ]
            })
            .chain([
                vec![
                    "**total**".into(),
                    format!("**${:.2}**", d.bill.per_million_usd),
                    format!("**${:.2}**", d.floor_bill.per_million_usd),
                ],
                vec![
                    "with the notice e-mail".into(),
                    format!("${:.2}", d.bill.with_email_per_million_usd),
                    format!("${:.2}", d.floor_bill.with_email_per_million_usd),
                ],
            ]),
    );
    table(
        &mut out,
        &["usage per order", "ours", "floor"],
        [
            (
                "API requests",
                d.usage.api_requests,
                d.floor_usage.api_requests,
            ),
            (
                "Lambda invocations",
                d.usage.lambda_invocations,
                d.floor_usage.lambda_invocations,
            ),
            (
                "Lambda GB-s",
                d.usage.lambda_gb_s,
                d.floor_usage.lambda_gb_s,
            ),
            ("DynamoDB WRU", d.usage.wru, d.floor_usage.wru),
            ("DynamoDB RRU", d.usage.rru, d.floor_usage.rru),
            (
                "SQS requests",
                d.usage.sqs_requests,
                d.floor_usage.sqs_requests,
            ),
            ("log bytes", d.usage.log_bytes, d.floor_usage.log_bytes),
        ]
        .into_iter()
        .map(|(name, ours, floor)| vec![name.into(), format!("{ours:.3}"), format!("{floor:.3}")]),
    );
    let _ = writeln!(out, "Alternatives, the same counted order:\n");
    table(
        &mut out,
        &["design", "per million orders", "× floor"],
        d.alternatives.iter().map(|(name, bill)| {
            vec![
                name.clone(),
                format!("${:.2}", bill.per_million_usd),
                format!("{:.2}", bill.per_million_usd / d.floor_bill.per_million_usd),
            ]
        }),
    );
    let _ = writeln!(out, "Prices ({}):\n", cost::PRICES_READ);
    table(
        &mut out,
        &["item", "USD", "per", "source"],
        cost::PRICES.iter().map(|p| {
            vec![
                p.item.into(),
                format!("{}", p.usd),
                p.unit.into(),
                p.source.into(),
            ]
        }),
    );

    let _ = writeln!(out, "## Latency and throughput on the local stack\n");
    let _ = writeln!(
        out,
        "The local stack is every function of `template.yaml` in process (debug build) behind the local \
         API Gateway and its SQS event sources, on moto and localstripe, as the system tests run it. \
         {} orders one at a time, each timed from `POST /orders` until the table shows it ended: p50 \
         **{:.0} ms** (all: {}). {} orders from 8 clients at once: **{:.2} orders/s** completed. The \
         emulator alone, sent the counted order's mix of calls one at a time ({} samples per \
         operation): **{:.2} orders/s**.\n",
        d.e2e_ms.len(),
        f.e2e_latency_p50_ms,
        d.e2e_ms
            .iter()
            .map(|ms| format!("{ms:.0}"))
            .collect::<Vec<_>>()
            .join(", "),
        d.plan.throughput_orders,
        f.pipeline_orders_per_s,
        d.plan.emulator_samples,
        f.emulator_orders_per_s
    );
    table(
        &mut out,
        &["emulator operation", "ms p50"],
        d.emulator_ms
            .iter()
            .map(|(op, ms)| vec![format!("`{op}`"), format!("{ms:.2}")]),
    );

    let _ = writeln!(out, "## Load\n");
    let _ = writeln!(
        out,
        "Open loop: {} visits a second for {:.0} s ({:.0} requests a second offered), each visit \
         registering, logging in, listing the products, reading one, placing the two-line order and \
         reading it back. Latency runs from when a request was meant to go (the visit's arrival for \
         the first, the previous answer for the rest), so a stall cannot hide.\n",
        load.visits_per_s, load.duration_s, load.rate_rps
    );
    table(
        &mut out,
        &[
            "requests",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "error rate",
            "orders placed",
            "accounted for",
            "invariants",
            "settled after",
        ],
        [load_row(load)],
    );
    let _ = writeln!(out, "![latency over time](benchmarks-load.png)\n");

    let _ = writeln!(out, "## Paper model: the same figures in AWS\n");
    let _ = writeln!(
        out,
        "Not measured: derived from the figures above with these assumptions. Lambda gives 1 vCPU at \
         {MB_PER_VCPU:.0} MB and CPU in proportion below, so CPU-bound init scales by {MB_PER_VCPU:.0}/memory; \
         each AWS call made during init adds {AWS_CALL_MS:.0} ms; the sandbox and code download before \
         init are Lambda's and not billed. An SQS event source holding a batch waits the whole window \
         unless the batch fills, then adds ~{ESM_OVERHEAD_MS:.0} ms to poll and invoke; API Gateway adds \
         ~{API_OVERHEAD_MS:.0} ms.\n"
    );
    table(
        &mut out,
        &["function", "memory MB", "init ms in AWS (model)"],
        d.startups.iter().map(|s| {
            let memory = d.memory_mb.get(&s.function).copied().unwrap_or(256) as f64;
            let aws =
                s.init_ms_p50 * (MB_PER_VCPU / memory).max(1.0) + s.init_connections * AWS_CALL_MS;
            vec![
                s.function.clone(),
                format!("{memory:.0}"),
                format!("{aws:.0}"),
            ]
        }),
    );
    table(
        &mut out,
        &[
            "hop",
            "batch",
            "window s",
            "handler ms (local)",
            "hop ms, one order alone",
            "hop ms at 1,000 orders/s",
        ],
        d.batching.iter().map(|b| {
            vec![
                b.function.clone(),
                b.batch_size.to_string(),
                format!("{}", b.window_s),
                format!("{:.0}", b.handler_ms),
                format!("{:.0}", b.hop_ms_alone),
                format!("{:.0}", b.hop_ms_at_1000_per_s),
            ]
        }),
    );
    let create_ms = d
        .order
        .invocation_ms
        .get("create-order")
        .copied()
        .unwrap_or(0.0);
    let alone: f64 =
        API_OVERHEAD_MS + create_ms + d.batching.iter().map(|b| b.hop_ms_alone).sum::<f64>();
    let busy: f64 = API_OVERHEAD_MS
        + create_ms
        + d.batching
            .iter()
            .map(|b| b.hop_ms_at_1000_per_s)
            .sum::<f64>();
    let _ = writeln!(
        out,
        "One order placed to ended in AWS (model): **{alone:.0} ms** alone, **{busy:.0} ms** at 1,000 orders/s.\n"
    );
    let consumer_invocations: f64 = d
        .batching
        .iter()
        .map(|b| d.order.invocations.get(&b.function).copied().unwrap_or(0) as f64)
        .sum();
    let queues = d.batching.len() as f64 * 2.0; // each queue and its dead-letter queue
    let fixed = queues * IDLE_POLLS_PER_QUEUE_MONTH * cost::SQS_REQUEST.usd;
    let mean_batch = d.batching.iter().map(|b| b.batch_size as f64).sum::<f64>()
        / d.batching.len().max(1) as f64;
    let window = d.batching.iter().map(|b| b.window_s).fold(0.0, f64::max);
    table(
        &mut out,
        &[
            "orders/s",
            "orders a month",
            "batch fill (model)",
            "per million",
            "a month, per order",
            "a month, fixed (idle polls)",
        ],
        [10.0, 1000.0].into_iter().map(|rate| {
            let fill = (rate * window).clamp(1.0, mean_batch.max(1.0));
            let bill = cost::bill(
                &cost::batched(&d.usage, consumer_invocations, fill),
                cost::API_REST,
            );
            let orders = rate * SECONDS_PER_MONTH;
            vec![
                format!("{rate:.0}"),
                format!("{:.2e}", orders),
                format!("{fill:.1}"),
                format!("${:.2}", bill.per_million_usd),
                format!("${:.0}", bill.per_million_usd * orders / 1e6),
                format!("${fixed:.2}"),
            ]
        }),
    );
    out
}

fn load_row(load: &load::Load) -> Vec<String> {
    vec![
        load.requests.to_string(),
        format!("{:.0}", load.p50_ms),
        format!("{:.0}", load.p90_ms),
        format!("{:.0}", load.p99_ms),
        format!("{:.2}%", load.error_rate * 100.0),
        load.placed.to_string(),
        load.accounted.to_string(),
        if load.invariants_hold {
            "hold".into()
        } else {
            "**broken**".into()
        },
        format!("{:.0} s", load.settled_s),
    ]
}
