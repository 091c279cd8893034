//! The embedded store through HTTP: ingestion that stores a batch whole or not at all, and
//! boards that ask the store again only once spins were stored for them. (That it answers as the
//! KQL path does is `standings::both_backends_agree_on_every_answer`.)

use serde_json::Value;

use crate::common::fixture::Spin;
use crate::common::{Engine, campaign_all, events_json, eventually, spawn_embedded, spawn_on_engine, spin};

async fn players(app: &crate::common::TestApp) -> Vec<i64> {
    let body = app.json("/campaigns/all/top?limit=100").await;
    body["entries"].as_array().unwrap().iter().map(|e| e["playerId"].as_i64().unwrap()).collect()
}

#[tokio::test]
async fn a_bad_item_refuses_the_whole_batch_and_lists_every_bad_item() {
    let (_dir, campaigns) = campaign_all();
    let (app, _data) = spawn_embedded(&campaigns, &["--cache-ttl", "1ms"]).await;
    app.ingest(&[spin(1, 10, 1)]).await;
    let mut events: Vec<Value> =
        serde_json::from_str(&events_json(&[spin(2, 50, 1), spin(3, 60, 1)])).unwrap();
    events.insert(1, serde_json::json!({"playerId": 4, "gameId": 1, "win": 1, "stake": 1}));
    events.push(serde_json::json!({"playerId": 5, "gameId": 1, "win": 1, "stake": 4294967296i64, "eventTime": "2026-11-20 10:00:00"}));
    let response = app.post_events(serde_json::to_string(&events).unwrap()).await;
    assert_eq!(response.status(), 400);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let problem: Value = response.json().await.unwrap();
    let errors = problem["errors"].as_array().unwrap();
    assert_eq!(errors.iter().map(|e| e["index"].as_u64().unwrap()).collect::<Vec<_>>(), [1, 3]);
    assert!(errors[0]["reason"].as_str().unwrap().contains("eventTime"));
    assert!(errors[1]["reason"].as_str().unwrap().contains("Int32"));
    assert_eq!(players(&app).await, [1], "nothing of the refused batch was stored");
    // Refused before it was queued: the writer stored one batch, in one commit.
    assert_eq!(app.metric("leaderboard_store_batches_total", "").await, 1.0);
    assert_eq!(app.metric("leaderboard_store_commits_total", "").await, 1.0);

    let empty = app.post_events("[]").await;
    assert_eq!(empty.status(), 200, "an empty array is an empty batch");
    assert_eq!(empty.json::<Value>().await.unwrap()["accepted"], 0);
    for body in ["", " \n", "[{", "{\"playerId\": 1}"] {
        let response = app.post_events(body).await;
        assert_eq!(response.status(), 400, "{body:?}");
        assert_eq!(response.headers()["content-type"], "application/problem+json");
    }
    assert_eq!(players(&app).await, [1]);
}

#[tokio::test]
async fn a_board_no_spin_reached_is_confirmed_without_a_query_and_one_that_does_is_asked_for() {
    let (_dir, campaigns) = campaign_all();
    let (app, _data) = spawn_embedded(&campaigns, &["--cache-ttl", "100ms"]).await;
    app.ingest(&[spin(1, 10, 1)]).await;
    let queries = || app.metric("leaderboard_backend_queries_total", "");
    let first = app.get("/campaigns/all/top").await;
    let checked = |r: &reqwest::Response| r.headers()["x-checked-at"].to_str().unwrap().to_owned();
    let (etag, loaded) = (first.headers()["etag"].clone(), queries().await);
    assert!(loaded >= 1.0);
    // Read through several periods: each refresh confirms the board without asking the store.
    eventually("three refreshes that asked nothing", || async {
        app.get("/campaigns/all/top").await;
        app.metric("leaderboard_refreshes_untouched_total", "").await >= 3.0
    })
    .await;
    let last = app.get("/campaigns/all/top").await;
    assert_eq!(queries().await, loaded, "no query since the board loaded");
    assert_ne!(checked(&last), checked(&first), "confirmed since");
    assert_eq!(last.headers()["etag"], etag, "the same standings");
    // A spin for it: the next refresh asks, and readers see it.
    app.ingest(&[spin(2, 50, 1)]).await;
    eventually("the stored spin on the board", || async { players(&app).await == [2, 1] }).await;
    assert!(queries().await > loaded);
}

