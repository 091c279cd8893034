//! The store's answers against a brute-force oracle over every spin: complete standings,
//! totals and the cap, through the rollup and through tracked scopes, across inserts,
//! re-tracking, restarts and the migration of a version-1 (trimmed) store.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::*;
use crate::leaderboard::{Stakes, Window};

/// A standing as compared: (player, win, stake, game, achieved at in µs, counted spins).
type Row = (i32, i64, i32, i32, i64, u32);

/// Every ranked player of the view, straight from the definition: a player's row is their
/// best ratio, earliest, then larger stake, then smaller game, with their number of spins of a
/// qualifying stake (losing ones too); ranks by score, time, player.
fn oracle(spins: &[Spin], window: &Window, (games, stakes): (Option<&[i32]>, Stakes)) -> Vec<Row> {
    let ratio = |s: &Spin| s.win as f64 / f64::from(s.stake);
    let row_order = |a: &Spin, b: &Spin| {
        ratio(b)
            .total_cmp(&ratio(a))
            .then(a.event_time.cmp(&b.event_time))
            .then(b.stake.cmp(&a.stake))
            .then(a.game_id.cmp(&b.game_id))
    };
    let mut best: BTreeMap<i32, &Spin> = BTreeMap::new();
    let mut count: BTreeMap<i32, u32> = BTreeMap::new();
    let counted = spins.iter().filter(|s| {
        stakes.qualifies(s.stake)
            && window.from <= s.event_time
            && s.event_time < window.to
            && games.is_none_or(|g| g.contains(&s.game_id))
    });
    for spin in counted {
        *count.entry(spin.player_id).or_default() += 1;
        if spin.win <= 0 {
            continue;
        }
        let mine = best.entry(spin.player_id).or_insert(spin);
        if row_order(spin, mine).is_lt() {
            *mine = spin;
        }
    }
    let mut rows: Vec<&Spin> = best.into_values().collect();
    rows.sort_by(|a, b| {
        ratio(b)
            .total_cmp(&ratio(a))
            .then(a.event_time.cmp(&b.event_time))
            .then(a.player_id.cmp(&b.player_id))
    });
    rows.iter()
        .map(|s| (s.player_id, s.win, s.stake, s.game_id, micros(s.event_time), count[&s.player_id]))
        .collect()
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap()
}

fn at(us: i64) -> DateTime<Utc> {
    start() + Duration::microseconds(us)
}

/// Spins over `days` days with many ties: equal ratios from different stakes, players
/// spinning twice at one instant, a few shared instants, losing, zero and negative stakes.
fn spins(rng: &mut StdRng, n: usize, days: i64) -> Vec<Spin> {
    let shared: Vec<i64> = (0..20).map(|_| rng.random_range(0..days * DAY)).collect();
    let mut spins = Vec::with_capacity(n);
    while spins.len() < n {
        let us = if rng.random_bool(0.2) {
            shared[rng.random_range(0..20)]
        } else {
            rng.random_range(0..days * DAY)
        };
        let stake = [-1, 0, 1, 2, 4, 5, 10][rng.random_range(0..7)];
        let win = match rng.random_range(0..10) {
            0..3 => rng.random_range(-3..=0),
            _ => i64::from(stake.max(1)) * rng.random_range(1..=6) / [1, 2][rng.random_range(0..2)],
        };
        let spin = Spin {
            player_id: rng.random_range(1..=50),
            game_id: rng.random_range(1..=3),
            win,
            stake,
            event_time: at(us),
        };
        if rng.random_bool(0.2) {
            // The same ratio at the same instant, with stakes 2 or 4 and any games, in any order.
            let twin = |stake: i32, rng: &mut StdRng| Spin {
                win: spin.win * i64::from(stake),
                stake,
                game_id: rng.random_range(1..=3),
                ..spin
            };
            let pair = [twin([2, 4][rng.random_range(0..2)], rng), twin([2, 4][rng.random_range(0..2)], rng)];
            spins.extend(pair);
        } else {
            spins.push(spin);
        }
    }
    spins
}

/// A random instant within `days` days (and an hour either side), often on an hour, day or
/// week boundary.
fn instant(rng: &mut StdRng, days: i64) -> i64 {
    let us = rng.random_range(-HOUR..days * DAY + HOUR);
    match rng.random_range(0..4) {
        0 => us,
        level => us.div_euclid(LEVELS[level - 1]) * LEVELS[level - 1],
    }
}

