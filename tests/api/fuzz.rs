//! Hostile input against the app on a real engine. A property test over the public paths and
//! query strings (random ids, limits and spans, unicode, percent-encoding valid and not, huge
//! values, repeated and unknown parameters, GET and HEAD): no answer is a 5xx and every 4xx is
//! a problem document. And request text crafted as KQL never changes a query beyond its
//! typed holes.

use percent_encoding::{AsciiSet, CONTROLS, NON_ALPHANUMERIC, utf8_percent_encode};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::common::TestApp;
use crate::sharing::{Setup, setup};

/// What may stand for an id, a name or a value.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(IDS.to_vec()).prop_map(String::from),
        "-?[0-9]{1,30}",
        "-?[0-9]{1,6}(\\.[0-9]{1,4})?(ns|us|ms|s|m|h|d|D|min|tick)?",
        "-?P(T)?([0-9]{1,6}[DHMS]){0,3}",
        prop::sample::select(vec![
            "' | take 1",
            "\"; .drop table GamePlay",
            "\n| take 1",
            "15m | take 1",
            "{table}"
        ])
        .prop_map(String::from),
        "\\PC{0,40}",
        any::<String>(),
        "[a-z0-9-]{60,4000}",
    ]
}

/// Characters that would change the URL's structure, and what is not printable ASCII.
const STRUCTURE: &AsciiSet = &CONTROLS.add(b' ').add(b'#').add(b'?').add(b'/').add(b'&').add(b'=').add(b'%');

/// `piece` percent-encoded fully, only where the URL needs it, or with a broken escape.
fn encoded() -> impl Strategy<Value = String> {
    let broken = prop::sample::select(vec!["%", "%G1", "%FF", "%C3%28", "%00", "%2", "%E2%82"]);
    (piece(), 0..3u8, broken).prop_map(|(text, how, broken)| match how {
        0 => utf8_percent_encode(&text, NON_ALPHANUMERIC).to_string(),
        1 => utf8_percent_encode(&text, STRUCTURE).to_string(),
        _ => format!("{}{broken}", utf8_percent_encode(&text, STRUCTURE)),
    })
}

const IDS: [&str; 5] = ["live-all", "ended", "upcoming", "edges", "live-games"];

/// Mostly the campaigns that exist, so that requests get past the id to the parameters.
fn id() -> impl Strategy<Value = String> {
    prop_oneof![3 => prop::sample::select(IDS.to_vec()).prop_map(String::from), 1 => encoded()]
}

fn path() -> impl Strategy<Value = String> {
    (0..10u8, id(), encoded()).prop_map(|(shape, id, other)| match shape {
        0..=3 => format!("/campaigns/{id}/window"),
        4..=6 => format!("/campaigns/{id}/top"),
        7 => format!("/campaigns/{id}"),
        8 => format!("/campaigns/{id}/{other}"),
        _ => format!("/{other}/{id}/"),
    })
}

fn query() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        4 => prop::sample::select(vec!["limit", "last"]).prop_map(String::from),
        1 => prop::sample::select(vec!["LIMIT", "last[]", ""]).prop_map(String::from),
        1 => encoded(),
    ];
    prop::collection::vec((name, encoded(), prop::bool::weighted(0.1)), 0..4).prop_map(|params| {
        let pairs: Vec<String> = params
            .into_iter()
            .map(|(name, value, bare)| if bare { name } else { format!("{name}={value}") })
            .collect();
        if pairs.is_empty() { String::new() } else { format!("?{}", pairs.join("&")) }
    })
}

async fn check(app: &TestApp, head: bool, target: &str) -> Result<(), TestCaseError> {
    let url = format!("{}{target}", app.base);
    let request = if head { app.client.head(&url) } else { app.client.get(&url) };
    let response = request.send().await.map_err(|e| TestCaseError::fail(format!("{target}: {e}")))?;
    let status = response.status().as_u16();
    prop_assert!(status < 500, "{target}: {status}");
    let content_type = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
    let body = response.bytes().await.unwrap();
    if status >= 400 {
        prop_assert_eq!(content_type.as_deref(), Some("application/problem+json"), "{} {}", target, status);
        if !head {
            let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
            prop_assert_eq!(&problem["status"], status, "{}", target);
        }
    }
    Ok(())
}

