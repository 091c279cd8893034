//! The standings page for people, through the real binary started with `serve`'s flags at the
//! top level: the page and its assets as HTTP answers, and the page itself driven in Debian's
//! headless chromium by `tests/browser/standings.mjs` (campaign list, live board, player, window).

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::Value;

use crate::common::fixture::Spin;
use crate::common::{events_json, process::Server};

/// A live campaign (no declared windows, games 1-3), an ended one (declaring its windows) and
/// an upcoming one.
fn campaigns_file(dir: &Path, now: DateTime<Utc>) -> PathBuf {
    let at = |offset: Duration| (now + offset).to_rfc3339_opts(SecondsFormat::Secs, true);
    let toml = format!(
        "[[campaigns]]\nid = \"spring\"\nname = \"Spring Spins\"\nstart = \"{}\"\nend = \"{}\"\ngames = [1, 2, 3]\n\n\
         [[campaigns]]\nid = \"winter\"\nname = \"Winter Wins\"\nstart = \"2025-01-01T00:00:00Z\"\nend = \"2025-02-01T00:00:00Z\"\nwindows = [\"30m\", \"2h\"]\n\n\
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
/// of the last hour holds other entries than the whole campaign, and paging has two pages.
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
    earlier.chain(recent).collect()
}

#[tokio::test]
async fn the_page_shows_the_live_board_in_a_browser() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
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

    let shots = root.join("target/browser");
    let output = tokio::process::Command::new("node")
        .arg(root.join("tests/browser/standings.mjs"))
        .args([&server.base, "spring", shots.to_str().unwrap()])
        .output()
        .await
        .expect("node runs (tests/run.sh installs what the browser test needs)");
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the browser test failed:\n{stdout}\n{stderr}");
    println!("{stdout}");
    for step in ["the new leader appears on the open page", "switching to the last 1h", "finding player"] {
        assert!(stdout.contains(step), "the browser test checked `{step}`:\n{stdout}");
    }
    assert!(shots.join("board-updated.png").exists());
}
