//! The Kafka consumer against a real broker (tansu on 127.0.0.1): the fixture produced to four
//! partitions gives the oracle's boards; `kill -9` mid-consumption loses and doubles nothing;
//! a poison message is skipped and kept; the broker going away and coming back stops neither
//! the boards nor consumption; a partition the broker will not advance is reported stalled, and
//! one recreated behind a stored resume point is read from its start; the generator's seeded run
//! reaches the boards exactly; and the ADX backend refuses the consumer at start-up.

mod broker;

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::common::fixture::{SPANS, Spin};
use crate::common::process::Server;
use crate::common::within;
use crate::common::{Fixture, TestApp, rows, spawn_embedded};
use crate::leaderboards::span;
use broker::{Broker, PARTITIONS};

/// One event as a message: the generator's time format for even players, RFC 3339 for odd
/// ones, so both formats flow through every test.
fn message(s: &Spin) -> Option<Vec<u8>> {
    let time = if s.player % 2 == 0 {
        s.time.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
    } else {
        s.time.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    };
    let event = serde_json::json!({
        "playerId": s.player, "gameId": s.game, "win": s.win, "stake": s.stake, "eventTime": time,
    });
    Some(serde_json::to_vec(&event).unwrap())
}

/// Produces `spins` keyed by player, as the generator does: one player's spins stay in order
/// in one partition.
async fn produce(broker: &Broker, spins: &[Spin]) {
    for partition in 0..PARTITIONS {
        let mine: Vec<_> =
            spins.iter().filter(|s| s.player.rem_euclid(PARTITIONS) == partition).map(message).collect();
        broker.produce(partition, &mine).await;
    }
}

/// Messages whose transaction committed: the stored resume points, summed over partitions.
async fn committed(app: &TestApp) -> f64 {
    app.metric("leaderboard_kafka_next_offset", "").await
}

async fn wait_committed(app: &TestApp, messages: usize) {
    let what = format!("{messages} messages are committed");
    within(Duration::from_secs(180), &what, || async { committed(app).await == messages as f64 }).await;
}

/// Every view of every fixture campaign equals the oracle over `fixture.spins`.
async fn assert_boards(app: &TestApp, fixture: &Fixture) -> usize {
    let mut entries = 0;
    for c in fixture.campaigns.iter().filter(|c| c.score == "best-multiplier" && c.max_spins.is_none()) {
        for view in std::iter::once(None).chain(SPANS.iter().map(|s| Some(*s))) {
            let path = match view {
                None => format!("/campaigns/{}/top?limit=100", c.id),
                Some(s) => format!("/campaigns/{}/window?last={s}&limit=100", c.id),
            };
            let body = app.json(&path).await;
            assert_eq!(rows(&body["entries"], 1), fixture.expected(c, view.map(span), 100), "{path}");
            entries += body["entries"].as_array().unwrap().len();
        }
    }
    entries
}

fn kafka_args(broker: &Broker) -> Vec<String> {
    ["--kafka-brokers", &broker.addr, "--cache-ttl", "1ms", "--max-limit", "100"].map(String::from).to_vec()
}

async fn spawn_consumer(broker: &Broker, campaigns: &Path) -> (TestApp, tempfile::TempDir) {
    let args = kafka_args(broker);
    spawn_embedded(campaigns, &args.iter().map(String::as_str).collect::<Vec<_>>()).await
}

