//! Graceful shutdown of the real binary: on SIGTERM it stops accepting, finishes the requests
//! in flight, and exits 0.

use std::time::{Duration, Instant};

use crate::common::Engine;
use crate::common::Fixture;
use crate::common::faults::{Fault, FaultProxy};
use crate::observability::serve_binary;

#[tokio::test]
async fn sigterm_finishes_in_flight_requests_then_exits_zero() {
    let fixture = Fixture::new();
    let engine = Engine::start(&fixture.spins[..50]);
    let proxy = FaultProxy::start(engine.url()).await;
    let mut app = serve_binary(&proxy.url, &["--adx-auth", "none"], &[]);
    proxy.set(Fault::Delay(Duration::from_millis(1500)));
    let url = format!("{}/campaigns/ended/top", app.server.base);
    let slow = tokio::spawn(async move {
        let response = reqwest::get(url).await.unwrap();
        (response.status(), response.text().await.unwrap())
    });
    while proxy.queries() == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let pid = app.server.child.id() as libc::pid_t;
    // SAFETY: kill(2) on our own child's pid has no memory effects.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);

    let (status, body) = slow.await.unwrap();
    assert_eq!(status, 200, "the in-flight request is answered: {body}");
    assert!(
        !serde_json::from_str::<serde_json::Value>(&body).unwrap()["entries"].as_array().unwrap().is_empty()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(exit) = app.server.child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "the server did not exit after SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(exit.code(), Some(0), "{exit:?}");
    let logs = std::fs::read_to_string(&app.log).unwrap();
    assert!(logs.contains("shutting down"), "{logs}");
}
