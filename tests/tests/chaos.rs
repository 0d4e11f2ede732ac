//! The fault matrix, shortened (a few orders, seconds-long faults): every scenario of
//! `make chaos` on real parts, every invariant checked. The full run writes docs/reliability.md.

// Test helpers panic on unexpected values by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use system_tests::chaos::{self, Scale};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_scenario_of_the_matrix_keeps_every_invariant() {
    let outcomes = chaos::run(Scale::short(), &[]).await;
    assert_eq!(outcomes.len(), chaos::scenarios().len());
    let report = chaos::report(&outcomes, Scale::short(), "cargo test --test chaos");
    for outcome in &outcomes {
        assert!(
            outcome.findings.placed > 0,
            "{}: nothing placed\n{report}",
            outcome.name
        );
        assert!(
            outcome.findings.holds(),
            "{}: {:?}\n{report}",
            outcome.name,
            outcome.findings
        );
    }
}
