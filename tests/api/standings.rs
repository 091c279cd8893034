//! The standings engine against the oracle, on both backends: pages and totals of every view,
//! every player's entry and neighbours, friends' boards, and players past the snapshot cap.
//! Also: lookups share one query, views are bounded, declared windows refuse others.

use chrono::Duration;
use futures::StreamExt;
use futures::future::join_all;
use serde_json::Value;

use crate::common::faults::{Fault, FaultProxy};
use crate::common::fixture::{CampaignDef, Row, SPANS};
use crate::common::{
    Engine, Fixture, TestApp, both_backends, row, rows, setup, spawn_embedded, spawn_on_cluster,
    spawn_on_engine,
};
use crate::leaderboards::span;

/// Every view of a campaign: the `last=` query (empty for the whole campaign) and its span.
fn views() -> Vec<(String, Option<Duration>)> {
    std::iter::once((String::new(), None))
        .chain(SPANS.iter().map(|s| (format!("last={s}"), Some(span(s)))))
        .collect()
}

fn board_path(c: &CampaignDef, last: &str, offset: usize, limit: usize) -> String {
    match last {
        "" => format!("/campaigns/{}/top?offset={offset}&limit={limit}", c.id),
        _ => format!("/campaigns/{}/window?{last}&offset={offset}&limit={limit}", c.id),
    }
}

fn player_path(c: &CampaignDef, last: &str, player: i32, around: usize) -> String {
    let sep = if last.is_empty() { "" } else { "&" };
    format!("/campaigns/{}/players/{player}?{last}{sep}around={around}", c.id)
}

/// Pages, totals, every player's standing and neighbours, and a friends' board, for every view
/// of every campaign, as the oracle reads the documented semantics.
async fn check_against_oracle(app: &TestApp, fixture: &Fixture) -> usize {
    let mut checked = 0;
    for c in &fixture.campaigns {
        for (last, span) in views() {
            let all = fixture.expected(c, span, usize::MAX);
            let first = app.json(&board_path(c, &last, 0, 100)).await;
            assert_eq!(first["total"], all.len(), "{} {last}", c.id);
            assert_eq!(first["final"], c.id == "ended" || c.id == "edges", "{} {last}", c.id);
            for offset in [0, 7, all.len().saturating_sub(3), all.len(), all.len() + 5] {
                let body = app.json(&board_path(c, &last, offset, 10)).await;
                let expected: Vec<Row> = all.iter().skip(offset).take(10).cloned().collect();
                assert_eq!(rows(&body["entries"], offset + 1), expected, "{} {last} offset {offset}", c.id);
                assert_eq!(body["offset"], offset);
            }
            for (i, want) in all.iter().enumerate() {
                let around = i % 4;
                let body = app.json(&player_path(c, &last, want.0, around)).await;
                assert_eq!(body["player"]["rank"], i + 1, "{} {last} player {}", c.id, want.0);
                assert_eq!(row(&body["player"]), *want);
                let from = i.saturating_sub(around);
                let near: Vec<Row> = all[from..(i + around + 1).min(all.len())].to_vec();
                assert_eq!(rows(&body["around"], from + 1), near);
                assert_eq!(body["total"], all.len());
                checked += 1;
            }
            let nobody = app.json(&player_path(c, &last, 299, 3)).await;
            assert_eq!(nobody["player"], Value::Null, "players 290.. never win");
            assert_eq!(nobody["around"], serde_json::json!([]));
            let mut ids: Vec<i32> = all.iter().rev().step_by(3).map(|r| r.0).take(20).collect();
            ids.extend([295, -7, i32::MAX]);
            let list: Vec<String> = ids.iter().map(i32::to_string).collect();
            let query = if last.is_empty() { String::new() } else { format!("&{last}") };
            let friends =
                app.json(&format!("/campaigns/{}/players?ids={}{query}", c.id, list.join(","))).await;
            let ranked: Vec<Row> = all.iter().filter(|r| ids.contains(&r.0)).cloned().collect();
            let got: Vec<Row> = friends["entries"].as_array().unwrap().iter().map(row).collect();
            assert_eq!(got, ranked, "{} {last}: friends in rank order", c.id);
            for (entry, want) in friends["entries"].as_array().unwrap().iter().zip(&ranked) {
                let rank = all.iter().position(|r| r == want).unwrap() + 1;
                assert_eq!(entry["rank"], rank, "friends carry global ranks");
            }
            let unranked: Vec<i32> =
                ids.iter().copied().filter(|id| !ranked.iter().any(|r| r.0 == *id)).collect();
            assert_eq!(friends["unranked"], serde_json::json!(unranked));
        }
    }
    checked
}

