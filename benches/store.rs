//! Embedded-store benchmark: loads N simulated spins (default 10 million) spread over a
//! 30-day campaign, then times top and window queries straight on the store (no HTTP, no
//! cache). `cargo bench --bench store -- --events 1000000`; `--data DIR` keeps the loaded
//! store between runs (it is reused when it already holds N spins). Run by `cargo test` (no
//! `--bench` argument), it only checks itself on a small load.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use leaderboard::events::Spin;
use leaderboard::leaderboard::{LeaderboardQuery, MaxLimit, Window};
use leaderboard::simulator;
use leaderboard::store::EmbeddedStore;
use rand::RngExt;

const PLAYERS: i32 = 10_000;
const RUNS: usize = 30;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

fn campaign() -> (DateTime<Utc>, DateTime<Utc>) {
    let start = Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap();
    (start, start + chrono::Duration::days(30))
}

/// Spins arrive in time order, as they do from the pipeline: each batch is the next slice of
/// the campaign, with random instants inside it.
async fn load(store: &EmbeddedStore, events: u64) {
    const BATCH: u64 = 20_000;
    let (start, end) = campaign();
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
            .map(|us| simulator::spin(&mut rng, PLAYERS, from + chrono::Duration::microseconds(us)))
            .collect();
        loaded += batch.len() as u64;
        store.insert(batch).await.unwrap();
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

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn time(store: &EmbeddedStore, name: &str, query: LeaderboardQuery) {
    let mut took = Vec::with_capacity(RUNS);
    let mut rows = 0;
    for _ in 0..RUNS {
        let t = Instant::now();
        rows = leaderboard::backend::Backend::leaderboard(store, &query).await.unwrap().rows.len();
        took.push(t.elapsed());
    }
    took.sort();
    println!(
        "| {name} | {rows} | {:.2} | {:.2} | {:.2} |",
        percentile(&took, 0.5).as_secs_f64() * 1e3,
        percentile(&took, 0.95).as_secs_f64() * 1e3,
        took[took.len() - 1].as_secs_f64() * 1e3
    );
}

#[tokio::main]
async fn main() {
    let benchmarking = std::env::args().any(|a| a == "--bench");
    let default = if benchmarking { 10_000_000 } else { 20_000 };
    let events: u64 = arg("--events").map_or(default, |e| e.parse().expect("--events N"));
    let temp = tempfile::tempdir().unwrap();
    let dir = arg("--data").map_or_else(|| temp.path().to_owned(), std::path::PathBuf::from);
    let store = EmbeddedStore::open(&dir, MaxLimit::DEFAULT).unwrap();
    if store.count().await.unwrap() != events {
        assert!(store.is_empty().await.unwrap(), "{} holds another dataset", dir.display());
        load(&store, events).await;
    }
    let (start, end) = campaign();
    let q = |from, to, games: Option<Vec<i32>>| LeaderboardQuery {
        window: Window { from, to },
        games,
        limit: 100,
    };
    let last = |span: chrono::Duration| q(end - span, end, None);
    println!("\n{events} spins, {PLAYERS} players, 10 games, 30-day campaign; {RUNS} runs each, limit 100\n");
    println!("| query | rows | p50 ms | p95 ms | max ms |\n|---|---|---|---|---|");
    time(&store, "top (whole campaign)", q(start, end, None)).await;
    time(&store, "top, games 1-3", q(start, end, Some(vec![1, 2, 3]))).await;
    time(&store, "window last=15m", last(chrono::Duration::minutes(15))).await;
    time(&store, "window last=1h", last(chrono::Duration::hours(1))).await;
    time(&store, "window last=1d", last(chrono::Duration::days(1))).await;
    time(
        &store,
        "window last=7d, games 1-3",
        q(
            end - chrono::Duration::days(7) - chrono::Duration::minutes(7),
            end - chrono::Duration::minutes(7),
            Some(vec![1, 2, 3]),
        ),
    )
    .await;
    if !benchmarking {
        // Under `cargo test`, a run that got here loaded and queried every view.
        println!("store bench smoke: 1 passed, 0 failed");
    }
}
