//! HTTP semantics at the edge: entity tags and the caching policy, conditional requests,
//! compression, HEAD, request ids, CORS, and problem documents (never cacheable) for errors
//! that come from layers rather than handlers.

use std::io::Read;

use tokio::io::AsyncReadExt;

use crate::common::faults::Fault;
use crate::common::raw::send_head;
use crate::common::setup;
use crate::common::{TestApp, eventually};

const POLICY: &str = "public, max-age=30, stale-while-revalidate=60, stale-if-error=60";
const CACHEABLE: [&str; 4] = [
    "/campaigns",
    "/campaigns/live-all",
    "/campaigns/live-all/top?limit=5",
    "/campaigns/live-all/window?last=1h",
];

/// A client that sends only the headers it is given and shows answers as sent (reqwest's
/// transparent decompression is on in this build: a dependency enables it).
fn raw() -> reqwest::Client {
    reqwest::Client::builder().no_gzip().no_deflate().build().unwrap()
}

async fn get_with(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = raw().get(format!("{}{path}", app.base));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response.headers().get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

#[tokio::test]
async fn answers_carry_a_strong_etag_that_follows_the_body_and_the_caching_policy() {
    let s = setup(&["--cache-ttl", "30s"]).await;
    for path in CACHEABLE {
        let first = get_with(&s.app, path, &[]).await;
        assert_eq!(first.status(), 200, "{path}");
        let etag = header(&first, "etag");
        assert!(etag.len() > 2 && etag.starts_with('"') && etag.ends_with('"'), "{path}: strong tag {etag}");
        assert_eq!(header(&first, "cache-control"), POLICY, "{path}");
        let again = get_with(&s.app, path, &[]).await;
        assert_eq!(header(&again, "etag"), etag, "{path}: same body, same tag");
    }
    // A refresh that finds the same standings keeps the same bytes and tag: a polling client
    // keeps getting 304, and learns when the board was last checked.
    let s = setup(&["--cache-ttl", "200ms"]).await;
    let first = get_with(&s.app, "/campaigns/live-all/top", &[]).await;
    let (before, checked) = (header(&first, "etag"), header(&first, "x-checked-at"));
    assert_eq!(
        header(&first, "cache-control"),
        "public, max-age=1, stale-while-revalidate=60, stale-if-error=60"
    );
    let mut polls = 0;
    eventually("the board was refreshed twice behind a polling client", || {
        polls += 1;
        let (app, proxy, before) = (&s.app, &s.proxy, before.clone());
        async move {
            let response = get_with(app, "/campaigns/live-all/top", &[("if-none-match", &before)]).await;
            assert_eq!(response.status(), 304, "unchanged standings keep their tag");
            assert_eq!(header(&response, "etag"), before);
            proxy.queries() >= 3
        }
    })
    .await;
    assert!(polls > 1);
    let again = get_with(&s.app, "/campaigns/live-all/top", &[]).await;
    assert_eq!(header(&again, "etag"), before, "same standings, same bytes, same tag");
    assert!(header(&again, "x-checked-at") > checked, "the header says when it was last checked");
}

#[tokio::test]
async fn if_none_match_gets_304_with_no_body_and_the_same_caching_headers() {
    let s = setup(&["--cache-ttl", "30s"]).await;
    for path in CACHEABLE {
        let etag = header(&get_with(&s.app, path, &[]).await, "etag");
        for held in [etag.clone(), format!("\"other\", {etag}"), format!("W/{etag}"), "*".into()] {
            let response = get_with(&s.app, path, &[("if-none-match", &held)]).await;
            assert_eq!(response.status(), 304, "{path} If-None-Match: {held}");
            assert_eq!(header(&response, "etag"), etag);
            assert_eq!(header(&response, "cache-control"), POLICY);
            // What a board's 200 says of its source, for a cache to freshen what it holds.
            let board = path.contains("/top") || path.contains("/window");
            for name in ["age", "x-checked-at", "x-cache"] {
                assert_eq!(response.headers().get(name).is_some(), board, "{path}: {name} on a 304");
            }
            assert!(response.headers().get("content-type").is_none());
            assert!(response.bytes().await.unwrap().is_empty());
        }
        for stale in ["\"other\"", "W/\"other\"", "\"other\", W/\"more\""] {
            let response = get_with(&s.app, path, &[("if-none-match", stale)]).await;
            assert_eq!(response.status(), 200, "{path} If-None-Match: {stale}");
            assert!(!response.bytes().await.unwrap().is_empty());
        }
    }
    let head = raw().head(format!("{}/campaigns/live-all/top", s.app.base));
    let etag = header(&get_with(&s.app, "/campaigns/live-all/top", &[]).await, "etag");
    assert_eq!(head.header("if-none-match", etag).send().await.unwrap().status(), 304);
    // Only an existing representation matches `*`: an error stays an error.
    assert_eq!(get_with(&s.app, "/campaigns/nope", &[("if-none-match", "*")]).await.status(), 404);
}

#[tokio::test]
async fn errors_are_never_cacheable() {
    let s = setup(&[]).await;
    for (path, status) in
        [("/campaigns/nope", 404), ("/campaigns/live-all/top?limit=0", 400), ("/no/route", 404)]
    {
        let response = get_with(&s.app, path, &[]).await;
        assert_eq!(response.status(), status, "{path}");
        assert_eq!(header(&response, "cache-control"), "no-store", "{path}");
        assert!(response.headers().get("etag").is_none(), "{path}");
    }
    s.proxy.set(Fault::Unavailable);
    let response = get_with(&s.app, "/campaigns/live-all/top", &[]).await;
    assert_eq!(response.status(), 502);
    assert_eq!(header(&response, "cache-control"), "no-store");
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).unwrap();
    out
}