fn random_query(rng: &mut StdRng, days: i64) -> (Window, Option<Vec<i32>>) {
    let (a, b) = (instant(rng, days), instant(rng, days));
    let window = Window { from: at(a.min(b)), to: at(a.max(b)) };
    let games = [None, Some(vec![2]), Some(vec![1, 3])][rng.random_range(0..3)].clone();
    (window, games)
}

/// Asserts the store's answer for the view, complete and capped, against the oracle.
async fn check(store: &EmbeddedStore, spins: &[Spin], window: Window, games: Option<Vec<i32>>, cap: u32) {
    check_stakes(store, spins, window, (games, Stakes::default()), cap).await;
}

/// [`check`], for a campaign counting only `stakes`.
async fn check_stakes(
    store: &EmbeddedStore,
    spins: &[Spin],
    window: Window,
    (games, stakes): (Option<Vec<i32>>, Stakes),
    cap: u32,
) {
    let expected = oracle(spins, &window, (games.as_deref(), stakes));
    let query = LeaderboardQuery {
        window,
        games,
        stakes,
        limit: cap,
        counts: vec![],
        scoring: Default::default(),
        first: None,
    };
    let got = store.leaderboard(&query).await.unwrap();
    let shown: Vec<Row> =
        got.rows.iter().map(|s| (s.player_id, s.win, s.stake, s.game_id, s.achieved_us, s.spins)).collect();
    assert_eq!(shown, expected[..expected.len().min(cap as usize)], "{query:?}");
    assert_eq!(got.total, expected.len() as u64, "{query:?}");
}

async fn insert(store: &EmbeddedStore, spins: &[Spin]) {
    for batch in spins.chunks(400) {
        store.insert(batch.to_vec()).await.unwrap();
    }
}

/// The scope ids the database lists, by window start.
async fn scope_ids(store: &EmbeddedStore) -> Vec<(i64, i64)> {
    store
        .read(|c| {
            let mut s = c.prepare("SELECT WindowFrom, ScopeID FROM Scope ORDER BY WindowFrom, Games")?;
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect()
        })
        .await
        .unwrap()
}

fn scope(from: i64, to: i64, games: Option<Vec<i32>>) -> Scope {
    Scope {
        window: Window { from: at(from), to: at(to) },
        games,
        stakes: Default::default(),
        scoring: Default::default(),
        max_spins: None,
    }
}

#[tokio::test]
async fn rollup_answers_complete_standings_for_every_window() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).await.unwrap();
    let mut rng = StdRng::seed_from_u64(7);
    let spins = spins(&mut rng, 6000, 20);
    insert(&store, &spins).await;
    let mut capped = 0;
    for _ in 0..250 {
        let (window, games) = random_query(&mut rng, 20);
        let total = oracle(&spins, &window, (games.as_deref(), Stakes::default())).len() as u32;
        let cap = if rng.random_bool(0.5) { rng.random_range(1..=total.max(1)) } else { 1_000_000 };
        capped += usize::from(cap < total);
        check(&store, &spins, window, games, cap).await;
    }
    assert!(capped > 50, "the cap was exercised {capped} times");
}

#[tokio::test]
async fn tracked_scopes_answer_like_the_rollup_through_inserts_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(11);
    let all = spins(&mut rng, 6000, 15);
    let (before, after) = all.split_at(3000);
    let scopes = [
        scope(0, 15 * DAY, None),
        scope(2 * DAY + 17 * 60_000_000, 9 * DAY + HOUR + 5, Some(vec![1, 3])),
        scope(3 * WEEK / 2, 15 * DAY, Some(vec![2])),
    ];
    {
        let store = EmbeddedStore::open(dir.path()).await.unwrap();
        insert(&store, before).await;
        for s in &scopes {
            // Through the rollup first: the same answer the scope must give.
            check(&store, before, s.window, s.games.clone(), 1_000_000).await;
        }
        store.track(scopes.to_vec()).await.unwrap();
        for s in &scopes {
            let query = LeaderboardQuery {
                window: s.window,
                games: s.games.clone(),
                stakes: s.stakes,
                limit: 1,
                counts: vec![],
                scoring: Default::default(),
                first: None,
            };
            let found = store.read(move |c| scope::lookup(c, &query)).await.unwrap();
            assert!(found.is_some(), "{s:?} is read from its scope");
            check(&store, before, s.window, s.games.clone(), 1_000_000).await;
            check(&store, before, s.window, s.games.clone(), 7).await;
        }
        insert(&store, &after[..1500]).await;
    }
    let store = EmbeddedStore::open(dir.path()).await.unwrap();
    // The restarted writer keeps the scopes up to date without rebuilding them.
    insert(&store, &after[1500..]).await;
    for s in &scopes {
        check(&store, &all, s.window, s.games.clone(), 1_000_000).await;
        check(&store, &all, s.window, s.games.clone(), 3).await;
    }
    let ids = scope_ids(&store).await;
    store.track(scopes.to_vec()).await.unwrap();
    assert_eq!(scope_ids(&store).await, ids, "an unchanged set rebuilds nothing");
}

