//! `make dr-drill`: the restore runbook rehearsed on the local stack (system_tests::drill); prints
//! its progress and the recovery time on stderr (the functions' logs go to stdout), exits 1
//! unless every acknowledged order came back intact.

#[tokio::main]
async fn main() {
    let orders = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(30);
    let started = std::time::Instant::now();
    let report = system_tests::drill::run(orders, |step| eprintln!("dr-drill: {step}")).await;
    eprintln!(
        "dr-drill: {} of {} acknowledged orders intact after the restore; restore {} ms, \
         recovery (damage to the first order served from the restored table) {} ms; reconciler \
         violations {}; a new order on the restored table {}; {} s in all",
        report.intact,
        report.acknowledged,
        report.restore.as_millis(),
        report.recovery.as_millis(),
        report.reconciler_violations,
        if report.new_order_completed {
            "COMPLETED"
        } else {
            "did not complete"
        },
        started.elapsed().as_secs()
    );
    if !report.passed() {
        std::process::exit(1);
    }
}
