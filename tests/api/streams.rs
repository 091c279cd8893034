//! Live boards: server-sent event streams (first event, silence while nothing changes, one event
//! per change to every subscriber, `Last-Event-ID`, heartbeats, the stream bound, error events,
//! shutdown with streams open) and the CSV export on both backends.

use std::os::unix::process::CommandExt;
use std::time::Duration;

use futures::future::join_all;
use serde_json::Value;

use crate::common::faults::Fault;
use crate::common::process::Server;
use crate::common::setup;
use crate::common::sse::EventStream;
use crate::common::{ALL, Fixture, Spin, TestApp, both_backends, campaign_all, events_json, spawn_embedded};

async fn embedded(extra: &[&str]) -> (TestApp, tempfile::TempDir, tempfile::TempDir) {
    let (dir, path) = campaign_all();
    let (app, data) = spawn_embedded(&path, extra).await;
    (app, dir, data)
}

fn spin(player: i32, win: i64) -> Spin {
    Spin { player, game: 1, win, stake: 1, time: "2026-11-20T10:00:00Z".parse().unwrap() }
}

#[tokio::test]
async fn the_first_event_is_the_current_answer_and_unchanged_refreshes_send_nothing() {
    let s = setup(&["--cache-ttl", "100ms"]).await;
    let url = format!("{}/campaigns/live-all/top?limit=5", s.app.base);
    let get = s.app.client.get(url).header("accept-encoding", "identity").send().await.unwrap();
    let tag = get.headers()["etag"].to_str().unwrap().to_owned();
    let body = get.text().await.unwrap();
    let url = format!("{}/campaigns/live-all/top/stream?limit=5", s.app.base);
    let mut stream = EventStream::open(&s.app.client, &url, None).await;
    let first = stream.next().await;
    assert_eq!(
        (first.name.as_str(), first.id.as_str(), first.data.as_str()),
        ("board", tag.as_str(), body.as_str())
    );
    assert!(stream.retry.is_some(), "retry: is set");
    let queries = s.proxy.queries();
    crate::common::eventually("the streamed view was refreshed several times", || async {
        s.proxy.queries() >= queries + 3
    })
    .await;
    assert_eq!(
        stream.next_within(Duration::from_millis(300)).await,
        None,
        "no event for a refresh that changed nothing"
    );
    // The same stream still speaks: a refresh that fails is an event.
    s.proxy.set(Fault::Permanent);
    assert_eq!(stream.next().await.name, "error", "a failure after the silence is sent");
    s.proxy.set(Fault::None);
    let player = EventStream::open(
        &s.app.client,
        &format!("{}/campaigns/live-all/players/2005/stream?around=1", s.app.base),
        None,
    )
    .await
    .next()
    .await;
    assert_eq!(player.name, "player");
    assert_eq!(serde_json::from_str::<Value>(&player.data).unwrap()["player"]["rank"], 1);
}

#[tokio::test]
async fn a_spin_that_changes_the_board_reaches_every_subscriber_once() {
    let (app, _dir, _data) = embedded(&["--cache-ttl", "100ms"]).await;
    app.ingest(&[spin(1, 10), spin(2, 20)]).await;
    let url = format!("{}/campaigns/all/top/stream", app.base);
    let mut streams = join_all((0..25).map(|_| EventStream::open(&app.client, &url, None))).await;
    for stream in &mut streams {
        let first: Value = serde_json::from_str(&stream.next().await.data).unwrap();
        assert_eq!(first["entries"][0]["playerId"], 2);
    }
    app.ingest(&[spin(3, 30)]).await;
    let tags = join_all(streams.iter_mut().map(|stream| async {
        let event = stream.next().await;
        let body: Value = serde_json::from_str(&event.data).unwrap();
        assert_eq!(body["entries"][0]["playerId"], 3, "the new leader");
        assert_eq!(body["total"], 3);
        event.id
    }))
    .await;
    assert!(tags.windows(2).all(|w| w[0] == w[1]), "one answer for all");
    for stream in &mut streams {
        assert_eq!(stream.next_within(Duration::from_millis(400)).await, None, "once each");
    }
    let get = app.client.get(format!("{}/campaigns/all/top", app.base)).header("accept-encoding", "identity");
    assert_eq!(get.send().await.unwrap().headers()["etag"].to_str().unwrap(), tags[0], "the GET's tag");
    // ...and each stream still gets the next change.
    app.ingest(&[spin(4, 40)]).await;
    for stream in &mut streams {
        let body: Value = serde_json::from_str(&stream.next().await.data).unwrap();
        assert_eq!((body["entries"][0]["playerId"].clone(), body["total"].clone()), (4.into(), 4.into()));
    }
}

