//! Every KQL text the service can send, checked by Microsoft's analyzer
//! (`@kusto/language-service-next`) against the GamePlay schema, with `kql/setup.kql`; and
//! `leaderboard kql` printing exactly what the server sends.

use std::io::Write;
use std::num::NonZeroU32;
use std::process::{Command, Stdio};

use chrono::{TimeZone, Utc};
use leaderboard::kql::{TableName, render, render_changes};
use leaderboard::leaderboard::{
    BucketCount, ChangesQuery, CountRun, FirstSpins, Grain, LeaderboardQuery, Recount, Scoring, Segment,
    Stakes, Width, Window,
};
use serde_json::json;

use crate::common::faults::FaultProxy;
use crate::common::{Engine, Fixture, spawn_on_cluster};

const ANALYZER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/kql-analyzer/analyze.js");

/// Runs the analyzer over `texts` (name, kql) with `table` as the GamePlay table's name.
fn analyze(texts: &[(String, String)], table: &str) -> (bool, String) {
    let input: Vec<_> = texts.iter().map(|(name, kql)| json!({ "name": name, "kql": kql })).collect();
    let mut child = Command::new("node")
        .args([ANALYZER, "--strict", "--table", table, "--stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs (the README's test command installs the analyzer)");
    child.stdin.take().unwrap().write_all(serde_json::to_string(&input).unwrap().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), report)
}

/// Every shape the renderer has: every score, with and without a game filter (one game, many,
/// extremes) and stake bounds, the smallest and largest limits, instants from the far past to the far future with and
/// without fractions, for the default table name and operator-chosen ones.
fn rendered(table: &TableName) -> Vec<(String, String)> {
    let instants = [
        Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap(),
        Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::microseconds(1),
        Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap() + chrono::Duration::microseconds(999_999),
    ];
    let games = [None, Some(vec![7]), Some(vec![i32::MIN, -1, 0, 2, 3, i32::MAX])];
    // Qualifying stakes, one kind with each game filter: any, a lower bound, both extremes.
    let bounds = [(None, None), (Some(20), None), (Some(1), Some(i32::MAX))];
    let stakes = bounds.map(|(min, max)| Stakes::new(min, max).unwrap());
    let mut texts = Vec::new();
    for (i, from) in instants.iter().enumerate() {
        for (g, games) in games.iter().enumerate() {
            for limit in [1, 100, 10_000] {
                // Every score, each limit: the best multiplier's template and each total's points.
                for scoring in Scoring::ALL {
                    let query = LeaderboardQuery {
                        window: Window { from: *from, to: instants[2] },
                        games: games.clone(),
                        stakes: stakes[g],
                        limit,
                        counts: vec![],
                        scoring,
                        first: None,
                    };
                    let name = format!("leaderboard {} instant{i} games{g} limit{limit}", scoring.as_str());
                    texts.push((name, render(&query, table)));
                    // Only each player's first spins (one, or the most there can be) from the start.
                    let max = [NonZeroU32::MIN, NonZeroU32::MAX][(limit % 2) as usize];
                    let first = Some(FirstSpins { max, since: instants[i.min(1)], until: instants[2] });
                    let name = format!("first-spins {} instant{i} games{g} limit{limit}", scoring.as_str());
                    texts.push((name, render(&LeaderboardQuery { first, ..query }, table)));
                }
            }
            let window = Window { from: *from, to: instants[2] };
            let (ten, hour) = (Width::seconds(10).unwrap(), Width::HOUR);
            let counts =
                vec![CountRun { range: window, width: hour }, CountRun { range: window, width: ten }];
            let query = LeaderboardQuery {
                window,
                games: games.clone(),
                stakes: stakes[g],
                limit: 1000,
                counts,
                scoring: Default::default(),
                first: None,
            };
            texts.push((format!("leaderboard with counts instant{i} games{g}"), render(&query, table)));
            // Every kind of segment, alone and together, with and without known counts.
            let segment =
                |rows, counts, watched| Segment { range: window, rows, counts, watched, leaving: false };
            let kinds = [
                segment(Some(Grain::Whole), None, false),
                segment(Some(Grain::Every(ten)), Some(ten), true),
                segment(Some(Grain::Whole), Some(ten), true),
                segment(None, Some(ten), false),
                Segment::leaving(window),
                segment(Some(Grain::Every(hour)), Some(hour), false),
            ];
            let known = [vec![], vec![BucketCount { bucket: from.timestamp_micros(), spins: 3 }; 2]];
            for (k, kind) in kinds.iter().enumerate() {
                for (n, known) in known.iter().enumerate() {
                    let query = ChangesQuery {
                        games: games.clone(),
                        stakes: stakes[g],
                        segments: vec![kind.clone()],
                        known: known.clone(),
                        recount: Recount { scoring: Scoring::BestMultiplier, window, first: None },
                    };
                    texts.push((
                        format!("changes {k} known{n} instant{i} games{g}"),
                        render_changes(&query, table),
                    ));
                }
            }
            let query = ChangesQuery {
                games: games.clone(),
                stakes: stakes[g],
                segments: kinds.to_vec(),
                known: known[1].clone(),
                recount: Recount { scoring: Scoring::BestMultiplier, window, first: None },
            };
            texts.push((format!("changes all instant{i} games{g}"), render_changes(&query, table)));
            // A recount (a total's, or first spins' of every score), each kind of segment alone,
            // and all together.
            let mut recounted = |name: &str, recount: Recount| {
                let score = recount.scoring.as_str();
                for (k, kind) in kinds.iter().enumerate() {
                    let query = ChangesQuery { segments: vec![kind.clone()], recount, ..query.clone() };
                    texts.push((
                        format!("{name} {score} {k} instant{i} games{g}"),
                        render_changes(&query, table),
                    ));
                }
                let query = ChangesQuery { recount, ..query.clone() };
                texts
                    .push((format!("{name} {score} all instant{i} games{g}"), render_changes(&query, table)));
            };
            for scoring in Scoring::ALL.into_iter().filter(|s| s.is_total()) {
                recounted("totals-changes", Recount { scoring, window, first: None });
            }
            let first = Some(FirstSpins {
                max: NonZeroU32::new(50).unwrap(),
                since: instants[i.min(1)],
                until: instants[2],
            });
            for scoring in Scoring::ALL {
                recounted("first-changes", Recount { scoring, window, first });
            }
            // First spins, every score: a board's first load with the counts it starts from.
            for scoring in Scoring::ALL {
                let loaded = LeaderboardQuery {
                    window,
                    games: games.clone(),
                    stakes: stakes[g],
                    limit: 1000,
                    counts: vec![CountRun { range: window, width: ten }],
                    scoring,
                    first,
                };
                let name = format!("first-spins with counts {} instant{i} games{g}", scoring.as_str());
                texts.push((name, render(&loaded, table)));
            }
        }
    }
    texts
}

