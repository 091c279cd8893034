//! The round trip against a fake cluster on 127.0.0.1 that answers from a script: what is sent,
//! and what each kind of answer becomes.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{HeaderMap, Response, StatusCode as Status};
use serde_json::json;

use super::*;
use crate::adx::answer::Answer;

/// One scripted answer: a status, a wait before it starts, and its body in parts with a wait
/// before each.
#[derive(Clone)]
struct Reply {
    status: u16,
    wait: Duration,
    parts: Vec<(Duration, Vec<u8>)>,
}

impl Reply {
    fn ok(body: serde_json::Value) -> Self {
        Self {
            status: 200,
            wait: Duration::ZERO,
            parts: vec![(Duration::ZERO, serde_json::to_vec(&body).unwrap())],
        }
    }

    fn status(status: u16, body: serde_json::Value) -> Self {
        Self { status, ..Self::ok(body) }
    }
}

/// What the fake saw of each request.
#[derive(Clone, Debug)]
struct Seen {
    path: String,
    headers: HeaderMap,
}

struct Fake {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Fake {
    async fn start(prefix: &str, replies: Vec<Reply>) -> Self {
        let script = Arc::new(Mutex::new(VecDeque::from(replies)));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (script2, seen2) = (script.clone(), seen.clone());
        let app = axum::Router::new().fallback(move |uri: axum::http::Uri, headers: HeaderMap| {
            let (script, seen) = (script2.clone(), seen2.clone());
            async move {
                seen.lock().unwrap().push(Seen { path: uri.path().to_owned(), headers });
                let reply = script.lock().unwrap().pop_front().expect("a reply for every request");
                tokio::time::sleep(reply.wait).await;
                let parts = futures_parts(reply.parts);
                Response::builder().status(reply.status).body(Body::from_stream(parts)).unwrap()
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}{prefix}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn futures_parts(
    parts: Vec<(Duration, Vec<u8>)>,
) -> impl tokio_stream::Stream<Item = Result<bytes::Bytes, std::io::Error>> {
    tokio_stream::StreamExt::then(tokio_stream::iter(parts), |(wait, bytes)| async move {
        tokio::time::sleep(wait).await;
        Ok(bytes::Bytes::from(bytes))
    })
}

fn config(url: &str) -> AdxConfig {
    AdxConfig {
        cluster: Url::parse(url).unwrap(),
        database: "leaderboard".into(),
        table: TableName::default(),
        timeout: Duration::from_millis(200),
        margin: Duration::from_millis(200),
        retry_window: Duration::from_secs(3),
        results_cache_max_age: None,
    }
}

async fn query(fake: &Fake) -> Result<Answer, BackendError> {
    query_at(&fake.url).await
}

/// The query through the backend's own client.
async fn query_at(url: &str) -> Result<Answer, BackendError> {
    let http = crate::adx::client().unwrap();
    run(&http, &config(url), None, &Incidents::default(), "print Total = 1", Answer::default).await
}

fn frames(rows: serde_json::Value, completion: serde_json::Value) -> serde_json::Value {
    json!([
        {"FrameType": "DataSetHeader", "Version": "v2.0"},
        {"FrameType": "DataTable", "TableId": 1, "TableKind": "PrimaryResult", "TableName": "PrimaryResult",
         "Columns": [{"ColumnName": "Total", "ColumnType": "long"}], "Rows": rows},
        completion
    ])
}

fn ok() -> serde_json::Value {
    frames(json!([[42]]), json!({"FrameType": "DataSetCompletion", "HasErrors": false, "Cancelled": false}))
}

fn in_stream(message: &str, permanent: bool) -> serde_json::Value {
    let error = json!({"error": {"code": "Internal service error", "message": "Request aborted due to an internal service error.",
                                 "@message": message, "@permanent": permanent}});
    frames(
        json!([[42], {"OneApiErrors": [error]}]),
        json!({"FrameType": "DataSetCompletion", "HasErrors": true}),
    )
}

#[tokio::test]
async fn requests_carry_the_sdk_headers_under_the_cluster_path() {
    let fake = Fake::start("/gateway/kusto/", vec![Reply::ok(ok())]).await;
    assert_eq!(query(&fake).await.unwrap().total, Some(42));
    let seen = &fake.seen()[0];
    assert_eq!(seen.path, "/gateway/kusto/v2/rest/query", "appended to the cluster's own path");
    let header = |name: &str| seen.headers.get(name).map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(header("x-ms-version").as_deref(), Some(API_VERSION));
    assert_eq!(
        header("x-ms-client-version").unwrap(),
        format!("Kusto.Leaderboard:{}", env!("CARGO_PKG_VERSION"))
    );
    assert!(header("x-ms-client-request-id").unwrap().starts_with("leaderboard;"));
    assert_eq!(header("content-type").as_deref(), Some("application/json; charset=utf-8"));
    assert!(header("authorization").is_none(), "no token configured, none sent");
}

#[tokio::test]
async fn a_big_answer_that_started_in_time_is_read_to_its_end() {
    // Ten parts, 100 ms apart: a second in all, five times the deadline for the answer to start.
    let body = serde_json::to_vec(&ok()).unwrap();
    let step = body.len().div_ceil(10);
    let parts = body.chunks(step).map(|c| (Duration::from_millis(100), c.to_vec())).collect();
    let fake = Fake::start("", vec![Reply { status: 200, wait: Duration::ZERO, parts }]).await;
    assert_eq!(query(&fake).await.unwrap().total, Some(42));
}

#[tokio::test]
async fn an_answer_that_does_not_start_in_time_is_a_timeout() {
    let late = Reply { wait: Duration::from_millis(1500), ..Reply::ok(ok()) };
    let fake = Fake::start("", vec![late]).await;
    assert!(matches!(query(&fake).await, Err(BackendError::Timeout(_))));
    let stalled = Reply {
        parts: vec![(Duration::ZERO, b"[".to_vec()), (Duration::from_secs(2), b"]".to_vec())],
        ..Reply::ok(ok())
    };
    let fake = Fake::start("", vec![stalled]).await;
    assert!(matches!(query(&fake).await, Err(BackendError::Timeout(_))), "a body that stalls");
    assert_eq!(fake.seen().len(), 1, "a timeout is not tried again");
}

#[tokio::test]
async fn an_expired_query_in_the_stream_is_a_timeout() {
    let expired = in_stream("Query execution has resulted in error (0x80DA0006): Query is expired.", false);
    let fake = Fake::start("", vec![Reply::ok(expired)]).await;
    assert!(matches!(query(&fake).await, Err(BackendError::Timeout(_))));
    assert_eq!(fake.seen().len(), 1);
}

#[tokio::test]
async fn in_stream_errors_are_retried_only_when_not_permanent() {
    let fake = Fake::start("", vec![Reply::ok(in_stream("Transient failure", false)), Reply::ok(ok())]).await;
    assert_eq!(query(&fake).await.unwrap().total, Some(42));
    assert_eq!(fake.seen().len(), 2);
    let fake = Fake::start("", vec![Reply::ok(in_stream("Runaway query", true)), Reply::ok(ok())]).await;
    match query(&fake).await {
        Err(BackendError::Rejected { code, message }) => {
            assert_eq!(code, "Internal service error");
            assert!(message.contains("Runaway query"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.seen().len(), 1);
}

#[tokio::test]
async fn service_errors_are_retried_as_marked() {
    let transient = json!({"error": {"code": "ServiceUnavailable", "message": "busy", "@permanent": false}});
    let fake = Fake::start("", vec![Reply::status(503, transient), Reply::ok(ok())]).await;
    assert!(query(&fake).await.is_ok());
    let permanent = json!({"error": {"code": "BadRequest_SemanticError", "message": "no such column", "@permanent": true}});
    let fake = Fake::start("", vec![Reply::status(400, permanent)]).await;
    assert!(matches!(query(&fake).await, Err(BackendError::Rejected { .. })));
    let throttled = json!({"error": {"code": "TooManyRequests", "message": "throttled"}});
    let fake = Fake::start("", vec![Reply::status(429, throttled.clone()), Reply::ok(ok())]).await;
    assert!(query(&fake).await.is_ok(), "429 is tried again");
    let _ = Status::OK;
}

#[tokio::test]
async fn a_504_or_an_expired_query_is_a_timeout_not_tried_again() {
    let expired = json!({"error": {"code": "Gateway", "message": "Query is expired", "@permanent": false}});
    for (status, body) in [(504, json!({})), (500, expired.clone()), (504, expired)] {
        let fake = Fake::start("", vec![Reply::status(status, body.clone()), Reply::ok(ok())]).await;
        assert!(matches!(query(&fake).await, Err(BackendError::Timeout(_))), "{status} {body}");
        assert_eq!(fake.seen().len(), 1, "{status} {body}");
    }
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let followed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = followed.clone();
    let app = axum::Router::new()
        .route(
            "/v2/rest/query",
            axum::routing::post(|| async { (Status::TEMPORARY_REDIRECT, [("location", "/elsewhere")]) }),
        )
        .route(
            "/elsewhere",
            axum::routing::any(move || {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async { serde_json::to_vec(&ok()).unwrap() }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    match query_at(&url).await {
        Err(BackendError::Unreachable(message)) => assert!(message.contains("redirect"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(followed.load(std::sync::atomic::Ordering::SeqCst), 0, "the query went nowhere else");
}

#[tokio::test]
async fn a_refused_connection_is_tried_again_within_the_window() {
    // A port with no listener yet: the first attempts are refused, then the cluster comes up.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let url = format!("http://127.0.0.1:{port}");
    let later = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let app = axum::Router::new().fallback(|| async { serde_json::to_vec(&ok()).unwrap() });
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        axum::serve(listener, app).await.unwrap();
    });
    let http = reqwest::Client::new();
    let answer =
        run(&http, &config(&url), None, &Incidents::default(), "print Total = 1", Answer::default).await;
    assert_eq!(answer.unwrap().total, Some(42));
    later.abort();
}

#[tokio::test]
async fn answers_past_the_cap_are_refused_announced_or_not() {
    let huge = Reply { parts: vec![(Duration::ZERO, vec![b' '; MAX_ANSWER_BYTES + 1])], ..Reply::ok(ok()) };
    let fake = Fake::start("", vec![huge]).await;
    match query(&fake).await {
        Err(BackendError::Malformed(m)) => assert!(m.contains("larger than"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn clients_get_the_code_and_the_start_of_the_message() {
    let message = format!("Semantic error: {}", "é".repeat(5000));
    let incidents = Incidents::default();
    let BackendError::Rejected { code, message: short } =
        rejected(&incidents, "SEM0100".into(), &message, "id")
    else {
        panic!("not rejected");
    };
    assert_eq!(code, "SEM0100");
    assert!(short.starts_with("Semantic error: é"), "{short}");
    assert_eq!(short.chars().count(), MAX_CLIENT_MESSAGE_CHARS + 1, "cut, with an ellipsis");
    let BackendError::Rejected { message: whole, .. } = rejected(&incidents, "x".into(), "short", "id")
    else {
        panic!("not rejected");
    };
    assert_eq!(whole, "short");
}

#[test]
fn timespans_are_kql_literals() {
    assert_eq!(timespan(Duration::from_secs(5)), "00:00:05.0000000");
    assert_eq!(timespan(Duration::from_millis(1500)), "00:00:01.5000000");
    assert_eq!(timespan(Duration::from_secs(90_061)), "1.01:01:01.0000000");
    assert_eq!(timespan(Duration::ZERO), "00:00:00.0000000");
}

#[test]
fn endpoint_keeps_the_cluster_path() {
    let config = config("https://c.westeurope.kusto.windows.net");
    assert_eq!(config.endpoint().as_str(), "https://c.westeurope.kusto.windows.net/v2/rest/query");
    assert!(config.no_truncation(), "a real cluster is asked not to truncate");
    let prefixed =
        AdxConfig { cluster: Url::parse("https://gw.example.com/kusto/").unwrap(), ..config.clone() };
    assert_eq!(prefixed.endpoint().as_str(), "https://gw.example.com/kusto/v2/rest/query");
    let local = AdxConfig { cluster: Url::parse("http://127.0.0.1:8082").unwrap(), ..config };
    assert!(!local.no_truncation(), "local engines refuse the option");
}
