//! Test harness: the fixture dataset and its oracle, a real Kusto REST engine
//! (`duckdb-kql serve`) loaded with it, and the service started on port 0.

pub mod engine;
pub mod faults;
pub mod fixture;
pub mod process;
pub mod raw;
pub mod sse;

use std::path::Path;
use std::time::Duration;

use leaderboard::app::App;
use leaderboard::cli::ServeArgs;

pub use engine::Engine;
pub use fixture::{Fixture, Spin};

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
}

impl TestApp {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(format!("{}{path}", self.base)).send().await.expect("request sent")
    }

    pub async fn json(&self, path: &str) -> serde_json::Value {
        let response = self.get(path).await;
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.expect("a JSON body")
    }

    /// A counter from /metrics, summed over every label set whose labels contain `labels`.
    pub async fn metric(&self, name: &str, labels: &str) -> f64 {
        let text = self.get("/metrics").await.text().await.unwrap();
        text.lines()
            .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']) && l.contains(labels))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
            .sum()
    }
}

/// Starts the service in-process on a free port with `args` (serve flags).
pub async fn spawn_app(args: &[&str]) -> TestApp {
    let argv = ["leaderboard", "--listen", "127.0.0.1:0"].iter().chain(args);
    let args = ServeArgs::try_parse_from(argv).expect("valid serve flags");
    let app = App::build(&args).await.expect("the app starts");
    let base = format!("http://{}", app.local_addr());
    tokio::spawn(app.run(std::future::pending()));
    TestApp { base, client: reqwest::Client::new() }
}

/// The campaigns file of most embedded-store tests: one campaign, `all`, from 2020 to 2030,
/// over every game.
pub const ALL: &str =
    "[[campaigns]]\nid = \"all\"\nstart = \"2020-01-01T00:00:00Z\"\nend = \"2030-01-01T00:00:00Z\"\n";

/// A spin of game 1 at one fixed instant (2026-11-20 10:00 UTC), inside [`ALL`].
pub fn spin(player: i32, win: i64, stake: i32) -> fixture::Spin {
    fixture::Spin { player, game: 1, win, stake, time: "2026-11-20T10:00:00Z".parse().unwrap() }
}

/// [`ALL`] in `campaigns.toml` of a directory of its own (kept alive by the returned guard).
pub fn campaign_all() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("campaigns.toml");
    std::fs::write(&path, ALL).unwrap();
    (dir, path)
}

