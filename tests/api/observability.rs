//! Observability: request metrics by route template and status, the cached readiness probe,
//! request ids in every log line of a request, refusals at a bound counted and not logged
//! once each, and no secret in any log line or answer.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::common::faults::Fault;
use crate::common::process::Server;
use crate::common::setup;
use crate::common::until;
use crate::common::within;
use crate::common::{Engine, Fixture};

#[tokio::test]
async fn requests_are_counted_and_timed_by_route_template_and_status() {
    let s = setup(&[]).await;
    s.app.json("/campaigns/live-all/top").await;
    s.app.json("/campaigns/ended/top?limit=3").await;
    assert_eq!(s.app.get("/campaigns/nope/top").await.status(), 404);
    assert_eq!(s.app.get("/no/such/route").await.status(), 404);
    let top = "route=\"/campaigns/{id}/top\"";
    let app = &s.app;
    let requests =
        |labels: String| async move { app.metric("leaderboard_http_requests_total", &labels).await };
    assert_eq!(requests(format!("{top},status=\"200\"")).await, 2.0);
    assert_eq!(requests(format!("{top},status=\"404\"")).await, 1.0);
    assert_eq!(requests("route=\"unmatched\",status=\"404\"".into()).await, 1.0);
    let timed = s
        .app
        .metric("leaderboard_http_request_duration_seconds_count", &format!("{top},status=\"200\""))
        .await;
    assert_eq!(timed, 2.0);
    // The scrape itself is the one request in flight.
    assert_eq!(s.app.metric("leaderboard_http_requests_in_flight", "").await, 1.0);
}

#[tokio::test]
async fn readiness_follows_the_backend_through_a_cached_probe() {
    let s = setup(&[]).await;
    let before = s.proxy.queries();
    for _ in 0..20 {
        assert_eq!(s.app.get("/readyz").await.status(), 200);
    }
    assert_eq!(s.proxy.queries(), before + 1, "one probe answers every reader for a while");

    let s = setup(&[]).await;
    s.proxy.set(Fault::Unavailable);
    let response = s.app.get("/readyz").await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], "urn:leaderboard:problem:not-ready");
    s.proxy.set(Fault::None);
    let probes = s.proxy.queries();
    assert_eq!(s.app.get("/readyz").await.status(), 503, "the verdict stands for a few seconds");
    assert_eq!(s.proxy.queries(), probes);
    // The verdict expires after about 5 s; then the backend is probed again.
    within(Duration::from_secs(30), "readiness was probed again", || async {
        s.app.get("/readyz").await.status() == 200
    })
    .await;
    assert!(s.proxy.queries() > probes, "and is probed again after");
    assert_eq!(s.app.get("/healthz").await.status(), 200);
}

/// The real binary on the ADX backend at `cluster`, with the fixture's campaigns, JSON logs
/// at debug level in `log`, and `env` set.
pub struct Binary {
    pub server: Server,
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

pub fn serve_binary(cluster: &str, extra: &[&str], env: &[(&str, &str)]) -> Binary {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("campaigns.toml"), Fixture::new().campaigns_toml()).unwrap();
    let log = dir.path().join("stderr.log");
    let mut args =
        vec!["serve", "--backend", "adx", "--adx-cluster", cluster, "--adx-database", "leaderboard"];
    args.extend(["--campaigns", "campaigns.toml", "--log-format", "json"]);
    args.extend_from_slice(extra);
    let stderr = std::fs::File::create(&log).unwrap();
    let server = Server::start_with(dir.path(), &args, |command| {
        command.env("RUST_LOG", "debug").envs(env.iter().copied()).stderr(Stdio::from(stderr));
    });
    Binary { server, log, _dir: dir }
}

impl Binary {
    pub async fn get(&self, path: &str, request_id: &str) -> (u16, String) {
        let url = format!("{}{path}", self.server.base);
        let response =
            reqwest::Client::new().get(url).header("x-request-id", request_id).send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// The complete log lines written so far.
    pub fn logs(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.log).unwrap();
        let complete = &text[..text.rfind('\n').map_or(0, |end| end + 1)];
        complete.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
    }

