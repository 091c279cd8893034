//! The HTTP stack's ceiling: copies of a running service's answers (status, header fields and
//! body, as the service sent them) served by axum on hyper with no work at all and no
//! middleware. wrk against both, side by side, tells how much of a ratio such as `/top` over
//! `/healthz` the bytes on the wire alone decide, and how much the service's own work does
//! (`bash benches/probe.sh ceiling`).
//!
//! `cargo bench --bench ceiling -- http://127.0.0.1:PORT /healthz /campaigns/bench/top` copies
//! those answers (asked for with no `Accept-Encoding`, as wrk asks), prints `listening PORT` and
//! serves them until killed. Run by `cargo test` (no arguments), it copies a server of its own
//! and checks that every copy answers as its original did.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::get;
use bytes::Bytes;

/// One answer as the service sent it, but for the fields hyper writes itself.
#[derive(Clone, Debug, PartialEq)]
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

async fn copy(client: &reqwest::Client, base: &str, path: &str) -> Answer {
    assert!(path.starts_with('/'), "a path: {path}");
    let response = client.get(format!("{base}{path}")).send().await.expect("the service answers");
    let mut headers = response.headers().clone();
    for own in [header::CONTENT_LENGTH, header::DATE, header::TRANSFER_ENCODING] {
        headers.remove(own);
    }
    let status = response.status();
    let body = response.bytes().await.expect("a whole body");
    Answer { status, headers, body }
}

/// Serves each `(path, answer)` as it is, on a port of 127.0.0.1 of the system's choosing: the
/// answer of a path with a query to every request of its path, whatever their query.
async fn serve(answers: Vec<(String, Answer)>) -> (SocketAddr, impl Future<Output = ()>) {
    let app = answers.into_iter().fold(Router::new(), |app, (path, answer)| {
        let route = path.split_once('?').map_or(&*path, |(route, _)| route);
        app.route(route, get(move || async move { (answer.status, answer.headers, answer.body) }))
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let address = listener.local_addr().expect("bound");
    (address, async move { axum::serve(listener, app).await.expect("serving") })
}

async fn copies(client: &reqwest::Client, base: &str, paths: &[String]) -> Vec<(String, Answer)> {
    let mut answers = Vec::new();
    for path in paths {
        answers.push((path.clone(), copy(client, base, path).await));
    }
    answers
}

/// An original of two answers unlike each other, copied, and each copy asked for again.
async fn self_check(client: &reqwest::Client) {
    let json = Bytes::from_static(br#"{"entries":[{"rank":1,"playerId":7,"score":12.5}]}"#);
    let original = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/campaigns/x/top",
            get(move || async move {
                let fields = [(header::ETAG, "\"abc\""), (header::CACHE_CONTROL, "public, max-age=1")];
                (fields, [(header::CONTENT_TYPE, "application/json")], json)
            }),
        )
        .route(
            "/campaigns/x/players/{id}",
            get(|Path(id): Path<u32>, Query(query): Query<HashMap<String, u8>>| async move {
                format!("player {id} around {}", query["around"])
            }),
        )
        .route("/gone", get(|| async { (StatusCode::NOT_FOUND, "no such thing") }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, original).await.unwrap() });
    let paths: Vec<String> = ["/healthz", "/campaigns/x/top", "/gone", "/campaigns/x/players/7?around=5"]
        .map(String::from)
        .to_vec();
    let answers = copies(client, &base, &paths).await;
    assert_eq!(answers[1].1.headers[header::ETAG], "\"abc\"");
    assert_eq!(answers[2].1.status, StatusCode::NOT_FOUND);
    assert_eq!(answers[3].1.body, "player 7 around 5");
    let (address, serving) = serve(answers.clone()).await;
    tokio::spawn(serving);
    let again = copies(client, &format!("http://{address}"), &paths).await;
    assert_eq!(again, answers, "every copy answers as its original");
    let other = copy(client, &format!("http://{address}"), "/campaigns/x/players/7").await;
    assert_eq!(other, answers[3].1, "a path's copy answers whatever the query");
    eprintln!("ceiling: {} answers copied and served as they were", answers.len());
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    // No Accept-Encoding (reqwest would send one): the answers wrk gets.
    let client = reqwest::Client::builder().no_gzip().build().expect("a client");
    let Some((base, paths)) = args.split_first() else {
        return self_check(&client).await;
    };
    let (address, serving) = serve(copies(&client, base, paths).await).await;
    println!("listening {}", address.port());
    serving.await;
}