/// The service on the embedded backend with its own data directory (kept alive by the
/// returned guard) and the campaigns file at `campaigns`; no simulator.
pub async fn spawn_embedded(campaigns: &Path, extra: &[&str]) -> (TestApp, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    let mut args = vec![
        "--backend",
        "embedded",
        "--data-dir",
        data.path().to_str().unwrap(),
        "--campaigns",
        campaigns.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    (spawn_app(&args).await, data)
}

/// Spins in the event format, as a JSON array body.
pub fn events_json(spins: &[Spin]) -> String {
    let events: Vec<serde_json::Value> = spins
        .iter()
        .map(|s| {
            serde_json::json!({
                "playerId": s.player, "gameId": s.game, "win": s.win, "stake": s.stake,
                "eventTime": s.time.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            })
        })
        .collect();
    serde_json::to_string(&events).unwrap()
}

impl TestApp {
    /// POSTs `body` to /events.
    pub async fn post_events(&self, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.client.post(format!("{}/events", self.base)).body(body).send().await.expect("request sent")
    }

    /// Stores `spins` through POST /events, in batches.
    pub async fn ingest(&self, spins: &[Spin]) {
        for batch in spins.chunks(5000) {
            let response = self.post_events(events_json(batch)).await;
            assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
        }
    }
}

/// The same fixture served by both backends: ADX (on `duckdb-kql serve`) and the embedded store.
pub struct BothBackends {
    pub adx: TestApp,
    pub embedded: TestApp,
    _engine: Engine,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

pub async fn both_backends(fixture: &Fixture, extra: &[&str]) -> BothBackends {
    let engine = Engine::start(&fixture.spins);
    let (dir, campaigns) = fixture.write_campaigns();
    let adx = spawn_on_engine(&engine, &campaigns, extra).await;
    let (embedded, data) = spawn_embedded(&campaigns, extra).await;
    embedded.ingest(&fixture.spins).await;
    BothBackends { adx, embedded, _engine: engine, _dirs: (dir, data) }
}

/// The service on the ADX backend, pointed at `engine`, with the campaigns file at `campaigns`.
pub async fn spawn_on_engine(engine: &Engine, campaigns: &Path, extra: &[&str]) -> TestApp {
    spawn_on_cluster(&engine.url(), campaigns, extra).await
}

/// The service on the ADX backend, pointed at the Kusto endpoint `cluster`.
pub async fn spawn_on_cluster(cluster: &str, campaigns: &Path, extra: &[&str]) -> TestApp {
    let mut args = vec![
        "--backend",
        "adx",
        "--adx-cluster",
        &cluster,
        "--adx-database",
        "leaderboard",
        "--adx-auth",
        "none",
        "--campaigns",
        campaigns.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    spawn_app(&args).await
}

/// Waits until `attempt` gives a value, trying every few milliseconds; fails with `what` if it
/// gave none within `patience` (a bound that turns a hang into a failure, not a latency claim).
pub async fn until<T, F: Future<Output = Option<T>>>(
    patience: Duration,
    what: &str,
    mut attempt: impl FnMut() -> F,
) -> T {
    let deadline = std::time::Instant::now() + patience;
    loop {
        if let Some(value) = attempt().await {
            return value;
        }
        assert!(std::time::Instant::now() < deadline, "timed out after {patience:?} waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until `condition` holds, for at most `patience`.
pub async fn within<F: Future<Output = bool>>(
    patience: Duration,
    what: &str,
    mut condition: impl FnMut() -> F,
) {
    until(patience, what, || {
        let holds = condition();
        async move { holds.await.then_some(()) }
    })
    .await
}

/// Waits until `condition` holds, for at most 20 seconds (generous for a loaded machine).
pub async fn eventually<F: Future<Output = bool>>(what: &str, condition: impl FnMut() -> F) {
    within(Duration::from_secs(20), what, condition).await
}

/// The entries of an answer as oracle rows, checking that ranks are the global positions
/// starting at `first_rank`.
pub fn rows(entries: &serde_json::Value, first_rank: usize) -> Vec<fixture::Row> {
    entries
        .as_array()
        .expect("an entries array")
        .iter()
        .enumerate()
        .map(|(i, e)| {
            assert_eq!(e["rank"], first_rank + i, "ranks are global positions: {e}");
            row(e)
        })
        .collect()
}

/// One entry as an oracle row.
pub fn row(e: &serde_json::Value) -> fixture::Row {
    let time: chrono::DateTime<chrono::Utc> = e["achievedAt"].as_str().unwrap().parse().unwrap();
    let int = |k: &str| e[k].as_i64().unwrap();
    (
        int("playerId") as i32,
        e["score"].as_f64().unwrap(),
        int("win"),
        int("stake") as i32,
        int("gameId") as i32,
        time,
        int("spins") as u32,
    )
}

/// The fixture on a real Kusto engine, behind the fault proxy that counts, slows and breaks its
/// queries, served with `extra` flags: the setup of most ADX-path tests.
pub struct Setup {
    pub app: TestApp,
    pub proxy: faults::FaultProxy,
    pub fixture: Fixture,
    _engine: Engine,
    _dir: tempfile::TempDir,
}

pub async fn setup(extra: &[&str]) -> Setup {
    let fixture = Fixture::new();
    let engine = Engine::start(&fixture.spins);
    let proxy = faults::FaultProxy::start(engine.url()).await;
    let (dir, campaigns) = fixture.write_campaigns();
    let app = spawn_on_cluster(&proxy.url, &campaigns, extra).await;
    Setup { app, proxy, fixture, _engine: engine, _dir: dir }
}
