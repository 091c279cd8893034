//! The rollup's exactness: with a tiny depth (so partitions are trimmed hard), every window
//! and game filter answers exactly what a brute-force reading of all spins gives.

use chrono::{Duration, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::*;
use crate::leaderboard::{Standing, Window};

fn brute_force(spins: &[Spin], query: &LeaderboardQuery) -> Vec<(i32, i64, i32, i32, i64)> {
    let mut best: std::collections::BTreeMap<i32, &Spin> = Default::default();
    for s in spins {
        let counts = s.event_time >= query.window.from
            && s.event_time < query.window.to
            && s.win > 0
            && s.stake > 0
            && query.games.as_ref().is_none_or(|g| g.contains(&s.game_id));
        if !counts {
            continue;
        }
        let ratio = |s: &Spin| s.win as f64 / f64::from(s.stake);
        let better =
            |old: &&Spin| ratio(s) > ratio(old) || (ratio(s) == ratio(old) && s.event_time < old.event_time);
        if best.get(&s.player_id).is_none_or(better) {
            best.insert(s.player_id, s);
        }
    }
    let mut rows: Vec<&Spin> = best.into_values().collect();
    let ratio = |s: &Spin| s.win as f64 / f64::from(s.stake);
    rows.sort_by(|a, b| {
        ratio(b)
            .total_cmp(&ratio(a))
            .then(a.event_time.cmp(&b.event_time))
            .then(a.player_id.cmp(&b.player_id))
    });
    rows.iter()
        .take(query.limit as usize)
        .map(|s| (s.player_id, s.win, s.stake, s.game_id, micros(s.event_time)))
        .collect()
}

fn shown(standings: &[Standing]) -> Vec<(i32, i64, i32, i32, i64)> {
    standings.iter().map(|s| (s.player_id, s.win, s.stake, s.game_id, micros(s.achieved_at))).collect()
}

#[tokio::test]
async fn trimmed_rollup_answers_every_window_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let depth = MaxLimit::new(3).unwrap();
    let store = EmbeddedStore::open(dir.path(), depth).unwrap();
    let mut rng = StdRng::seed_from_u64(7);
    let start = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
    let mut spins = Vec::new();
    let mut used = std::collections::HashSet::new();
    while spins.len() < 6000 {
        let us = rng.random_range(0..20 * DAY);
        let player = rng.random_range(1..=40);
        if !used.insert((player, us)) {
            continue;
        }
        let stake = [0, 1, 2, 5, 10][rng.random_range(0..5)];
        let win = if rng.random_bool(0.3) { 0 } else { i64::from(stake.max(1)) * rng.random_range(1..=9) };
        let event_time = start + Duration::microseconds(us);
        spins.push(Spin { player_id: player, game_id: rng.random_range(1..=3), win, stake, event_time });
    }
    for batch in spins.chunks(500) {
        store.insert(batch.to_vec()).await.unwrap();
    }
    let mut checked = 0;
    for _ in 0..300 {
        let a = rng.random_range(-HOUR..21 * DAY);
        let b = rng.random_range(a..=21 * DAY);
        let games = [None, Some(vec![2]), Some(vec![1, 3])][rng.random_range(0..3)].clone();
        let query = LeaderboardQuery {
            window: Window { from: start + Duration::microseconds(a), to: start + Duration::microseconds(b) },
            games,
            limit: rng.random_range(1..=3),
        };
        let expected = brute_force(&spins, &query);
        checked += usize::from(!expected.is_empty());
        assert_eq!(shown(&store.leaderboard(&query).await.unwrap().rows), expected, "{query:?}");
    }
    assert!(checked > 200);
    // The rollup was really trimmed to the depth.
    let rows: i64 = store
        .read(|c| {
            c.query_row(
                "SELECT max(n) FROM (SELECT count(*) n FROM Rollup GROUP BY Span, Bucket, Partition)",
                [],
                |r| r.get(0),
            )
        })
        .await
        .unwrap();
    assert_eq!(rows, 3);
}

#[tokio::test]
async fn reopening_with_a_larger_limit_rebuilds_the_rollup() {
    let dir = tempfile::tempdir().unwrap();
    let t = Utc.with_ymd_and_hms(2026, 11, 1, 10, 0, 0).unwrap();
    let spins: Vec<Spin> = (1..=5)
        .map(|p| Spin { player_id: p, game_id: 1, win: i64::from(p), stake: 1, event_time: t })
        .collect();
    {
        let store = EmbeddedStore::open(dir.path(), MaxLimit::new(2).unwrap()).unwrap();
        store.insert(spins.clone()).await.unwrap();
    }
    let store = EmbeddedStore::open(dir.path(), MaxLimit::new(5).unwrap()).unwrap();
    let query = LeaderboardQuery {
        window: Window { from: t - Duration::days(3), to: t + Duration::days(3) },
        games: None,
        limit: 5,
    };
    let players: Vec<i32> =
        store.leaderboard(&query).await.unwrap().rows.iter().map(|s| s.player_id).collect();
    assert_eq!(players, [5, 4, 3, 2, 1]);
}
