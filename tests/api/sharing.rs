//! Sharing over the ADX path, observed on the wire through the fault proxy: one backend query
//! for many concurrent readers, views refreshed ahead while read (and not when unread), and a
//! query that survives the client that started it.

use std::time::Duration;

use futures::future::join_all;

use crate::common::faults::Fault;
use crate::common::{eventually, setup};

#[tokio::test]
async fn five_hundred_cold_readers_share_one_backend_query() {
    let s = setup(&["--cache-ttl", "30s"]).await;
    s.proxy.set(Fault::Delay(Duration::from_millis(300)));
    let limits = [1, 5, 10, 50, 100];
    let requests = (0..500).map(|i| {
        let path = format!("/campaigns/live-all/top?limit={}", limits[i % limits.len()]);
        let app = &s.app;
        async move {
            let response = app.get(&path).await;
            (response.status(), response.json::<serde_json::Value>().await.unwrap())
        }
    });
    let answers = join_all(requests).await;
    assert!(answers.iter().all(|(status, _)| *status == 200));
    assert_eq!(s.proxy.queries(), 1, "every limit of one view shares one query");
    for (i, (_, body)) in answers.iter().enumerate() {
        assert_eq!(body["entries"].as_array().unwrap().len(), limits[i % limits.len()]);
    }
    // Another view is another query; the same view again is a hit.
    s.app.json("/campaigns/live-all/window?last=1h").await;
    s.app.json("/campaigns/live-all/top?limit=3").await;
    assert_eq!(s.proxy.queries(), 2);
    assert_eq!(s.app.metric("leaderboard_backend_queries_total", "").await, 2.0);
}

#[tokio::test]
async fn a_view_read_during_a_period_is_refreshed_ahead_and_an_unread_one_is_not() {
    let s = setup(&["--cache-ttl", "1s"]).await;
    s.app.json("/campaigns/live-all/top").await;
    s.app.json("/campaigns/live-all/top").await;
    assert_eq!(s.proxy.queries(), 1);
    // Read during its first period: refreshed at the end of it, with no reader waiting.
    eventually("the read view was refreshed ahead", || async { s.proxy.queries() == 2 }).await;
    let hit = s.app.get("/campaigns/live-all/top").await;
    assert_eq!(hit.headers()["x-cache"], "hit");
    // That read asks for one more refresh; after it, a period without readers costs nothing.
    eventually("the last read's refresh ran", || async { s.proxy.queries() == 3 }).await;
    // Seeing that nothing happens takes time: three periods with no reader (a period is the
    // TTL, or twice a query's duration on a loaded machine).
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(s.proxy.queries(), 3, "an unread view is not refreshed");
    // Its next reader waits for a refresh of its own.
    let cold = s.app.get("/campaigns/live-all/top").await;
    assert_eq!(cold.headers()["x-cache"], "miss");
    assert_eq!(s.proxy.queries(), 4);
}

#[tokio::test]
async fn readers_of_a_hot_board_never_wait_for_a_slow_refresh() {
    let s = setup(&["--cache-ttl", "500ms"]).await;
    s.proxy.set(Fault::Delay(Duration::from_millis(800)));
    let first = s.app.get("/campaigns/live-all/top").await;
    assert_eq!(first.headers()["x-cache"], "miss");
    let checked = |r: &reqwest::Response| r.headers()["x-checked-at"].to_str().unwrap().to_owned();
    let mut seen = std::collections::BTreeSet::from([checked(&first)]);
    let mut reads = 0;
    // Poll through several refreshes of 0.8 s each: every read is answered from the snapshot
    // at hand (a hit), and the board keeps being refreshed behind the readers.
    while seen.len() < 3 {
        let response = s.app.get("/campaigns/live-all/top").await;
        assert_eq!(response.headers()["x-cache"], "hit", "a reader waited for a refresh");
        seen.insert(checked(&response));
        reads += 1;
        assert!(reads < 100_000, "the board was not refreshed");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(s.app.metric("leaderboard_cache_lookups_total", "result=\"miss\"").await, 1.0);
    assert_eq!(s.app.metric("leaderboard_cache_lookups_total", "result=\"coalesced\"").await, 0.0);
}

#[tokio::test]
async fn a_client_that_disconnects_cancels_nothing() {
    let s = setup(&["--cache-ttl", "30s"]).await;
    s.proxy.set(Fault::Delay(Duration::from_millis(800)));
    let impatient =
        s.app.client.get(format!("{}/campaigns/ended/top", s.app.base)).timeout(Duration::from_millis(100));
    assert!(impatient.send().await.is_err(), "the client gave up");
    eventually("the abandoned query finished", || async {
        s.proxy.peak_concurrency() == 1 && s.proxy.active() == 0
    })
    .await;
    s.proxy.set(Fault::Unavailable);
    let body = s.app.json("/campaigns/ended/top").await;
    assert!(!body["entries"].as_array().unwrap().is_empty());
    assert_eq!(s.proxy.queries(), 1, "the abandoned query finished and filled the cache");
}

#[tokio::test]
async fn past_the_budget_the_client_gets_504_and_the_query_still_fills_the_cache() {
    let s = setup(&["--cache-ttl", "30s", "--request-timeout", "200ms"]).await;
    s.proxy.set(Fault::Delay(Duration::from_millis(700)));
    let response = s.app.get("/campaigns/ended/top").await;
    assert_eq!(response.status(), 504);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    // Later readers get the board the abandoned query fetched (they may first coalesce onto it).
    eventually("the query filled the cache", || async {
        s.app.get("/campaigns/ended/top").await.status() == 200
    })
    .await;
    assert_eq!(s.proxy.queries(), 1);
}
