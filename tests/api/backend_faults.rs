//! What a client receives for each backend fault, and that the service recovers when the fault
//! clears: transient faults are retried within the budget, permanent ones are not, and a
//! partial or unreadable answer is never served nor cached.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::faults::Fault;
use crate::sharing::{Setup, setup};

async fn problem(s: &Setup, path: &str, status: u16) -> Value {
    let response = s.app.get(path).await;
    assert_eq!(response.status(), status, "{path}");
    assert_eq!(response.headers()["content-type"], "application/problem+json", "{path}");
    response.json().await.unwrap()
}

#[tokio::test]
async fn throttling_is_retried_after_retry_after() {
    let s = setup(&["--request-timeout", "5s"]).await;
    s.proxy.queue([Fault::Throttle(1)]);
    let started = Instant::now();
    let body = s.app.json("/campaigns/live-all/top").await;
    assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After was honoured");
    assert!(!body["entries"].as_array().unwrap().is_empty());
    assert_eq!(s.proxy.queries(), 2);
}

#[tokio::test]
async fn transient_errors_and_resets_are_retried() {
    let s = setup(&[]).await;
    s.proxy.queue([Fault::Unavailable, Fault::Reset, Fault::Unavailable]);
    s.app.json("/campaigns/live-all/top").await;
    assert_eq!(s.proxy.queries(), 4);
}

#[tokio::test]
async fn permanent_errors_are_not_retried_and_say_what_adx_said() {
    let s = setup(&["--cache-ttl", "30s"]).await;
    s.proxy.set(Fault::Permanent);
    let body = problem(&s, "/campaigns/live-all/top", 502).await;
    assert!(body["detail"].as_str().unwrap().contains("BadRequest_SyntaxError"), "{body}");
    assert_eq!(s.proxy.queries(), 1);
    s.proxy.set(Fault::None);
    s.app.json("/campaigns/live-all/top").await;
    assert_eq!(s.proxy.queries(), 2, "the failure was not cached");
}

#[tokio::test]
async fn a_fault_that_outlasts_the_budget_is_a_clear_error() {
    let s = setup(&["--request-timeout", "800ms"]).await;
    s.proxy.set(Fault::Throttle(5));
    let started = Instant::now();
    let body = problem(&s, "/campaigns/live-all/top", 502).await;
    assert!(started.elapsed() < Duration::from_millis(800), "no wait past the budget");
    assert!(body["detail"].as_str().unwrap().contains("throttled"), "{body}");
    s.proxy.set(Fault::Unavailable);
    problem(&s, "/campaigns/live-all/window?last=1h", 502).await;
    assert!(s.proxy.queries() > 3, "503s were retried within the budget");
    s.proxy.set(Fault::None);
    // Recovery; the budget is tight for a loaded test machine, so allow a few tries.
    for _ in 0..20 {
        if s.app.get("/campaigns/live-all/top").await.status() == 200 {
            return;
        }
    }
    panic!("no recovery after the fault cleared");
}

#[tokio::test]
async fn partial_and_malformed_answers_are_never_served_nor_cached() {
    let s = setup(&["--cache-ttl", "30s"]).await;
    let faults = [
        (Fault::ErrorInRow, "LimitsExceeded"),
        (Fault::ErrorInTableCompletion, "LimitsExceeded"),
        (Fault::ErrorInDataSetCompletion, "LimitsExceeded"),
        (Fault::Malformed, "unreadable"),
    ];
    for (i, (fault, says)) in faults.into_iter().enumerate() {
        s.proxy.set(fault.clone());
        let body = problem(&s, "/campaigns/ended/top", 502).await;
        assert!(body["detail"].as_str().unwrap().contains(says), "{fault:?}: {body}");
        assert_eq!(s.proxy.queries(), i + 1, "{fault:?} is not retried");
    }
    s.proxy.set(Fault::None);
    let body = s.app.json("/campaigns/ended/top").await;
    assert!(body["entries"].as_array().unwrap().len() > 1, "recovered with the full board");
}

#[tokio::test]
async fn a_failed_refresh_serves_the_last_good_board_marked_stale() {
    let s = setup(&["--cache-ttl", "200ms", "--stale-if-error", "60s"]).await;
    let good = s.app.get("/campaigns/ended/top").await;
    assert_eq!(good.headers()["x-cache"], "miss");
    let good: Value = good.json().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    s.proxy.set(Fault::Permanent);
    let stale = s.app.get("/campaigns/ended/top").await;
    assert_eq!(stale.status(), 200);
    assert_eq!(stale.headers()["x-cache"], "stale");
    assert!(stale.headers()["warning"].to_str().unwrap().starts_with("110"));
    assert!(stale.headers()["age"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    assert_eq!(stale.json::<Value>().await.unwrap(), good, "the same board as before");
    assert_eq!(s.app.metric("leaderboard_cache_lookups_total", "result=\"stale\"").await, 1.0);
    // A key that never had a good board still gets the error.
    problem(&s, "/campaigns/ended/window?last=1h", 502).await;
    s.proxy.set(Fault::None);
    let fresh = s.app.get("/campaigns/ended/top").await;
    assert_eq!(fresh.headers()["x-cache"], "miss");
    assert!(fresh.headers().get("warning").is_none());
}

#[tokio::test]
async fn stale_boards_are_served_only_within_the_window() {
    let s = setup(&["--cache-ttl", "100ms", "--stale-if-error", "1s"]).await;
    s.app.json("/campaigns/ended/top").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    s.proxy.set(Fault::Permanent);
    problem(&s, "/campaigns/ended/top", 502).await;
}
