//! What a client receives for each backend fault, and that the service recovers when the fault
//! clears: transient faults are retried within the budget, permanent ones are not, a partial
//! or unreadable answer is never served nor kept, and a failing refresh serves the last good
//! snapshot, marked stale, up to `--stale-if-error`.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::faults::Fault;
use crate::common::{Setup, eventually, setup, until};

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
    let response = s.app.get("/campaigns/live-all/top").await;
    assert_eq!(response.headers()["retry-after"], "1", "throttling is overload: retry shortly");
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
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
async fn an_in_stream_error_marked_not_permanent_is_tried_again() {
    let s = setup(&["--cache-ttl", "30s"]).await;
    s.proxy.queue([Fault::TransientInStream]);
    let body = s.app.json("/campaigns/ended/top").await;
    assert!(body["entries"].as_array().unwrap().len() > 1, "the second try's full board");
    assert_eq!(s.proxy.queries(), 2);
}

/// Waits until the view at `path` needs a refresh: a period passed with no reader, so its
/// snapshot expired and no refresh runs ahead.
async fn expired(s: &Setup, queries: usize) {
    // One more period: the refresh ahead after the last read (answered), then none (nobody read).
    eventually("the view refreshed ahead once after its last read", || async {
        s.proxy.queries() > queries && s.proxy.active() == 0
    })
    .await;
    let settled = s.proxy.queries();
    // Seeing that nothing happens takes time: three periods with no reader.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(s.proxy.queries(), settled, "an unread view is not refreshed");
}

#[tokio::test]
async fn a_failed_refresh_serves_the_last_good_board_marked_stale() {
    let s = setup(&["--cache-ttl", "200ms", "--stale-if-error", "60s"]).await;
    let good = s.app.get("/campaigns/live-all/top").await;
    assert_eq!(good.headers()["x-cache"], "miss");
    let good: Value = good.json().await.unwrap();
    s.app.json("/campaigns/live-all/top").await;
    expired(&s, 1).await;
    s.proxy.set(Fault::Permanent);
    // Once the board is due (its period may have stretched on a loaded machine), the failed
    // refresh leaves the last good board, marked stale.
    let stale = until(Duration::from_secs(20), "the board is served stale", || async {
        let answer = s.app.get("/campaigns/live-all/top").await;
        assert_eq!(answer.status(), 200);
        (answer.headers()["x-cache"] == "stale").then_some(answer)
    })
    .await;
    assert!(stale.headers()["warning"].to_str().unwrap().starts_with("110"));
    assert_eq!(stale.json::<Value>().await.unwrap(), good, "the same board as before");
    assert!(s.app.metric("leaderboard_cache_lookups_total", "result=\"stale\"").await >= 1.0);
    // A view that never had a good snapshot still gets the error.
    problem(&s, "/campaigns/live-all/window?last=1h", 502).await;
    s.proxy.set(Fault::None);
    // Readers keep getting the stale board at once while it is revalidated behind them.
    eventually("the board is fresh again", || async {
        let fresh = s.app.get("/campaigns/live-all/top").await;
        fresh.headers()["x-cache"] != "stale" && fresh.headers().get("warning").is_none()
    })
    .await;
}

#[tokio::test]
async fn stale_boards_are_served_only_within_the_window() {
    let s = setup(&["--cache-ttl", "100ms", "--stale-if-error", "2s"]).await;
    let fresh = s.app.json("/campaigns/live-all/top").await;
    s.proxy.set(Fault::Permanent);
    // Within the window the last board is served, marked stale; past it, the failure.
    let stale = std::cell::Cell::new(0);
    eventually("the stale window passed", || async {
        let response = s.app.get("/campaigns/live-all/top").await;
        match response.status().as_u16() {
            200 if response.headers()["x-cache"] == "stale" => {
                assert!(response.headers().contains_key("warning"), "a stale answer says so");
                assert_eq!(response.json::<Value>().await.unwrap()["entries"], fresh["entries"]);
                stale.set(stale.get() + 1);
                false
            }
            200 => false,
            502 => true,
            other => panic!("{other}"),
        }
    })
    .await;
    assert!(stale.get() > 0, "no stale board was served within the window");
    let body = problem(&s, "/campaigns/live-all/top", 502).await;
    assert!(body["detail"].as_str().unwrap().contains("BadRequest_SyntaxError"), "{body}");
}

#[tokio::test]
async fn a_final_campaign_costs_one_query_in_total() {
    let s = setup(&["--cache-ttl", "100ms", "--late-arrival", "10m"]).await;
    let first = s.app.get("/campaigns/ended/top").await;
    assert_eq!(
        first.headers()["cache-control"],
        "public, max-age=600, stale-if-error=86400",
        "--reconcile-every"
    );
    assert!(first.headers().get("age").is_none(), "no Age growing past max-age");
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["final"], true);
    let live = s.app.json("/campaigns/live-all/top").await;
    assert_eq!(live["final"], false);
    let queries = s.proxy.queries();
    // Many periods of reading: the live board is refreshed, the final one never again.
    eventually("the live board refreshed several times", || async {
        s.app.json("/campaigns/ended/top?limit=3").await;
        s.app.json("/campaigns/live-all/top").await;
        s.proxy.queries() >= queries + 5
    })
    .await;
    // Its rechecks (a steady refresh's counts, the view's end in their recount) compute nothing.
    let texts = s.proxy.texts();
    let ended: Vec<&String> = texts.iter().filter(|t| t.contains(&end_literal(&s))).collect();
    let full = ended.iter().filter(|t| t.contains("| project Total = Count")).count();
    assert_eq!(full, 1, "the final board was computed once");
}

/// The `ended` campaign's end as its queries spell it.
fn end_literal(s: &Setup) -> String {
    s.fixture.campaign("ended").end.format("%Y-%m-%dT%H:%M:%S").to_string()
}