#[tokio::test]
async fn the_fixture_on_four_partitions_gives_the_oracles_boards() {
    let broker = Broker::start();
    let mut fixture = Fixture::new();
    // Every score format and max-spins too, beside the fixture's own campaigns.
    let formats = crate::formats::formats(&fixture);
    fixture.campaigns.extend(formats.iter().cloned());
    produce(&broker, &fixture.spins).await;
    let (_dir, campaigns) = fixture.write_campaigns();
    let (app, _data) = spawn_consumer(&broker, &campaigns).await;

    // While the backlog is read, the ended campaign's board may be shown, but it is final only
    // once complete: payouts are read from final boards.
    let ended = fixture.campaign("ended");
    let complete = fixture.expected(ended, None, 100);
    while committed(&app).await < fixture.spins.len() as f64 {
        let body = app.json("/campaigns/ended/top?limit=100").await;
        if body["final"] == true {
            assert_eq!(rows(&body["entries"], 1), complete, "a final board is complete");
        }
    }
    wait_committed(&app, fixture.spins.len()).await;
    within(Duration::from_secs(20), "the ended board is final", || async {
        app.json("/campaigns/ended/top?limit=100").await["final"] == true
    })
    .await;
    assert!(assert_boards(&app, &fixture).await > 500, "the comparison covers real boards");
    let views = std::iter::once(("", None)).chain(SPANS.iter().map(|s| (*s, Some(span(s)))));
    for view in views.collect::<Vec<_>>() {
        for c in &formats {
            crate::formats::assert_view(&app, &fixture, c, view).await;
        }
    }
    let stored = app.metric("leaderboard_kafka_messages_total", "outcome=\"stored\"").await;
    assert_eq!(stored, fixture.spins.len() as f64);
    assert_eq!(app.metric("leaderboard_kafka_lag", "").await, 0.0);
    let ready = app.get("/readyz").await.text().await.unwrap();
    assert!(ready.starts_with("ready\nkafka topic gameplay: consuming, lag 0\n"), "{ready}");
    assert_eq!(ready.matches("  partition ").count(), PARTITIONS as usize, "{ready}");
}

/// `count(*)`, distinct rows, and the sum of the stored resume points, read from the file.
fn stored(data: &Path) -> (i64, i64, i64) {
    let conn = rusqlite::Connection::open(data.join("leaderboard.sqlite3")).unwrap();
    let one = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    (
        one("SELECT count(*) FROM GamePlay"),
        one("SELECT count(*) FROM (SELECT DISTINCT PlayerID, GameID, Win, Stake, EventTime FROM GamePlay)"),
        one("SELECT coalesce(sum(NextOffset), 0) FROM ConsumedOffset"),
    )
}

/// `n` distinct spins, 100 ms apart from 20 hours ago on (so none lies near the edge of a
/// window the boards are compared on), with colliding ratios so ties happen.
fn bulk(now: DateTime<Utc>, n: usize) -> Vec<Spin> {
    let mut rng = StdRng::seed_from_u64(10);
    (0..n)
        .map(|i| Spin {
            player: rng.random_range(1..=20_000),
            game: rng.random_range(1..=5),
            win: [0, 0, 5, 10, 20, 100][rng.random_range(0..6)],
            stake: [1, 2, 5, 10][rng.random_range(0..4)],
            time: now - chrono::Duration::hours(20) + chrono::Duration::milliseconds(i as i64 * 100),
        })
        .collect()
}

#[tokio::test]
async fn kill_9_while_consuming_then_restart_stores_each_event_once() {
    let broker = Broker::start();
    let mut fixture = Fixture::new();
    fixture.spins = bulk(fixture.now, 100_000);
    produce(&broker, &fixture.spins).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("campaigns.toml"), fixture.campaigns_toml()).unwrap();
    let mut args = vec!["serve", "--campaigns", "campaigns.toml", "--data-dir", "store"];
    let kafka = kafka_args(&broker);
    args.extend(kafka.iter().map(String::as_str));
    let client = reqwest::Client::new();
    let app = |server: &Server| TestApp { base: server.base.clone(), client: client.clone() };

    let server = Server::start(dir.path(), &args);
    let first = app(&server);
    within(Duration::from_secs(120), "a first batch is committed", || async {
        committed(&first).await > 0.0
    })
    .await;
    server.kill_hard();
    let (rows_then, distinct_then, offsets_then) = stored(&dir.path().join("store"));
    assert!(0 < rows_then && rows_then < 100_000, "killed while consuming: {rows_then} stored");
    assert_eq!(offsets_then, rows_then, "the resume points are exactly past the stored spins");
    assert_eq!(distinct_then, rows_then);

    let server = Server::start(dir.path(), &args);
    let second = app(&server);
    wait_committed(&second, fixture.spins.len()).await;
    assert_eq!(stored(&dir.path().join("store")), (100_000, 100_000, 100_000), "each event once");
    assert!(assert_boards(&second, &fixture).await > 200);
}

