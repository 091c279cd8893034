//! Incremental refreshes on the ADX path, against `duckdb-kql serve` taking spins while it
//! serves. After its first full query a view asks only for the buckets whose count changed, and
//! every board stays equal to the oracle for the window it states: spins on time and spins late
//! within `--late-arrival` at the next refresh, spins later than that at the next reconcile.
//! Also the KQL of those queries, straight from [`AdxBackend`], against a reference of its own.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use leaderboard::backend::Backend;
use leaderboard::leaderboard::{BucketCount, ChangesQuery, Grain, Recount, Scoring, Segment, Width, Window};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::common::faults::FaultProxy;
use crate::common::fixture::{CampaignDef, standings};
use crate::common::{Engine, Fixture, Spin, TestApp, eventually, rows, spawn_on_cluster};

/// Boards of every kind of filter: none, games, qualifying stakes (the new spins' stakes 1 to 10
/// include some below live-stakes' bound of 3).
const PATHS: [(&str, &str); 6] = [
    ("live-all", "/campaigns/live-all/top?limit=1000"),
    ("live-all", "/campaigns/live-all/window?last=15m&limit=1000"),
    ("live-all", "/campaigns/live-all/window?last=1h&limit=1000"),
    ("live-games", "/campaigns/live-games/top?limit=1000"),
    ("live-stakes", "/campaigns/live-stakes/top?limit=1000"),
    ("live-stakes", "/campaigns/live-stakes/window?last=1h&limit=1000"),
];

fn at(text: &serde_json::Value) -> DateTime<Utc> {
    text.as_str().unwrap().parse().unwrap()
}

/// Whether the board at `path` ranks the oracle's first `ranked` players of the window it states
/// (all of them when `None`), and counts them all.
async fn exact(app: &TestApp, path: &str, c: &CampaignDef, spins: &[Spin], ranked: Option<usize>) -> bool {
    let body = app.json(path).await;
    let expected = standings(spins, c, at(&body["window"]["from"]), at(&body["window"]["to"]));
    let ranked = ranked.unwrap_or(expected.len()).min(expected.len());
    body["total"] == expected.len() && rows(&body["entries"], 1) == expected[..ranked]
}

/// A spin at `time`, to the microsecond (as GamePlay keeps it).
fn new_spin(rng: &mut StdRng, time: DateTime<Utc>, best: bool) -> Spin {
    let time = chrono::SubsecRound::trunc_subsecs(time, 6);
    let stake = rng.random_range(1..=10);
    // Ratios that enter the top of the board, and some that tie.
    let ratio = if best { rng.random_range(400..=420) } else { rng.random_range(1..=12) };
    Spin {
        player: rng.random_range(1..=330),
        game: rng.random_range(1..=5),
        win: i64::from(stake) * ratio,
        stake,
        time,
    }
}

#[tokio::test]
async fn boards_stay_exact_while_spins_arrive_on_time_late_and_very_late() {
    let fixture = Fixture::new();
    let engine = Engine::writable(&fixture.spins);
    let proxy = FaultProxy::start(engine.url()).await;
    let (_dir, campaigns) = fixture.write_campaigns();
    let flags = ["--late-arrival", "30s", "--reconcile-every", "3s", "--max-limit", "1000"];
    let app = spawn_on_cluster(&proxy.url, &campaigns, &flags).await;
    let mut spins = fixture.spins.clone();
    for (id, path) in PATHS {
        assert!(exact(&app, path, fixture.campaign(id), &spins, None).await, "{path} at first");
    }
    let mut rng = StdRng::seed_from_u64(14);
    for round in 0..8 {
        let now = Utc::now();
        let mut fresh: Vec<Spin> = (0..5).map(|_| new_spin(&mut rng, now, round % 2 == 0)).collect();
        // Late, within --late-arrival; and, twice, later than that (seen by a reconcile).
        fresh.push(new_spin(&mut rng, now - chrono::Duration::seconds(15), true));
        if round % 3 == 1 {
            fresh.push(new_spin(&mut rng, now - chrono::Duration::minutes(4), true));
        }
        engine.append(&fresh).await;
        spins.extend(fresh);
        for (id, path) in PATHS {
            let c = fixture.campaign(id);
            eventually(&format!("{path} shows round {round}"), || exact(&app, path, c, &spins, None)).await;
        }
    }
    // The economy: one full query per view, the rest incremental and small.
    let exchanges = proxy.exchanges();
    let full: Vec<usize> =
        exchanges.iter().filter(|(t, _)| !t.starts_with("let watched = union")).map(|e| e.1).collect();
    let mut steady: Vec<usize> =
        exchanges.iter().filter(|(t, _)| t.starts_with("let watched = union")).map(|e| e.1).collect();
    assert_eq!(full.len(), PATHS.len(), "no view loaded twice: {full:?}");
    assert!(steady.len() > 20, "{} incremental refreshes", steady.len());
    steady.sort_unstable();
    let (median, whole) = (steady[steady.len() / 2], full.iter().max().unwrap());
    assert!(median * 3 < *whole, "the median incremental answer ({median} B) against a full one ({whole} B)");
}

