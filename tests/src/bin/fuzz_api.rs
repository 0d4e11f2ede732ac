//! `make fuzz-api`: schemathesis against the service on loopback (system_tests::fuzz), as a
//! customer and as an admin; prints the case count and the server errors, exits 1 unless every
//! answer conformed to docs/openapi.json.

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let examples = args.next().and_then(|n| n.parse().ok()).unwrap_or(50);
    let seed = args.next().and_then(|n| n.parse().ok()).unwrap_or(1);
    let started = std::time::Instant::now();
    let report =
        system_tests::fuzz::run(examples, seed, |step| eprintln!("fuzz-api: {step}")).await;
    for run in &report.runs {
        if run.exit != 0 {
            eprintln!(
                "fuzz-api: schemathesis as the {}:\n{}",
                run.role, run.output
            );
        } else if !run.summary().is_empty() {
            eprintln!(
                "fuzz-api: schemathesis as the {}:\n{}",
                run.role,
                run.summary()
            );
        }
    }
    eprintln!(
        "fuzz-api: {} generated requests over every operation (customer and admin, seed {seed}), \
         {} server errors, {} failed checks; {} s",
        report.cases(),
        report.server_errors(),
        report.runs.iter().map(|r| r.failed).sum::<u64>(),
        started.elapsed().as_secs()
    );
    if !report.passed() {
        std::process::exit(1);
    }
}