    /// The log lines, once `written` holds of them (the server logs as it goes, after
    /// answering too).
    pub async fn logs_once(&self, written: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let written = &written;
        until(Duration::from_secs(30), "the expected lines were logged", || async move {
            let logs = self.logs();
            written(&logs).then_some(logs)
        })
        .await
    }
}

#[tokio::test]
async fn every_log_line_of_a_request_carries_its_id() {
    let fixture = Fixture::new();
    let engine = Engine::start(&fixture.spins[..50]);
    let app = serve_binary(&engine.url(), &["--adx-auth", "none"], &[]);
    assert_eq!(app.get("/campaigns/ended/top", "trace-me-7").await.0, 200);
    assert_eq!(app.get("/campaigns/nope/top", "trace-me-8").await.0, 404);
    let in_request = |logs: &[Value]| -> Vec<Value> {
        logs.iter().filter(|l| l["span"]["name"] == "request").cloned().collect()
    };
    let of = |lines: &[Value], id: &str| lines.iter().filter(|l| l["span"]["request_id"] == id).count();
    let logs = app
        .logs_once(|logs| {
            let lines = in_request(logs);
            of(&lines, "trace-me-7") >= 3 && of(&lines, "trace-me-8") >= 2
        })
        .await;
    for line in &in_request(&logs) {
        assert!(line["span"]["request_id"].as_str().is_some_and(|id| id.starts_with("trace-me-")), "{line}");
    }
    // The shared query is the view's, not the first request's: it logs under the view.
    let query = logs.iter().find(|l| l["fields"]["message"] == "ADX query").expect("the query is logged");
    assert_eq!(query["span"]["name"], "view", "{query}");
    assert_eq!(query["span"]["campaign"], "ended", "{query}");
}

#[tokio::test]
async fn an_incident_is_logged_once_when_it_starts_and_once_when_it_ends() {
    let fixture = Fixture::new();
    let engine = Engine::start(&fixture.spins[..50]);
    let proxy = crate::common::faults::FaultProxy::start(engine.url()).await;
    let app = serve_binary(&proxy.url, &["--adx-auth", "none", "--cache-ttl", "100ms"], &[]);
    assert_eq!(app.get("/campaigns/live-all/top", "ok-1").await.0, 200);
    proxy.set(Fault::Permanent);
    // Many readers and many refreshes meet the same failure.
    let failing = proxy.queries();
    within(Duration::from_secs(30), "the view was refreshed while read", || async {
        app.get("/campaigns/live-all/top", "during").await;
        proxy.queries() >= failing + 10
    })
    .await;
    proxy.set(Fault::None);
    let count = |logs: &[Value], level: &str, message: &str| {
        logs.iter().filter(|l| l["level"] == level && l["fields"]["message"] == message).count()
    };
    // Read on: a view is refreshed while it is read, and its next refresh works.
    let recovered = |logs: &[Value]| {
        count(logs, "INFO", "ADX answers queries again") == 1
            && count(logs, "INFO", "the view's refreshes work again") == 1
    };
    crate::common::eventually("the recovery was logged", || async {
        app.get("/campaigns/live-all/top", "after").await;
        recovered(&app.logs())
    })
    .await;
    let logs = app.logs();
    let refused: Vec<&Value> = logs
        .iter()
        .filter(|l| l["level"] == "WARN" && l["fields"]["message"] == "ADX refused the query")
        .collect();
    assert_eq!(refused.len(), 1, "once");
    assert_eq!(
        refused[0]["fields"]["detail"], "Injected fault BadRequest_SyntaxError",
        "with the whole message"
    );
    assert!(count(&logs, "DEBUG", "ADX refused the query again") >= 9, "the repeats at debug");
    let view_failed = "the view's refresh failed: serving its last good standings";
    assert_eq!(count(&logs, "WARN", view_failed), 1);
    assert_eq!(count(&logs, "WARN", "request failed"), 0, "no line per request");
}

const SECRET: &str = "s3cr3t-Value-That-Must-Not-Leak";

fn assert_no_secret(app: &Binary, answers: &[(u16, String)]) {
    let logs = std::fs::read_to_string(&app.log).unwrap();
    assert!(logs.lines().count() > 5, "debug logs were written: {logs}");
    assert!(!logs.contains(SECRET), "a secret reached the logs:\n{logs}");
    for (status, body) in answers {
        assert!(!body.contains(SECRET), "a secret reached a {status} answer: {body}");
    }
}