fn unbrotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli_decompressor::Decompressor::new(bytes, 4096).read_to_end(&mut out).unwrap();
    out
}

#[tokio::test]
async fn compression_is_negotiated_and_each_coding_has_its_own_tag() {
    let s = setup(&["--cache-ttl", "30s"]).await;
    let path = "/campaigns/live-all/top?limit=50";
    let plain = get_with(&s.app, path, &[]).await;
    assert!(plain.headers().get("content-encoding").is_none());
    assert!(header(&plain, "vary").to_ascii_lowercase().contains("accept-encoding"));
    let etag = header(&plain, "etag");
    let body = plain.bytes().await.unwrap();
    type Decoder = fn(&[u8]) -> Vec<u8>;
    let decoders: [(&str, Decoder); 2] = [("gzip", gunzip), ("br", unbrotli)];
    for (coding, decode) in decoders {
        let response = get_with(&s.app, path, &[("accept-encoding", coding)]).await;
        assert_eq!(header(&response, "content-encoding"), coding);
        let coded_tag = header(&response, "etag");
        assert_eq!(coded_tag, format!("{}-{coding}\"", etag.trim_end_matches('"')));
        let compressed = response.bytes().await.unwrap();
        assert!(compressed.len() < body.len() / 2, "{coding}: {} of {}", compressed.len(), body.len());
        assert_eq!(decode(&compressed), body, "{coding}");
        let held =
            get_with(&s.app, path, &[("accept-encoding", coding), ("if-none-match", &coded_tag)]).await;
        assert_eq!(held.status(), 304, "{coding}");
        assert_eq!(header(&held, "etag"), coded_tag);
        // The identity representation's tag does not validate the compressed one.
        let other = get_with(&s.app, path, &[("accept-encoding", coding), ("if-none-match", &etag)]).await;
        assert_eq!(other.status(), 200, "{coding}");
    }
}

