//! The campaigns file is reloaded without a restart; a bad edit keeps the last good catalogue.

use std::time::{Duration, Instant};

use crate::common::{Engine, spawn_on_engine};

const ONE: &str =
    "[[campaigns]]\nid = \"first\"\nstart = \"2026-01-01T00:00:00Z\"\nend = \"2026-02-01T00:00:00Z\"\n";
const TWO: &str =
    "[[campaigns]]\nid = \"second\"\nstart = \"2026-01-01T00:00:00Z\"\nend = \"2026-02-01T00:00:00Z\"\n";

async fn ids(app: &crate::common::TestApp) -> Vec<String> {
    let body = app.json("/campaigns").await;
    body["campaigns"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect()
}

async fn eventually(app: &crate::common::TestApp, expected: &[&str]) {
    // Generous: the watcher polls every second, and the machine may be busy with other tests.
    let deadline = Instant::now() + Duration::from_secs(30);
    while ids(app).await != expected {
        assert!(Instant::now() < deadline, "catalogue never became {expected:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn edits_apply_without_restart_and_bad_edits_are_ignored() {
    let engine = Engine::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("campaigns.toml");
    std::fs::write(&path, ONE).unwrap();
    let app = spawn_on_engine(&engine, &path, &[]).await;
    assert_eq!(ids(&app).await, ["first"]);

    std::fs::write(&path, format!("{ONE}\n{TWO}")).unwrap();
    eventually(&app, &["first", "second"]).await;
    assert_eq!(app.get("/campaigns/second/top").await.status(), 200);

    // A duplicate id is invalid: the last good catalogue stays.
    std::fs::write(&path, format!("{ONE}\n{ONE}")).unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(ids(&app).await, ["first", "second"]);

    std::fs::write(&path, TWO).unwrap();
    eventually(&app, &["second"]).await;
    assert_eq!(app.get("/campaigns/first/top").await.status(), 404);
}
