//! OpenAPI conformance: Schemathesis (PyPI) with every check against the real binary, so the
//! document says what the server enforces (bounds, patterns, item counts) and the server accepts
//! what the document says it does. Streams are left out: their answers never end, and their
//! refusals are the same validators as their GET twins (tested in `streams.rs`).

use std::path::PathBuf;
use std::process::Command;

use crate::common::process::Server;

/// `$SCHEMATHESIS`, else the virtualenv the README's test command fills.
fn schemathesis() -> PathBuf {
    if let Some(p) = std::env::var_os("SCHEMATHESIS") {
        return p.into();
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/st");
    assert!(venv.exists(), "schemathesis is not installed: run the README's test command (tests/run.sh)");
    venv
}

#[test]
fn schemathesis_finds_no_failure_with_every_check() {
    let dir = tempfile::tempdir().unwrap();
    // The demo: campaigns of every status, the simulator moving the boards.
    let server = Server::start(dir.path(), &["serve", "--data-dir", "data"]);
    let output = Command::new(schemathesis())
        .args(["run", &format!("{}/openapi.json", server.base)])
        // This server, whatever the document's `servers` names (the default listen address).
        .args(["--url", &server.base])
        .args(["--checks", "all", "--exclude-path-regex", "/stream$", "--max-examples", "30"])
        .args(["--generation-deterministic", "--request-timeout", "20", "--workers", "1", "--no-color"])
        .env("SCHEMATHESIS_HOOKS", "")
        // Its cache and reports go with the temporary directory, not into the repository.
        .current_dir(dir.path())
        .output()
        .expect("schemathesis runs");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found failures:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(report.contains("Tested: 8"), "every operation but the streams was tested:\n{report}");
}
