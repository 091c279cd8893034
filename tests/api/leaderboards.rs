//! Every view of every fixture campaign, served through the ADX path from `duckdb-kql serve`,
//! equals the oracle's reading of the documented semantics.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use crate::common::fixture::SPANS;
use crate::common::{Engine, Fixture, rows, spawn_on_engine};

pub fn span(text: &str) -> Duration {
    let (n, unit) = text.split_at(text.len() - 1);
    let n: i64 = n.parse().unwrap();
    match unit {
        "m" => Duration::minutes(n),
        "h" => Duration::hours(n),
        "d" => Duration::days(n),
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn every_view_matches_the_oracle() {
    let fixture = Fixture::new();
    let engine = Engine::start(&fixture.spins);
    let (_dir, campaigns) = fixture.write_campaigns();
    let app = spawn_on_engine(&engine, &campaigns, &["--max-limit", "100"]).await;

    let mut checked = 0;
    for c in &fixture.campaigns {
        let views = std::iter::once(None).chain(SPANS.iter().map(|s| Some(*s)));
        for view in views {
            for limit in [1, 7, 100] {
                let path = match view {
                    None => format!("/campaigns/{}/top?limit={limit}", c.id),
                    Some(s) => format!("/campaigns/{}/window?last={s}&limit={limit}", c.id),
                };
                let body = app.json(&path).await;
                let expected = fixture.expected(c, view.map(span), limit);
                assert_eq!(rows(&body["entries"], 1), expected, "{path}");
                assert_eq!(body["campaign"]["id"], c.id, "{path}");
                checked += usize::from(!expected.is_empty());
            }
        }
    }
    assert!(checked > 40, "the fixture must exercise non-empty boards ({checked})");
}

#[tokio::test]
async fn edges_ties_and_filters_are_as_documented() {
    let fixture = Fixture::new();
    let engine = Engine::start(&fixture.spins);
    let (_dir, campaigns) = fixture.write_campaigns();
    let app = spawn_on_engine(&engine, &campaigns, &[]).await;

    let players = |body: &Value| -> Vec<i64> {
        body["entries"].as_array().unwrap().iter().map(|e| e["playerId"].as_i64().unwrap()).collect()
    };
    // Start and end - 1µs are in; just before start and end itself are out; game 2 is filtered.
    let top = app.json("/campaigns/edges/top?limit=100").await;
    assert_eq!(players(&top), [1005, 1004, 1003, 1002]);
    let edges = fixture.campaign("edges");
    assert_eq!(top["window"]["from"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap(), edges.start);
    assert_eq!(top["window"]["to"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap(), edges.end);
    // The last hour of an ended campaign is anchored at its end: end - 1h is in, 1µs before is out.
    let hour = app.json("/campaigns/edges/window?last=1h&limit=100").await;
    assert_eq!(players(&hour), [1005, 1004]);
    assert_eq!(app.json("/campaigns/edges/window?last=PT1H&limit=100").await["entries"], hour["entries"]);

    // Ties on 1000.0: 2004 reached it first (at - 1s); 2001, 2002 and 2003 at the same instant
    // (then by playerId); 2005 first reached 1000.0 at - 2s with game 4, which decides its row.
    let live = app.json("/campaigns/live-games/top?limit=6").await;
    let entries = live["entries"].as_array().unwrap();
    let ids = players(&live);
    assert_eq!(ids, [2005, 2004, 2001, 2002, 2003, 2006], "{live}");
    assert_eq!(entries[0]["gameId"], 4);
    assert_eq!(entries[0]["win"], 5000);
    assert_eq!(entries[0]["score"], 1000.0);

    // live-stakes is live-all counting stakes 3 to 20 only: both bounds count, nothing past them.
    let csv = |id: &'static str| {
        let app = &app;
        async move { app.get(&format!("/campaigns/{id}/standings.csv")).await.text().await.unwrap() }
    };
    let (all, bounded_csv) = (csv("live-all").await, csv("live-stakes").await);
    let stake = |line: &str| line.split(',').nth(4).unwrap().parse::<i64>().unwrap();
    let stakes: Vec<i64> = bounded_csv.lines().skip(1).map(stake).collect();
    assert!(stakes.iter().all(|s| (3..=20).contains(s)), "{stakes:?}");
    assert!(stakes.contains(&3) && stakes.contains(&20), "both bounds are inclusive: {stakes:?}");
    assert!(all.lines().skip(1).map(stake).any(|s| !(3..=20).contains(&s)), "live-all counts others");
    let bounded = app.json("/campaigns/live-stakes/top").await;
    assert_eq!(
        (bounded["campaign"]["min-stake"].clone(), bounded["campaign"]["max-stake"].clone()),
        (3.into(), 20.into())
    );
}

#[tokio::test]
async fn upcoming_campaigns_are_empty_and_ask_no_backend() {
    let fixture = Fixture::new();
    let engine = Engine::start(&[]);
    let (_dir, campaigns) = fixture.write_campaigns();
    let app = spawn_on_engine(&engine, &campaigns, &[]).await;
    for path in ["/campaigns/upcoming/top", "/campaigns/upcoming/window?last=1h"] {
        let body = app.json(path).await;
        assert_eq!(body["campaign"]["status"], "upcoming");
        assert_eq!(body["entries"], serde_json::json!([]));
    }
    assert_eq!(app.metric("leaderboard_backend_queries_total", "").await, 0.0);
    let ended = app.json("/campaigns/ended/top").await;
    assert_eq!(ended["campaign"]["status"], "ended");
    assert_eq!(app.metric("leaderboard_backend_queries_total", "outcome=\"ok\"").await, 1.0);
}
