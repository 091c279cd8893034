//! The ADX client on the wire, against a small fake of the Azure endpoints on 127.0.0.1: a
//! Kusto query endpoint that records each request and answers gzip-compressed frames (over
//! TLS, from a throwaway CA, when tokens are sent), the cluster's auth metadata, and an App
//! Service managed identity endpoint (the protocol azure_identity speaks to
//! IDENTITY_ENDPOINT). The service sends UTF-8 JSON, reads gzip answers, waits past
//! `servertimeout` long enough to report ADX's own timeout error, and gives clients a short
//! error message while its logs keep the whole.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::json;

use crate::common::process::Server;
use crate::common::until;
use crate::common::{Fixture, spawn_on_cluster};

/// The bearer token the fake identity endpoint issues.
pub const TOKEN: &str = "fake-entra-token-for-tests";
/// The secret App Service hands its apps in IDENTITY_HEADER.
pub const IDENTITY_HEADER: &str = "fake-identity-header";

/// What the fake Kusto endpoint answers.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    pub delay: Duration,
    /// A query failure (code, message) reported in the frames, instead of standings.
    pub error: Option<(String, String)>,
}

#[derive(Default)]
struct Seen {
    /// Query strings and secret headers of the identity requests.
    identity: Mutex<Vec<(String, Option<String>)>>,
    /// Headers of the Kusto requests.
    kusto: Mutex<Vec<HeaderMap>>,
    /// Identity requests still to leave unanswered.
    hang: AtomicUsize,
    /// Kusto requests still to refuse with 401, whatever their token.
    refuse: AtomicUsize,
    answer: Mutex<Answer>,
    /// The auth metadata's `AzureAD` object; `None` answers 404, as a cluster without it.
    metadata: Mutex<Option<serde_json::Value>>,
    metadata_requests: AtomicUsize,
}

#[derive(Clone)]
pub struct FakeAzure {
    /// The cluster URL.
    pub url: String,
    /// Where the identity endpoint is served: over plain http, as App Service serves it.
    identity_base: String,
    /// The PEM file of the CA that signed the cluster's certificate (TLS fakes only).
    ca: Option<Arc<tempfile::NamedTempFile>>,
    seen: Arc<Seen>,
}

impl FakeAzure {
    /// Every endpoint over plain http.
    pub async fn start() -> Self {
        let seen = Arc::new(Seen::default());
        let url = serve_plain(router(&seen)).await;
        Self { identity_base: url.clone(), url, ca: None, seen }
    }

    /// The cluster over TLS, its certificate (for 127.0.0.1) signed by a throwaway CA that
    /// the binary trusts through [`FakeAzure::trust`]; the identity endpoint over http.
    pub async fn start_tls() -> Self {
        let seen = Arc::new(Seen::default());
        let identity_base = serve_plain(router(&seen)).await;
        let (ca, acceptor) = throwaway_ca();
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}", tcp.local_addr().unwrap());
        let router = router(&seen);
        tokio::spawn(async move { axum::serve(TlsListener { tcp, acceptor }, router).await.unwrap() });
        Self { url, identity_base, ca: Some(Arc::new(ca)), seen }
    }

    /// The environment variable that makes the binary trust the TLS fake's CA (reqwest's
    /// rustls verifier reads its roots through rustls-native-certs, which honours it).
    pub fn trust(&self) -> (&'static str, &str) {
        let ca = self.ca.as_ref().expect("a TLS fake (FakeAzure::start_tls)");
        ("SSL_CERT_FILE", ca.path().to_str().unwrap())
    }

    /// The App Service identity endpoint, as IDENTITY_ENDPOINT.
    pub fn identity_endpoint(&self) -> String {
        format!("{}/msi/token", self.identity_base)
    }

    /// The cluster's auth metadata names `resource`, and whether it requires MFA.
    pub fn metadata(&self, resource: &str, mfa_required: bool) {
        let azure_ad = json!({"LoginEndpoint": "https://login.microsoftonline.com", "LoginMfaRequired": mfa_required,
            "KustoClientAppId": "db662dc1-0cfe-4e1c-a843-19a68e65be58", "KustoServiceResourceId": resource});
        *self.seen.metadata.lock().unwrap() = Some(azure_ad);
    }

    pub fn metadata_requests(&self) -> usize {
        self.seen.metadata_requests.load(Ordering::SeqCst)
    }

    pub fn answer(&self, answer: Answer) {
        *self.seen.answer.lock().unwrap() = answer;
    }

    /// The next `n` Kusto requests are refused with 401 (a token revoked early, say).
    pub fn refuse_tokens(&self, n: usize) {
        self.seen.refuse.store(n, Ordering::SeqCst);
    }

    /// The next `n` identity requests get no answer at all.
    pub fn hang_identity(&self, n: usize) {
        self.seen.hang.store(n, Ordering::SeqCst);
    }

    /// (query string, x-identity-header) of each identity request so far.
    pub fn identity_requests(&self) -> Vec<(String, Option<String>)> {
        self.seen.identity.lock().unwrap().clone()
    }

    pub fn kusto_requests(&self) -> Vec<HeaderMap> {
        self.seen.kusto.lock().unwrap().clone()
    }
}