#[tokio::test]
async fn a_reconnect_with_the_current_tag_gets_no_duplicate_and_heartbeats_keep_it_alive() {
    let (app, _dir, _data) = embedded(&["--stream-heartbeat", "200ms"]).await;
    app.ingest(&[spin(1, 10)]).await;
    let url = format!("{}/campaigns/all/top/stream", app.base);
    let tag = EventStream::open(&app.client, &url, None).await.next().await.id;
    let mut resumed = EventStream::open(&app.client, &url, Some(&tag)).await;
    assert_eq!(resumed.next_within(Duration::from_millis(700)).await, None, "no duplicate first event");
    assert!(resumed.comments >= 2, "heartbeats: {}", resumed.comments);
    let mut stale = EventStream::open(&app.client, &url, Some("\"old\"")).await;
    assert_eq!(stale.next().await.id, tag, "an old tag gets the current answer");
    app.ingest(&[spin(2, 20)]).await;
    let next = resumed.next().await.id;
    assert_ne!(next, tag, "the resumed stream gets the next change");
    assert_eq!(stale.next().await.id, next, "as every stream does");
}

#[tokio::test]
async fn streams_are_bounded_and_refused_with_a_problem() {
    let (app, _dir, _data) = embedded(&["--max-streams", "2"]).await;
    app.ingest(&[spin(1, 10)]).await;
    let url = format!("{}/campaigns/all/top/stream", app.base);
    let _a = EventStream::open(&app.client, &url, None).await;
    let mut b = EventStream::open(&app.client, &url, None).await;
    b.next().await;
    let refused = app.get("/campaigns/all/top/stream").await;
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    assert_eq!(refused.headers()["content-type"], "application/problem+json");
    assert_eq!(app.metric("leaderboard_streams_open", "").await, 2.0);
    drop(b);
    crate::common::eventually("a closed stream frees its slot", || async {
        app.get("/campaigns/all/top/stream").await.status() == 200
    })
    .await;
    crate::common::eventually("the closed streams are counted out", || async {
        app.metric("leaderboard_streams_open", "").await == 1.0
    })
    .await;
    for path in
        ["/campaigns/nope/top/stream", "/campaigns/all/window/stream", "/campaigns/all/players/x/stream"]
    {
        let response = app.get(path).await;
        assert!(matches!(response.status().as_u16(), 400 | 404), "{path}");
        assert_eq!(response.headers()["content-type"], "application/problem+json", "{path}");
    }
}

#[tokio::test]
async fn streams_count_against_the_view_cap_and_the_views_pushed_out_end_their_streams() {
    let s = setup(&["--cache-ttl", "1s", "--max-views", "4"]).await;
    let url = |minutes: u32| format!("{}/campaigns/live-all/window/stream?last={minutes}m", s.app.base);
    let mut streams = Vec::new();
    for minutes in 1..=4 {
        let mut stream = EventStream::open(&s.app.client, &url(minutes), None).await;
        stream.next().await;
        streams.push(stream);
    }
    // A fifth span pushes out the least recently read view (which one depends on when each was
    // last refreshed), and that view's stream ends.
    let mut fifth = EventStream::open(&s.app.client, &url(5), None).await;
    fifth.next().await;
    let mut ended = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while ended.is_empty() {
        assert!(std::time::Instant::now() < deadline, "no pushed-out view's stream ended");
        for (i, stream) in streams.iter_mut().enumerate() {
            if stream.ended_within(Duration::from_millis(20)).await {
                ended.push(i);
            }
        }
    }
    assert_eq!(ended.len(), 1, "one view was pushed out: {ended:?}");
    assert!(s.app.metric("leaderboard_views", "").await <= 4.0, "streamed views are views");
    // Streamed views go on being refreshed, four of them at most: no more than four a period
    // (plus one each for a period begun), however long that took on this machine.
    let (before, started) = (s.proxy.queries(), std::time::Instant::now());
    crate::common::eventually("streamed views were refreshed", || async { s.proxy.queries() >= before + 12 })
        .await;
    let (refreshes, periods) = (s.proxy.queries() - before, started.elapsed().as_secs() as usize + 1);
    assert!(refreshes <= 4 * (periods + 1), "{refreshes} queries in {periods} periods for 4 streamed views");
    // A window's answer moves with the clock: the newest stream gets it, and stays open.
    assert!(fifth.next_within(Duration::from_secs(5)).await.is_some());
    assert!(!fifth.ended_within(Duration::from_millis(100)).await, "the newest stream stays open");
}