#[tokio::test]
async fn head_works_wherever_get_does() {
    let s = setup(&["--cache-ttl", "30s"]).await;
    for path in CACHEABLE.iter().chain(&["/healthz", "/metrics", "/openapi.json"]) {
        let get = get_with(&s.app, path, &[]).await;
        let head = raw().head(format!("{}{path}", s.app.base)).send().await.unwrap();
        assert_eq!(head.status(), 200, "{path}");
        assert_eq!(header(&head, "etag"), header(&get, "etag"), "{path}");
        assert_eq!(header(&head, "content-type"), header(&get, "content-type"), "{path}");
        assert!(head.bytes().await.unwrap().is_empty(), "{path}");
    }
    let missing = raw().head(format!("{}/campaigns/nope", s.app.base)).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(header(&missing, "content-type"), "application/problem+json");
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let s = setup(&[]).await;
    let mut seen = Vec::new();
    for path in ["/campaigns", "/campaigns/nope", "/campaigns/live-all/top?limit=0", "/no/route", "/healthz"]
    {
        let id = header(&get_with(&s.app, path, &[]).await, "x-request-id");
        let groups: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12], "{path}: a generated UUID, got {id:?}");
        assert!(!seen.contains(&id), "ids are unique");
        seen.push(id);
        let given = get_with(&s.app, path, &[("x-request-id", "client-chosen-42")]).await;
        assert_eq!(header(&given, "x-request-id"), "client-chosen-42", "{path}");
        // One too long (or not visible ASCII) for every log line to repeat gets a new one.
        let long = "x".repeat(129);
        for refused in [long.as_str(), "two words"] {
            let id = header(&get_with(&s.app, path, &[("x-request-id", refused)]).await, "x-request-id");
            assert_eq!(id.split('-').map(str::len).collect::<Vec<_>>(), [8, 4, 4, 4, 12], "{path}: {id:?}");
        }
        let longest = "y".repeat(128);
        assert_eq!(
            header(&get_with(&s.app, path, &[("x-request-id", &longest)]).await, "x-request-id"),
            longest
        );
    }
}

#[tokio::test]
async fn cors_allows_the_configured_origins_only() {
    let s = setup(&["--cors-origins", "https://Game.example.com, https://other.example"]).await;
    let path = "/campaigns/live-all/top";
    let allowed = get_with(&s.app, path, &[("origin", "https://game.example.com")]).await;
    assert_eq!(header(&allowed, "access-control-allow-origin"), "https://game.example.com");
    let vary = allowed.headers().get_all("vary").iter().map(|v| v.to_str().unwrap().to_ascii_lowercase());
    assert!(vary.collect::<Vec<_>>().join(",").contains("origin"), "shared caches keep one per origin");
    let exposed = header(&allowed, "access-control-expose-headers").to_ascii_lowercase();
    for name in ["etag", "x-request-id", "x-checked-at", "age", "x-cache", "warning", "content-disposition"] {
        assert!(exposed.contains(name), "{name} in {exposed}");
    }
    let refused = get_with(&s.app, path, &[("origin", "https://evil.example")]).await;
    assert_eq!(refused.status(), 200, "CORS is the browser's to enforce");
    assert!(refused.headers().get("access-control-allow-origin").is_none());
    let preflight = s
        .app
        .client
        .request(reqwest::Method::OPTIONS, format!("{}{path}", s.app.base))
        .header("origin", "https://other.example")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "if-none-match, x-request-id, last-event-id")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(header(&preflight, "access-control-allow-origin"), "https://other.example");
    assert!(header(&preflight, "access-control-allow-methods").contains("GET"));
    let allowed_headers = header(&preflight, "access-control-allow-headers").to_ascii_lowercase();
    for name in ["if-none-match", "x-request-id", "last-event-id"] {
        assert!(allowed_headers.contains(name), "{name} in {allowed_headers}");
    }
    let error = get_with(&s.app, "/campaigns/nope", &[("origin", "https://game.example.com")]).await;
    assert_eq!(header(&error, "access-control-allow-origin"), "https://game.example.com");

    let any = setup(&["--cors-origins", "*"]).await;
    let response = get_with(&any.app, path, &[("origin", "https://anyone.example")]).await;
    assert_eq!(header(&response, "access-control-allow-origin"), "*");
}

