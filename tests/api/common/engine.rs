//! A real Kusto REST engine for tests: `duckdb-kql serve` over a DuckDB file named
//! `leaderboard` holding the GamePlay table. Each engine is its own process, killed on drop.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::Spin;

pub struct Engine {
    port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

/// `$DUCKDB_KQL`, else the virtualenv the README's test command creates.
fn program() -> PathBuf {
    if let Some(p) = std::env::var_os("DUCKDB_KQL") {
        return p.into();
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/duckdb-kql");
    assert!(
        venv.exists(),
        "duckdb-kql is not installed: run the README's test command (tests/run.sh), which installs it into .venv"
    );
    venv
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Engine {
    /// An engine whose GamePlay table holds `spins`.
    pub fn start(spins: &[Spin]) -> Self {
        Self::launch(spins, false)
    }

    /// An engine that also takes `.append` commands, so spins can arrive while it serves.
    pub fn writable(spins: &[Spin]) -> Self {
        Self::launch(spins, true)
    }

    fn launch(spins: &[Spin], writable: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let init = dir.path().join("init.sql");
        std::fs::write(&init, init_sql(spins)).unwrap();
        let port = free_port();
        let child = Command::new(program())
            .arg("serve")
            .arg("--init")
            .arg(&init)
            .arg("--port")
            .arg(port.to_string())
            .args(writable.then_some("--allow-write"))
            .arg(dir.path().join("leaderboard.duckdb"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("duckdb-kql starts");
        let engine = Self { port, child, _dir: dir };
        engine.wait_until_listening();
        engine
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The ADX client straight on this engine, with no token.
    pub fn backend(&self) -> leaderboard::adx::AdxBackend {
        let config = leaderboard::adx::AdxConfig {
            cluster: self.url().parse().unwrap(),
            database: "leaderboard".into(),
            table: leaderboard::kql::TableName::default(),
            timeout: Duration::from_secs(30),
            margin: leaderboard::adx::TIMEOUT_MARGIN,
            retry_window: Duration::from_secs(5),
            results_cache_max_age: None,
        };
        leaderboard::adx::AdxBackend::new(config, None).unwrap()
    }

    /// Appends `spins` to GamePlay, as ingestion would (an engine started [`Engine::writable`]).
    pub async fn append(&self, spins: &[Spin]) {
        let rows: Vec<String> = spins
            .iter()
            .map(|s| {
                let time = s.time.format("%Y-%m-%dT%H:%M:%S%.6fZ");
                format!("{}, {}, {}, {}, datetime({time})", s.player, s.game, s.win, s.stake)
            })
            .collect();
        let csl = format!(
            ".append GamePlay <| datatable(PlayerID: int, GameID: int, Win: long, Stake: int, EventTime: datetime) [{}]",
            rows.join(", ")
        );
        let response = reqwest::Client::new()
            .post(format!("{}/v1/rest/mgmt", self.url()))
            .json(&serde_json::json!({ "db": "leaderboard", "csl": csl }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    }

    fn wait_until_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "duckdb-kql did not start listening on {}", self.port);
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn init_sql(spins: &[Spin]) -> String {
    let mut sql = String::from(
        "CREATE TABLE GamePlay (PlayerID INTEGER, GameID INTEGER, Win BIGINT, Stake INTEGER, EventTime TIMESTAMP);\n",
    );
    for chunk in spins.chunks(1000) {
        sql.push_str("INSERT INTO GamePlay VALUES\n");
        let rows: Vec<String> = chunk
            .iter()
            .map(|s| {
                let time = s.time.format("%Y-%m-%d %H:%M:%S%.6f");
                format!("({}, {}, {}, {}, TIMESTAMP '{time}')", s.player, s.game, s.win, s.stake)
            })
            .collect();
        sql.push_str(&rows.join(",\n"));
        sql.push_str(";\n");
    }
    sql
}
