//! Hostile input against the app on a real engine. A property test over the public paths and
//! query strings (random ids, limits and spans, unicode, percent-encoding valid and not, huge
//! values, repeated and unknown parameters, GET and HEAD): no answer is a 5xx and every 4xx is
//! a problem document. And request text crafted as KQL never changes a query beyond its
//! typed holes.

use percent_encoding::{AsciiSet, CONTROLS, NON_ALPHANUMERIC, utf8_percent_encode};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use std::collections::HashSet;

use leaderboard::kql::{TableName, render, render_changes};
use leaderboard::leaderboard::{
    BucketCount, ChangesQuery, CountRun, Grain, LeaderboardQuery, Recount, Scoring, Segment, Width, Window,
};

use crate::common::TestApp;
use crate::common::{Setup, setup};

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

/// A query with its typed holes blanked (datetime literals, then every number), so that only
/// what no hole can write is left.
fn skeleton(kql: &str) -> String {
    let mut out = String::new();
    let mut rest = kql;
    while let Some(at) = rest.find("datetime(") {
        out.push_str(&rest[..at]);
        out.push_str("datetime(_)");
        rest = &rest[at..];
        rest = &rest[rest.find(')').unwrap() + 1..];
    }
    out.push_str(rest);
    let mut blanked = String::with_capacity(out.len());
    for c in out.chars() {
        if !(c.is_ascii_digit() && blanked.ends_with(|p: char| p.is_ascii_digit() || p == '0')) {
            blanked.push(if c.is_ascii_digit() { '0' } else { c });
        }
    }
    blanked
}

/// Every line, blanked, that the renderer can write: both templates with every kind of hole
/// filled (ranges, counts, every kind of segment, known counts) for the table the tests use.
fn legitimate_lines() -> HashSet<String> {
    let (ten, hour) = (Width::seconds(10).unwrap(), Width::HOUR);
    let window = Window { from: chrono::Utc::now() - chrono::Duration::days(1), to: chrono::Utc::now() };
    let table = TableName::default();
    let counts = vec![CountRun { range: window, width: hour }, CountRun { range: window, width: ten }];
    let mut texts = vec![render(
        &LeaderboardQuery {
            window,
            games: None,
            stakes: Default::default(),
            limit: 1,
            counts,
            scoring: Default::default(),
            first: None,
        },
        &table,
    )];
    let segment = |rows, counts, watched| Segment { range: window, rows, counts, watched, leaving: false };
    let segments = vec![
        segment(Some(Grain::Whole), None, false),
        segment(Some(Grain::Every(ten)), Some(ten), true),
        segment(Some(Grain::Every(ten)), Some(ten), false),
        segment(Some(Grain::Whole), Some(ten), true),
        segment(None, Some(ten), false),
        Segment::leaving(window),
    ];
    // Each kind of segment last (its leg ends the union) and first, with and without known counts.
    for known in [vec![], vec![BucketCount { bucket: 0, spins: 1 }; 2]] {
        for segment in &segments {
            let segments = vec![segment.clone(), segments[0].clone(), segment.clone()];
            texts.push(render_changes(
                &ChangesQuery {
                    games: None,
                    stakes: Default::default(),
                    segments,
                    known: known.clone(),
                    recount: Recount { scoring: Scoring::BestMultiplier, window, first: None },
                },
                &table,
            ));
        }
    }
    texts.iter().flat_map(|t| skeleton(t).lines().map(str::to_owned).collect::<Vec<_>>()).collect()
}

#[tokio::test]
async fn request_text_crafted_as_kql_never_changes_the_query() {
    // A TTL this short refreshes read views as often as the backend allows, so there is text
    // to compare.
    let s = setup(&["--cache-ttl", "1ms"]).await;
    let lines = legitimate_lines();
    s.app.json("/campaigns/live-all/top").await;
    s.app.json("/campaigns/live-all/window?last=1h").await;
    let mut compared = 0;
    // Views are refreshed ahead at most every twice a query's duration, so the payloads go
    // round until as many queries as payloads went by while they were tried.
    for round in 0.. {
        if compared >= PAYLOADS.len() {
            break;
        }
        assert!(round < 1000, "only {compared} queries compared");
        compared += try_payloads(&s, &lines).await;
    }
}

/// Sends every payload in every place a request can carry text; returns how many queries went
/// by meanwhile, each checked to be made only of lines the renderer writes.
async fn try_payloads(s: &Setup, lines: &HashSet<String>) -> usize {
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
            // Views are refreshed in the background, so a refused request may see other views'
            // queries go by: every text sent must still be made of the renderer's lines only.
            for text in s.proxy.texts().split_off(before) {
                let foreign: Vec<String> =
                    skeleton(&text).lines().filter(|l| !lines.contains(*l)).map(str::to_owned).collect();
                assert!(foreign.is_empty(), "{target} changed a query: {foreign:?} in\n{text}");
                compared += 1;
            }
        }
    }
    compared
}

#[test]
fn the_skeleton_check_catches_a_line_no_hole_writes() {
    let lines = legitimate_lines();
    let table = TableName::default();
    let window = Window { from: chrono::Utc::now(), to: chrono::Utc::now() };
    let legit = render(
        &LeaderboardQuery {
            window,
            games: Some(vec![3, 44]),
            stakes: Default::default(),
            limit: 12,
            counts: vec![],
            scoring: Default::default(),
            first: None,
        },
        &table,
    );
    let with_games: HashSet<String> = skeleton(&legit).lines().map(str::to_owned).collect();
    let lines: HashSet<String> = lines.union(&with_games).cloned().collect();
    assert!(skeleton(&legit).lines().all(|l| lines.contains(l)));
    for injected in [
        legit.replace("| take 12", "| take 12 | take 1"),
        legit.replace("GamePlay", "GamePlay'"),
        format!("{legit}\n| take 1"),
    ] {
        assert!(skeleton(&injected).lines().any(|l| !lines.contains(l)), "{injected}");
    }
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