/// A campaign that bounds the stakes: its scope (built, then kept by inserts) and its windows
/// (which no rollup can answer) count exactly the spins of those stakes, bounds included; two
/// scopes that differ only in their stakes are two scopes.
#[tokio::test]
async fn stake_bounds_count_on_scopes_and_windows() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(5);
    let all = spins(&mut rng, 4000, 10);
    let (before, after) = all.split_at(2000);
    let store = EmbeddedStore::open(dir.path()).await.unwrap();
    insert(&store, before).await;
    let bounds = [Stakes::new(Some(2), Some(5)).unwrap(), Stakes::new(Some(10), None).unwrap()];
    let whole = Window { from: at(0), to: at(10 * DAY) };
    let scopes = bounds.map(|stakes| Scope {
        window: whole,
        games: None,
        stakes,
        scoring: Default::default(),
        max_spins: None,
    });
    store.track(scopes.to_vec()).await.unwrap();
    assert_eq!(scope_ids(&store).await.len(), 2);
    insert(&store, after).await;
    let mut differ = 0;
    for stakes in bounds {
        let query = LeaderboardQuery {
            window: whole,
            games: None,
            stakes,
            limit: 1,
            counts: vec![],
            scoring: Default::default(),
            first: None,
        };
        let found = store.read(move |c| scope::lookup(c, &query)).await.unwrap();
        assert!(found.is_some(), "{stakes:?}: the whole window is read from its scope");
        check_stakes(&store, &all, whole, (None, stakes), 1_000_000).await;
        differ += usize::from(
            oracle(&all, &whole, (None, stakes)) != oracle(&all, &whole, (None, Stakes::default())),
        );
        for _ in 0..25 {
            let (window, games) = random_query(&mut rng, 10);
            let cap = rng.random_range(1..=500);
            check_stakes(&store, &all, window, (games, stakes), cap).await;
        }
    }
    assert!(differ >= 1, "the bounds change the standings");
    let [narrow, high] = bounds.map(|stakes| oracle(&all, &whole, (None, stakes)));
    assert_ne!(narrow, high, "scopes that differ in their stakes only give different standings");
}

#[tokio::test]
async fn retracking_rebuilds_only_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).await.unwrap();
    let mut rng = StdRng::seed_from_u64(5);
    let spins = spins(&mut rng, 2000, 6);
    insert(&store, &spins).await;
    let (a, b, c) =
        (scope(0, 2 * DAY, None), scope(DAY, 5 * DAY, Some(vec![2, 1, 2])), scope(HOUR, 6 * DAY, None));
    store.track(vec![a.clone(), b.clone()]).await.unwrap();
    let before = scope_ids(&store).await;
    assert_eq!(before.len(), 2);
    // The same games in another order and with repeats are the same scope.
    let b_again = Scope { games: Some(vec![1, 2]), ..b.clone() };
    store.track(vec![b_again, c.clone()]).await.unwrap();
    let after = scope_ids(&store).await;
    assert_eq!(after.len(), 2);
    assert!(after.contains(&before[1]), "b kept its scope: {before:?} -> {after:?}");
    assert!(!after.iter().any(|s| s.1 == before[0].1), "a was dropped");
    let orphans: i64 = store
        .read(|c| {
            c.query_row(
                "SELECT count(*) FROM ScopeBest WHERE ScopeID NOT IN (SELECT ScopeID FROM Scope)",
                [],
                |r| r.get(0),
            )
        })
        .await
        .unwrap();
    assert_eq!(orphans, 0);
    for s in [a, b, c] {
        let games = s.games.map(|mut g| {
            g.sort();
            g.dedup();
            g
        });
        check(&store, &spins, s.window, games, 1_000_000).await;
    }
}

