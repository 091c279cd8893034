//! Overload: past `--max-in-flight` API requests are refused at once (503 problem with
//! Retry-After) rather than queued, and `--backend-concurrency` bounds simultaneous backend
//! queries while cached answers keep flowing.

use std::time::Duration;

use reqwest::StatusCode;
use tokio::task::JoinHandle;

use crate::common::TestApp;
use crate::common::faults::Fault;
use crate::common::setup;

fn spawn_get(app: &TestApp, path: &str) -> JoinHandle<StatusCode> {
    let request = app.client.get(format!("{}{path}", app.base));
    tokio::spawn(async move { request.send().await.unwrap().status() })
}

async fn wait_for_queries(proxy: &crate::common::faults::FaultProxy, n: usize) {
    crate::common::eventually(&format!("{n} queries reached the backend"), || async { proxy.queries() >= n })
        .await;
}

#[tokio::test]
async fn past_the_in_flight_limit_requests_are_refused_not_queued_with_retry_after() {
    let s = setup(&["--max-in-flight", "3", "--cache-ttl", "30s"]).await;
    s.app.json("/campaigns/live-all").await;
    s.proxy.set(Fault::Delay(Duration::from_millis(1500)));
    let slow: Vec<_> = ["live-all", "ended", "edges"]
        .iter()
        .map(|id| spawn_get(&s.app, &format!("/campaigns/{id}/top")))
        .collect();
    wait_for_queries(&s.proxy, 3).await;

    let refused = s.app.get("/campaigns/live-all").await;
    assert_eq!(s.proxy.active(), 3, "refused while the slow ones were still in flight, not queued");
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    assert_eq!(refused.headers()["content-type"], "application/problem+json");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["type"], "urn:leaderboard:problem:overloaded");
    // Probes and scrapes are not API traffic: they answer while the API is full.
    assert_eq!(s.app.get("/healthz").await.status(), 200);
    assert_eq!(s.app.get("/metrics").await.status(), 200);

    for request in slow {
        assert_eq!(request.await.unwrap(), 200, "admitted requests finish normally");
    }
    s.app.json("/campaigns/live-all").await;
    let refusals = s.app.metric("leaderboard_http_requests_total", "status=\"503\"").await;
    assert_eq!(refusals, 1.0);
}

#[tokio::test]
async fn backend_queries_are_bounded_while_cached_reads_keep_flowing() {
    let s = setup(&["--backend-concurrency", "2", "--cache-ttl", "30s"]).await;
    s.app.json("/campaigns/ended/top").await;
    s.proxy.set(Fault::Delay(Duration::from_millis(600)));
    let misses: Vec<_> = ["1h", "2h", "3h", "4h", "5h", "6h"]
        .iter()
        .map(|last| spawn_get(&s.app, &format!("/campaigns/live-all/window?last={last}")))
        .collect();
    wait_for_queries(&s.proxy, 3).await;
    for _ in 0..20 {
        // Served from the cache while both slots are taken: a hit never asks for one.
        let hit = s.app.get("/campaigns/ended/top").await;
        assert_eq!(hit.status(), 200);
        assert_eq!(hit.headers()["x-cache"], "hit");
    }
    let mut statuses = Vec::new();
    for miss in misses {
        statuses.push(miss.await.unwrap());
    }
    // Two run, two wait for a slot; past that, misses are refused at once rather than queued.
    let answered = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(answered, 4, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::SERVICE_UNAVAILABLE).count(), 2);
    assert_eq!(s.proxy.queries(), 1 + answered);
    assert_eq!(s.proxy.peak_concurrency(), 2, "never more backend queries at once than the bound");
}