#[tokio::test]
async fn without_cors_origins_there_are_no_cors_headers() {
    let s = setup(&[]).await;
    let response = get_with(&s.app, "/campaigns", &[("origin", "https://game.example.com")]).await;
    assert!(response.headers().keys().all(|name| !name.as_str().starts_with("access-control-")));
    let preflight = s
        .app
        .client
        .request(reqwest::Method::OPTIONS, format!("{}/campaigns", s.app.base))
        .header("origin", "https://game.example.com")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 405);
    assert_eq!(header(&preflight, "content-type"), "application/problem+json");
}

#[tokio::test]
async fn errors_from_layers_and_extractors_are_problem_documents() {
    let s = setup(&[]).await;
    type Headers<'a> = &'a [(&'a str, &'a str)];
    let cases: [(&str, Headers, u16); 8] = [
        // Not UTF-8 once decoded: the path extractor refuses it.
        ("/campaigns/%FF%FE/top", &[], 400),
        ("/campaigns/live-all/top?limit=%FF", &[], 400),
        // No coding the client accepts: 406, for a board encoded ahead and an answer encoded now.
        ("/campaigns/live-all/top", &[("accept-encoding", "identity;q=0, *;q=0")], 406),
        ("/campaigns/live-all/players/1", &[("accept-encoding", "identity;q=0")], 406),
        // Streams and downloads are sent as they are: a request refusing that gets 406 too.
        ("/campaigns/live-all/standings.csv", &[("accept-encoding", "gzip, identity;q=0")], 406),
        ("/campaigns/live-all/top/stream", &[("accept-encoding", "br, *;q=0")], 406),
        ("/campaigns/live-all/players/1/stream", &[("accept-encoding", "identity;q=0")], 406),
        ("/campaigns/live-all/window?last=1h&last=2h", &[], 400),
    ];
    for (path, headers, status) in cases {
        let response = get_with(&s.app, path, headers).await;
        assert_eq!(response.status(), status, "{path}");
        assert_eq!(header(&response, "content-type"), "application/problem+json", "{path}");
        assert_eq!(header(&response, "cache-control"), "no-store", "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["status"], status, "{path}: {body}");
        assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{path}: {body}");
    }
    // Identity listed for itself outweighs the wildcard's refusal.
    let csv =
        get_with(&s.app, "/campaigns/live-all/standings.csv", &[("accept-encoding", "*;q=0, identity")])
            .await;
    assert_eq!(csv.status(), 200);
}

/// HTTP/1.1 requires one valid `Host` field (RFC 9112, section 3.2): a request without it, with
/// two, or with one that is no host gets a 400 problem, on an API route, a document and an
/// unknown path alike; HTTP/1.0 without one and HTTP/1.1 with one are answered.
#[tokio::test]
async fn a_request_without_its_one_valid_host_gets_a_problem() {
    let s = setup(&[]).await;
    let close = "connection: close\r\n\r\n";
    let cases = [
        ("GET /campaigns/live-all/top HTTP/1.1\r\n", 400),
        ("GET /healthz HTTP/1.1\r\n", 400),
        ("GET /nowhere HTTP/1.1\r\n", 400),
        ("GET /healthz HTTP/1.1\r\nhost: a\r\nhost: b\r\n", 400),
        ("GET /healthz HTTP/1.1\r\nhost: user@127.0.0.1\r\n", 400),
        ("GET /healthz HTTP/1.1\r\nhost: a b\r\n", 400),
        ("GET /campaigns/live-all/top HTTP/1.0\r\n", 200),
        ("GET /campaigns/live-all/top HTTP/1.1\r\nhost: 127.0.0.1:1\r\n", 200),
        ("GET /healthz HTTP/1.1\r\nhost: [::1]\r\n", 200),
    ];
    for (head, status) in cases {
        let mut stream = send_head(&s.app.base, &format!("{head}{close}")).await;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        assert_eq!(answer[9..12].parse::<u16>().unwrap(), status, "{head:?}: {answer}");
        if status == 400 {
            assert!(answer.contains("content-type: application/problem+json\r\n"), "{head:?}: {answer}");
            assert!(answer.contains("Host"), "the detail names the field: {answer}");
        }
    }
}