#[tokio::test]
async fn refusals_at_a_bound_are_not_logged_per_request() {
    let fixture = Fixture::new();
    let engine = Engine::start(&fixture.spins[..50]);
    let app = serve_binary(&engine.url(), &["--adx-auth", "none", "--max-streams", "1"], &[]);
    let url = format!("{}/campaigns/live-all/top/stream", app.server.base);
    let held = reqwest::Client::new().get(&url).send().await.unwrap();
    assert_eq!(held.status(), 200);
    for n in 0..5 {
        let (status, body) = app.get("/campaigns/live-all/top/stream", &format!("refused-{n}")).await;
        assert_eq!(status, 503, "{body}");
    }
    assert_eq!(app.get("/campaigns/nope/top", "not-found").await.0, 404);
    let of = |line: &Value, id: &str| line["span"]["request_id"].as_str().is_some_and(|r| r.starts_with(id));
    // The requests are in the logs (the trace layer's lines at debug), the last one included.
    let logs = app
        .logs_once(|logs| {
            (0..5).all(|n| logs.iter().any(|l| of(l, &format!("refused-{n}"))))
                && logs.iter().any(|l| of(l, "not-found"))
        })
        .await;
    let warned: Vec<&Value> = logs
        .iter()
        .filter(|l| of(l, "refused-") && matches!(l["level"].as_str(), Some("WARN" | "ERROR")))
        .collect();
    assert!(warned.is_empty(), "a refusal is counted, not logged: {warned:?}");
    let (_, metrics) = app.get("/metrics", "metrics").await;
    let refused = metrics
        .lines()
        .find(|l| l.starts_with("leaderboard_http_requests_total{") && l.contains("status=\"503\""));
    assert_eq!(refused.and_then(|l| l.rsplit(' ').next()), Some("5"), "and counted: {metrics}");
    drop(held);
}

#[tokio::test]
async fn a_client_secret_never_reaches_logs_or_answers() {
    // An authority (and a cluster: tokens go to https clusters only) that refuses
    // connections: the token request fails, on this machine.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let authority = format!("https://127.0.0.1:{closed}");
    let env = [
        ("AZURE_TENANT_ID", "72f988bf-86f1-41af-91ab-2d7cd011db47"),
        ("AZURE_CLIENT_ID", "04b07795-8ddb-461a-bbee-02f9e1bf7b46"),
        ("AZURE_CLIENT_SECRET", SECRET),
        ("AZURE_AUTHORITY_HOST", &authority),
    ];
    // The scope given: the cluster's auth metadata is out of reach too.
    let args =
        ["--adx-auth", "secret", "--adx-scope", "https://kusto.example/.default", "--request-timeout", "1s"];
    let app = serve_binary(&authority, &args, &env);
    let mut answers = Vec::new();
    for path in ["/campaigns/live-all/top", "/readyz", "/campaigns/nope", "/metrics"] {
        answers.push(app.get(path, "secret-test").await);
    }
    // The credential retries the authority past the budget.
    assert_eq!(answers[0].0, 504, "{:?}", answers[0]);
    assert_eq!(answers[1].0, 503, "{:?}", answers[1]);
    // The secret was put to use: a token request is logged.
    app.logs_once(|logs| logs.iter().any(|l| l.to_string().contains("oauth2/v2.0/token"))).await;
    assert_no_secret(&app, &answers);
}

#[tokio::test]
async fn a_password_in_the_cluster_url_never_reaches_logs_or_answers() {
    let fixture = Fixture::new();
    let engine = Engine::start(&fixture.spins[..50]);
    let cluster = engine.url().replace("http://", &format!("http://svc:{SECRET}@"));
    let app = serve_binary(&cluster, &["--adx-auth", "none"], &[]);
    let mut answers = Vec::new();
    for path in ["/campaigns/live-all/top", "/readyz", "/campaigns/nope", "/metrics"] {
        answers.push(app.get(path, "secret-test").await);
    }
    assert_eq!(answers[0].0, 200, "{:?}", answers[0]);
    assert_no_secret(&app, &answers);
}
