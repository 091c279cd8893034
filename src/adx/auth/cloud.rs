//! The token scope of a cluster, found as Microsoft's Kusto SDKs find it (azure-kusto-python's
//! `CloudSettings`, azure-kusto-java's `CloudInfo`): `{cluster}/v1/rest/auth/metadata` names the
//! cluster's Entra resource (`AzureAD.KustoServiceResourceId`, its `.kusto.` made `.kustomfa.`
//! when `LoginMfaRequired`), and the scope is that resource's `/.default`.
//!
//! A cluster without the endpoint (404, as behind some proxies, or `AzureAD: null`) is in the
//! public cloud, as the SDKs take it. Metadata that cannot be read (a few tries over transient
//! failures, an answer that makes no sense, a redirect) is no answer: as the SDKs, nothing is
//! assumed and nothing is kept, so the next token refresh reads it again. A wrong guess would
//! ask every token for the wrong audience until a restart. `--adx-scope` names the scope of a
//! cluster whose metadata is out of reach.

use std::time::Duration;

use reqwest::header::ACCEPT;
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use tokio::sync::OnceCell;

use super::AuthError;
use crate::adx::retry::{self, Failure};
use crate::backend::BackendError;

/// The public cloud's scope, which the SDKs fall back to.
pub const DEFAULT_SCOPE: &str = "https://kusto.kusto.windows.net/.default";

/// Tries at reading the metadata, in one refresh.
const ATTEMPTS: u32 = 3;
/// The longest one try may take (connecting, and reading the answer).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// No try starts (nor a `Retry-After` is waited for) past this.
const WINDOW: Duration = Duration::from_secs(20);

const METADATA_PATH: &str = "v1/rest/auth/metadata";

#[derive(Deserialize)]
struct Metadata {
    #[serde(rename = "AzureAD")]
    azure_ad: Option<AzureAd>,
}

#[derive(Deserialize)]
struct AzureAd {
    #[serde(rename = "KustoServiceResourceId")]
    resource: String,
    #[serde(rename = "LoginMfaRequired", default)]
    mfa_required: bool,
}

/// The scope tokens are asked for: `--adx-scope`, or the one the cluster's auth metadata names,
/// read by the first refresh that needs it (and by the next, when it could not be read).
pub enum Scope {
    Given(String),
    Discovered { cluster: Url, found: OnceCell<String> },
}

impl Scope {
    pub fn given(scope: String) -> Self {
        tracing::info!(scope, source = "--adx-scope", "ADX token scope");
        Self::Given(scope)
    }

    pub fn of(cluster: &Url) -> Self {
        Self::Discovered { cluster: cluster.clone(), found: OnceCell::new() }
    }

    pub async fn get(&self) -> Result<&str, AuthError> {
        match self {
            Self::Given(scope) => Ok(scope),
            Self::Discovered { cluster, found } => {
                let read = found.get_or_try_init(|| discover(cluster)).await;
                read.map(String::as_str).map_err(|error| AuthError::Failed {
                    credential: "the cluster's auth metadata",
                    message: format!(
                        "{error}; no token is asked for until it names the token scope (--adx-scope names it)"
                    ),
                })
            }
        }
    }
}

/// The scope of `cluster`'s tokens; logs which one, and where it came from.
async fn discover(cluster: &Url) -> Result<String, BackendError> {
    let (scope, source) = match read(&crate::adx::endpoint(cluster, METADATA_PATH)).await? {
        Some(scope) => (scope, "the cluster's auth metadata"),
        None => (DEFAULT_SCOPE.to_owned(), "the public-cloud default: the cluster serves no auth metadata"),
    };
    tracing::info!(scope, source, "ADX token scope");
    Ok(scope)
}

