//! Embedded-store benchmark: loads N simulated spins by P players (default 1 million by N/10)
//! spread over a 30-day campaign whose whole window is a tracked scope for each score format, then
//! times full-standings refreshes straight on the store (no HTTP, no cache), for each format: the
//! whole campaign, the last hour, the last day and the last week. `cargo bench --bench store --
//! --events 10000000 --players 1000000`; `--data DIR` keeps the loaded store between runs (it is
//! reused when it already holds N spins). `--raw` writes the spins straight into GamePlay (no
//! rollup, no scope: a 10M load in minutes, not hours) and times only the max-spins views, which
//! read GamePlay alone; a store so loaded is marked and refused without `--raw`. Run by `cargo
//! test` (no `--bench` argument), it only checks itself on a small load, and that each tracked
//! scope answers like the rollup (or the raw spins).

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use leaderboard::backend::{Backend, Standings};
use leaderboard::events::Spin;
use leaderboard::leaderboard::{FirstSpins, LeaderboardQuery, Scoring, Window};
use leaderboard::simulator;
use leaderboard::store::{EmbeddedStore, Scope};
use rand::RngExt;

/// The snapshot cap (`--max-standings`' default): every ranked player is read.
const CAP: u32 = 1_000_000;
/// Runs per query: up to `RUNS`, at least `MIN_RUNS`, stopping after `BUDGET` past that.
const RUNS: usize = 30;
const MIN_RUNS: usize = 10;
const BUDGET: Duration = Duration::from_secs(15);
/// Spins stored before each refresh of a max-spins view: a second at a million spins an hour.
const ARRIVING: usize = 280;
/// The scores timed with max-spins (tracked, as the service tracks its campaigns).
const FIRST_SPINS: [Scoring; 2] = [Scoring::BestMultiplier, Scoring::TotalMultiplier];

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

fn campaign() -> Window {
    let start = Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap();
    Window { from: start, to: start + chrono::Duration::days(30) }
}

/// The file that marks a store loaded with `--raw`.
const RAW: &str = "bench-raw";

/// Spins arrive in time order, as they do from the pipeline: each batch is the next slice of
/// the campaign, with random instants inside it. Stored through the store, or with `raw` (the
/// store's file) straight into GamePlay.
async fn load(store: &EmbeddedStore, raw: Option<&rusqlite::Connection>, events: u64, players: i32) {
    const BATCH: u64 = 20_000;
    let Window { from: start, to: end } = campaign();
    let slice = (end - start).num_microseconds().unwrap() / events.div_ceil(BATCH) as i64;
    let started = Instant::now();
    let mut rng = rand::rng();
    let mut loaded = 0;
    for n in 0..events.div_ceil(BATCH) {
        let from = start + chrono::Duration::microseconds(slice * n as i64);
        let mut offsets: Vec<i64> =
            (0..BATCH.min(events - loaded)).map(|_| rng.random_range(0..slice)).collect();
        offsets.sort_unstable();
        let batch: Vec<Spin> = offsets
            .into_iter()
            .map(|us| simulator::spin(&mut rng, players, from + chrono::Duration::microseconds(us)))
            .collect();
        loaded += batch.len() as u64;
        match raw {
            Some(conn) => insert_raw(conn, &batch).unwrap(),
            None => store.insert(batch).await.unwrap(),
        }
        if loaded % 1_000_000 == 0 {
            eprintln!("  loaded {loaded} spins ({:.0?})", started.elapsed());
        }
    }
    eprintln!(
        "loaded {events} spins in {:.1?} ({:.0} spins/s)",
        started.elapsed(),
        events as f64 / started.elapsed().as_secs_f64()
    );
}

