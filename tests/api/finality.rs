//! Final means complete: a board is final once its campaign ended more than `--late-arrival`
//! ago, and payouts are read from it. A spin stored later for that campaign makes its board be
//! computed again, on the embedded store at once (the store tells of late spins as it stores
//! them; they are counted), on ADX at the next reconcile (a count of the campaign's buckets, the
//! rows read again only where it changed). A Kafka backlog keeps boards from being final until
//! it is read (`tests/api/kafka.rs`).

use chrono::{Duration, Utc};

use crate::common::faults::FaultProxy;
use crate::common::fixture::Spin;
use crate::common::{Engine, TestApp, eventually, spawn_embedded, spawn_on_cluster};

const CAMPAIGN: &str = "/campaigns/ended/top";

/// A campaign that ended an hour ago, so its board is final with the default `--late-arrival`.
fn campaigns(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let end = Utc::now() - Duration::hours(1);
    let start = end - Duration::days(1);
    let text = format!(
        "[[campaigns]]\nid = \"ended\"\nstart = \"{}\"\nend = \"{}\"\ngames = [1, 2]\n",
        start.to_rfc3339(),
        end.to_rfc3339()
    );
    let path = dir.path().join("campaigns.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A spin two hours ago (inside the campaign), microseconds only, as the stores keep it.
fn spin(player: i32, win: i64, game: i32) -> Spin {
    let time = chrono::SubsecRound::trunc_subsecs(Utc::now() - Duration::hours(2), 6);
    Spin { player, game, win, stake: 1, time }
}

fn leader(board: &serde_json::Value) -> (i64, i64) {
    (board["entries"][0]["playerId"].as_i64().unwrap(), board["total"].as_i64().unwrap())
}

/// The embedded store serving the ended campaign, its board read once: final, player 1 alone.
async fn final_on_the_store() -> (TestApp, [tempfile::TempDir; 2]) {
    let dir = tempfile::tempdir().unwrap();
    let (app, data) = spawn_embedded(&campaigns(&dir), &["--cache-ttl", "60s"]).await;
    app.ingest(&[spin(1, 10, 1)]).await;
    let first = app.json(CAMPAIGN).await;
    assert_eq!((first["final"].as_bool(), leader(&first)), (Some(true), (1, 1)));
    (app, [dir, data])
}

#[tokio::test]
async fn a_late_spin_for_a_final_board_on_the_embedded_store_is_counted_and_seen_at_once() {
    let (app, _dirs) = final_on_the_store().await;
    // Late: another game's spin (not counted by this campaign) and one that takes the lead.
    app.ingest(&[spin(2, 500, 3)]).await;
    app.ingest(&[spin(3, 50, 2)]).await;
    eventually("the final board shows the late spin", || async {
        leader(&app.json(CAMPAIGN).await) == (3, 2)
    })
    .await;
    assert_eq!(app.json(CAMPAIGN).await["final"], true);
    assert_eq!(app.metric("leaderboard_late_spins_total", "").await, 1.0, "only the counted one");
}

#[tokio::test]
async fn a_late_spin_for_a_final_board_on_adx_is_seen_at_the_next_reconcile_and_costs_a_count() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::writable(&[spin(1, 10, 1)]);
    let proxy = FaultProxy::start(engine.url()).await;
    let flags = ["--cache-ttl", "200ms", "--reconcile-every", "2s"];
    let app = spawn_on_cluster(&proxy.url, &campaigns(&dir), &flags).await;
    let first = app.get(CAMPAIGN).await;
    assert_eq!(first.headers()["cache-control"], "public, max-age=2, stale-if-error=86400");
    let first: serde_json::Value = first.json().await.unwrap();
    assert_eq!((first["final"].as_bool(), leader(&first)), (Some(true), (1, 1)));
    engine.append(&[spin(3, 50, 2)]).await;
    eventually("the final board shows the late spin", || async {
        leader(&app.json(CAMPAIGN).await) == (3, 2)
    })
    .await;
    let texts = proxy.texts();
    let full = texts.iter().filter(|t| !t.starts_with("let watched = union")).count();
    assert_eq!(full, 1, "computed in full once, then rechecked incrementally");
    assert!(texts.len() > 1, "rechecked");
}

#[tokio::test]
async fn a_batch_of_more_late_spins_than_it_lists_still_rechecks_the_final_board_and_counts_them() {
    let (app, _dirs) = final_on_the_store().await;
    // As many late spins of another game as a batch lists, then spins of the campaign's: what
    // reaches the board is past the listed ones.
    let listed = leaderboard::backend::LATE_LISTED;
    let mut batch: Vec<Spin> = (0..listed as i32).map(|p| spin(100 + p, 1000, 3)).collect();
    batch.extend((0..76).map(|_| spin(3, 50, 2)));
    app.ingest(&batch).await;
    eventually("the final board shows the late spins", || async {
        leader(&app.json(CAMPAIGN).await) == (3, 2)
    })
    .await;
    assert_eq!(app.metric("leaderboard_late_spins_total", "").await, 76.0, "those of its games");
}
