//! Authentication to ADX through the real binary, against a fake App Service managed identity
//! endpoint and a fake Kusto cluster over TLS on 127.0.0.1 (the binary trusts the fake's
//! throwaway CA through SSL_CERT_FILE). Every test clears the runner's Azure environment and
//! names its identity endpoint explicitly, so no credential ever probes IMDS (169.254.169.254)
//! or runs a real Azure CLI. The runtimes are multi-threaded: the binary's start-up reads the
//! fake's auth metadata while the test's own thread blocks reading the binary's banner.

use std::process::Command;
use std::time::Duration;

use crate::adx_wire::{FakeAzure, IDENTITY_HEADER, TOKEN, isolate, logs, start_binary, wait_for_log};
use crate::common::until;

/// `GET path` on the binary until it answers 200 (a generous deadline turns a stall into a failure).
async fn until_ok(base: &str, path: &str) -> serde_json::Value {
    until(Duration::from_secs(60), &format!("{path} answered 200"), || async {
        let response = reqwest::get(format!("{base}{path}")).await.unwrap();
        match response.status().as_u16() {
            200 => Some(response.json().await.unwrap()),
            _ => None,
        }
    })
    .await
}

/// The `resource` an identity request asked a token for.
fn resource(query: &str) -> String {
    let pairs = form_urlencoded::parse(query.as_bytes());
    pairs.into_owned().find(|(key, _)| key == "resource").map(|(_, value)| value).unwrap_or_default()
}

/// The binary's command line on the ADX backend at `cluster`, its environment isolated.
fn command(cluster: &str, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_leaderboard"));
    isolate(&mut command);
    command
        .args(["serve", "--backend", "adx", "--adx-cluster", cluster, "--adx-database", "leaderboard"])
        .args(["--listen", "127.0.0.1:0"])
        .args(extra);
    command
}