fn insert_raw(conn: &rusqlite::Connection, spins: &[Spin]) -> rusqlite::Result<()> {
    let tx = conn.unchecked_transaction()?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO GamePlay (PlayerID, GameID, Win, Stake, EventTime) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for s in spins {
        insert.execute((s.player_id, s.game_id, s.win, s.stake, s.event_time.timestamp_micros()))?;
    }
    drop(insert);
    tx.commit()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Times refreshes of one view and prints its table row; the verdict is on p99. Before each
/// refresh, untimed, the spins `arriving` makes are stored (none for most views).
async fn time(
    store: &EmbeddedStore,
    name: &str,
    query: LeaderboardQuery,
    target: Option<Duration>,
    arriving: &mut dyn FnMut() -> Vec<Spin>,
) {
    // Untimed: a board refreshed every second reads warm pages and a prepared statement.
    let mut total = store.leaderboard(&query).await.unwrap().total;
    let mut took = Vec::with_capacity(RUNS);
    let started = Instant::now();
    while took.len() < RUNS && (took.len() < MIN_RUNS || started.elapsed() < BUDGET) {
        let arrived = arriving();
        if !arrived.is_empty() {
            store.insert(arrived).await.unwrap();
        }
        let t = Instant::now();
        total = store.leaderboard(&query).await.unwrap().total;
        took.push(t.elapsed());
    }
    took.sort();
    let p99 = percentile(&took, 0.99);
    let verdict = target.map_or(String::new(), |t| {
        format!(" (target {} ms: {})", ms(t), if p99 <= t { "PASS" } else { "MISS" })
    });
    println!(
        "| {name}{verdict} | {total} | {:.2} | {:.2} | {:.2} |",
        ms(percentile(&took, 0.5)),
        ms(p99),
        ms(took[took.len() - 1])
    );
}

#[tokio::main]
async fn main() {
    let benchmarking = std::env::args().any(|a| a == "--bench");
    let default = if benchmarking { 1_000_000 } else { 20_000 };
    let events: u64 = arg("--events").map_or(default, |e| e.parse().expect("--events N"));
    let players: i32 =
        arg("--players").map_or((events / 10).max(1) as i32, |p| p.parse().expect("--players P"));
    let temp = tempfile::tempdir().unwrap();
    let dir = arg("--data").map_or_else(|| temp.path().to_owned(), std::path::PathBuf::from);
    let store = EmbeddedStore::open(&dir).await.unwrap();
    let whole = campaign();
    // Tracked before loading, as the service does at start-up: inserts keep it (a no-op on a
    // reused store, which kept it).
    let scope = |scoring, max_spins| Scope {
        window: whole,
        games: None,
        stakes: Default::default(),
        scoring,
        max_spins,
    };
    let first_spins = NonZeroU32::new(50);
    let mut scopes = Scoring::ALL.map(|scoring| scope(scoring, None)).to_vec();
    scopes.extend(FIRST_SPINS.map(|scoring| scope(scoring, first_spins)));
    store.track(scopes).await.unwrap();
    let raw = std::env::args().any(|a| a == "--raw");
    // A reused store also holds the spins that arrived during earlier runs (see max-spins).
    if store.count().await.unwrap() < events {
        assert!(store.is_empty().await.unwrap(), "{} holds another dataset", dir.display());
        let conn = raw.then(|| rusqlite::Connection::open(store.path()).unwrap());
        if raw {
            std::fs::write(dir.join(RAW), "GamePlay only: loaded by benches/store.rs --raw\n").unwrap();
        }
        load(&store, conn.as_ref(), events, players).await;
    }
    assert_eq!(dir.join(RAW).exists(), raw, "{}: loaded with --raw only if run with --raw", dir.display());
    let q = |window, scoring| LeaderboardQuery {
        window,
        games: None,
        stakes: Default::default(),
        scoring,
        limit: CAP,
        counts: vec![],
        first: None,
    };
    // A live campaign's "now" is never on an hour boundary: windows have raw edges.
    let now = whole.to - chrono::Duration::seconds(7 * 60 + 13);
    let last = |span| Window { from: now - span, to: now };
    let top_target = Duration::from_millis(if events <= 1_000_000 { 100 } else { 1000 });
    println!("\n{events} spins, {players} players, 10 games, 30-day campaign; full standings (cap {CAP})\n");
    println!("| score | refresh | ranked players | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|---|");
    let hour = last(chrono::Duration::hours(1));
    for scoring in Scoring::ALL.into_iter().filter(|_| !raw) {
        let name = |what: &str| format!("{} | {what}", scoring.as_str());
        let none = &mut Vec::new;
        time(&store, &name("whole campaign (tracked scope)"), q(whole, scoring), Some(top_target), none)
            .await;
        time(&store, &name("window last=1h"), q(hour, scoring), Some(Duration::from_millis(50)), none).await;
        time(&store, &name("window last=24h"), q(last(chrono::Duration::hours(24)), scoring), None, none)
            .await;
        time(&store, &name("window last=7d"), q(last(chrono::Duration::days(7)), scoring), None, none).await;
        if !benchmarking {
            smoke(&store, whole, scoring).await;
        }
    }
    // max-spins: the campaign's spins are counted once (its first read, timed alone), then each
    // refresh takes the spins stored since: a second of traffic at a million spins an hour
    // (ARRIVING, stored before each refresh, in any order, at instants of the second after `now`:
    // inside the campaign, outside every window read, so that no row above changes on a reused
    // store).
    let first = first_spins.map(|max| FirstSpins { max, since: whole.from, until: whole.to });
    let mut rng = rand::rng();
    let mut arriving = || -> Vec<Spin> {
        (0..ARRIVING)
            .map(|_| {
                let after = chrono::Duration::microseconds(rng.random_range(0..1_000_000));
                simulator::spin(&mut rng, players, now + after)
            })
            .collect()
    };
    for scoring in FIRST_SPINS {
        let name = |what: &str| format!("{} | max-spins=50, {what}", scoring.as_str());
        let query = |window| LeaderboardQuery { first, ..q(window, scoring) };
        let t = Instant::now();
        let total = store.leaderboard(&query(whole)).await.unwrap().total;
        println!(
            "| {} | {total} | {:.2} (once) | | |",
            name("first read: the campaign counted whole"),
            ms(t.elapsed())
        );
        time(&store, &name("whole campaign"), query(whole), Some(top_target), &mut arriving).await;
        time(&store, &name("window last=1h"), query(hour), Some(Duration::from_millis(50)), &mut arriving)
            .await;
    }
}

/// Under `cargo test`: the tracked whole campaign answers exactly what the rollup (or the raw
/// spins, for a total) answers for the same spins (every game listed, so not the tracked scope),
/// and is not empty.
async fn smoke(store: &EmbeddedStore, whole: Window, scoring: Scoring) {
    let standings = |games| async move {
        store
            .leaderboard(&LeaderboardQuery {
                window: whole,
                games,
                stakes: Default::default(),
                scoring,
                limit: CAP,
                counts: vec![],
                first: None,
            })
            .await
            .unwrap()
    };
    let tracked: Standings = standings(None).await;
    let rollup = standings(Some((1..=10).collect())).await;
    assert!(tracked.total > 0 && tracked.total == tracked.rows.len() as u64);
    assert!(
        tracked.cursor.is_some() && rollup.cursor.is_none(),
        "only a scope's read tells where it left off"
    );
    let answer = |s: &Standings| (s.rows.clone(), s.total);
    assert_eq!(answer(&tracked), answer(&rollup), "{scoring:?}: the tracked scope and the rollup disagree");
    println!("store bench smoke ({}): 1 passed, 0 failed", scoring.as_str());
}