#[tokio::test]
async fn every_view_page_player_and_friends_board_matches_the_oracle_on_adx() {
    let fixture = Fixture::new();
    let engine = Engine::start(&fixture.spins);
    let (_dir, campaigns) = fixture.write_campaigns();
    let app = spawn_on_engine(&engine, &campaigns, &[]).await;
    let checked = check_against_oracle(&app, &fixture).await;
    assert!(checked > 1000, "the fixture ranks many players ({checked})");
}

#[tokio::test]
async fn every_view_page_player_and_friends_board_matches_the_oracle_embedded() {
    let fixture = Fixture::new();
    let (_dir, campaigns) = fixture.write_campaigns();
    let (app, _data) = spawn_embedded(&campaigns, &[]).await;
    app.ingest(&fixture.spins).await;
    let checked = check_against_oracle(&app, &fixture).await;
    assert!(checked > 1000, "the fixture ranks many players ({checked})");
}

#[tokio::test]
async fn players_past_the_cap_are_counted_but_not_ranked() {
    let fixture = Fixture::new();
    let all = fixture.expected(fixture.campaign("live-all"), None, usize::MAX);
    assert!(all.len() > 60);
    let both = both_backends(&fixture, &["--max-standings", "50"]).await;
    for app in [&both.adx, &both.embedded] {
        let last_page = app.json("/campaigns/live-all/top?offset=45&limit=10").await;
        assert_eq!(last_page["total"], all.len(), "the total counts every ranked player");
        assert_eq!(rows(&last_page["entries"], 46), all[45..50].to_vec(), "the cap ends the pages");
        let within = app.json(&format!("/campaigns/live-all/players/{}", all[49].0)).await;
        assert_eq!(within["player"]["rank"], 50);
        let beyond = app.json(&format!("/campaigns/live-all/players/{}?around=5", all[55].0)).await;
        assert_eq!(beyond["player"], Value::Null, "past the cap is answered as not ranked");
        assert_eq!(beyond["total"], all.len());
    }
}

/// The differential test: both backends, every answer of every view on one dataset.
#[tokio::test]
async fn both_backends_agree_on_every_answer() {
    let fixture = Fixture::new();
    let both = both_backends(&fixture, &[]).await;
    let mut compared = 0;
    for c in &fixture.campaigns {
        for (last, span) in views() {
            let mut paths = vec![board_path(c, &last, 0, 100), board_path(c, &last, 30, 20)];
            for r in fixture.expected(c, span, usize::MAX).iter().step_by(7) {
                paths.push(player_path(c, &last, r.0, 2));
            }
            for path in paths {
                let (mut a, mut b) = (both.adx.json(&path).await, both.embedded.json(&path).await);
                // The two servers read "now" a moment apart: only a window's edges may differ.
                a["window"] = Value::Null;
                b["window"] = Value::Null;
                assert_eq!(a, b, "{path}");
                compared += 1;
            }
        }
    }
    assert!(compared > 300, "{compared}");
}

