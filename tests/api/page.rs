//! The standings page for people, through the real binary started with `serve`'s flags at the
//! top level: the page and its assets as HTTP answers, and the page itself driven in Debian's
//! headless chromium by `tests/browser/standings.mjs` (campaign list, live board, player, window,
//! and a failing backend behind the fault proxy).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt};

use crate::common::faults::Fault;
use crate::common::fixture::Spin;
use crate::common::{events_json, eventually, process::Server};

/// A live campaign (no declared windows, games 1-3, stakes 3 to 50, each player's first 5,000
/// spins, a prize table), an ended
/// one (declaring its windows, scored by total wins) and an upcoming one.
fn campaigns_file(dir: &Path, now: DateTime<Utc>) -> PathBuf {
    let at = |offset: Duration| (now + offset).to_rfc3339_opts(SecondsFormat::Secs, true);
    let toml = format!(
        "[[campaigns]]\nid = \"spring\"\nname = \"Spring Spins\"\nstart = \"{}\"\nend = \"{}\"\ngames = [1, 2, 3]\n\
         min-stake = 3\nmax-stake = 50\nmax-spins = 5000\n\
         [[campaigns.prizes]]\nranks = \"1\"\nprize = \"Gold\"\n[[campaigns.prizes]]\nranks = \"2-3\"\nprize = \"Silver\"\n\n\
         [[campaigns]]\nid = \"winter\"\nname = \"Winter Wins\"\nstart = \"2025-01-01T00:00:00Z\"\nend = \"2025-02-01T00:00:00Z\"\nwindows = [\"30m\", \"2h\"]\nscore = \"total-win\"\n\n\
         [[campaigns]]\nid = \"summer\"\nname = \"Summer Slots\"\nstart = \"{}\"\nend = \"{}\"\n",
        at(-Duration::days(3)),
        at(Duration::days(7)),
        at(Duration::days(30)),
        at(Duration::days(60)),
    );
    let path = dir.join("campaigns.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

/// The binary as a promoter starts it: no subcommand, `serve`'s flags at the top level.
fn start(dir: &Path, campaigns: &Path) -> Server {
    let data = dir.join("data");
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--campaigns",
        campaigns.to_str().unwrap(),
        "--simulate=0",
        "--data-dir",
        data.to_str().unwrap(),
    ];
    Server::start(dir, &args)
}

async fn get(client: &reqwest::Client, url: &str) -> reqwest::Response {
    client.get(url).send().await.expect("request sent")
}

fn content_type(response: &reqwest::Response) -> &str {
    response.headers()["content-type"].to_str().unwrap()
}

#[tokio::test]
async fn top_level_flags_serve_the_page_and_the_api_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &campaigns_file(dir.path(), Utc::now()));
    let client = reqwest::Client::new();
    let base = &server.base;

    let index = get(&client, &format!("{base}/")).await;
    assert_eq!(index.status(), 200);
    assert_eq!(content_type(&index), "text/html; charset=utf-8");
    let etag = index.headers()["etag"].clone();
    assert!(index.text().await.unwrap().contains("<script type=\"module\" src=\"/assets/app.js\">"));
    let revalidated = client.get(format!("{base}/")).header("if-none-match", etag).send().await.unwrap();
    assert_eq!(revalidated.status(), 304, "an unchanged page is revalidated, not sent again");

    let board = get(&client, &format!("{base}/board/spring")).await;
    assert_eq!(board.status(), 200);
    assert_eq!(content_type(&board), "text/html; charset=utf-8");
    let unknown = get(&client, &format!("{base}/board/autumn")).await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(content_type(&unknown), "application/problem+json");
    for (asset, kind) in [("app.js", "text/javascript"), ("style.css", "text/css")] {
        let response = get(&client, &format!("{base}/assets/{asset}")).await;
        assert_eq!(response.status(), 200, "{asset}");
        assert!(content_type(&response).starts_with(kind), "{asset}: {}", content_type(&response));
        let text = response.text().await.unwrap();
        assert!(
            !text.contains("http://") && !text.contains("https://"),
            "{asset} fetches nothing from outside"
        );
    }

    let campaigns = get(&client, &format!("{base}/campaigns")).await;
    assert_eq!(content_type(&campaigns), "application/json");
    let list: Value = campaigns.json().await.unwrap();
    assert_eq!(list["campaigns"].as_array().unwrap().len(), 3);
    let document = get(&client, &format!("{base}/openapi.json")).await.text().await.unwrap();
    let paths: Value = serde_json::from_str::<Value>(&document).unwrap()["paths"].clone();
    let page_paths = ["/", "/board/{id}", "/assets/app.js", "/assets/style.css"];
    assert!(page_paths.iter().all(|p| paths.get(p).is_none()), "the page is not API");
}

/// A subcommand whose reader stops reading (`leaderboard openapi | head`) ends quietly, with
/// success; read whole, its output is the document.
#[test]
fn a_subcommand_read_in_part_ends_quietly() {
    use std::io::Read;
    let mut child = Command::new(env!("CARGO_BIN_EXE_leaderboard"))
        .arg("openapi")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut head = [0u8; 16];
    child.stdout.take().unwrap().read_exact(&mut head).unwrap();
    // The pipe is closed: the rest of the document (more than a pipe's buffer) cannot be written.
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success() && stderr.is_empty(), "{:?}: {stderr}", output.status);
    assert_eq!(&head[..1], b"{");
    let whole = Command::new(env!("CARGO_BIN_EXE_leaderboard")).arg("openapi").output().unwrap();
    assert!(whole.status.success());
    let document: serde_json::Value = serde_json::from_slice(&whole.stdout).unwrap();
    assert!(document["paths"].get("/campaigns/{id}/top").is_some());
}

