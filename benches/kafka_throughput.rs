//! Kafka into the embedded store, measured: starts a tansu broker on 127.0.0.1, produces N
//! generator-shaped events to the four partitions of `gameplay`, then runs the service's own
//! consumer into a fresh store (rollups and one tracked campaign scope kept, as in serving)
//! and reports events per second from the topic into the store; then a burst produced while
//! the consumer runs, with the largest lag seen and the time to drain it.
//!
//! `cargo bench --bench kafka_throughput -- [EVENTS] [BURST]` (default 1,000,000 and 200,000);
//! under `cargo test` (no `--bench` argument) the same run with 2,000 and 500 events checks that
//! every event is stored once (skipped when no broker is installed). The broker is `$TANSU` or `~/.cache/leaderboard-tools/bin/tansu`
//! (`tests/run.sh` installs it),
//! storing in `$TANSU_STORAGE` (default `memory://tansu/`; e.g. `sqlite://tansu.db`).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use leaderboard::cli::ServeArgs;
use leaderboard::leaderboard::Window;
use leaderboard::metrics::{Metrics, PartitionLabels};
use leaderboard::store::{EmbeddedStore, Scope};
use rand::RngExt;
use rskafka::client::ClientBuilder;
use rskafka::client::partition::{Compression, UnknownTopicHandling};
use rskafka::record::Record;

const TOPIC: &str = "gameplay";
const PARTITIONS: i32 = 4;

struct Broker(Child);

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn tansu() -> PathBuf {
    std::env::var_os("TANSU").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/leaderboard-tools/bin/tansu")
    })
}

/// The broker's storage: `$TANSU_STORAGE`, else in memory (the fastest tansu serves).
fn storage() -> String {
    std::env::var("TANSU_STORAGE").unwrap_or_else(|_| "memory://tansu/".into())
}

fn start_broker(dir: &std::path::Path) -> (Broker, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("tcp://127.0.0.1:{port}");
    let child = Command::new(tansu())
        .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
        .args(["--storage-engine", &storage()])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e} (tests/run.sh installs tansu)", tansu().display()));
    let addr = format!("127.0.0.1:{port}");
    while std::net::TcpStream::connect(&addr).is_err() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let created = Command::new(tansu())
        .args(["topic", "create", TOPIC, "--partitions", &PARTITIONS.to_string(), "--broker", &url])
        .output()
        .unwrap();
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    (Broker(child), addr)
}

/// `n` events in the generator's format, spread over the partitions by player.
async fn produce(addr: &str, n: usize) -> Duration {
    let client = ClientBuilder::new(vec![addr.to_owned()]).build().await.unwrap();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for partition in 0..PARTITIONS {
        let partition = client.partition_client(TOPIC, partition, UnknownTopicHandling::Retry).await.unwrap();
        tasks.push(tokio::spawn(async move {
            let mine = n / PARTITIONS as usize;
            for chunk in 0..mine.div_ceil(5000) {
                let records = batch(partition.partition(), 5000.min(mine - chunk * 5000));
                partition.produce(records, Compression::NoCompression).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    started.elapsed()
}

fn batch(partition: i32, n: usize) -> Vec<Record> {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| {
            let player = rng.random_range(0..25_000) * PARTITIONS + partition;
            let win = if rng.random_range(0..5) == 0 { rng.random_range(1..=1000) } else { 0 };
            let event = serde_json::json!({
                "playerId": player, "gameId": rng.random_range(1..=10), "win": win,
                "stake": rng.random_range(1..=100),
                "eventTime": Utc::now().format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
            });
            let value = serde_json::to_vec(&event).unwrap();
            Record { key: None, value: Some(value), headers: Default::default(), timestamp: Utc::now() }
        })
        .collect()
}

fn gauge_sum(metrics: &Metrics, pick: impl Fn(&Metrics, &PartitionLabels) -> i64) -> i64 {
    (0..PARTITIONS).map(|partition| pick(metrics, &PartitionLabels { topic: TOPIC.into(), partition })).sum()
}

fn committed(metrics: &Metrics) -> i64 {
    gauge_sum(metrics, |m, l| m.kafka.next_offset.get_or_create(l).get())
}

fn lag(metrics: &Metrics) -> i64 {
    gauge_sum(metrics, |m, l| m.kafka.lag.get_or_create(l).get())
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    // Under `cargo test`: the same run, small, as a check that it works and counts right.
    let bench = std::env::args().any(|a| a == "--bench");
    if !bench && !tansu().exists() {
        println!(
            "kafka_throughput: no tansu broker at {} (tests/run.sh installs it): skipped",
            tansu().display()
        );
        return;
    }
    let counts = std::env::args().skip(1).filter(|a| !a.starts_with("--"));
    let mut args = counts.map(|a| a.parse::<usize>().expect("counts"));
    let (events, burst) = match bench {
        true => (args.next().unwrap_or(1_000_000), args.next().unwrap_or(200_000)),
        false => (2_000, 500),
    };
    let dir = tempfile::tempdir().unwrap();
    let (_broker, addr) = start_broker(dir.path());
    let took = produce(&addr, events).await;
    println!("produced {events} events to {PARTITIONS} partitions in {:.1} s", took.as_secs_f64());

    let store = Arc::new(EmbeddedStore::open(&dir.path().join("store")).await.unwrap());
    let now = Utc::now();
    let window = Window { from: now - chrono::Duration::days(1), to: now + chrono::Duration::days(1) };
    store
        .track(vec![Scope {
            window,
            games: None,
            stakes: Default::default(),
            scoring: Default::default(),
            max_spins: None,
        }])
        .await
        .unwrap();
    let metrics = Arc::new(Metrics::default());
    let serve = ServeArgs::try_parse_from(["leaderboard", "--kafka-brokers", &addr]).unwrap();
    let config = serve.kafka.config().unwrap().unwrap();
    let started = Instant::now();
    leaderboard::kafka::spawn(config, store.clone(), metrics.clone());
    while committed(&metrics) < events as i64 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = started.elapsed().as_secs_f64();
    println!("consumed {events} events into the store in {took:.1} s: {:.0} events/s", events as f64 / took);
    assert_eq!(store.count().await.unwrap(), events as u64);

    let producing = tokio::spawn({
        let addr = addr.clone();
        async move { produce(&addr, burst).await }
    });
    let started = Instant::now();
    let mut worst = 0;
    while committed(&metrics) < (events + burst) as i64 {
        worst = worst.max(lag(&metrics));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let produced_in = producing.await.unwrap();
    assert_eq!(store.count().await.unwrap(), (events + burst) as u64, "every event stored once");
    println!(
        "burst of {burst} events (produced in {:.1} s): largest lag seen {worst}, all stored {:.1} s after the burst began",
        produced_in.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}