#[tokio::test]
async fn two_thousand_lookups_of_different_players_on_a_cold_view_cost_one_query() {
    // A generous budget: two thousand requests share this test's single thread with the server.
    let s = setup(&["--cache-ttl", "30s", "--request-timeout", "60s"]).await;
    let (app, proxy) = (&s.app, &s.proxy);
    proxy.set(Fault::Delay(std::time::Duration::from_millis(300)));
    // At most 250 connections at a time, so the listen backlog of a loaded machine holds them.
    let lookups = futures::stream::iter(1..=2000).map(|player| {
        let app = &app;
        async move { app.get(&format!("/campaigns/live-all/players/{player}?around=2")).await.status() }
    });
    let statuses: Vec<_> = lookups.buffer_unordered(250).collect().await;
    assert!(statuses.iter().all(|s| *s == 200), "{:?}", statuses.iter().find(|s| **s != 200));
    assert_eq!(proxy.queries(), 1, "every player of one view is read from one snapshot");
    app.json("/campaigns/live-all/top?offset=40").await;
    app.json("/campaigns/live-all/players?ids=1,2,3").await;
    assert_eq!(proxy.queries(), 1, "pages and friends' boards too");
}

#[tokio::test]
async fn a_client_cycling_through_spans_cannot_exceed_the_view_cap_or_the_backend_bound() {
    let s = setup(&["--cache-ttl", "30s", "--max-views", "8", "--backend-concurrency", "2"]).await;
    let (app, proxy) = (&s.app, &s.proxy);
    proxy.set(Fault::Delay(std::time::Duration::from_millis(100)));
    let requests = (1..=1000).map(|minutes| {
        let app = &app;
        async move { app.get(&format!("/campaigns/live-all/window?last={minutes}m")).await.status() }
    });
    let statuses = join_all(requests).await;
    let count = |status: u16| statuses.iter().filter(|s| s.as_u16() == status).count();
    let (ok, busy, late) = (count(200), count(503), count(504));
    assert_eq!(ok + busy + late, 1000, "each answered, refused as busy, or past its budget");
    assert!(busy > 0, "misses past the backend's capacity are refused, not queued");
    assert!(proxy.peak_concurrency() <= 2, "at most --backend-concurrency queries at once");
    assert!(proxy.queries() <= ok + late, "no query for a request refused as busy");
    assert!(app.metric("leaderboard_views", "").await <= 8.0, "at most --max-views views held");
}

#[tokio::test]
async fn declared_windows_refuse_other_spans_and_equal_spans_are_one_view() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("campaigns.toml");
    let toml = "[[campaigns]]\nid = \"w\"\nstart = \"2020-01-01T00:00:00Z\"\nend = \"2030-01-01T00:00:00Z\"\nwindows = [\"15m\", \"1h\", \"24h\"]\n";
    std::fs::write(&path, toml).unwrap();
    let engine = Engine::start(&[]);
    let proxy = FaultProxy::start(engine.url()).await;
    let app = spawn_on_cluster(&proxy.url, &path, &["--cache-ttl", "30s"]).await;
    for last in ["1h", "60m", "PT1H", "3600s"] {
        assert_eq!(app.get(&format!("/campaigns/w/window?last={last}")).await.status(), 200, "{last}");
    }
    assert_eq!(proxy.queries(), 1, "equal spans are one view");
    let refused = app.get("/campaigns/w/window?last=2h").await;
    assert_eq!(refused.status(), 400);
    assert_eq!(refused.headers()["content-type"], "application/problem+json");
    let problem: Value = refused.json().await.unwrap();
    assert!(problem["detail"].as_str().unwrap().contains("15m, 1h, 1d"), "{problem}");
    assert_eq!(app.get("/campaigns/w/players/1?last=30m").await.status(), 400);
    assert_eq!(app.get("/campaigns/w/players/1?last=24h").await.status(), 200);
    // `leaderboard kql` prints only what the server would send.
    let kql = |last: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_leaderboard"))
            .args(["kql", "w", "--last", last, "--campaigns", path.to_str().unwrap()])
            .output()
            .unwrap()
    };
    assert!(kql("60m").status.success());
    let undeclared = kql("2h");
    assert!(!undeclared.status.success());
    assert!(String::from_utf8_lossy(&undeclared.stderr).contains("does not declare"));
}

