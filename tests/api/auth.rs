//! Authentication to ADX through the real binary, against a fake App Service managed identity
//! endpoint and a fake Kusto endpoint on 127.0.0.1. Every test clears the runner's Azure
//! environment and names its identity endpoint explicitly, so no credential ever probes IMDS
//! (169.254.169.254) or runs a real Azure CLI.

use std::process::Command;
use std::time::Duration;

use crate::adx_wire::{FakeAzure, IDENTITY_HEADER, TOKEN, isolate, logs, start_binary, wait_for_log};

/// `GET path` on the binary until it answers 200 (a generous deadline turns a stall into a failure).
async fn until_ok(base: &str, path: &str) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let response = reqwest::get(format!("{base}{path}")).await.unwrap();
        if response.status() == 200 {
            return response.json().await.unwrap();
        }
        assert!(tokio::time::Instant::now() < deadline, "still {} for {path}", response.status());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_user_assigned_managed_identity_token_reaches_adx() {
    let fake = FakeAzure::start().await;
    let endpoint = fake.identity_endpoint();
    let env = [
        ("IDENTITY_ENDPOINT", endpoint.as_str()),
        ("IDENTITY_HEADER", IDENTITY_HEADER),
        ("AZURE_CLIENT_ID", "00000000-0000-0000-0000-00000000c11d"),
    ];
    let (server, dir) = start_binary(&fake.url, &[], &env);
    // The start-up log says which credential works.
    wait_for_log(&dir, |log| {
        log.contains("ADX token obtained") && log.contains("managed identity (App Service)")
    })
    .await;
    let body = until_ok(&server.base, "/campaigns/live-all/top").await;
    assert_eq!(body["entries"][0]["playerId"], 7, "{body}");

    let identity = fake.identity_requests();
    let (query, secret) = identity.first().expect("the identity endpoint was asked");
    assert_eq!(secret.as_deref(), Some(IDENTITY_HEADER));
    assert!(query.contains("client_id=00000000-0000-0000-0000-00000000c11d"), "user-assigned: {query}");
    assert!(query.contains("resource=https%3A%2F%2Fkusto.kusto.windows.net"), "{query}");
    let sent = fake.kusto_requests().pop().unwrap();
    assert_eq!(sent["authorization"], format!("Bearer {TOKEN}"));
    assert!(!logs(&dir).contains(TOKEN), "the token is never logged");
}

#[tokio::test]
async fn an_identity_endpoint_that_never_answers_stalls_nothing_for_long() {
    let fake = FakeAzure::start().await;
    // The first token request (the start-up one) hangs; the next is answered.
    fake.hang_identity(1);
    let endpoint = fake.identity_endpoint();
    let env = [("IDENTITY_ENDPOINT", endpoint.as_str()), ("IDENTITY_HEADER", IDENTITY_HEADER)];
    let (server, dir) = start_binary(&fake.url, &["--request-timeout", "1s"], &env);
    // Requests meanwhile fail within their budget rather than queue behind the hung attempt;
    // once the attempt's bound cuts it, the next refresh gets a token.
    let body = until_ok(&server.base, "/campaigns/live-all/top").await;
    assert_eq!(body["entries"][0]["playerId"], 7, "{body}");
    assert!(fake.identity_requests().len() >= 2);
    let log = logs(&dir);
    assert!(log.contains("no answer within"), "the cut attempt is logged: {log}");
}

#[tokio::test]
async fn hosts_with_an_identity_the_sdk_cannot_use_start_and_fall_through_to_the_cli() {
    let fake = FakeAzure::start().await;
    let endpoint = fake.identity_endpoint();
    let no_cli = tempfile::tempdir().unwrap();
    let path = no_cli.path().to_str().unwrap();
    let hosts: [(&str, Vec<(&str, &str)>); 2] = [
        ("Azure Arc", vec![("IDENTITY_ENDPOINT", endpoint.as_str()), ("IMDS_ENDPOINT", endpoint.as_str())]),
        ("Cloud Shell", vec![("MSI_ENDPOINT", endpoint.as_str())]),
    ];
    for (source, env) in hosts {
        // No `az` on PATH: the fallback fails at token time, visibly, without leaving the host.
        let env: Vec<_> = env.into_iter().chain([("PATH", path)]).collect();
        let (server, dir) = start_binary(&fake.url, &[], &env);
        let response = reqwest::get(format!("{}/campaigns/live-all/top", server.base)).await.unwrap();
        assert_eq!(response.status(), 502, "{source}");
        let problem: serde_json::Value = response.json().await.unwrap();
        assert!(problem["detail"].as_str().unwrap().contains("Azure CLI"), "{source}: {problem}");
        let log = wait_for_log(&dir, |log| log.contains(source)).await;
        assert!(log.contains("trying the Azure CLI"), "{log}");

        // Forcing the managed identity there is a clear start-up error.
        let mut command = Command::new(env!("CARGO_BIN_EXE_leaderboard"));
        isolate(&mut command);
        let out = command
            .args(["serve", "--backend", "adx", "--adx-cluster", &fake.url, "--adx-database", "leaderboard"])
            .args(["--adx-auth", "managed-identity", "--listen", "127.0.0.1:0"])
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{source}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(source) && stderr.contains("--adx-auth azure-cli"), "{stderr}");
    }
    assert!(fake.identity_requests().is_empty(), "no credential was sent to an unusable endpoint");
    assert!(fake.kusto_requests().is_empty(), "no query went out without a token");
}
