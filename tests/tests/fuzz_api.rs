//! A bounded `make fuzz-api` for every CI run: schemathesis's generated requests, as a customer and
//! as an admin, against the service on loopback; every answer must conform to docs/openapi.json
//! and none may be a server error.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_requests_get_documented_answers_and_no_server_error() {
    let report = system_tests::fuzz::run(3, 7, |step| eprintln!("fuzz-api: {step}")).await;
    for run in &report.runs {
        assert!(
            run.exit == 0 && run.failed == 0,
            "schemathesis as the {} found answers that break docs/openapi.json:\n{}",
            run.role,
            run.output
        );
        assert!(
            run.cases >= 200,
            "{}: only {} cases ran",
            run.role,
            run.cases
        );
    }
    assert_eq!(report.server_errors(), 0);
    assert!(report.passed());
}