fn router(seen: &Arc<Seen>) -> axum::Router {
    axum::Router::new()
        .route("/msi/token", get(identity))
        .route("/v1/rest/auth/metadata", get(metadata))
        .route("/v2/rest/query", post(kusto))
        .with_state(Arc::clone(seen))
}

async fn serve_plain(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    url
}

/// A CA made for this test run (its certificate in a PEM file) and a TLS acceptor presenting
/// a certificate for 127.0.0.1 that it signed.
fn throwaway_ca() -> (tempfile::NamedTempFile, tokio_rustls::TlsAcceptor) {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
    };
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, "leaderboard test CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    let mut pem = tempfile::NamedTempFile::new().unwrap();
    pem.write_all(ca.pem().as_bytes()).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, &ca).unwrap();
    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der());
    let config =
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone()], key.into())
            .unwrap();
    (pem, tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Connections on `tcp` that complete a TLS handshake with `acceptor`; the others are dropped.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else { continue };
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

async fn metadata(State(seen): State<Arc<Seen>>) -> axum::response::Response {
    seen.metadata_requests.fetch_add(1, Ordering::SeqCst);
    match seen.metadata.lock().unwrap().clone() {
        Some(azure_ad) => axum::Json(json!({ "AzureAD": azure_ad })).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn identity(
    State(seen): State<Arc<Seen>>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> axum::response::Response {
    let secret = headers.get("x-identity-header").map(|v| v.to_str().unwrap().to_owned());
    let text = form_urlencoded::Serializer::new(String::new()).extend_pairs(&query).finish();
    seen.identity.lock().unwrap().push((text, secret.clone()));
    if seen.hang.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
        std::future::pending::<()>().await;
    }
    if secret.as_deref() != Some(IDENTITY_HEADER) {
        return (StatusCode::UNAUTHORIZED, "missing x-identity-header").into_response();
    }
    let resource = query.iter().find(|(k, _)| k == "resource").map_or("", |(_, v)| v.as_str());
    let expires = chrono::Utc::now().timestamp() + 3600;
    axum::Json(json!({
        "access_token": TOKEN, "expires_on": expires.to_string(), "token_type": "Bearer", "resource": resource,
    }))
    .into_response()
}

async fn kusto(State(seen): State<Arc<Seen>>, headers: HeaderMap) -> axum::response::Response {
    seen.kusto.lock().unwrap().push(headers);
    if seen.refuse.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
        let error = json!({"error": {"code": "Unauthorized", "message": "the token was refused", "@permanent": true}});
        return (StatusCode::UNAUTHORIZED, axum::Json(error)).into_response();
    }
    let answer = seen.answer.lock().unwrap().clone();
    tokio::time::sleep(answer.delay).await;
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gzip.write_all(frames(answer.error).to_string().as_bytes()).unwrap();
    let body = gzip.finish().unwrap();
    // Compressed whatever the request said: a client that cannot read gzip fails.
    ([(header::CONTENT_TYPE, "application/json"), (header::CONTENT_ENCODING, "gzip")], body).into_response()
}

/// A v2 answer: one standing out of 3 ranked players, or a query failure.
fn frames(error: Option<(String, String)>) -> serde_json::Value {
    let columns = [
        ("PlayerID", "int"),
        ("Win", "long"),
        ("Stake", "int"),
        ("GameID", "int"),
        ("EventTime", "datetime"),
        ("Total", "long"),
    ]
    .map(|(name, ty)| json!({"ColumnName": name, "ColumnType": ty}));
    let completion = match error {
        None => json!({"FrameType": "DataSetCompletion", "HasErrors": false, "Cancelled": false}),
        Some((code, message)) => {
            json!({"FrameType": "DataSetCompletion", "HasErrors": true, "Cancelled": false,
            "OneApiErrors": [{"error": {"code": code, "message": "Request is invalid", "@message": message,
            "@permanent": true}}]})
        }
    };
    json!([
        {"FrameType": "DataSetHeader", "IsProgressive": false, "Version": "v2.0"},
        {"FrameType": "DataTable", "TableId": 1, "TableKind": "PrimaryResult", "TableName": "PrimaryResult",
         "Columns": columns, "Rows": [[7, 100, 10, 1, "2026-11-02T08:00:00Z", null], [null, null, null, null, null, 3]]},
        completion,
    ])
}

/// Environment variables that could steer the binary's credential choice (or its
/// configuration) toward anything but the fakes, IMDS at 169.254.169.254 included.
pub fn isolate(command: &mut Command) {
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        let steering = ["AZURE_", "IDENTITY_", "MSI_", "IMDS_", "ADX_", "LEADERBOARD_"];
        if steering.iter().any(|prefix| key.starts_with(prefix)) {
            command.env_remove(&*key);
        }
    }
}

/// The real binary on the ADX backend at `cluster`, its environment isolated and then `env`
/// set, its logs (JSON) in a file; the guard keeps the campaigns file and the log.
pub fn start_binary(cluster: &str, extra: &[&str], env: &[(&str, &str)]) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("campaigns.toml"), Fixture::new().campaigns_toml()).unwrap();
    let stderr = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
    let mut args =
        vec!["serve", "--backend", "adx", "--adx-cluster", cluster, "--adx-database", "leaderboard"];
    args.extend(["--campaigns", "campaigns.toml", "--log-format", "json"]);
    args.extend_from_slice(extra);
    let server = Server::start_with(dir.path(), &args, |command| {
        isolate(command);
        command.envs(env.iter().copied()).stderr(Stdio::from(stderr));
    });
    (server, dir)
}