#[test]
fn serve_flags_and_a_subcommand_do_not_mix() {
    let output = Command::new(env!("CARGO_BIN_EXE_leaderboard"))
        .args(["--listen", "127.0.0.1:0", "openapi"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("openapi") && stderr.contains("--listen"), "{stderr}");
}

/// Whole-campaign leaders two days ago, and a few lesser players ten minutes ago: the window
/// of the last hour holds other entries than the whole campaign, and paging has two pages. And
/// the ended campaign's spins: totals of wins, a losing spin among them.
fn spins(now: DateTime<Utc>) -> Vec<Spin> {
    let earlier = (1..=45).map(|player| Spin {
        player,
        game: 1 + player % 3,
        win: 1000 + 37 * i64::from(player),
        stake: 10,
        time: now - Duration::days(2),
    });
    let recent = (101..=105).map(|player| Spin {
        player,
        game: 2,
        win: 50 + i64::from(player),
        stake: 10,
        time: now - Duration::minutes(10),
    });
    let winter = "2025-01-15T12:00:00Z".parse::<DateTime<Utc>>().unwrap();
    let ended = [(201, 300), (201, 0), (202, 1200), (203, 450)].map(|(player, win)| Spin {
        player,
        game: 1,
        win,
        stake: 20,
        time: winter,
    });
    earlier.chain(recent).chain(ended).collect()
}

#[tokio::test]
async fn the_page_shows_the_live_board_in_a_browser() {
    let dir = tempfile::tempdir().unwrap();
    let now = Utc::now();
    let server = start(dir.path(), &campaigns_file(dir.path(), now));
    let response = reqwest::Client::new()
        .post(format!("{}/events", server.base))
        .body(events_json(&spins(now)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let stdout = browser(&server.base, "spring", "tour").await;
    let steps = [
        "the new leader appears on the open page",
        "switching to the last 1h",
        "finding player",
        "prize",
        "the total-win board",
    ];
    for step in steps {
        assert!(stdout.contains(step), "the browser test checked `{step}`:\n{stdout}");
    }
    assert!(root().join("target/browser/board-updated.png").exists());
}

#[tokio::test]
async fn a_failing_refresh_shows_a_notice_and_the_page_keeps_listening() {
    let s = crate::common::setup(&["--cache-ttl", "100ms"]).await;
    // The board's first query is answered; the refreshes after it fail.
    s.proxy.queue([Fault::None]);
    s.proxy.set(Fault::Permanent);
    let mut driver = Driver::start(&s.app.base, "live-all", "failure");
    driver.wait_for("ok: a failing refresh shows a notice").await;
    // The backend recovers (same standings: no event), then fails again: only a stream that
    // stayed open brings the second failure's notice.
    s.proxy.set(Fault::None);
    let queries = s.proxy.queries();
    eventually("the view, kept refreshing by the page's open stream, recovered", || async {
        s.proxy.queries() >= queries + 2
    })
    .await;
    s.proxy.set(Fault::Permanent);
    driver.finish().await;
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the browser driver's `scenario` against the server at `base` to the end; its
/// screenshots go to target/browser. Fails the test with the driver's output unless every
/// check passed.
async fn browser(base: &str, campaign: &str, scenario: &str) -> String {
    Driver::start(base, campaign, scenario).finish().await
}

/// The browser driver (`node tests/browser/standings.mjs`) running, its output read as it goes.
struct Driver {
    child: tokio::process::Child,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    seen: String,
}

impl Driver {
    fn start(base: &str, campaign: &str, scenario: &str) -> Self {
        let shots = root().join("target/browser");
        let mut child = tokio::process::Command::new("node")
            .arg(root().join("tests/browser/standings.mjs"))
            .args([base, campaign, shots.to_str().unwrap(), scenario])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("node runs (tests/run.sh installs what the browser test needs)");
        let lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        Self { child, lines, seen: String::new() }
    }

    /// Reads the driver's output up to the line `wanted`; the driver's own deadlines bound it.
    async fn wait_for(&mut self, wanted: &str) {
        while let Some(line) = self.lines.next_line().await.unwrap() {
            self.seen += &format!("{line}\n");
            if line == wanted {
                return;
            }
        }
        self.fail(&format!("the driver ended before `{wanted}`")).await;
    }

    /// Waits for the driver to end; it must have passed every check.
    async fn finish(mut self) -> String {
        while let Some(line) = self.lines.next_line().await.unwrap() {
            self.seen += &format!("{line}\n");
        }
        if !self.child.wait().await.unwrap().success() {
            self.fail("the browser test failed").await;
        }
        println!("{}", self.seen);
        std::mem::take(&mut self.seen)
    }

    async fn fail(&mut self, what: &str) -> ! {
        let mut stderr = String::new();
        self.child.stderr.take().unwrap().read_to_string(&mut stderr).await.unwrap();
        panic!("{what}:\n{}\n{stderr}", self.seen);
    }
}

impl Drop for Driver {
    /// A test that fails midway stops a driver still running with SIGTERM, not SIGKILL, so
    /// that it closes its browser before it goes.
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            // SAFETY: kill(2) on the pid of our own child, which has not been reaped yet.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
        }
    }
}