/// Asserts that a scope's standings (`sql`, of scope 1) are read from `index`, in its order.
async fn read_in_index_order(store: &EmbeddedStore, sql: &'static str, index: &str) {
    let plan: Vec<String> = store
        .read(move |c| {
            let mut s = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
            s.query_map([1], |r| r.get(3))?.collect()
        })
        .await
        .unwrap();
    assert!(plan.iter().all(|step| !step.contains("TEMP B-TREE")), "{plan:?}");
    assert!(plan.iter().any(|step| step.contains(&format!("COVERING INDEX {index}"))), "{plan:?}");
}

#[tokio::test]
async fn scope_standings_are_read_in_index_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).await.unwrap();
    read_in_index_order(&store, scope::STANDINGS, "ScopeBest_by_rank").await;
    read_in_index_order(&store, scope::TOTAL_STANDINGS, "ScopeTotal_by_rank").await;
}

/// A version-1 store: the rollup trimmed to each partition's top `depth`, its rank index,
/// Meta 'depth' and no version, no scope tables.
fn downgrade_to_v1(path: &Path, depth: u32) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(
        "DROP TABLE ScopeBest; DROP TABLE Scope; DELETE FROM Meta;
         CREATE INDEX Rollup_by_rank ON Rollup (Span, Bucket, Partition, Score DESC, EventTime, PlayerID);",
    )
    .unwrap();
    conn.execute(
        "DELETE FROM Rollup WHERE (Span, Bucket, Partition, PlayerID) IN (
             SELECT Span, Bucket, Partition, PlayerID FROM (
                 SELECT *, row_number() OVER (PARTITION BY Span, Bucket, Partition
                     ORDER BY Score DESC, EventTime, PlayerID) AS place FROM Rollup)
             WHERE place > ?1)",
        [depth],
    )
    .unwrap();
    conn.execute("INSERT INTO Meta (Key, Value) VALUES ('depth', ?1)", [depth]).unwrap();
}

#[tokio::test]
async fn a_trimmed_version_1_store_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(3);
    let spins = spins(&mut rng, 3000, 10);
    let path = {
        let store = EmbeddedStore::open(dir.path()).await.unwrap();
        insert(&store, &spins).await;
        store.path().to_owned()
    };
    downgrade_to_v1(&path, 2);
    let store = EmbeddedStore::open(dir.path()).await.unwrap();
    for _ in 0..60 {
        let (window, games) = random_query(&mut rng, 10);
        check(&store, &spins, window, games, 1_000_000).await;
    }
    let meta: Vec<(String, i64)> = store
        .read(|c| {
            c.prepare("SELECT Key, Value FROM Meta")?.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect()
        })
        .await
        .unwrap();
    assert_eq!(meta, [("schema".to_owned(), write::SCHEMA_VERSION)]);
    let whole = scope(0, 10 * DAY, None);
    store.track(vec![whole.clone()]).await.unwrap();
    check(&store, &spins, whole.window, None, 1_000_000).await;
}

/// A version-4 store (no counts of spins, losing spins outside the rollup and scopes) is laid out
/// anew when opened: every board then counts each player's spins, losing ones too.
#[tokio::test]
async fn a_version_4_store_is_rebuilt_with_counted_spins() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(8);
    let spins = spins(&mut rng, 2000, 10);
    let path = {
        let store = EmbeddedStore::open(dir.path()).await.unwrap();
        insert(&store, &spins).await;
        store.path().to_owned()
    };
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "DELETE FROM Rollup WHERE Score = 0; ALTER TABLE Rollup DROP COLUMN Spins;
             DROP INDEX ScopeBest_by_rank; ALTER TABLE ScopeBest DROP COLUMN Spins;
             UPDATE Meta SET Value = 4 WHERE Key = 'schema';",
        )
        .unwrap();
    }
    let store = EmbeddedStore::open(dir.path()).await.unwrap();
    let losing: i64 = store
        .read(|c| c.query_row("SELECT count(*) FROM Rollup WHERE Score = 0 AND Spins > 0", [], |r| r.get(0)))
        .await
        .unwrap();
    assert!(losing > 0, "the rollup was recomputed with losing spins' counts");
    for _ in 0..20 {
        let (window, games) = random_query(&mut rng, 10);
        check(&store, &spins, window, games, 1_000_000).await;
    }
    let bounded = Scope { stakes: Stakes::new(Some(2), None).unwrap(), ..scope(0, 10 * DAY, None) };
    store.track(vec![bounded.clone()]).await.unwrap();
    check_stakes(&store, &spins, bounded.window, (None, bounded.stakes), 1_000_000).await;
}

