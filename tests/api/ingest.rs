//! POST /events admission, seen from raw connections that send a request's head and hold its
//! body back: the token is checked before the body is read, and the bytes of ingests in
//! flight are bounded (`--ingest-max-bytes`), a request finding no room refused at once.

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::common::eventually;
use crate::common::raw::{read_head, read_status, send_head};
use crate::common::{TestApp, campaign_all, spawn_embedded};

const MIB: usize = 1 << 20;

/// A POST /events on its own connection, its body sent piece by piece.
struct Upload(TcpStream);

impl Upload {
    /// Sends the head (`headers` are extra header lines, each ending in CRLF).
    async fn start(app: &TestApp, headers: &str) -> Self {
        let head =
            format!("POST /events HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n{headers}\r\n");
        Self(send_head(&app.base, &head).await)
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.0.write_all(bytes).await.unwrap();
    }

    async fn answer(&mut self) -> String {
        read_head(&mut self.0).await
    }

    async fn status(&mut self) -> u16 {
        read_status(&mut self.0).await
    }
}

/// One chunk of a chunked body.
fn chunk(bytes: &[u8]) -> Vec<u8> {
    [format!("{:x}\r\n", bytes.len()).as_bytes(), bytes, b"\r\n"].concat()
}

const EVENT: &str = r#"{"playerId":7,"gameId":1,"win":500,"stake":2,"eventTime":"2026-11-24T10:00:00Z"}"#;

#[tokio::test]
async fn the_token_and_the_size_are_checked_before_the_body_is_read() {
    let (_dir, path) = campaign_all();
    let (app, _data) = spawn_embedded(&path, &["--ingest-token", "s3cret-token"]).await;
    for (headers, expected) in [
        ("Authorization: Bearer wrong\r\nContent-Length: 1000000\r\n", 401),
        ("Authorization: Bearer s3cret-token-and-more\r\nTransfer-Encoding: chunked\r\n", 401),
        ("Content-Length: 1000000\r\n", 401),
        ("Authorization: Bearer s3cret-token\r\nContent-Length: 16777217\r\n", 413),
    ] {
        let mut upload = Upload::start(&app, headers).await;
        upload.send(b"[").await;
        // The rest of the body never comes: only an answer given without it ends this wait
        // (the bound is a guard against waiting forever, not a latency target).
        let status = tokio::time::timeout(Duration::from_secs(60), upload.status()).await;
        assert_eq!(status.expect("answered without waiting for the body"), expected, "{headers}");
    }
}

/// Sends `[]` padded to `size` bytes (a batch refused once read, storing nothing) while
/// reading the answer: 400 when it was admitted, 503 when there was no room.
async fn probe(app: &TestApp, size: usize) -> u16 {
    let mut upload = Upload::start(app, &format!("Content-Length: {size}\r\n")).await;
    // A body that is read through and refused as invalid: 400, where a refusal for room is 503.
    let body = format!("{{}}{}", " ".repeat(size - 2));
    let (mut reader, mut writer) = upload.0.split();
    let write = async {
        // A refused body is never read: the answer comes while it is still being written.
        let _ = writer.write_all(body.as_bytes()).await;
        std::future::pending().await
    };
    tokio::select! {
        status = read_status(&mut reader) => status,
        () = write => unreachable!(),
    }
}

/// Waits until a probe of `size` bytes finds no room.
async fn wait_until_full(app: &TestApp, size: usize) {
    eventually("the held upload took its room", || async { probe(app, size).await != 400 }).await;
    assert_eq!(probe(app, size).await, 503);
}