#[tokio::test]
async fn ndjson_losing_spins_and_large_batches_are_stored() {
    let (_dir, campaigns) = campaign_all();
    let (app, _data) = spawn_embedded(&campaigns, &["--cache-ttl", "1ms"]).await;
    let ndjson = "{\"playerId\":7,\"gameId\":3,\"win\":300,\"stake\":3,\"eventTime\":\"2026-11-20 10:00:00.250000\"}\n\
                  {\"playerId\":8,\"gameId\":3,\"win\":0,\"stake\":3,\"eventTime\":\"2026-11-20 10:00:00.250000\"}\n\
                  {\"playerId\":9,\"gameId\":3,\"win\":90,\"stake\":0,\"eventTime\":\"2026-11-20 10:00:00.250000\"}\n";
    let response = app
        .client
        .post(format!("{}/events", app.base))
        .header("content-type", "application/x-ndjson")
        .body(ndjson)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap()["accepted"],
        3,
        "losing and zero-stake spins are stored"
    );
    let body = app.json("/campaigns/all/top").await;
    assert_eq!(body["entries"][0]["achievedAt"], "2026-11-20T10:00:00.250Z");
    assert_eq!(players(&app).await, [7], "only counted spins rank");

    let many: Vec<Spin> = (1000..11_000).map(|p| spin(p, i64::from(p), 1)).collect();
    let response = app.post_events(events_json(&many)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["accepted"], 10_000);
    assert_eq!(players(&app).await[..3], [10_999, 10_998, 10_997]);

    let huge = format!("[{}]", vec![events_json(&many[..1]).trim_matches(['[', ']']); 200_000].join(","));
    let response = app.post_events(huge).await;
    assert_eq!(response.status(), 413);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    // A compressed body is refused as such, not parsed as a broken batch.
    let gzipped = app
        .client
        .post(format!("{}/events", app.base))
        .header("content-encoding", "gzip")
        .body(events_json(&many[..1]))
        .send()
        .await
        .unwrap();
    assert_eq!(gzipped.status(), 415);
    assert_eq!(gzipped.headers()["content-type"], "application/problem+json");
    assert!(gzipped.text().await.unwrap().contains("uncompressed"));
}

#[tokio::test]
async fn the_ingest_token_guards_events() {
    let (_dir, campaigns) = campaign_all();
    let (app, _data) = spawn_embedded(&campaigns, &["--ingest-token", "s3cret-token"]).await;
    let body = events_json(&[spin(1, 10, 1)]);
    let without = app.post_events(body.clone()).await;
    assert_eq!(without.status(), 401);
    assert_eq!(without.headers()["www-authenticate"], "Bearer");
    let wrong = app.client.post(format!("{}/events", app.base)).bearer_auth("nope").body(body.clone());
    assert_eq!(wrong.send().await.unwrap().status(), 401);
    let right =
        app.client.post(format!("{}/events", app.base)).bearer_auth("s3cret-token").body(body.clone());
    assert_eq!(right.send().await.unwrap().status(), 200);
    // The scheme is case-insensitive (RFC 9110); the token is not.
    let post = |authorization: &str| {
        app.client
            .post(format!("{}/events", app.base))
            .header("authorization", authorization)
            .body(body.clone())
    };
    assert_eq!(post("bearer s3cret-token").send().await.unwrap().status(), 200);
    assert_eq!(post("BEARER s3cret-token").send().await.unwrap().status(), 200);
    assert_eq!(post("Bearer S3CRET-TOKEN").send().await.unwrap().status(), 401);
    assert_eq!(post("Basic s3cret-token").send().await.unwrap().status(), 401);
}

#[tokio::test]
async fn a_web_page_of_another_origin_may_not_post_events() {
    let (_dir, campaigns) = campaign_all();
    let (app, _data) =
        spawn_embedded(&campaigns, &["--cache-ttl", "1ms", "--cors-origins", "https://game.example.com"])
            .await;
    let own = app.base.clone();
    // A browser's post needing no preflight: a text/plain body, the page's origin on it.
    let post = |player: i32, headers: &[(&'static str, &str)]| {
        let mut request = app
            .client
            .post(format!("{}/events", app.base))
            .header("content-type", "text/plain;charset=UTF-8")
            .body(events_json(&[spin(player, 10, 1)]));
        for &(name, value) in headers {
            request = request.header(name, value);
        }
        request.send()
    };
    for refused in [
        &[("origin", "https://evil.example"), ("sec-fetch-site", "cross-site")][..],
        &[("origin", "https://evil.example")],
        &[("origin", "null"), ("sec-fetch-site", "cross-site")],
    ] {
        let response = post(1, refused).await.unwrap();
        assert_eq!(response.status(), 403, "{refused:?}");
        assert_eq!(response.headers()["content-type"], "application/problem+json");
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["type"], "urn:leaderboard:problem:cross-origin");
    }
    assert_eq!(players(&app).await, Vec::<i64>::new(), "nothing refused was stored");
    let allowed = [("origin", "https://game.example.com"), ("sec-fetch-site", "cross-site")];
    assert_eq!(post(2, &allowed).await.unwrap().status(), 200, "--cors-origins allows it");
    let same = [("origin", own.as_str()), ("sec-fetch-site", "same-origin")];
    assert_eq!(post(3, &same).await.unwrap().status(), 200, "the server's own pages");
    assert_eq!(
        post(4, &[("origin", own.as_str())]).await.unwrap().status(),
        200,
        "an older browser, same host"
    );
    assert_eq!(post(5, &[]).await.unwrap().status(), 200, "no browser");
    assert_eq!(players(&app).await, [2, 3, 4, 5], "equal scores at one instant: by id");
}

#[tokio::test]
async fn the_adx_backend_takes_no_events() {
    let engine = Engine::start(&[]);
    let (_dir, campaigns) = campaign_all();
    let app = spawn_on_engine(&engine, &campaigns, &[]).await;
    let response = app.post_events(events_json(&[spin(1, 10, 1)])).await;
    assert_eq!(response.status(), 404);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
}