/// Holds the writer busy until the returned sender is dropped: whatever is queued meanwhile
/// is there for the writer's next turn.
async fn hold_writer(store: &EmbeddedStore) -> std::sync::mpsc::Sender<()> {
    let (started, held) = tokio::sync::oneshot::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let job = Job::Run(Box::new(move |_| {
        started.send(()).unwrap();
        let _ = released.recv();
    }));
    store.jobs.send(job).await.unwrap();
    held.await.unwrap();
    release
}

/// Waits until `n` jobs wait for the writer.
async fn queued(store: &EmbeddedStore, n: usize) {
    let waiting = || store.jobs.max_capacity() - store.jobs.capacity();
    let all_queued = async {
        while waiting() < n {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(20), all_queued).await.expect("the jobs queue");
}

fn one(player: i32) -> Vec<Spin> {
    vec![Spin { player_id: player, game_id: 1, win: 5, stake: 1, event_time: start() }]
}

#[tokio::test]
async fn concurrent_inserts_share_one_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(dir.path()).await.unwrap());
    let release = hold_writer(&store).await;
    let inserts: Vec<_> = (1..=50)
        .map(|player| {
            let store = store.clone();
            tokio::spawn(async move { store.insert(one(player)).await })
        })
        .collect();
    queued(&store, 50).await;
    assert_eq!(store.counters().commits.get(), 0, "nothing is stored while the writer is held");
    drop(release);
    for insert in inserts {
        insert.await.unwrap().unwrap();
    }
    assert_eq!(store.counters().commits.get(), 1, "fifty callers, one commit");
    assert_eq!(store.counters().batches.get(), 50);
    assert_eq!(store.count().await.unwrap(), 50);
    // Alone, a batch is a commit of its own.
    store.insert(one(51)).await.unwrap();
    assert_eq!((store.counters().commits.get(), store.counters().batches.get()), (2, 51));
}

#[tokio::test]
async fn a_batch_the_store_refuses_in_a_group_refuses_only_itself() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(dir.path()).await.unwrap());
    // A failure valid events cannot cause otherwise (a full disk, say): a spin of player -666.
    store
        .write(|writer| {
            writer.conn().execute_batch(
                "CREATE TEMP TRIGGER refuse BEFORE INSERT ON GamePlay WHEN NEW.PlayerID = -666
                 BEGIN SELECT RAISE(ABORT, 'refused'); END",
            )
        })
        .await
        .unwrap();
    let release = hold_writer(&store).await;
    let batches = [one(1), [one(2), one(-666)].concat(), one(3)];
    let inserts: Vec<_> = batches
        .into_iter()
        .map(|spins| {
            let store = store.clone();
            tokio::spawn(async move { store.insert(spins).await })
        })
        .collect();
    queued(&store, 3).await;
    drop(release);
    let mut results = Vec::new();
    for insert in inserts {
        results.push(insert.await.unwrap().map_err(|e| e.to_string()));
    }
    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    assert!(results[1].as_ref().is_err_and(|e| e.contains("refused")), "{results:?}");
    let players: Vec<i32> = store
        .read(|c| {
            c.prepare("SELECT PlayerID FROM GamePlay ORDER BY 1")?.query_map([], |r| r.get(0))?.collect()
        })
        .await
        .unwrap();
    assert_eq!(players, [1, 3], "nothing of the refused batch, all of the others");
    assert_eq!((store.counters().commits.get(), store.counters().batches.get()), (2, 2));
}

#[tokio::test]
async fn a_write_that_panics_fails_alone_and_the_writer_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).await.unwrap();
    let failed = store.write(|_| panic!("a bug in a write")).await;
    assert!(failed.is_err_and(|e| e.to_string().contains("writer failed")));
    store.insert(one(1)).await.unwrap();
    assert_eq!(store.count().await.unwrap(), 1);
}

mod changed;
mod first;
mod idle;
mod totals;
