//! The real binary: the zero-config start serves a moving demo, and events acknowledged by
//! the API survive `kill -9`.

use std::time::Duration;

use serde_json::Value;

use crate::common::fixture::Spin;
use crate::common::{events_json, eventually, process::Server, until};

async fn json(client: &reqwest::Client, url: &str) -> Value {
    let response = client.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    response.json().await.unwrap()
}

#[tokio::test]
async fn zero_config_serves_a_live_moving_leaderboard() {
    let cwd = tempfile::tempdir().unwrap();
    let server = Server::start(cwd.path(), &[]);
    let client = reqwest::Client::new();
    let url = format!("{}/campaigns/demo-live/top", server.base);
    let first = until(Duration::from_secs(20), "the board has entries", || async {
        let body = json(&client, &url).await;
        (!body["entries"].as_array().unwrap().is_empty()).then_some(body)
    })
    .await;
    assert_eq!(first["campaign"]["status"], "live");
    eventually("the board moved", || async { json(&client, &url).await["entries"] != first["entries"] })
        .await;
    let list = json(&client, &format!("{}/campaigns", server.base)).await;
    let statuses: Vec<&str> =
        list["campaigns"].as_array().unwrap().iter().map(|c| c["status"].as_str().unwrap()).collect();
    for status in ["live", "ended", "upcoming"] {
        assert!(statuses.contains(&status), "{statuses:?}");
    }
    assert!(cwd.path().join("data/leaderboard.sqlite3").exists(), "the default data dir is ./data");
    assert_eq!(client.get(format!("{}/docs/", server.base)).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn acknowledged_events_survive_kill_9() {
    let (dir, _campaigns) = crate::common::campaign_all();
    let args = ["serve", "--campaigns", "campaigns.toml", "--data-dir", "store", "--max-limit", "10000"];
    let server = Server::start(dir.path(), &args);
    let client = reqwest::Client::new();
    let url = format!("{}/events", server.base);
    let time = "2026-11-20T10:00:00Z".parse().unwrap();

    // Batches go in back to back; the process dies while they flow, at an unknown point.
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let writer = {
        let (client, url, count) = (client.clone(), url.clone(), count.clone());
        tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for batch in 0..1000 {
                let spins: Vec<Spin> = (0..10)
                    .map(|i| Spin { player: batch * 10 + i + 1, game: 1, win: 7, stake: 1, time })
                    .collect();
                match client.post(&url).body(events_json(&spins)).send().await {
                    Ok(r) if r.status() == 200 => {
                        acknowledged.extend(spins.iter().map(|s| i64::from(s.player)))
                    }
                    _ => break,
                }
                count.store(acknowledged.len(), std::sync::atomic::Ordering::SeqCst);
            }
            acknowledged
        })
    };
    while count.load(std::sync::atomic::Ordering::SeqCst) < 300 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill_hard();
    let acknowledged = writer.await.unwrap();
    assert!(acknowledged.len() >= 50, "some batches were acknowledged before the kill");
    assert!(acknowledged.len() < 10_000, "the kill interrupted the stream");

    let server = Server::start(dir.path(), &args);
    let body = json(&client, &format!("{}/campaigns/all/top?limit=5000", server.base)).await;
    let stored: std::collections::HashSet<i64> =
        body["entries"].as_array().unwrap().iter().map(|e| e["playerId"].as_i64().unwrap()).collect();
    let lost: Vec<_> = acknowledged.iter().filter(|p| !stored.contains(p)).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged events were lost, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
}