#[tokio::test]
async fn views_ranking_more_than_max_standings_are_refreshed_by_full_queries() {
    let fixture = Fixture::new();
    let engine = Engine::writable(&fixture.spins);
    let proxy = FaultProxy::start(engine.url()).await;
    let (_dir, campaigns) = fixture.write_campaigns();
    let app =
        spawn_on_cluster(&proxy.url, &campaigns, &["--max-standings", "20", "--max-limit", "100"]).await;
    let path = "/campaigns/live-all/top?limit=100";
    let mut spins = fixture.spins.clone();
    let c = fixture.campaign("live-all");
    assert!(exact(&app, path, c, &spins, Some(20)).await);
    let mut rng = StdRng::seed_from_u64(5);
    let fresh = vec![new_spin(&mut rng, Utc::now(), true)];
    engine.append(&fresh).await;
    spins.extend(fresh);
    eventually("the capped board shows the new spin", || exact(&app, path, c, &spins, Some(20))).await;
    assert!(proxy.texts().iter().all(|t| !t.starts_with("let watched = union")), "no incremental query");
}

/// The changes query's semantics, from the documentation: per counts segment, counted spins
/// (losing ones too) per `bin(EventTime, width)`; per rows segment, each player's best winning
/// spin per bucket (the range's start, or the bin), a watched one only in the buckets whose count
/// is not the known one; and every player with a spin read so (or in a leaving segment) counted
/// again over the whole view.
type Answer = (BTreeMap<(i64, i32), (i64, i64, i32, i32)>, BTreeMap<i64, u64>, BTreeMap<i32, u32>);

fn reference(spins: &[Spin], query: &ChangesQuery) -> Answer {
    let known: BTreeMap<i64, u64> = query.known.iter().map(|k| (k.bucket, k.spins)).collect();
    let (mut rows, mut counts, mut recounted) = (BTreeMap::new(), BTreeMap::new(), BTreeSet::new());
    let bin = |w: Width, t: i64| t.div_euclid(w.micros()) * w.micros();
    let counted = |from: DateTime<Utc>, to: DateTime<Utc>| -> Vec<&Spin> {
        spins
            .iter()
            .filter(|s| s.time >= from && s.time < to && s.stake > 0)
            .filter(|s| query.games.as_ref().is_none_or(|g| g.contains(&s.game)))
            .collect()
    };
    for segment in &query.segments {
        let (from, to) = (segment.range.from, segment.range.to);
        let counted = counted(from, to);
        if segment.leaving {
            recounted.extend(counted.iter().map(|s| s.player));
        }
        let mut here: BTreeMap<i64, u64> = BTreeMap::new();
        if let Some(width) = segment.counts {
            for s in &counted {
                *here.entry(bin(width, s.time.timestamp_micros())).or_default() += 1;
            }
        }
        for s in &counted {
            let t = s.time.timestamp_micros();
            if segment.watched {
                let label = bin(segment.counts.unwrap(), t);
                if known.get(&label).copied().unwrap_or(0) == here[&label] {
                    continue;
                }
            }
            let bucket = match segment.rows {
                None => continue,
                Some(Grain::Whole) => from.timestamp_micros(),
                Some(Grain::Every(width)) => bin(width, t),
            };
            recounted.insert(s.player);
            if s.win <= 0 {
                continue;
            }
            let row = (t, s.win, s.stake, s.game);
            let better = |old: &(i64, i64, i32, i32)| {
                let (a, b) = (s.win as f64 / f64::from(s.stake), old.1 as f64 / f64::from(old.2));
                a.total_cmp(&b).then(old.0.cmp(&t)).then(s.stake.cmp(&old.2)).then(old.3.cmp(&s.game)).is_gt()
            };
            if rows.get(&(bucket, s.player)).is_none_or(better) {
                rows.insert((bucket, s.player), row);
            }
        }
        counts.extend(here);
    }
    let mut spins_of: BTreeMap<i32, u32> = BTreeMap::new();
    let view = query.recount.window;
    for s in counted(view.from, view.to).into_iter().filter(|s| recounted.contains(&s.player)) {
        *spins_of.entry(s.player).or_default() += 1;
    }
    (rows, counts, spins_of)
}

