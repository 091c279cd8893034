//! Server-sent event fan-out benchmark: holds N subscribers of one board stream, posts K spins
//! that each take first place, and times each change from the acknowledged `POST /events` to
//! the first and the last subscriber's event; then, for the same length of time and the same
//! changes, one plain reader polls the board instead, so the backend queries of both periods
//! can be compared. Prints one `STREAMS_JSON {...}` line.
//!
//! `cargo bench --bench streams -- --url http://127.0.0.1:PORT --subscribers 10000 --changes 20`
//! measures a running server (campaign `bench`, embedded backend, `--max-streams` above N).
//! Run by `cargo test` (no `--bench` argument), it starts its own server on a temporary store
//! and checks itself with a few subscribers and changes.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand::RngExt;
use tokio::sync::mpsc;

/// The first player id of the spins that take first place: far above any dataset's players.
const LEADERS: i32 = 2_000_000_000;
/// How often the baseline's reader reads the board.
const POLL: Duration = Duration::from_millis(100);
/// Connections opened at once: past the listen backlog, SYNs are retried a second later.
const CONNECTING: usize = 256;
/// The longest any one wait of the run may take (a server that stops answering ends the run).
const PATIENCE: Duration = Duration::from_secs(60);

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

fn number<T: std::str::FromStr>(name: &str, default: T) -> T {
    arg(name).map_or(default, |v| v.parse().unwrap_or_else(|_| panic!("{name} takes a number")))
}

/// What one subscriber saw: the `index`th board event of its stream (0: the first, current
/// board), when its bytes arrived, and the player it ranks first.
struct Seen {
    index: usize,
    at: Instant,
    leader: Option<i64>,
}