/// The scope the metadata at `url` names; `None` when the cluster has none (the public cloud).
async fn read(url: &Url) -> Result<Option<String>, BackendError> {
    let http = crate::adx::client()?;
    let mut tries = 0;
    retry::with_retries(WINDOW, || {
        tries += 1;
        let last = tries == ATTEMPTS;
        let request = http.get(url.clone()).header(ACCEPT, "application/json").timeout(ATTEMPT_TIMEOUT);
        async move {
            let answer = attempt(request).await;
            if last { answer.map_err(|failure| Failure::fatal(failure.error)) } else { answer }
        }
    })
    .await
}

async fn attempt(request: reqwest::RequestBuilder) -> Result<Option<String>, Failure> {
    let response = request.send().await.map_err(|e| Failure::transient(unreachable(e), None))?;
    let status = response.status();
    if status == StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if status != StatusCode::OK {
        let error = BackendError::Unreachable(format!("the auth metadata answered HTTP {status}"));
        let transient = status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
        let after = retry::retry_after(response.headers());
        return Err(if transient { Failure::transient(error, after) } else { Failure::fatal(error) });
    }
    let body = response.bytes().await.map_err(|e| Failure::transient(unreachable(e), None))?;
    let metadata: Metadata = serde_json::from_slice(&body)
        .map_err(|e| Failure::fatal(BackendError::Malformed(format!("auth metadata: {e}"))))?;
    metadata.azure_ad.map(scope).transpose().map_err(Failure::fatal)
}

/// The error and its causes (DNS, TLS, a refused connection), without the URL: it names the
/// cluster, whose URL may hold a password.
fn unreachable(error: reqwest::Error) -> BackendError {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(&error);
    while let Some(e) = cause {
        text = format!("{text}: {e}");
        cause = e.source();
    }
    BackendError::Unreachable(text)
}