#[test]
fn no_path_or_query_string_gets_a_5xx_and_every_4xx_is_a_problem() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let s = runtime.block_on(setup(&["--cache-ttl", "30s"]));
    let config = Config { cases: 300, failure_persistence: None, ..Config::default() };
    let mut runner = TestRunner::new(config);
    let strategy = (any::<bool>(), path(), query());
    let outcome = runner.run(&strategy, |(head, path, query)| {
        runtime.block_on(check(&s.app, head, &format!("{path}{query}")))
    });
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
}

/// Crafted as KQL: quotes, pipes, statement separators, newlines, comments, template holes.
const PAYLOADS: [&str; 12] = [
    "'",
    "\"",
    "' | take 1",
    "\" | take 1 //",
    "; .drop table GamePlay",
    "\n| take 1",
    "\r\n| where true",
    "') or true //",
    "1h | take 1",
    "15m;",
    "{table}",
    "```",
];

/// The query with its datetime holes blanked: a window's instants follow the clock.
fn shape(kql: &str) -> String {
    let mut out = String::new();
    let mut rest = kql;
    while let Some(at) = rest.find("datetime(") {
        out.push_str(&rest[..at]);
        out.push_str("datetime(_)");
        rest = &rest[at..];
        rest = &rest[rest.find(')').unwrap() + 1..];
    }
    out + rest
}

#[tokio::test]
async fn request_text_crafted_as_kql_never_changes_the_query() {
    // A TTL this short refreshes read views as often as the backend allows, so there is text
    // to compare.
    let s = setup(&["--cache-ttl", "1ms"]).await;
    s.app.json("/campaigns/live-all/top").await;
    let top = s.proxy.texts().pop().unwrap();
    s.app.json("/campaigns/live-all/window?last=1h").await;
    let window = shape(&s.proxy.texts().pop().unwrap());
    let mut compared = 0;
    // Views are refreshed ahead at most every twice a query's duration, so the payloads go
    // round until as many queries as payloads went by while they were tried.
    for round in 0.. {
        if compared >= PAYLOADS.len() {
            break;
        }
        assert!(round < 1000, "only {compared} queries compared");
        compared += try_payloads(&s, &top, &window).await;
    }
}

/// Sends every payload in every place a request can carry text; returns how many queries went
/// by meanwhile, each checked to be one of the two legitimate ones.
async fn try_payloads(s: &Setup, top: &str, window: &str) -> usize {
    let mut compared = 0;
    for payload in PAYLOADS {
        let e = utf8_percent_encode(payload, NON_ALPHANUMERIC).to_string();
        let targets = [
            format!("/campaigns/{e}/top"),
            format!("/campaigns/live-all{e}/top"),
            format!("/campaigns/{e}/window?last=1h"),
            format!("/campaigns/live-all/window?last={e}"),
            format!("/campaigns/live-all/window?last=1h{e}"),
            format!("/campaigns/live-all/top?limit={e}"),
            format!("/campaigns/live-all/top?limit=5{e}"),
            format!("/campaigns/live-all/top?limit=5&x={e}"),
            format!("/campaigns/live-all/window?last=1h&{e}={e}"),
        ];
        for target in targets {
            let before = s.proxy.texts().len();
            let status = s.app.get(&target).await.status().as_u16();
            assert!(status == 200 || (400..500).contains(&status), "{target}: {status}");
            // Views are refreshed ahead in the background, so a refused request may see other
            // views' queries go by: every text sent must still be one of the legitimate two.
            for text in s.proxy.texts().split_off(before) {
                assert!(text == top || shape(&text) == window, "{target} changed a query: {text}");
                compared += 1;
            }
        }
    }
    compared
}

#[tokio::test]
async fn query_strings_with_too_many_or_repeated_parameters_are_refused() {
    let s = setup(&[]).await;
    let names = |n: usize| (0..n).map(|i| format!("p{i}=1")).collect::<Vec<_>>().join("&");
    assert_eq!(s.app.get(&format!("/campaigns/live-all/top?limit=3&{}", names(31))).await.status(), 200);
    for query in [names(33), names(4000), "limit=1&limit=2".into(), "last=1h&last=2h".into()] {
        let response = s.app.get(&format!("/campaigns/live-all/window?{query}")).await;
        assert_eq!(response.status(), 400, "{}", &query[..query.len().min(40)]);
        assert_eq!(response.headers()["content-type"], "application/problem+json");
    }
}