/// A message the broker will not serve (tansu, the pinned test broker, serves none of 5 MiB or
/// more: its own clients get nothing at that offset either) is reported as a stall, not asked
/// for in a silent loop: the partition is not caught up, and `/readyz` and `/metrics` say where.
#[tokio::test]
async fn a_partition_the_broker_will_not_advance_is_reported_stalled() {
    let broker = Broker::start();
    let fixture = Fixture::new();
    let at = fixture.now - chrono::Duration::hours(2);
    let spin = |player| message(&Spin { player, game: 1, win: 10, stake: 1, time: at });
    let huge = Some(format!(r#"{{"pad":"{}"}}"#, "x".repeat(6 << 20)).into_bytes());
    broker.produce(0, &[spin(1)]).await;
    broker.produce(0, &[huge]).await;
    broker.produce(0, &[spin(2)]).await;
    broker.produce(1, &[spin(3)]).await;
    let (_dir, campaigns) = fixture.write_campaigns();
    let (app, _data) = spawn_consumer(&broker, &campaigns).await;

    let stalled = "  partition 0: next offset 1, lag 2, stalled: the broker returns no message at offset 1\n";
    within(Duration::from_secs(60), "partition 0 is reported stalled", || async {
        app.get("/readyz").await.text().await.unwrap().contains(stalled)
    })
    .await;
    let ready = app.get("/readyz").await.text().await.unwrap();
    assert!(ready.contains("catching up: ended campaigns are not final"), "{ready}");
    assert!(ready.contains("  partition 1: next offset 1, lag 0\n"), "the others flow: {ready}");
    assert_eq!(app.metric("leaderboard_kafka_stalled", "partition=\"0\"").await, 1.0);
    assert_eq!(app.metric("leaderboard_kafka_next_offset", "partition=\"0\"").await, 1.0);
    let top = app.json("/campaigns/live-all/top?limit=100").await;
    let players: Vec<i64> =
        top["entries"].as_array().unwrap().iter().map(|e| e["playerId"].as_i64().unwrap()).collect();
    assert_eq!(players.len(), 2, "the spins before the stall and on other partitions: {players:?}");
}

/// A stored resume point past the end of its partition (the topic was recreated: here a fresh
/// broker under the same store) is read from the partition's earliest message, not waited at:
/// tansu answers such a fetch with nothing, where Kafka answers OFFSET_OUT_OF_RANGE.
#[tokio::test]
async fn a_resume_point_past_a_recreated_partitions_end_reads_it_from_its_start() {
    let fixture = Fixture::new();
    let at = fixture.now - chrono::Duration::hours(2);
    let spin = |player| message(&Spin { player, game: 1, win: 10 * i64::from(player), stake: 1, time: at });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("campaigns.toml"), fixture.campaigns_toml()).unwrap();
    let client = reqwest::Client::new();
    let serve = |broker: &Broker| {
        let mut args = vec!["serve", "--campaigns", "campaigns.toml", "--data-dir", "store"];
        let kafka = kafka_args(broker);
        args.extend(kafka.iter().map(String::as_str));
        let server = Server::start(dir.path(), &args);
        let app = TestApp { base: server.base.clone(), client: client.clone() };
        (server, app)
    };

    let before = Broker::start();
    before.produce(0, &(1..=5).map(spin).collect::<Vec<_>>()).await;
    let (server, app) = serve(&before);
    wait_committed(&app, 5).await;
    drop(server);
    drop(before);

    let recreated = Broker::start();
    recreated.produce(0, &[spin(6), spin(7)]).await;
    let (_server, app) = serve(&recreated);
    wait_committed(&app, 2).await;
    let top = app.json("/campaigns/live-all/top?limit=100").await;
    let players: Vec<i64> =
        top["entries"].as_array().unwrap().iter().map(|e| e["playerId"].as_i64().unwrap()).collect();
    assert_eq!(players, [7, 6, 5, 4, 3, 2, 1], "the recreated partition's messages are stored");
    let ready = app.get("/readyz").await.text().await.unwrap();
    assert!(ready.contains("  partition 0: next offset 2, lag 0\n"), "{ready}");
}

/// A row of the Rejected table: topic, partition, offset, reason, first bytes.
type RejectedRow = (String, i32, i64, String, Option<Vec<u8>>);

#[tokio::test]
async fn a_poison_message_is_skipped_counted_kept_and_later_messages_arrive() {
    let broker = Broker::start();
    let fixture = Fixture::new();
    let at = fixture.now - chrono::Duration::hours(2);
    let good = |player| Spin { player, game: 1, win: 10 * i64::from(player), stake: 1, time: at };
    let ok = |player| message(&good(player));
    let bad = |text: &str| Some(text.as_bytes().to_vec());
    let long_garbage = "x".repeat(10_000);
    let messages = vec![
        ok(1),
        bad("not json"),
        ok(3),
        bad(r#"{"playerId":4,"gameId":1,"win":1,"stake":1}"#),
        None,
        bad(r#"{"playerId":6,"gameId":1,"win":1,"stake":3000000000,"eventTime":"2026-11-24 10:00:00"}"#),
        bad(&long_garbage),
        ok(8),
    ];
    broker.produce(0, &messages).await;
    broker.produce(1, &[ok(9)]).await;
    let (_dir, campaigns) = fixture.write_campaigns();
    let (app, data) = spawn_consumer(&broker, &campaigns).await;

    wait_committed(&app, 9).await;
    let top = app.json("/campaigns/live-all/top?limit=100").await;
    let players: Vec<i64> =
        top["entries"].as_array().unwrap().iter().map(|e| e["playerId"].as_i64().unwrap()).collect();
    assert_eq!(players, [9, 8, 3, 1], "the messages after the poison ones arrived");
    assert_eq!(app.metric("leaderboard_kafka_messages_total", "outcome=\"rejected\"").await, 5.0);
    assert_eq!(
        app.metric("leaderboard_kafka_messages_total", "partition=\"0\",outcome=\"stored\"").await,
        3.0
    );

    let conn = rusqlite::Connection::open(data.path().join("leaderboard.sqlite3")).unwrap();
    let mut statement =
        conn.prepare("SELECT Topic, Partition, Offset, Reason, Head FROM Rejected ORDER BY Offset").unwrap();
    let rejected: Vec<RejectedRow> = statement
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let offsets: Vec<i64> = rejected.iter().map(|r| r.2).collect();
    assert_eq!(offsets, [1, 3, 4, 5, 6]);
    assert!(rejected.iter().all(|r| r.0 == "gameplay" && r.1 == 0));
    assert!(rejected[0].3.starts_with("not JSON"), "{:?}", rejected[0]);
    assert!(rejected[1].3.contains("eventTime"), "{:?}", rejected[1]);
    assert_eq!(rejected[2].3, "the message has no value");
    assert_eq!(rejected[2].4, None);
    assert!(rejected[3].3.contains("Int32"), "{:?}", rejected[3]);
    assert_eq!(rejected[0].4.as_deref(), Some(&b"not json"[..]));
    assert_eq!(rejected[4].4.as_ref().map(Vec::len), Some(256), "only the first bytes are kept");
}

#[tokio::test]
async fn the_broker_stopped_and_restarted_while_serving() {
    let mut broker = Broker::start();
    let fixture = Fixture::new();
    let (before, after) = fixture.spins.split_at(fixture.spins.len() / 2);
    produce(&broker, before).await;
    let (_dir, campaigns) = fixture.write_campaigns();
    let (app, _data) = spawn_consumer(&broker, &campaigns).await;
    wait_committed(&app, before.len()).await;

    broker.stop();
    let consumed_before = before.len() as f64;
    // Readers of the boards during the outage: every answer must be a board.
    let serving = {
        let app = TestApp { base: app.base.clone(), client: app.client.clone() };
        tokio::spawn(async move {
            let mut answers = 0;
            let deadline = Instant::now() + Duration::from_secs(120);
            while Instant::now() < deadline {
                let response = app.get("/campaigns/live-all/top?limit=10").await;
                assert_eq!(response.status(), 200, "boards are served while the broker is gone");
                answers += 1;
                if committed(&app).await > consumed_before {
                    break;
                }
            }
            answers
        })
    };
    let what = "/readyz and /metrics show the broker gone";
    crate::common::eventually(what, || async {
        let ready = app.get("/readyz").await;
        let text = ready.text().await.unwrap();
        text.contains("fetch failing") && app.metric("leaderboard_kafka_connected", "").await == 0.0
    })
    .await;
    assert!(app.metric("leaderboard_kafka_fetch_errors_total", "").await > 0.0);

    broker.resume();
    produce(&broker, after).await;
    wait_committed(&app, fixture.spins.len()).await;
    assert!(serving.await.unwrap() > 0);
    assert_boards(&app, &Fixture { spins: [before, after].concat(), ..fixture }).await;
    assert_eq!(app.metric("leaderboard_kafka_connected", "").await, f64::from(PARTITIONS));
}

#[tokio::test]
async fn the_generators_seeded_run_reaches_the_boards_exactly() {
    let broker = Broker::start();
    let fixture = Fixture::new();
    let (_dir, campaigns) = fixture.write_campaigns();
    let (app, _data) = spawn_consumer(&broker, &campaigns).await;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".venv/bin/python");
    let saved = tempfile::NamedTempFile::new().unwrap();
    let output = std::process::Command::new(&python)
        .arg(root.join("docker/generator/generate.py"))
        .args(["-t", "gameplay", "-b", &broker.addr, "-l", "-e", "400", "-m", "0", "-x", "1", "-p", "100"])
        .args(["--seed", "11", "--players", "1", "60", "--save"])
        .arg(saved.path())
        .output()
        .unwrap_or_else(|e| panic!("{} (bash tests/run.sh installs it): {e}", python.display()));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "generate.py failed (tests/run.sh installs confluent-kafka): {stderr}");
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("1: {"), "it prints what it sends");

    let sent: Vec<Spin> = std::fs::read_to_string(saved.path())
        .unwrap()
        .lines()
        .map(|line| {
            let e: serde_json::Value = serde_json::from_str(line).unwrap();
            let time = chrono::NaiveDateTime::parse_from_str(
                e["eventTime"].as_str().unwrap(),
                "%Y-%m-%d %H:%M:%S%.f",
            );
            let int = |k: &str| e[k].as_i64().unwrap();
            Spin {
                player: int("playerId") as i32,
                game: int("gameId") as i32,
                win: int("win"),
                stake: int("stake") as i32,
                time: time.unwrap().and_utc(),
            }
        })
        .collect();
    assert_eq!(sent.len(), 400, "the generator saved every delivered event");
    wait_committed(&app, sent.len()).await;
    // The generator stamps events with the sending instant, after the fixture's `now`: the
    // whole-campaign boards are the ones whose windows do not depend on the reading instant.
    let fixture = Fixture { spins: sent, ..fixture };
    for id in ["live-all", "live-games"] {
        let body = app.json(&format!("/campaigns/{id}/top?limit=100")).await;
        let expected = fixture.expected(fixture.campaign(id), None, 100);
        assert!(!expected.is_empty());
        assert_eq!(rows(&body["entries"], 1), expected, "{id}");
    }
}

#[tokio::test]
async fn the_adx_backend_refuses_the_consumer_and_says_why() {
    let args = leaderboard::cli::ServeArgs::try_parse_from([
        "leaderboard",
        "--backend",
        "adx",
        "--adx-cluster",
        "http://127.0.0.1:9",
        "--adx-database",
        "db",
        "--kafka-brokers",
        "127.0.0.1:9092",
    ])
    .unwrap();
    let Err(error) = leaderboard::app::App::build(&args).await else { panic!("the app started") };
    let message = error.to_string();
    assert!(message.contains("--kafka-brokers needs the embedded backend"), "{message}");
}