/// `<resource>/.default`, the resource made its MFA twin when the cluster requires MFA.
fn scope(azure_ad: AzureAd) -> Result<String, BackendError> {
    let resource = azure_ad.resource.trim().trim_end_matches('/');
    if resource.is_empty() {
        return Err(BackendError::Malformed("auth metadata: no KustoServiceResourceId".into()));
    }
    let resource = if azure_ad.mfa_required {
        resource.replacen(".kusto.", ".kustomfa.", 1)
    } else {
        resource.to_owned()
    };
    Ok(format!("{resource}/.default"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const FABRIC: &str = r#"{"AzureAD":{"LoginEndpoint":"https://login.example","LoginMfaRequired":false,
        "KustoClientAppId":"x","KustoServiceResourceId":"https://kusto.fabric.example/"},"dSTS":{}}"#;

    /// A loopback server answering GET `path` with `answers` in turn (the last one for good);
    /// the cluster URL (`prefix` as its path) and the count of requests so far.
    async fn cluster(prefix: &str, answers: Vec<(u16, &'static str)>) -> (Url, Arc<AtomicUsize>) {
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&hits);
        let answer = move || {
            let n = counted.fetch_add(1, Ordering::SeqCst);
            let (status, body) = answers[n.min(answers.len() - 1)];
            async move { (axum::http::StatusCode::from_u16(status).unwrap(), body) }
        };
        let path = format!("{}/{METADATA_PATH}", prefix.trim_end_matches('/'));
        let router = axum::Router::new().route(&path, axum::routing::get(answer));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}{prefix}", listener.local_addr().unwrap())).unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        (url, hits)
    }

    fn azure_ad(resource: &str, mfa_required: bool) -> AzureAd {
        AzureAd { resource: resource.into(), mfa_required }
    }

    #[tokio::test]
    async fn the_scope_is_the_default_of_the_resource_the_cluster_names() {
        let (url, hits) = cluster("", vec![(200, FABRIC)]).await;
        assert_eq!(discover(&url).await.unwrap(), "https://kusto.fabric.example/.default");
        assert_eq!(hits.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_cluster_requiring_mfa_is_asked_for_its_kustomfa_resource() {
        let public = "https://kusto.kusto.windows.net";
        assert_eq!(scope(azure_ad(public, true)).unwrap(), "https://kusto.kustomfa.windows.net/.default");
        assert_eq!(scope(azure_ad(public, false)).unwrap(), DEFAULT_SCOPE);
        let gov = "https://kusto.kusto.usgovcloudapi.net/";
        assert_eq!(scope(azure_ad(gov, true)).unwrap(), "https://kusto.kustomfa.usgovcloudapi.net/.default");
        assert!(scope(azure_ad(" ", false)).is_err());
    }

    #[tokio::test]
    async fn a_cluster_without_metadata_is_in_the_public_cloud() {
        let (url, hits) = cluster("", vec![(404, "")]).await;
        assert_eq!(discover(&url).await.unwrap(), DEFAULT_SCOPE);
        assert_eq!(hits.load(Ordering::SeqCst), 1, "a 404 is an answer, not retried");
        let (url, _) = cluster("", vec![(200, r#"{"AzureAD":null}"#)]).await;
        assert_eq!(discover(&url).await.unwrap(), DEFAULT_SCOPE);
    }

    #[tokio::test]
    async fn transient_failures_are_tried_a_few_times_then_name_no_scope() {
        let (url, hits) = cluster("", vec![(503, "busy")]).await;
        assert!(discover(&url).await.is_err(), "no public-cloud guess");
        assert_eq!(hits.load(Ordering::SeqCst), ATTEMPTS as usize);
        let (url, hits) = cluster("", vec![(503, "busy"), (429, "slow down"), (200, FABRIC)]).await;
        assert_eq!(discover(&url).await.unwrap(), "https://kusto.fabric.example/.default");
        assert_eq!(hits.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn answers_that_make_no_sense_are_not_retried() {
        for (status, body) in [(200, "<html>gateway</html>"), (200, r#"{"AzureAD":{}}"#), (403, "no")] {
            let (url, hits) = cluster("", vec![(status, body), (200, FABRIC)]).await;
            assert!(discover(&url).await.is_err(), "{status} {body}");
            assert_eq!(hits.load(Ordering::SeqCst), 1, "{status} {body}");
        }
    }

    #[tokio::test]
    async fn a_scope_not_found_is_read_again_by_the_next_refresh_and_then_kept() {
        let (url, hits) = cluster("", vec![(403, "no"), (200, FABRIC)]).await;
        let scope = Scope::of(&url);
        let Err(error) = scope.get().await else { panic!("a scope from a 403") };
        assert!(
            error.to_string().contains("auth metadata") && error.to_string().contains("--adx-scope"),
            "{error}"
        );
        assert_eq!(scope.get().await.unwrap(), "https://kusto.fabric.example/.default");
        assert_eq!(scope.get().await.unwrap(), "https://kusto.fabric.example/.default");
        assert_eq!(hits.load(Ordering::SeqCst), 2, "found once, then kept");
    }

    #[tokio::test]
    async fn a_redirect_is_not_followed() {
        let router = axum::Router::new()
            .route(
                &format!("/{METADATA_PATH}"),
                axum::routing::get(|| async {
                    (axum::http::StatusCode::FOUND, [("location", "/elsewhere")])
                }),
            )
            .route("/elsewhere", axum::routing::get(|| async { FABRIC }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        let Err(error) = discover(&url).await else { panic!("the redirect was followed") };
        assert!(error.to_string().contains("302"), "{error}");
    }

    #[tokio::test]
    async fn the_metadata_path_follows_the_cluster_path() {
        for prefix in ["/gateway/adx", "/gateway/adx/"] {
            let (url, hits) = cluster(prefix, vec![(200, FABRIC)]).await;
            assert_eq!(discover(&url).await.unwrap(), "https://kusto.fabric.example/.default", "{prefix}");
            assert_eq!(hits.load(Ordering::SeqCst), 1);
        }
        let at =
            |cluster: &str| crate::adx::endpoint(&Url::parse(cluster).unwrap(), METADATA_PATH).to_string();
        assert_eq!(at("https://c.kusto.windows.net"), "https://c.kusto.windows.net/v1/rest/auth/metadata");
        assert_eq!(at("https://gw.example/adx/?x=1#f"), "https://gw.example/adx/v1/rest/auth/metadata");
    }
}