/// The output of a start on `cluster` that must be refused: the binary exits at once (one that
/// starts after all fails here within 30 s, rather than holding the test forever).
async fn refused_start(cluster: &str, extra: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut command = command(cluster, extra);
    command.envs(env.iter().copied());
    let mut command = tokio::process::Command::from(command);
    command.kill_on_drop(true);
    let exited = tokio::time::timeout(Duration::from_secs(30), command.output()).await;
    exited.expect("the binary started: its start was to be refused").unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_managed_identity_token_for_the_discovered_scope_reaches_adx_over_tls() {
    let fake = FakeAzure::start_tls().await;
    // The cluster names its resource, and requires MFA: the token is for its kustomfa twin.
    fake.metadata("https://leaderboard.kusto.fake.example", true);
    let endpoint = fake.identity_endpoint();
    let env = [
        ("IDENTITY_ENDPOINT", endpoint.as_str()),
        ("IDENTITY_HEADER", IDENTITY_HEADER),
        ("AZURE_CLIENT_ID", "00000000-0000-0000-0000-00000000c11d"),
        fake.trust(),
    ];
    let (server, dir) = start_binary(&fake.url, &[], &env);
    // The start-up log says which credential works, and which scope from where.
    let log = wait_for_log(&dir, |log| {
        log.contains("ADX token obtained") && log.contains("managed identity (App Service)")
    })
    .await;
    let scope = "https://leaderboard.kustomfa.fake.example/.default";
    assert!(log.contains(scope) && log.contains("auth metadata"), "{log}");
    let body = until_ok(&server.base, "/campaigns/live-all/top").await;
    assert_eq!(body["entries"][0]["playerId"], 7, "{body}");

    assert_eq!(fake.metadata_requests(), 1, "the scope is discovered once, at start-up");
    let identity = fake.identity_requests();
    let (query, secret) = identity.first().expect("the identity endpoint was asked");
    assert_eq!(secret.as_deref(), Some(IDENTITY_HEADER));
    assert!(query.contains("client_id=00000000-0000-0000-0000-00000000c11d"), "user-assigned: {query}");
    assert_eq!(resource(query), "https://leaderboard.kustomfa.fake.example", "{query}");
    let sent = fake.kusto_requests().pop().unwrap();
    assert_eq!(sent["authorization"], format!("Bearer {TOKEN}"));
    assert!(!logs(&dir).contains(TOKEN), "the token is never logged");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_adx_refuses_is_dropped_and_the_query_sent_once_more_with_a_new_one() {
    let fake = FakeAzure::start_tls().await;
    fake.metadata("https://leaderboard.kusto.fake.example", false);
    let endpoint = fake.identity_endpoint();
    let env = [("IDENTITY_ENDPOINT", endpoint.as_str()), ("IDENTITY_HEADER", IDENTITY_HEADER), fake.trust()];
    // Views are not refreshed ahead within the test: every query it sees is a request's.
    let (server, dir) = start_binary(&fake.url, &["--cache-ttl", "600s"], &env);
    wait_for_log(&dir, |log| log.contains("ADX token obtained")).await;
    assert_eq!(fake.identity_requests().len(), 1, "the start-up token");
    fake.refuse_tokens(1);
    let response = reqwest::get(format!("{}/campaigns/live-all/top", server.base)).await.unwrap();
    assert_eq!(response.status(), 200, "the query went through on its second try");
    assert_eq!(fake.kusto_requests().len(), 2, "refused once, then answered");
    assert_eq!(fake.identity_requests().len(), 2, "a new token was asked for in between");
    // Refused every time: the client does not loop, the client gets ADX's refusal.
    fake.refuse_tokens(usize::MAX);
    let response = reqwest::get(format!("{}/campaigns/live-games/top", server.base)).await.unwrap();
    assert_eq!(response.status(), 502);
    assert_eq!(fake.kusto_requests().len(), 4, "one more try, no more");
}

#[tokio::test(flavor = "multi_thread")]
async fn adx_scope_overrides_the_cluster_metadata() {
    let fake = FakeAzure::start_tls().await;
    fake.metadata("https://leaderboard.kusto.fake.example", false);
    let endpoint = fake.identity_endpoint();
    let env = [("IDENTITY_ENDPOINT", endpoint.as_str()), ("IDENTITY_HEADER", IDENTITY_HEADER), fake.trust()];
    let (server, _dir) = start_binary(&fake.url, &["--adx-scope", "https://override.example/.default"], &env);
    until_ok(&server.base, "/campaigns/live-all/top").await;
    assert_eq!(fake.metadata_requests(), 0, "no discovery when the scope is given");
    let (query, _) = fake.identity_requests().pop().unwrap();
    assert_eq!(resource(&query), "https://override.example", "{query}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_is_never_sent_over_plain_http() {
    let fake = FakeAzure::start().await;
    let endpoint = fake.identity_endpoint();
    for auth in ["auto", "managed-identity", "secret"] {
        let env = [("IDENTITY_ENDPOINT", endpoint.as_str()), ("IDENTITY_HEADER", IDENTITY_HEADER)];
        let out = refused_start(&fake.url, &["--adx-auth", auth], &env).await;
        assert!(!out.status.success(), "{auth}: started on an http cluster");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("only ever sent over https") && stderr.contains("--adx-auth none"),
            "{stderr}"
        );
    }
    assert!(fake.identity_requests().is_empty(), "no token was even fetched");
    assert_eq!(fake.metadata_requests(), 0);
    assert!(fake.kusto_requests().is_empty());
}

/// As Microsoft's SDKs: a token goes only to a Kusto endpoint (or a loopback address, as every
/// other test here shows), so a cluster URL naming another host is a start-up error that asks
/// nothing of anyone, unless `--adx-trusted-hosts` names it (`trusted`'s unit tests).
#[tokio::test(flavor = "multi_thread")]
async fn a_token_is_sent_only_to_a_kusto_endpoint() {
    let fake = FakeAzure::start_tls().await;
    let endpoint = fake.identity_endpoint();
    for trusted in ["", "adx.mycompany.example.net", ".mycompany.example.net"] {
        let extra = ["--adx-auth", "managed-identity", "--adx-trusted-hosts", trusted];
        let env = [("IDENTITY_ENDPOINT", endpoint.as_str()), ("IDENTITY_HEADER", IDENTITY_HEADER)];
        let out = refused_start("https://adx.mycompany.example", &extra, &env).await;
        assert!(!out.status.success(), "started with a token for another host ({trusted:?})");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("adx.mycompany.example is not a known Kusto endpoint")
                && stderr.contains("--adx-trusted-hosts"),
            "{stderr}"
        );
    }
    assert!(fake.identity_requests().is_empty(), "no token was even fetched");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_identity_endpoint_that_never_answers_stalls_nothing_for_long() {
    let fake = FakeAzure::start_tls().await;
    // The first token request (the start-up one) hangs; the next is answered.
    fake.hang_identity(1);
    let endpoint = fake.identity_endpoint();
    let env = [("IDENTITY_ENDPOINT", endpoint.as_str()), ("IDENTITY_HEADER", IDENTITY_HEADER), fake.trust()];
    let (server, dir) = start_binary(&fake.url, &["--request-timeout", "1s"], &env);
    // Requests meanwhile fail within their budget rather than queue behind the hung attempt;
    // once the attempt's bound cuts it (and the pause after a failure ends), the next refresh
    // gets a token.
    let body = until_ok(&server.base, "/campaigns/live-all/top").await;
    assert_eq!(body["entries"][0]["playerId"], 7, "{body}");
    assert!(fake.identity_requests().len() >= 2);
    let log = logs(&dir);
    assert!(log.contains("no answer within"), "the cut attempt is logged: {log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn hosts_with_an_identity_the_sdk_cannot_use_start_and_fall_through_to_the_cli() {
    let fake = FakeAzure::start_tls().await;
    let endpoint = fake.identity_endpoint();
    let no_cli = tempfile::tempdir().unwrap();
    let path = no_cli.path().to_str().unwrap();
    let hosts: [(&str, Vec<(&str, &str)>); 2] = [
        ("Azure Arc", vec![("IDENTITY_ENDPOINT", endpoint.as_str()), ("IMDS_ENDPOINT", endpoint.as_str())]),
        ("Cloud Shell", vec![("MSI_ENDPOINT", endpoint.as_str())]),
    ];
    for (source, env) in hosts {
        // No `az` on PATH: the fallback fails at token time, visibly, without leaving the host.
        let env: Vec<_> = env.into_iter().chain([("PATH", path), fake.trust()]).collect();
        let (server, dir) = start_binary(&fake.url, &[], &env);
        let response = reqwest::get(format!("{}/campaigns/live-all/top", server.base)).await.unwrap();
        assert_eq!(response.status(), 502, "{source}");
        let problem: serde_json::Value = response.json().await.unwrap();
        assert!(problem["detail"].as_str().unwrap().contains("Azure CLI"), "{source}: {problem}");
        let log = wait_for_log(&dir, |log| log.contains(source)).await;
        assert!(log.contains("trying the Azure CLI"), "{log}");

        // Forcing the managed identity there is a clear start-up error.
        let out = refused_start(&fake.url, &["--adx-auth", "managed-identity"], &env).await;
        assert!(!out.status.success(), "{source}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(source) && stderr.contains("--adx-auth azure-cli"), "{stderr}");
    }
    assert!(fake.identity_requests().is_empty(), "no credential was sent to an unusable endpoint");
    assert!(fake.kusto_requests().is_empty(), "no query went out without a token");
}
