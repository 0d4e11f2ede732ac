//! `make chaos`: the fault matrix at full length, with progress and the report on stderr (the
//! functions' logs on stdout), written to `docs/reliability.md`. `chaos --short` runs the
//! shortened matrix (what `make test` runs); `chaos --only NAME` runs the scenarios whose name
//! contains NAME (and writes no report); `--report PATH` writes elsewhere. Exits 1 if any
//! invariant failed.

use system_tests::chaos::{self, Scale};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut scale = Scale::full();
    let mut only = Vec::new();
    let root = system_tests::repo_root();
    let mut report = Some(
        root.canonicalize()
            .unwrap_or(root)
            .join("docs/reliability.md"),
    );
    let mut command = "make chaos".to_string();
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--short" => {
                scale = Scale::short();
                command = "chaos --short".into();
            }
            "--only" => {
                i += 1;
                only.extend(args.get(i).cloned());
            }
            "--report" => {
                i += 1;
                report = args.get(i).map(Into::into);
            }
            "--no-report" => report = None,
            other => {
                eprintln!(
                    "usage: chaos [--short] [--only NAME]... [--report PATH | --no-report] ({other}?)"
                );
                std::process::exit(2);
            }
        }
        i += 1;
    }
    let started = std::time::Instant::now();
    let outcomes = chaos::run(scale, &only).await;
    let text = chaos::report(&outcomes, scale, &command);
    // Progress and the report on stderr; the functions' own logs go to stdout.
    eprintln!("{text}");
    eprintln!(
        "chaos: {} scenarios in {:.0} s",
        outcomes.len(),
        started.elapsed().as_secs_f64()
    );
    if let Some(path) = report.filter(|_| only.is_empty()) {
        match std::fs::write(&path, &text) {
            Ok(()) => eprintln!("chaos: wrote {}", path.display()),
            Err(e) => {
                eprintln!("chaos: could not write {}: {e}", path.display());
                std::process::exit(1);
            }
        }
    }
    if outcomes.iter().any(|o| !o.findings.holds()) {
        std::process::exit(1);
    }
}