#[test]
fn every_rendered_query_and_the_setup_script_pass_the_analyzer() {
    let mut texts = rendered(&TableName::default());
    texts.push(("readiness probe".into(), leaderboard::adx::PING.into()));
    let setup = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/kql/setup.kql")).unwrap();
    let (ok, report) = analyze(&texts, "GamePlay");
    assert!(ok, "{report}");
    assert!(report.matches("ok ").count() >= texts.len(), "{report}");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("setup.kql");
    std::fs::write(&path, setup).unwrap();
    let out = Command::new("node").args([ANALYZER, path.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));

    for name in ["Spins_2026", "where"] {
        let (ok, report) = analyze(&rendered(&TableName::parse(name).unwrap()), name);
        assert!(ok, "{report}");
    }
}

#[test]
fn the_analyzer_catches_a_broken_query() {
    // The check above can fail: a query on a column GamePlay does not have is flagged.
    let mut texts = rendered(&TableName::default());
    texts[0].1 = texts[0].1.replace("Stake > 0", "Bet > 0");
    let (ok, report) = analyze(&texts[..1], "GamePlay");
    assert!(!ok && report.contains("Bet"), "{report}");
}

#[tokio::test]
async fn kql_subcommand_prints_exactly_what_the_server_sends() {
    let fixture = Fixture::new();
    let engine = Engine::start(&fixture.spins[..5]);
    let proxy = FaultProxy::start(engine.url()).await;
    let (_dir, campaigns) = fixture.write_campaigns();
    let app = spawn_on_cluster(&proxy.url, &campaigns, &["--max-standings", "25"]).await;
    let requests = [
        ("/campaigns/ended/top?limit=3", vec!["ended"]),
        ("/campaigns/edges/window?last=PT1H", vec!["edges", "--last", "1h"]),
        ("/campaigns/live-games/top", vec!["live-games"]),
    ];
    for (path, args) in requests {
        // A live board's first query counts buckets laid out around the instant it is sent:
        // the text printed for the instant before the request or the one after is that one.
        let before = chrono::Utc::now().to_rfc3339();
        let sent_before = proxy.texts().len();
        app.json(path).await;
        let after = chrono::Utc::now().to_rfc3339();
        // The request's own query (a refresh ahead may follow it on a slow machine).
        let sent = proxy.texts()[sent_before].clone();
        let print = |at: &str| {
            let printed = Command::new(env!("CARGO_BIN_EXE_leaderboard"))
                .arg("kql")
                .args(&args)
                .args(["--campaigns", campaigns.to_str().unwrap(), "--max-standings", "25", "--at", at])
                .output()
                .unwrap();
            assert!(printed.status.success(), "{}", String::from_utf8_lossy(&printed.stderr));
            String::from_utf8(printed.stdout).unwrap().trim_end().to_owned()
        };
        let printed = [print(&before), print(&after)];
        assert!(printed.contains(&sent), "{path}: sent\n{sent}\nprinted\n{}", printed[0]);
    }
    let upcoming = Command::new(env!("CARGO_BIN_EXE_leaderboard"))
        .args(["kql", "upcoming", "--campaigns", campaigns.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!upcoming.status.success());
    assert!(String::from_utf8_lossy(&upcoming.stderr).contains("has not started"));
}
