//! Graceful shutdown of the real binary: on SIGTERM it stops accepting, finishes the requests
//! in flight, and exits 0; a connection still busy after `--shutdown-grace` (a client that
//! stopped reading) is cut.

use std::time::Duration;

use crate::common::faults::{Fault, FaultProxy};
use crate::common::fixture::Spin;
use crate::common::process::Server;
use crate::common::raw::{read_status, send_head};
use crate::common::{Engine, Fixture, events_json};
use crate::common::{until, within};
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
    let child = &mut app.server.child;
    let exit = until(Duration::from_secs(20), "the server exited after SIGTERM", || {
        let exited = child.try_wait().unwrap();
        async move { exited }
    })
    .await;
    assert_eq!(exit.code(), Some(0), "{exit:?}");
    let logs = std::fs::read_to_string(&app.log).unwrap();
    assert!(logs.contains("shutting down"), "{logs}");
}

#[tokio::test]
async fn a_download_its_client_stopped_reading_holds_the_exit_only_for_the_grace_period() {
    let (dir, _campaigns) = crate::common::campaign_all();
    let args = ["serve", "--campaigns", "campaigns.toml", "--simulate=0", "--data-dir", "data"];
    let log = dir.path().join("stderr.log");
    let stderr = std::fs::File::create(&log).unwrap();
    let grace = ["--shutdown-grace", "1s"];
    let mut server = Server::start_with(dir.path(), &[&args[..], &grace[..]].concat(), |command| {
        command.stderr(std::process::Stdio::from(stderr));
    });
    // Far more rows than the client's and the server's socket buffers take in (a few MB).
    let spins: Vec<Spin> = (1..=100_000).map(|p| crate::common::spin(p, 1, 1)).collect();
    let client = reqwest::Client::new();
    let posted =
        client.post(format!("{}/events", server.base)).body(events_json(&spins)).send().await.unwrap();
    assert_eq!(posted.status(), 200);
    let head = "GET /campaigns/all/standings.csv HTTP/1.1\r\nHost: test\r\n\r\n";
    let mut stalled = send_head(&server.base, head).await;
    assert_eq!(read_status(&mut stalled).await, 200, "the download started");
    // SAFETY: kill(2) on our own child's pid has no memory effects.
    assert_eq!(unsafe { libc::kill(server.child.id() as libc::pid_t, libc::SIGTERM) }, 0);
    // Well before the default grace (10 s) would end: the flag's 1 s is what cut the download.
    within(Duration::from_secs(6), "the server exited after the 1 s grace", || {
        let exited = server.child.try_wait().unwrap();
        async move { exited.is_some_and(|status| status.success()) }
    })
    .await;
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(logs.contains("closing their connections"), "the stalled download was cut: {logs}");
    drop(stalled);
}
