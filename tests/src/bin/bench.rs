//! `make bench`: measures the service on this machine (system_tests::bench) and writes
//! docs/benchmarks.md and docs/benchmarks.json; progress on stderr (the functions' logs go to
//! stdout). `--quick` measures less of everything (a check that the bench runs, not figures to
//! keep): it writes to target/bench/ instead of docs/.

// A measuring tool, not a service: a failure to write its report should stop it loudly.
#![allow(clippy::unwrap_used)]

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let mut plan = system_tests::bench::Plan::default();
    if quick {
        plan.starts = 3;
        plan.invocations = 50;
        plan.e2e_orders = 3;
        plan.throughput_orders = 8;
        plan.emulator_samples = 5;
        plan.load_seconds = 10;
    }
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--window") {
        plan.window_s = args.get(at + 1).and_then(|w| w.parse().ok());
        assert!(plan.window_s.is_some(), "--window takes whole seconds");
    }
    let started = std::time::Instant::now();
    let figures = system_tests::bench::run(plan, |step| eprintln!("bench: {step}")).await;
    let root = system_tests::repo_root();
    let (docs, command) = if quick {
        (root.join("target/bench"), "make bench BENCH_FLAGS=--quick")
    } else {
        (root.join("docs"), "make bench")
    };
    std::fs::create_dir_all(&docs).unwrap();
    system_tests::bench::write(&figures, &docs, command);
    eprintln!(
        "bench: wrote {}/benchmarks.md and benchmarks.json in {} s",
        docs.display(),
        started.elapsed().as_secs()
    );
}
