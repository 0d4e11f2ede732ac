//! `make fuzz-api`: schemathesis (PyPI) generates requests from `docs/openapi.json` and sends them
//! to the service on loopback (the local gateway from template.yaml, every function on the real
//! adapters, moto and localstripe), once as a customer and once as an admin, so every operation is
//! reached with each role. Each answer is checked against the document: no server error, a
//! documented status, content type and headers, a body of the documented schema.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use crate::api::{self, Client, KEY};
use crate::{TestEnv, repo_root};

/// What schemathesis checks on every answer: the document's promises, not our guesses about
/// which valid-looking inputs must succeed (an order for a product that does not exist is a
/// correct 422).
pub const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                          response_headers_conformance,response_schema_conformance";

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Run {
    pub role: &'static str,
    /// Requests sent, as schemathesis counts its test cases.
    pub cases: u64,
    /// Cases whose answer broke a check.
    pub failed: u64,
    /// Of those, answers with a 5xx status.
    pub server_errors: u64,
    /// schemathesis's exit status: 0 when every check held.
    pub exit: i32,
    /// Everything schemathesis printed, for a failure's details.
    pub output: String,
}

impl Run {
    /// schemathesis's closing summary (from its `SUMMARY` rule on).
    pub fn summary(&self) -> &str {
        self.output
            .find("SUMMARY")
            .map_or("", |at| &self.output[at..])
    }
}

pub struct Report {
    pub runs: Vec<Run>,
}

impl Report {
    pub fn cases(&self) -> u64 {
        self.runs.iter().map(|r| r.cases).sum()
    }

    pub fn server_errors(&self) -> u64 {
        self.runs.iter().map(|r| r.server_errors).sum()
    }

    pub fn passed(&self) -> bool {
        self.runs
            .iter()
            .all(|r| r.exit == 0 && r.failed == 0 && r.cases > 0)
    }
}

/// The schemathesis command: `SCHEMATHESIS`, else the virtualenv `make` installs it in.
fn schemathesis() -> PathBuf {
    std::env::var_os("SCHEMATHESIS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv-fuzz/bin/schemathesis"))
}

/// Starts the service, signs a customer and an admin in, gives the customer an order, then runs
/// schemathesis with at most `examples` cases per operation and phase, for each role.
pub async fn run(examples: u32, seed: u64, progress: impl Fn(&str)) -> Report {
    let yaml = std::fs::read_to_string(repo_root().join("template.yaml")).unwrap();
    let env = TestEnv::with_template(&yaml).await;
    // The fuzzer is one user sending far more than a person would: without room it would meet
    // the per-user limit and test only the 429.
    env.set("RATE_LIMIT_PER_MINUTE", "100000");
    let env = Arc::new(env);
    env.seed_with_signing_key().await;
    let service = api::serve(env.clone(), &yaml).await;
    let client = Client::new(&service.url);
    let customer = client.account("fuzz-customer@example.com").await;
    let (status, order, _) = client
        .call(
            "POST",
            "/orders",
            Some(&customer),
            Some(api::order_body("p-1", 1, "pm_card_visa", "fuzz")),
            &[],
        )
        .await;
    assert_eq!(status, 201, "the customer's first order: {order}");
    let admin = client.admin(&env, "fuzz-admin@example.com").await;
    let mut runs = Vec::new();
    for (role, token) in [("customer", customer), ("admin", admin)] {
        progress(&format!(
            "schemathesis as the {role}, {examples} examples per operation"
        ));
        let url = service.url.clone();
        let run = tokio::task::spawn_blocking(move || fuzz(role, &url, &token, examples, seed))
            .await
            .unwrap();
        progress(&format!(
            "{role}: {} cases, {} failed, {} server errors",
            run.cases, run.failed, run.server_errors
        ));
        runs.push(run);
    }
    service.stop();
    Report { runs }
}

fn fuzz(role: &'static str, url: &str, token: &str, examples: u32, seed: u64) -> Run {
    let reports = std::env::temp_dir().join(format!("fuzz-api-{}-{role}", std::process::id()));
    // Its working files (`.schemathesis/`) go to the temporary directory, not the checkout.
    let output = Command::new(schemathesis())
        .current_dir(std::env::temp_dir())
        .arg("run")
        .arg(repo_root().join("docs/openapi.json"))
        .args(["--url", url])
        .args(["--header", &format!("x-api-key: {KEY}")])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--checks", CHECKS])
        .args(["--max-examples", &examples.to_string()])
        .args(["--seed", &seed.to_string()])
        .args(["--phases", "examples,coverage,fuzzing"])
        // One worker: CPython 3.11's parser is not safe for hypothesis's concurrent source reads.
        // Under the usage plan's throttle (20 requests/s per key), so the answers test the
        // operations rather than the gateway's 429.
        .args([
            "--workers",
            "1",
            "--rate-limit",
            "1000/m",
            "--request-timeout",
            "30",
        ])
        .args(["--generation-database", "none", "--no-color"])
        .args(["--suppress-health-check", "all"])
        .args(["--report", "junit"])
        .arg("--report-dir")
        .arg(&reports)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}): `make fuzz-deps` installs it",
                schemathesis().display()
            )
        });
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let _ = std::fs::remove_dir_all(&reports);
    parse(role, &stdout, output.status.code().unwrap_or(-1))
}

/// Reads schemathesis's summary: `N generated, N passed` (or `N generated, N found N unique
/// failures`) under `Test cases:`, and a `❌ ST101 Server error: N` line per kind of failure
/// (`ST101`, and `ST102` for a server error on an undeclared content type).
pub fn parse(role: &'static str, stdout: &str, exit: i32) -> Run {
    let number_before = |text: &str, word: &str| -> Option<u64> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let at = words.iter().position(|w| w.trim_end_matches(',') == word)?;
        words.get(at.checked_sub(1)?)?.parse().ok()
    };
    // "Test cases:" and, on the next line, the counts.
    let cases_line = stdout
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("Test cases:"))
        .nth(1)
        .unwrap_or_default();
    let summary_at = stdout.find("SUMMARY").unwrap_or(0);
    let summary = &stdout[summary_at..];
    let server_errors = summary
        .lines()
        .filter(|l| l.contains("ST101") || l.contains("ST102"))
        .filter_map(|l| l.rsplit(':').next()?.trim().parse::<u64>().ok())
        .sum();
    Run {
        role,
        cases: number_before(cases_line, "generated").unwrap_or(0),
        failed: number_before(cases_line, "found")
            .or_else(|| number_before(cases_line, "failed"))
            .unwrap_or(0),
        server_errors,
        exit,
        output: stdout.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_is_read_for_passes_and_failures() {
        let passed = "Test cases:\n  596 generated, 596 passed\n";
        let run = parse("customer", passed, 0);
        assert_eq!((run.cases, run.failed, run.server_errors), (596, 0, 0));
        let failed = "SUMMARY ===\nFailures:\n  \u{274c} ST101 Server error: 3\n  \u{274c} ST108 \
                      Response violates schema: 2\n\nTest cases:\n  554 generated, 5 found 5 \
                      unique failures\n";
        let run = parse("admin", failed, 1);
        assert_eq!((run.cases, run.failed, run.server_errors), (554, 5, 3));
    }
}