#[tokio::test]
async fn ingest_bytes_in_flight_are_bounded_and_refusals_are_immediate() {
    let (_dir, path) = campaign_all();
    let max = (16 * MIB).to_string();
    let (app, _data) = spawn_embedded(&path, &["--ingest-max-bytes", &max, "--cache-ttl", "1ms"]).await;
    assert_eq!(probe(&app, 2).await, 400, "room for a small body");

    // A body of unknown length holds a full body's room (16 MiB: all of it) until answered.
    let mut held = Upload::start(&app, "Transfer-Encoding: chunked\r\n").await;
    held.send(&chunk(format!("[{EVENT}").as_bytes())).await;
    wait_until_full(&app, 2).await;
    assert_eq!(app.metric("leaderboard_ingest_bytes", "").await, (16 * MIB) as f64, "counted while held");
    let mut refused = Upload::start(&app, "Content-Length: 2\r\n").await;
    let answer = refused.answer().await.to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 503"), "{answer}");
    assert!(answer.contains("retry-after: 1\r\n"), "{answer}");
    assert!(answer.contains("content-type: application/problem+json\r\n"), "{answer}");

    held.send(&[chunk(b"]"), b"0\r\n\r\n".to_vec()].concat()).await;
    assert_eq!(held.status().await, 200, "the held upload is stored");
    assert_eq!(probe(&app, 2).await, 400, "its room is free again");
    assert_eq!(app.metric("leaderboard_ingest_bytes", "").await, 0.0, "and counted so");
    let top = app.json("/campaigns/all/top").await;
    assert_eq!(top["entries"][0]["playerId"], 7);

    // A declared length holds exactly that much: 10 MiB leave room for 6, not 7.
    let mut ten = Upload::start(&app, &format!("Content-Length: {}\r\n", 10 * MIB)).await;
    ten.send(b"[").await;
    wait_until_full(&app, 7 * MIB).await;
    assert_eq!(probe(&app, 6 * MIB).await, 400, "6 MiB fit beside the 10");
}

/// A body that stops coming is answered 408 at `--ingest-body-timeout`, and what it held (its
/// room in `--ingest-max-bytes`, its slot in `--max-in-flight`) is free again: stalled uploads
/// cannot shut ingestion, or every request, out.
#[tokio::test]
async fn a_stalled_body_times_out_and_gives_back_what_it_held() {
    let (_dir, path) = campaign_all();
    let max = (16 * MIB + 1000).to_string();
    let args = ["--ingest-max-bytes", &max, "--ingest-body-timeout", "1s", "--max-in-flight", "2"];
    let (app, _data) = spawn_embedded(&path, &args).await;
    let mut stalled = Upload::start(&app, "Transfer-Encoding: chunked\r\n").await;
    stalled.send(&chunk(format!("[{EVENT}").as_bytes())).await;
    let mut declared = Upload::start(&app, "Content-Length: 1000\r\n").await;
    declared.send(b"[").await;
    // The two hold all of the room and both slots meanwhile: another request is refused at once.
    eventually("the stalled uploads took their room", || async { probe(&app, 2).await == 503 }).await;
    for upload in [&mut stalled, &mut declared] {
        let answer = tokio::time::timeout(Duration::from_secs(60), upload.answer()).await.expect("answered");
        let answer = answer.to_ascii_lowercase();
        assert!(answer.starts_with("http/1.1 408"), "{answer}");
        assert!(answer.contains("content-type: application/problem+json\r\n"), "{answer}");
    }
    assert_eq!(probe(&app, 2).await, 400, "the room is free again");
    let response = app.post_events(format!("[{EVENT}]")).await;
    assert_eq!(response.status(), 200, "a whole upload is stored");
    assert_eq!(app.json("/campaigns/all/top").await["entries"][0]["playerId"], 7);
}

/// A chunked body that grows past 16 MiB is refused with 413 once it does, as a declared one is
/// before it is read.
#[tokio::test]
async fn a_chunked_body_past_the_limit_gets_413() {
    let (_dir, path) = campaign_all();
    let (app, _data) = spawn_embedded(&path, &[]).await;
    let mut upload = Upload::start(&app, "Transfer-Encoding: chunked\r\n").await;
    let (mut reader, mut writer) = upload.0.split();
    let piece = chunk(&vec![b' '; MIB]);
    let write = async {
        for _ in 0..17 {
            // The refusal may come, and the connection close, before the last piece is sent.
            if writer.write_all(&piece).await.is_err() {
                break;
            }
        }
        std::future::pending().await
    };
    let answer = tokio::select! {
        answer = read_head(&mut reader) => answer.to_ascii_lowercase(),
        () = write => unreachable!(),
    };
    assert!(answer.starts_with("http/1.1 413"), "{answer}");
    assert!(answer.contains("content-type: application/problem+json\r\n"), "{answer}");
}