#[tokio::test]
async fn bad_player_ids_and_parameters_are_problems() {
    let s = setup(&["--max-limit", "5"]).await;
    let (app, _proxy) = (&s.app, &s.proxy);
    for path in [
        "/campaigns/live-all/players/2147483648",
        "/campaigns/live-all/players/abc",
        "/campaigns/live-all/players/1.5",
        "/campaigns/live-all/players/1?around=51",
        "/campaigns/live-all/players/1?around=-1",
        "/campaigns/live-all/players",
        "/campaigns/live-all/players?ids=",
        "/campaigns/live-all/players?ids=1,2,3,4,5,6",
        "/campaigns/live-all/players?ids=1,x",
        "/campaigns/live-all/top?offset=-1",
        "/campaigns/live-all/top?offset=1000001",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 400, "{path}");
        assert_eq!(response.headers()["content-type"], "application/problem+json", "{path}");
    }
    assert_eq!(app.get("/campaigns/nope/players/1").await.status(), 404);
    assert_eq!(app.json("/campaigns/live-all/players/-2147483648").await["player"], Value::Null);
}

#[tokio::test]
async fn a_view_left_unread_is_dropped_after_idle_after() {
    let s = setup(&["--cache-ttl", "200ms", "--idle-after", "3s"]).await;
    let (app, proxy) = (&s.app, &s.proxy);
    // Read together, so that neither idles out while the other loads on a loaded machine.
    tokio::join!(app.json("/campaigns/live-all/top"), app.json("/campaigns/live-all/window?last=1h"));
    assert_eq!(app.metric("leaderboard_views", "").await, 2.0);
    crate::common::eventually("unread views were dropped", || async {
        app.metric("leaderboard_views", "").await == 0.0
    })
    .await;
    let queries = proxy.queries();
    let again = app.get("/campaigns/live-all/top").await;
    assert_eq!(again.headers()["x-cache"], "miss", "a dropped view is built anew");
    assert_eq!(proxy.queries(), queries + 1);
}

#[tokio::test]
async fn a_catalogue_reload_refreshes_only_the_views_of_changed_campaigns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("campaigns.toml");
    let campaign = |id: &str, name: &str| {
        format!(
            "[[campaigns]]\nid = \"{id}\"\nname = \"{name}\"\nstart = \"2020-01-01T00:00:00Z\"\nend = \"2030-01-01T00:00:00Z\"\n"
        )
    };
    std::fs::write(&path, campaign("kept", "Kept") + &campaign("changed", "Before")).unwrap();
    let engine = Engine::start(&[]);
    let proxy = FaultProxy::start(engine.url()).await;
    let app = spawn_on_cluster(&proxy.url, &path, &["--cache-ttl", "30s"]).await;
    app.json("/campaigns/kept/top").await;
    app.json("/campaigns/changed/top").await;
    assert_eq!(proxy.queries(), 2);
    std::fs::write(&path, campaign("kept", "Kept") + &campaign("changed", "After")).unwrap();
    crate::common::eventually("the edit was loaded", || async {
        app.json("/campaigns/changed").await["name"] == "After"
    })
    .await;
    let kept = app.get("/campaigns/kept/top").await;
    assert_eq!(kept.headers()["x-cache"], "hit", "an unchanged campaign keeps its snapshot");
    let changed = app.get("/campaigns/changed/top").await;
    assert_eq!(changed.headers()["x-cache"], "miss", "a changed campaign's views answer for it anew");
    assert_eq!(changed.json::<Value>().await.unwrap()["campaign"]["name"], "After");
    assert_eq!(proxy.queries(), 3);
}