#[tokio::test]
async fn a_reload_sends_an_open_stream_the_changed_campaign_and_ends_it_when_removed() {
    let (app, dir, _data) = embedded(&["--cache-ttl", "100ms"]).await;
    app.ingest(&[spin(1, 10)]).await;
    let path = dir.path().join("campaigns.toml");
    let mut stream =
        EventStream::open(&app.client, &format!("{}/campaigns/all/top/stream", app.base), None).await;
    let first: Value = serde_json::from_str(&stream.next().await.data).unwrap();
    assert_eq!(first["campaign"]["name"], "all");
    std::fs::write(&path, ALL.replace("id = \"all\"\n", "id = \"all\"\nname = \"Renamed\"\n")).unwrap();
    let renamed = loop {
        let event: Value = serde_json::from_str(&stream.next().await.data).unwrap();
        if event["campaign"]["name"] == "Renamed" {
            break event;
        }
    };
    assert_eq!(renamed["entries"][0]["playerId"], 1);
    std::fs::write(&path, ALL.replace("id = \"all\"", "id = \"other\"")).unwrap();
    assert!(stream.ended_within(Duration::from_secs(20)).await, "the removed campaign's stream ended");
}

#[tokio::test]
async fn streams_leave_the_requests_in_flight_their_share_of_the_open_file_limit() {
    let (dir, _campaigns) = campaign_all();
    let args = ["serve", "--campaigns", "campaigns.toml", "--data-dir", "data", "--max-in-flight", "100"];
    let args = [&args[..], &["--max-exports", "4"]].concat();
    // 500 descriptors: 256 kept for the store, the backend and listeners, 100 for the requests
    // in flight (less than half of the 240 left past the exports: they keep all of it) and 4 for
    // exports leave 140 for streams.
    let server = Server::start_with(dir.path(), &args, |command| {
        // SAFETY: setrlimit(2) is async-signal-safe, as the child between fork and exec needs.
        unsafe {
            command.pre_exec(|| {
                let limit = libc::rlimit { rlim_cur: 500, rlim_max: 500 };
                match libc::setrlimit(libc::RLIMIT_NOFILE, &limit) {
                    0 => Ok(()),
                    _ => Err(std::io::Error::last_os_error()),
                }
            })
        };
    });
    let client = reqwest::Client::new();
    let url = format!("{}/campaigns/all/top/stream", server.base);
    let mut open = Vec::new();
    for _ in 0..140 {
        let mut stream = EventStream::open(&client, &url, None).await;
        stream.next().await;
        open.push(stream);
    }
    let refused = client.get(&url).send().await.unwrap();
    assert_eq!(refused.status(), 503, "the 141st stream would take a descriptor the requests need");
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["type"], "urn:leaderboard:problem:too-many-streams");
}

#[tokio::test]
async fn a_failing_refresh_sends_an_error_event_and_keeps_the_stream_open() {
    let s = setup(&["--cache-ttl", "100ms", "--stream-heartbeat", "200ms"]).await;
    let mut stream =
        EventStream::open(&s.app.client, &format!("{}/campaigns/live-all/top/stream", s.app.base), None)
            .await;
    stream.next().await;
    s.proxy.set(Fault::Permanent);
    let error = stream.next().await;
    assert_eq!(error.name, "error");
    let problem: Value = serde_json::from_str(&error.data).unwrap();
    assert_eq!(problem["status"], 502, "{problem}");
    assert_eq!(stream.next_within(Duration::from_millis(500)).await, None, "one error event per failure");
    assert!(stream.comments > 0, "the stream stays open");
    s.proxy.set(Fault::None);
    assert_eq!(stream.next().await.name, "board", "once answered again, the board is sent again");
}