/// What the binary started by [`start_binary`] in `dir` has logged so far.
pub fn logs(dir: &tempfile::TempDir) -> String {
    std::fs::read_to_string(dir.path().join("stderr.log")).unwrap()
}

/// Polls `condition` on the logs until it holds (a generous deadline turns a hang into a failure).
pub async fn wait_for_log(dir: &tempfile::TempDir, condition: impl Fn(&str) -> bool) -> String {
    let condition = &condition;
    until(Duration::from_secs(60), "the log showed it", || async move {
        let text = logs(dir);
        condition(&text).then_some(text)
    })
    .await
}

#[tokio::test]
async fn queries_are_utf8_json_and_gzip_answers_are_read() {
    let fake = FakeAzure::start().await;
    let (_dir, campaigns) = Fixture::new().write_campaigns();
    let app = spawn_on_cluster(&fake.url, &campaigns, &[]).await;
    let body = app.json("/campaigns/live-all/top").await;
    assert_eq!(body["entries"][0]["playerId"], 7, "{body}");
    let sent = fake.kusto_requests().pop().unwrap();
    assert_eq!(sent[header::CONTENT_TYPE], "application/json; charset=utf-8");
    assert!(sent[header::ACCEPT_ENCODING].to_str().unwrap().contains("gzip"), "{sent:?}");
    assert!(!sent.contains_key(header::AUTHORIZATION), "--adx-auth none sends no token");
}

#[tokio::test]
async fn adx_timeout_errors_arrive_past_servertimeout_and_are_reported_as_timeouts() {
    let fake = FakeAzure::start().await;
    // ADX gives up at servertimeout and says so in the stream a moment later, as a partial
    // failure; the client waits for that, and reports a timeout (504), not a failed query.
    fake.answer(Answer {
        delay: Duration::from_millis(1500),
        error: Some((
            "Internal service error".into(),
            "Query execution has resulted in error (0x80DA0006): Query is expired.".into(),
        )),
    });
    let (_dir, campaigns) = Fixture::new().write_campaigns();
    let app =
        spawn_on_cluster(&fake.url, &campaigns, &["--backend-timeout", "1s", "--request-timeout", "10s"])
            .await;
    let response = app.get("/campaigns/live-all/top").await;
    assert_eq!(response.status(), 504);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["type"], "urn:leaderboard:problem:backend-timeout", "{body}");
    assert_eq!(fake.kusto_requests().len(), 1, "a timeout is not tried again");
}

#[tokio::test]
async fn clients_get_the_code_and_a_short_message_while_the_logs_keep_it_all() {
    let fake = FakeAzure::start().await;
    let message = format!("Semantic error: {} END-OF-MESSAGE", "stack frame ".repeat(400));
    fake.answer(Answer { delay: Duration::ZERO, error: Some(("SEM0100".into(), message)) });
    let (server, dir) = start_binary(&fake.url, &["--adx-auth", "none"], &[]);
    let response = reqwest::get(format!("{}/campaigns/live-all/top", server.base)).await.unwrap();
    assert_eq!(response.status(), 502);
    let detail = response.json::<serde_json::Value>().await.unwrap()["detail"].as_str().unwrap().to_owned();
    assert!(detail.contains("SEM0100") && detail.contains("Semantic error"), "{detail}");
    assert!(detail.chars().count() < 500 && !detail.contains("END-OF-MESSAGE"), "{detail}");
    wait_for_log(&dir, |log| log.contains("END-OF-MESSAGE")).await;
}
