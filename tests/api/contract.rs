//! The HTTP contract: campaign listings, parameter validation and problem documents, the
//! OpenAPI document and its committed copy, and the Swagger UI.

use serde_json::Value;

use crate::common::{Engine, Fixture, spawn_on_engine};

async fn app_with_fixture() -> (crate::common::TestApp, Engine, tempfile::TempDir) {
    let fixture = Fixture::new();
    let engine = Engine::start(&fixture.spins[..10]);
    let (dir, campaigns) = fixture.write_campaigns();
    let app = spawn_on_engine(&engine, &campaigns, &["--max-limit", "50"]).await;
    (app, engine, dir)
}

#[tokio::test]
async fn campaigns_are_listed_with_status() {
    let (app, _engine, _dir) = app_with_fixture().await;
    let body = app.json("/campaigns").await;
    let list = body["campaigns"].as_array().unwrap();
    let status = |id: &str| list.iter().find(|c| c["id"] == id).unwrap()["status"].clone();
    assert_eq!(list.len(), 6);
    assert_eq!(status("live-all"), "live");
    assert_eq!(status("ended"), "ended");
    assert_eq!(status("upcoming"), "upcoming");
    let one = app.json("/campaigns/live-games").await;
    assert_eq!(one["games"], serde_json::json!([2, 4]));
    assert_eq!(one["name"], "Campaign live-games");
    assert!(one["start"].as_str().unwrap().ends_with('Z'), "{one}");
}

async fn problem(app: &crate::common::TestApp, path: &str, status: u16) -> Value {
    let response = app.get(path).await;
    assert_eq!(response.status(), status, "{path}");
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert_eq!(content_type, "application/problem+json", "{path}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], status, "{path}: {body}");
    for field in ["type", "title", "detail"] {
        assert!(body[field].as_str().is_some_and(|s| !s.is_empty()), "{path}: {field} in {body}");
    }
    body
}

#[tokio::test]
async fn bad_requests_get_problem_documents() {
    let (app, _engine, _dir) = app_with_fixture().await;
    for path in [
        "/campaigns/nope/top",
        "/campaigns/nope",
        "/campaigns/Bad%20Id/top",
        "/campaigns/nope/window?last=1h",
    ] {
        let body = problem(&app, path, 404).await;
        assert_eq!(body["type"], "urn:leaderboard:problem:unknown-campaign");
    }
    for path in [
        "/campaigns/live-all/top?limit=0",
        "/campaigns/live-all/top?limit=51",
        "/campaigns/live-all/top?limit=abc",
        "/campaigns/live-all/top?limit=1&limit=2",
        "/campaigns/live-all/window",
        "/campaigns/live-all/window?last=0s",
        "/campaigns/live-all/window?last=367d",
        "/campaigns/live-all/window?last=15m%7Ctake%201",
        "/campaigns/live-all/window?last=-1h",
    ] {
        problem(&app, path, 400).await;
    }
    let body = problem(&app, "/campaigns/live-all/top?limit=51", 400).await;
    assert!(body["detail"].as_str().unwrap().contains("1 to 50"), "{body}");
    problem(&app, "/no/such/route", 404).await;
    let response = app.client.delete(format!("{}/campaigns", app.base)).send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
}

#[tokio::test]
async fn backend_errors_are_502_problems_that_say_what_adx_said() {
    let fixture = Fixture::new();
    let engine = Engine::start(&fixture.spins[..10]);
    let (_dir, campaigns) = fixture.write_campaigns();
    // A table the engine does not have: ADX-style semantic error.
    let app = spawn_on_engine(&engine, &campaigns, &["--adx-table", "NoSuchTable"]).await;
    let body = problem(&app, "/campaigns/live-all/top", 502).await;
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("General_BadRequest") && detail.contains("unknown table"), "{body}");
    // Failures are not cached: the next request asks again.
    problem(&app, "/campaigns/live-all/top", 502).await;
    assert_eq!(app.metric("leaderboard_backend_queries_total", "outcome=\"rejected\"").await, 2.0);
}

#[tokio::test]
async fn unreachable_backend_is_a_502_problem() {
    let fixture = Fixture::new();
    let (_dir, campaigns) = fixture.write_campaigns();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let cluster = format!("http://127.0.0.1:{port}");
    let app = crate::common::spawn_on_cluster(&cluster, &campaigns, &[]).await;
    problem(&app, "/campaigns/live-all/top", 502).await;
}

#[tokio::test]
async fn openapi_document_is_served_and_committed() {
    let (app, _engine, _dir) = app_with_fixture().await;
    let served = app.json("/openapi.json").await;
    let generated: Value = serde_json::to_value(leaderboard::http::openapi()).unwrap();
    assert_eq!(served, generated);
    let committed_path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
    let committed: Value = serde_json::from_str(&std::fs::read_to_string(committed_path).unwrap()).unwrap();
    assert_eq!(
        committed, generated,
        "openapi/openapi.json is stale: run `cargo run -- openapi > openapi/openapi.json`"
    );
    for path in ["/campaigns/{id}/top", "/campaigns/{id}/window", "/campaigns", "/campaigns/{id}"] {
        assert!(generated["paths"][path]["get"].is_object(), "{path}");
    }
    let docs = app.get("/docs/").await;
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().contains("swagger-ui"));
    let bundle = app.get("/docs/swagger-ui-bundle.js").await;
    assert_eq!(bundle.status(), 200, "Swagger UI assets are served locally");
}
