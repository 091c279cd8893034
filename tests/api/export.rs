//! CSV export under slow clients: a download whose client reads nothing parks its connection,
//! never a thread, so ingestion and store reads go on beside more of them than the blocking
//! pool has threads; exports are
//! bounded (`--max-exports`) and counted, and never compressed. (What an export holds is
//! `streams::the_csv_export_is_the_whole_snapshot_on_both_backends`.)

use std::time::Duration;

use futures::future::join_all;
use serde_json::Value;
use tokio::io::AsyncReadExt;

use crate::common::fixture::Spin;
use crate::common::raw::send_head;
use crate::common::{TestApp, campaign_all, events_json, eventually, spawn_embedded, spin};

const CSV: &str = "/campaigns/all/standings.csv";
const PLAYERS: i32 = 100_000;

/// Waits for `request` as for an answer that must come: the bound guards against a hang and
/// is no latency target.
async fn answered(request: impl Future<Output = reqwest::Response>, what: &str) -> reqwest::Response {
    tokio::time::timeout(Duration::from_secs(60), request)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer"))
}

async fn open_exports(app: &TestApp) -> f64 {
    app.metric("leaderboard_exports_open", "").await
}

/// The server's blocking pool, small so that a test can outnumber it (tokio's default is 512).
const POOL: usize = 32;

#[test]
fn downloads_whose_clients_read_nothing_hold_no_thread_and_exports_are_bounded() {
    let runtime = tokio::runtime::Builder::new_multi_thread().max_blocking_threads(POOL).enable_all().build();
    runtime.unwrap().block_on(stalled_downloads());
}

async fn stalled_downloads() {
    // More stalled downloads than the blocking pool has threads.
    let stalled = POOL as u32 + 16;
    let (_dir, campaigns) = campaign_all();
    let (app, _data) = spawn_embedded(&campaigns, &["--max-exports", &stalled.to_string()]).await;
    // Far more rows than a client's and the server's socket buffers take in (a few MB).
    let spins: Vec<Spin> = (1..=PLAYERS).map(|p| spin(p, i64::from(p), 1)).collect();
    app.ingest(&spins).await;

    let head = format!("GET {CSV} HTTP/1.1\r\nHost: test\r\n\r\n");
    let mut clients = join_all((0..stalled).map(|_| send_head(&app.base, &head))).await;
    eventually("every download is open, its client reading nothing", || async {
        open_exports(&app).await == f64::from(stalled)
    })
    .await;
    let held = app.metric("leaderboard_export_snapshot_bytes", "").await;
    // At least a 32-byte row a player, for each export.
    let rows = f64::from(stalled) * f64::from(PLAYERS) * 32.0;
    assert!(held >= rows && held % f64::from(stalled) == 0.0, "each export counts its snapshot: {held}");

    // Past the bound: refused at once, as the other bounds refuse.
    let refused = answered(app.get(CSV), "an export past the bound").await;
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["type"], "urn:leaderboard:problem:too-many-exports");

    // Ingestion and a store read (a view nobody read yet) are answered beside them. Player 1's
    // new spin scores below their best: the board stays as it was.
    let posted = answered(app.post_events(events_json(&[spin(1, 1, 2)])), "a one-event POST /events").await;
    assert_eq!(posted.status(), 200, "{}", posted.text().await.unwrap());
    let cold = answered(app.get("/campaigns/all/window?last=1h"), "a cold board").await;
    assert_eq!(cold.status(), 200);
    assert_eq!(cold.headers()["x-cache"], "miss", "read from the store");

    // A client that goes away ends its export; under the bound a download then goes through,
    // whole and not compressed, whatever the client accepts.
    clients.pop();
    eventually("a gone client's export has ended", || async {
        open_exports(&app).await == f64::from(stalled - 1)
    })
    .await;
    let plain = reqwest::Client::builder().no_gzip().build().unwrap();
    let request = plain.get(format!("{}{CSV}", app.base)).header("accept-encoding", "gzip, br");
    let download = answered(async { request.send().await.unwrap() }, "an export under the bound").await;
    assert_eq!(download.status(), 200);
    assert!(download.headers().get("content-encoding").is_none(), "{:?}", download.headers());
    let text = download.text().await.unwrap();
    let records = text.split_inclusive('\n');
    assert!(records.clone().all(|r| r.ends_with("\r\n")), "RFC 4180: every record ends with CRLF");
    assert_eq!(records.count(), PLAYERS as usize + 1, "a header and every player");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("rank,playerId,score,win,stake,gameId,spins,achievedAt"));
    assert_eq!(lines.next().unwrap().split(',').take(2).collect::<Vec<_>>(), ["1", &PLAYERS.to_string()]);
    assert_eq!(lines.count(), PLAYERS as usize - 1, "every player");
    drop(clients);
    eventually("every export has ended", || async { open_exports(&app).await == 0.0 }).await;
}

/// A download whose client reads nothing holds its export (its slot and its snapshot) only
/// until its connection's writes have made no progress for `--write-timeout`: the server then
/// closes the connection, and the slot serves the next download.
#[tokio::test]
async fn a_stalled_download_is_closed_after_the_write_timeout_and_frees_its_slot() {
    let (_dir, campaigns) = campaign_all();
    let (app, _data) = spawn_embedded(&campaigns, &["--max-exports", "1", "--write-timeout", "3s"]).await;
    let spins: Vec<Spin> = (1..=PLAYERS).map(|p| spin(p, i64::from(p), 1)).collect();
    app.ingest(&spins).await;

    let head = format!("GET {CSV} HTTP/1.1\r\nHost: test\r\n\r\n");
    let mut stalled = send_head(&app.base, &head).await;
    eventually("the stalled download holds the one export slot", || async {
        open_exports(&app).await == 1.0
    })
    .await;
    eventually("its connection is closed, and the slot free", || async { open_exports(&app).await == 0.0 })
        .await;
    // The client got a part of the body, then the end of its connection.
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(60), stalled.read_to_end(&mut received)).await;
    assert!(read.is_ok(), "the connection ended");
    let whole = answered(app.get(CSV), "an export once the slot is free").await;
    assert_eq!(whole.status(), 200);
    let whole = whole.text().await.unwrap();
    assert_eq!(whole.lines().count(), PLAYERS as usize + 1, "the next download is whole");
    assert!(received.len() < whole.len(), "the stalled one was cut: {} bytes", received.len());
}