#[tokio::test]
async fn shutdown_ends_open_streams_and_the_server_exits_zero() {
    let (dir, _campaigns) = campaign_all();
    let args = ["serve", "--campaigns", "campaigns.toml", "--simulate=0", "--data-dir", "data"];
    let mut server = Server::start(dir.path(), &args);
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{}/events", server.base))
        .body(events_json(&[spin(1, 10)]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let url = format!("{}/campaigns/all/top/stream", server.base);
    let mut streams = join_all((0..3).map(|_| EventStream::open(&client, &url, None))).await;
    for stream in &mut streams {
        stream.next().await;
    }
    // SAFETY: kill(2) on our own child's pid has no memory effects.
    assert_eq!(unsafe { libc::kill(server.child.id() as libc::pid_t, libc::SIGTERM) }, 0);
    for stream in &mut streams {
        assert!(stream.ended_within(Duration::from_secs(20)).await, "the stream ended");
    }
    crate::common::eventually("the server exited", || {
        let exited = server.child.try_wait().unwrap();
        async move { exited.is_some_and(|status| status.success()) }
    })
    .await;
}

/// The CSV export, parsed back with a real CSV parser.
async fn csv(app: &TestApp, path: &str) -> (String, Vec<Vec<String>>) {
    let response = app.get(path).await;
    assert_eq!(response.status(), 200, "{path}");
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let disposition = response.headers()["content-disposition"].to_str().unwrap().to_owned();
    let text = response.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        reader.headers().unwrap(),
        vec!["rank", "playerId", "score", "win", "stake", "gameId", "spins", "achievedAt"]
    );
    let rows = reader.records().map(|r| r.unwrap().iter().map(str::to_owned).collect()).collect();
    (disposition, rows)
}

#[tokio::test]
async fn the_csv_export_is_the_whole_snapshot_on_both_backends() {
    let fixture = Fixture::new();
    let both = both_backends(&fixture, &[]).await;
    for app in [&both.adx, &both.embedded] {
        for (path, view, span) in [
            ("/campaigns/live-all/standings.csv", "live-all-top.csv", None),
            ("/campaigns/live-games/standings.csv?last=1d", "live-games-last-1d.csv", Some("1d")),
            ("/campaigns/ended/standings.csv", "ended-top-final.csv", None),
        ] {
            let (disposition, rows) = csv(app, path).await;
            assert_eq!(disposition, format!("attachment; filename=\"{view}\""));
            let id = path.split('/').nth(2).unwrap();
            let expected =
                fixture.expected(fixture.campaign(id), span.map(crate::leaderboards::span), usize::MAX);
            assert_eq!(rows.len(), expected.len(), "{path}");
            for (i, (row, want)) in rows.iter().zip(&expected).enumerate() {
                assert_eq!(row[0], (i + 1).to_string());
                let got = (
                    row[1].parse::<i32>().unwrap(),
                    row[2].parse::<f64>().unwrap(),
                    row[3].parse::<i64>().unwrap(),
                    row[4].parse::<i32>().unwrap(),
                    row[5].parse::<i32>().unwrap(),
                    row[7].parse().unwrap(),
                    row[6].parse::<u32>().unwrap(),
                );
                assert_eq!(got, *want, "{path} rank {}", i + 1);
            }
        }
    }
}

#[tokio::test]
async fn a_stored_spin_reaches_a_stream_well_before_the_period_ends() {
    // A period far longer than the wait for an event: only the spin itself can bring the
    // refresh forward (to a quarter of the period after the last one, at most).
    let (app, _dir, _data) = embedded(&["--cache-ttl", "40s"]).await;
    app.ingest(&[spin(1, 10)]).await;
    let mut stream =
        EventStream::open(&app.client, &format!("{}/campaigns/all/top/stream", app.base), None).await;
    stream.next().await;
    app.ingest(&[spin(2, 20)]).await;
    let event: Value = serde_json::from_str(&stream.next().await.data).unwrap();
    assert_eq!(event["entries"][0]["playerId"], 2);
}