/// The leaderboard binary on a temporary store, for the smoke run; killed on drop.
struct OwnServer {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl OwnServer {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let campaigns = dir.path().join("campaigns.toml");
        std::fs::write(
            &campaigns,
            "[[campaigns]]\nid = \"bench\"\nname = \"Bench\"\nstart = \"2026-01-01T00:00:00Z\"\nend = \"2099-01-01T00:00:00Z\"\n",
        )
        .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(env!("CARGO_BIN_EXE_leaderboard"))
            .args(["serve", "--backend", "embedded", "--cache-ttl", "200ms"])
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--campaigns")
            .arg(&campaigns)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the leaderboard binary starts");
        let deadline = Instant::now() + PATIENCE;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the server did not listen on {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        let base = format!("http://127.0.0.1:{port}");
        Self { child, base, _dir: dir }
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads one stream to its end, reporting every `board` event; `connecting` is held until the
/// first one.
async fn subscribe(
    client: reqwest::Client,
    url: String,
    seen: mpsc::UnboundedSender<Seen>,
    connecting: tokio::sync::OwnedSemaphorePermit,
) {
    let mut connecting = Some(connecting);
    let mut response = match client.get(&url).header("accept", "text/event-stream").send().await {
        Ok(r) if r.status() == 200 => r,
        Ok(r) => panic!("{url} answered {}", r.status()),
        Err(e) => panic!("{url}: {e}"),
    };
    let (mut buffer, mut index) = (Vec::new(), 0);
    while let Ok(Some(chunk)) = response.chunk().await {
        let at = Instant::now();
        buffer.extend_from_slice(&chunk);
        while let Some(end) = buffer.windows(2).position(|w| w == b"\n\n") {
            let frame: Vec<u8> = buffer.drain(..end + 2).collect();
            if let Some(leader) = board(&frame) {
                connecting.take();
                if seen.send(Seen { index, at, leader }).is_err() {
                    return;
                }
                index += 1;
            }
        }
    }
}

/// A `board` event's first-ranked player (`Some(None)` for an empty board); `None` for any
/// other frame (the retry hint, heartbeats). Found by a plain search rather than a JSON parse:
/// ten thousand parses per change would delay the later subscribers' timestamps.
fn board(frame: &[u8]) -> Option<Option<i64>> {
    let text = std::str::from_utf8(frame).ok()?;
    text.lines().any(|l| l == "event: board").then_some(())?;
    let entries = &text[text.find("\"entries\":[")?..];
    let first = entries
        .strip_prefix("\"entries\":[{")
        .and_then(|e| e.split_once("\"playerId\":"))
        .map(|(_, rest)| rest.split(|c: char| !c.is_ascii_digit() && c != '-').next().unwrap_or_default());
    Some(first.map(|id| id.parse().expect("a player id is an integer")))
}

/// Receives until every one of `n` subscribers has seen event `index`; returns when each saw
/// it, and how many events arrived that were not the awaited one or not the expected leader.
async fn all_saw(
    seen: &mut mpsc::UnboundedReceiver<Seen>,
    n: usize,
    index: usize,
    leader: Option<i64>,
) -> (Vec<Instant>, usize) {
    let (mut times, mut wrong) = (Vec::with_capacity(n), 0);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while times.len() < n {
        let event = tokio::time::timeout_at(deadline, seen.recv())
            .await
            .unwrap_or_else(|_| panic!("only {} of {n} subscribers saw event {index}", times.len()))
            .expect("subscribers run until the end");
        if event.index == index && (leader.is_none() || event.leader == leader) {
            times.push(event.at);
        } else {
            wrong += 1;
        }
    }
    (times, wrong)
}

/// The `k`th spin, by `player`, that takes first place: a win of (k + 1) records on a stake of
/// 1, so each outranks the board's best before the run and every earlier one; returns when
/// acknowledged.
async fn take_first_place(client: &reqwest::Client, run: &Run, player: i32, k: usize) -> Instant {
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ");
    let win = run.record * (k as i64 + 1);
    let body = format!(r#"[{{"playerId":{player},"gameId":1,"win":{win},"stake":1,"eventTime":"{now}"}}]"#);
    let base = &run.base;
    let response = client
        .post(format!("{base}/events"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("POST /events answers");
    assert_eq!(response.status(), 200, "POST /events: {}", response.text().await.unwrap_or_default());
    Instant::now()
}

/// A whole win above the board's best score (a fresh store's best is under 1,000; a reused one
/// holds earlier runs' leaders).
async fn record(client: &reqwest::Client, base: &str) -> i64 {
    let top: serde_json::Value =
        client.get(format!("{base}/campaigns/bench/top?limit=1")).send().await.unwrap().json().await.unwrap();
    top["entries"][0]["score"].as_f64().map_or(1, |best| best.floor() as i64 + 1)
}

/// The sum of `leaderboard_backend_queries_total` over its labels, from `/metrics`.
async fn backend_queries(client: &reqwest::Client, base: &str) -> u64 {
    let text = client.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    text.lines()
        .filter(|l| l.starts_with("leaderboard_backend_queries_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

struct Run {
    base: String,
    subscribers: usize,
    changes: usize,
    /// The first leader's win: above any score on the board before the run.
    record: i64,
    /// Each change waits a random part of this first, so changes fall anywhere in the
    /// refresh period instead of in step with it.
    jitter: Duration,
}

/// One change's times, in ms from the acknowledged POST.
struct Change {
    first_ms: f64,
    last_ms: f64,
}

impl Run {
    fn stream_url(&self) -> String {
        format!("{}/campaigns/bench/top/stream", self.base)
    }

    /// Opens every subscription and waits until each has its first event.
    async fn connect(&self, seen_tx: mpsc::UnboundedSender<Seen>) -> Vec<tokio::task::JoinHandle<()>> {
        let client = reqwest::Client::builder().http1_only().no_gzip().build().unwrap();
        let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(CONNECTING));
        let mut tasks = Vec::with_capacity(self.subscribers);
        for _ in 0..self.subscribers {
            let permit = gate.clone().acquire_owned().await.unwrap();
            tasks.push(tokio::spawn(subscribe(client.clone(), self.stream_url(), seen_tx.clone(), permit)));
        }
        tasks
    }

    async fn changes(
        &self,
        client: &reqwest::Client,
        mut on_change: impl AsyncFnMut(usize, Instant),
    ) -> Vec<Duration> {
        let started = Instant::now();
        let mut offsets = Vec::new();
        for k in 0..self.changes {
            let wait = rand::rng().random_range(0..=self.jitter.as_millis() as u64);
            tokio::time::sleep(Duration::from_millis(wait)).await;
            let acked = take_first_place(client, self, LEADERS + k as i32, k).await;
            offsets.push(acked - started);
            on_change(k, acked).await;
        }
        offsets
    }
}

#[tokio::main]
async fn main() {
    let benchmarking = std::env::args().any(|a| a == "--bench");
    let own = arg("--url").is_none().then(OwnServer::start);
    let base = arg("--url").unwrap_or_else(|| own.as_ref().unwrap().base.clone());
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let client = reqwest::Client::builder().http1_only().build().unwrap();
    let run = Run {
        record: record(&client, &base).await,
        base,
        subscribers: number("--subscribers", if benchmarking { 10_000 } else { 20 }),
        changes: number("--changes", if benchmarking { 20 } else { 2 }),
        jitter: Duration::from_millis(number("--jitter-ms", if benchmarking { 1000 } else { 200 })),
    };

    let connecting = Instant::now();
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let tasks = run.connect(seen_tx).await;
    let (_, _) = all_saw(&mut seen, run.subscribers, 0, None).await;
    let connected = connecting.elapsed();
    eprintln!("{} subscribers connected in {connected:.1?}", run.subscribers);

    let queries_before = backend_queries(&client, &run.base).await;
    let subscribed = Instant::now();
    let mut changes = Vec::new();
    let mut wrong_events = 0;
    let offsets = run
        .changes(&client, async |k, acked| {
            let leader = Some(i64::from(LEADERS) + k as i64);
            let (times, wrong) = all_saw(&mut seen, run.subscribers, k + 1, leader).await;
            wrong_events += wrong;
            let (first, last) = (times.iter().min().unwrap(), times.iter().max().unwrap());
            changes.push(Change {
                first_ms: ms(first.saturating_duration_since(acked)),
                last_ms: ms(last.saturating_duration_since(acked)),
            });
        })
        .await;
    let subscribed_for = subscribed.elapsed();
    let queries_subscribed = backend_queries(&client, &run.base).await - queries_before;
    for task in tasks {
        task.abort();
    }
    drop(seen);

    let (baseline_for, queries_baseline) = baseline(&run, &client, &offsets, subscribed_for).await;
    report(
        &run,
        connected,
        &changes,
        wrong_events,
        (subscribed_for, queries_subscribed),
        (baseline_for, queries_baseline),
    );
    if !benchmarking {
        assert_eq!(changes.len(), run.changes, "every change reached every subscriber");
        assert_eq!(wrong_events, 0, "no subscriber saw an event out of turn or the wrong leader");
        assert!(queries_subscribed > 0 && queries_baseline > 0, "both periods refreshed the view");
        println!("streams bench smoke: 1 passed, 0 failed");
    }
}

/// The same changes at the same offsets for the same time, with one reader polling the board
/// instead of the subscribers: the backend queries one reader costs.
async fn baseline(
    run: &Run,
    client: &reqwest::Client,
    offsets: &[Duration],
    period: Duration,
) -> (Duration, u64) {
    let before = backend_queries(client, &run.base).await;
    let started = Instant::now();
    let top = format!("{}/campaigns/bench/top", run.base);
    let mut poll = tokio::time::interval(POLL);
    let mut next = offsets.iter().enumerate().peekable();
    let mut last = None;
    while started.elapsed() < period {
        poll.tick().await;
        let status = client.get(&top).send().await.expect("GET /top answers").status();
        assert_eq!(status, 200, "GET /top");
        while let Some((k, _)) = next.next_if(|(_, offset)| started.elapsed() >= **offset) {
            let leader = LEADERS + (run.changes + k) as i32;
            take_first_place(client, run, leader, run.changes + k).await;
            last = Some(leader);
        }
    }
    let polled_for = started.elapsed();
    // The refresh that shows the last change is counted too, however short the period was.
    if let Some(leader) = last {
        let deadline = Instant::now() + PATIENCE;
        while leader_of(client, &top).await != Some(leader) {
            assert!(Instant::now() < deadline, "the board never showed player {leader} first");
            poll.tick().await;
        }
    }
    (polled_for, backend_queries(client, &run.base).await - before)
}

/// The player ranked first on the board at `top`.
async fn leader_of(client: &reqwest::Client, top: &str) -> Option<i32> {
    let board: serde_json::Value = client.get(top).send().await.ok()?.json().await.ok()?;
    board["entries"][0]["playerId"].as_i64().and_then(|id| i32::try_from(id).ok())
}

fn report(
    run: &Run,
    connected: Duration,
    changes: &[Change],
    wrong_events: usize,
    subscribed: (Duration, u64),
    baseline: (Duration, u64),
) {
    let mut last: Vec<f64> = changes.iter().map(|c| c.last_ms).collect();
    let mut first: Vec<f64> = changes.iter().map(|c| c.first_ms).collect();
    let mut spread: Vec<f64> = changes.iter().map(|c| c.last_ms - c.first_ms).collect();
    for v in [&mut last, &mut first, &mut spread] {
        v.sort_by(f64::total_cmp);
    }
    let summary = |v: &[f64]| {
        HashMap::from([
            ("p50_ms", percentile(v, 0.5)),
            ("p99_ms", percentile(v, 0.99)),
            ("max_ms", v[v.len() - 1]),
        ])
    };
    let json = serde_json::json!({
        "subscribers": run.subscribers,
        "changes": changes.len(),
        "jitter_ms": ms(run.jitter),
        "connect_s": connected.as_secs_f64(),
        "to_last": summary(&last),
        "to_first": summary(&first),
        "fan_out": summary(&spread),
        "wrong_events": wrong_events,
        "subscribed_s": subscribed.0.as_secs_f64(),
        "queries_subscribed": subscribed.1,
        "baseline_s": baseline.0.as_secs_f64(),
        "queries_baseline": baseline.1,
    });
    println!("STREAMS_JSON {json}");
}