#[tokio::test]
async fn the_changes_query_answers_as_its_reference_on_a_real_engine() {
    let fixture = Fixture::new();
    let engine = Engine::start(&fixture.spins);
    let adx = engine.backend();
    let (ten, hour) = (Width::seconds(10).unwrap(), Width::HOUR);
    let now = fixture.now;
    let window = |from: i64, to: i64| Window {
        from: now - chrono::Duration::hours(from),
        to: now - chrono::Duration::hours(to),
    };
    let segments = vec![
        // A tail read whole, hours read with their counts, counts alone, a watched stretch.
        // A leaving stretch, a tail read whole, hours read with their counts, counts alone, a
        // watched stretch.
        Segment::leaving(window(61, 60)),
        Segment {
            range: window(60, 50),
            rows: Some(Grain::Whole),
            counts: None,
            watched: false,
            leaving: false,
        },
        Segment {
            range: window(50, 30),
            rows: Some(Grain::Every(hour)),
            counts: Some(hour),
            watched: false,
            leaving: false,
        },
        Segment { range: window(30, 20), rows: None, counts: Some(ten), watched: false, leaving: false },
        Segment {
            range: window(20, 0),
            rows: Some(Grain::Every(ten)),
            counts: Some(ten),
            watched: true,
            leaving: false,
        },
    ];
    for games in [None, Some(vec![2, 4])] {
        let mut query = ChangesQuery {
            games,
            stakes: Default::default(),
            segments: segments.clone(),
            known: vec![],
            recount: Recount { scoring: Scoring::BestMultiplier, window: window(60, 0), first: None },
        };
        // Know the right count of half the watched buckets, a wrong one of the others.
        let (_, counts, _) = reference(&fixture.spins, &query);
        let watched_from = window(20, 0).from.timestamp_micros();
        for (i, (&bucket, &spins)) in counts.range(watched_from..).enumerate() {
            query.known.push(BucketCount { bucket, spins: if i % 2 == 0 { spins } else { spins + 1 } });
        }
        let (rows, counts, spins) = reference(&fixture.spins, &query);
        assert!(rows.len() > 50 && counts.len() > 50 && spins.len() > 50, "a query that says something");
        // Spins that left alone: their players counted again, nothing else.
        let left =
            ChangesQuery { segments: vec![Segment::leaving(window(70, 60))], known: vec![], ..query.clone() };
        let (no_rows, no_counts, recounted) = reference(&fixture.spins, &left);
        assert!(no_rows.is_empty() && no_counts.is_empty() && recounted.len() > 5, "{recounted:?}");
        let answer = adx.changes(&left).await.unwrap();
        assert!(answer.rows.is_empty() && answer.counts.is_empty(), "{answer:?}");
        let got: BTreeMap<i32, u32> = answer.counted.iter().map(|c| (c.player_id, c.spins)).collect();
        assert_eq!(got, recounted);
        let answer = adx.changes(&query).await.unwrap();
        let got_rows: BTreeMap<(i64, i32), (i64, i64, i32, i32)> = answer
            .rows
            .iter()
            .map(|r| {
                ((r.bucket, r.row.player_id), (r.row.achieved_us, r.row.win, r.row.stake, r.row.game_id))
            })
            .collect();
        assert_eq!(got_rows.len(), answer.rows.len(), "one row per player and bucket");
        assert_eq!(got_rows, rows);
        let got_counts: BTreeMap<i64, u64> = answer.counts.iter().map(|c| (c.bucket, c.spins)).collect();
        assert_eq!(got_counts, counts);
        let got_spins: BTreeMap<i32, u32> = answer.counted.iter().map(|c| (c.player_id, c.spins)).collect();
        assert_eq!(got_spins.len(), answer.counted.len(), "one count per player");
        assert_eq!(got_spins, spins);
    }
}
