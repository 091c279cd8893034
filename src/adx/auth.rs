//! Microsoft Entra tokens for ADX: picks a credential from `--adx-auth` (or, with `auto`, from
//! the environment) and caches the token until shortly before it expires, since not every
//! credential caches (the Azure CLI one runs `az` on each call).
//!
//! A token is fetched by one background refresh at a time, shared by every request that needs
//! it; each credential attempt is bounded, a request waits for the refresh no longer than its
//! own budget, and a token that is about to expire keeps being served while the refresh runs,
//! so a slow credential never stalls requests that hold a usable token.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use azure_core::credentials::{AccessToken, TokenCredential};
use azure_core::time::{self, OffsetDateTime};
use azure_identity::{
    AzureCliCredential, ClientSecretCredential, ManagedIdentityCredential, ManagedIdentityCredentialOptions,
    UserAssignedId, WorkloadIdentityCredential,
};
use reqwest::header::HeaderValue;
use tokio::sync::watch;

/// How the service authenticates to ADX.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMode {
    /// Client secret if AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET are set, else
    /// workload identity if AZURE_FEDERATED_TOKEN_FILE is set, else the host's managed
    /// identity (user-assigned when AZURE_CLIENT_ID is set), falling back to the Azure CLI.
    Auto,
    /// No Authorization header, for local Kusto engines.
    None,
    Secret,
    ManagedIdentity,
    WorkloadIdentity,
    AzureCli,
}

pub const DEFAULT_SCOPE: &str = "https://kusto.kusto.windows.net/.default";

/// Refresh this long before expiry so a token never lapses mid-request.
const REFRESH_MARGIN: time::Duration = time::Duration::minutes(5);
/// A token this close to expiry is not sent at all: the request waits for the refresh.
const USABLE_MARGIN: time::Duration = time::Duration::seconds(30);
/// The longest one credential may take to answer. The IMDS probe alone would retry for 72 s
/// on a host without a managed identity; a real one answers within milliseconds.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    #[error("cannot get a Microsoft Entra token ({credential}): {message}")]
    Failed { credential: &'static str, message: String },
    /// The request's budget ran out while the refresh goes on.
    #[error("no Microsoft Entra token within {waited:?} ({trying} still trying)")]
    Timeout { waited: Duration, trying: String },
}

/// Where a managed identity is served, as the host announces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ManagedHost {
    /// App Service, Functions, Container Apps: IDENTITY_ENDPOINT and IDENTITY_HEADER.
    AppService,
    /// Nothing announced: the instance metadata service of VMs, scale sets and AKS nodes.
    Imds,
    /// A source azure_identity does not serve (its credential refuses it at construction).
    Unsupported(&'static str),
}

/// One credential of the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Secret,
    WorkloadIdentity,
    ManagedIdentity(ManagedHost),
    AzureCli,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Secret => "client secret",
            Kind::WorkloadIdentity => "workload identity",
            Kind::ManagedIdentity(ManagedHost::AppService) => "managed identity (App Service)",
            Kind::ManagedIdentity(_) => "managed identity (IMDS)",
            Kind::AzureCli => "Azure CLI",
        }
    }
}

type Credential = (&'static str, Arc<dyn TokenCredential>);

/// Credentials to try in order, with the shared token.
pub struct TokenSource {
    inner: Arc<Inner>,
}

struct Inner {
    chain: Vec<Credential>,
    /// The credential that last produced a token: tried first next time.
    working: AtomicUsize,
    scope: String,
    state: Mutex<State>,
}

/// What a refresh ends with, as every request waiting for it sees it.
type Outcome = Option<Result<AccessToken, AuthError>>;

#[derive(Default)]
struct State {
    token: Option<AccessToken>,
    /// The refresh in flight, if any.
    refreshing: Option<watch::Receiver<Outcome>>,
    /// The credential that gave the last token, to log each change once.
    announced: Option<&'static str>,
}

impl TokenSource {
    /// `Ok(None)` for [`AuthMode::None`]. Inside a runtime, fetches a first token at once so
    /// the start-up log says which credential works.
    pub fn new(mode: AuthMode, scope: String) -> Result<Option<Self>, AuthError> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let plan = plan(mode, env)?;
        if plan.is_empty() {
            return Ok(None);
        }
        let chain = plan.into_iter().map(|kind| build(kind, env)).collect::<Result<_, _>>()?;
        let inner = Inner { chain, working: AtomicUsize::new(0), scope, state: Mutex::default() };
        let source = Self { inner: Arc::new(inner) };
        if tokio::runtime::Handle::try_current().is_ok() {
            drop(source.inner.refresh(&mut source.inner.state(), ATTEMPT_TIMEOUT));
        }
        Ok(Some(source))
    }

    /// The credentials this source tries, for the start-up log.
    pub fn credential_name(&self) -> String {
        self.inner.chain.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", then ")
    }

    /// `Bearer <token>`, marked sensitive so no logging layer prints it. Waits at most `wait`
    /// (what is left of the request's budget); a refresh this starts gives each credential
    /// at most a few seconds, and never more than the request `budget`.
    pub async fn authorization(&self, budget: Duration, wait: Duration) -> Result<HeaderValue, AuthError> {
        let attempt_timeout = ATTEMPT_TIMEOUT.min(budget);
        let mut refresh = {
            let mut state = self.inner.state();
            let now = OffsetDateTime::now_utc();
            match state.token.clone().filter(|t| t.expires_on - USABLE_MARGIN > now) {
                Some(token) => {
                    if token.expires_on - REFRESH_MARGIN <= now {
                        drop(self.inner.refresh(&mut state, attempt_timeout));
                    }
                    return header(&token);
                }
                None => self.inner.refresh(&mut state, attempt_timeout),
            }
        };
        let waited = tokio::time::timeout(wait, refresh.wait_for(Option::is_some))
            .await
            .map_err(|_| AuthError::Timeout { waited: wait, trying: self.credential_name() })?;
        match waited.as_deref() {
            Ok(Some(Ok(token))) => header(token),
            Ok(Some(Err(e))) => Err(e.clone()),
            _ => Err(AuthError::Failed {
                credential: "token",
                message: "the token refresh ended unanswered".into(),
            }),
        }
    }
}

impl TokenSource {
    /// The cluster refused this Authorization value: forget the cached token if it is still
    /// this one, so that the next request asks for a new one.
    pub fn reject(&self, authorization: &HeaderValue) {
        let mut state = self.inner.state();
        if state.token.as_ref().and_then(|t| header(t).ok()).is_some_and(|held| held == *authorization) {
            state.token = None;
        }
    }
}

impl Inner {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The refresh in flight, or a new one started in the background.
    fn refresh(self: &Arc<Self>, state: &mut State, attempt_timeout: Duration) -> watch::Receiver<Outcome> {
        if let Some(refreshing) = &state.refreshing {
            return refreshing.clone();
        }
        let (tx, rx) = watch::channel(None);
        state.refreshing = Some(rx.clone());
        let inner = Arc::clone(self);
        tokio::spawn(async move {
            let outcome = inner.fetch(attempt_timeout).await;
            let mut state = inner.state();
            state.refreshing = None;
            match &outcome {
                Ok((name, token)) => {
                    state.token = Some(token.clone());
                    if state.announced.replace(name) != Some(name) {
                        tracing::info!(credential = name, "ADX token obtained");
                    }
                }
                Err(e) => tracing::warn!("{e}"),
            }
            drop(state);
            tx.send_replace(Some(outcome.map(|(_, token)| token)));
        });
        rx
    }

    /// A new token from the first credential that gives one, starting with the last that did;
    /// each attempt bounded by `attempt_timeout`.
    async fn fetch(&self, attempt_timeout: Duration) -> Result<(&'static str, AccessToken), AuthError> {
        let first = self.working.load(Ordering::Relaxed);
        let mut failures = Vec::new();
        let scopes = [self.scope.as_str()];
        for i in (first..self.chain.len()).chain(0..first) {
            let (name, credential) = &self.chain[i];
            let attempt = credential.get_token(&scopes, None);
            match tokio::time::timeout(attempt_timeout, attempt).await {
                Ok(Ok(token)) => {
                    self.working.store(i, Ordering::Relaxed);
                    return Ok((name, token));
                }
                Ok(Err(e)) => failures.push(format!("{name}: {e}")),
                Err(_) => failures.push(format!("{name}: no answer within {attempt_timeout:?}")),
            }
            tracing::debug!(credential = name, "no ADX token from this credential");
        }
        let credential = if self.chain.len() == 1 { self.chain[0].0 } else { "every credential" };
        Err(AuthError::Failed { credential, message: failures.join("; ") })
    }
}

fn header(token: &AccessToken) -> Result<HeaderValue, AuthError> {
    let mut value = HeaderValue::try_from(format!("Bearer {}", token.token.secret()))
        .map_err(|_| AuthError::Failed { credential: "token", message: "not a valid header value".into() })?;
    value.set_sensitive(true);
    Ok(value)
}

/// The credentials `mode` tries, in order, given the environment (`env` answers set,
/// non-empty variables); empty for [`AuthMode::None`].
fn plan(mode: AuthMode, env: impl Fn(&str) -> Option<String>) -> Result<Vec<Kind>, AuthError> {
    let set = |k: &str| env(k).is_some();
    let host = managed_host(set);
    Ok(match mode {
        AuthMode::None => vec![],
        AuthMode::Secret => vec![Kind::Secret],
        AuthMode::WorkloadIdentity => vec![Kind::WorkloadIdentity],
        AuthMode::AzureCli => vec![Kind::AzureCli],
        AuthMode::ManagedIdentity => match host {
            ManagedHost::Unsupported(source) => return Err(unsupported(source)),
            host => vec![Kind::ManagedIdentity(host)],
        },
        AuthMode::Auto => {
            if ["AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"].iter().all(|k| set(k)) {
                vec![Kind::Secret]
            } else if set("AZURE_FEDERATED_TOKEN_FILE") {
                vec![Kind::WorkloadIdentity]
            } else {
                match host {
                    // The host announces its identity endpoint: that is the identity to use.
                    ManagedHost::AppService => vec![Kind::ManagedIdentity(host)],
                    ManagedHost::Unsupported(source) => {
                        tracing::warn!("{}; trying the Azure CLI", unsupported(source));
                        vec![Kind::AzureCli]
                    }
                    // Nothing announced: a VM's identity if it has one, else whoever is
                    // logged in to the Azure CLI.
                    ManagedHost::Imds => vec![Kind::ManagedIdentity(host), Kind::AzureCli],
                }
            }
        }
    })
}

/// The managed identity source, read as azure_identity reads it.
fn managed_host(set: impl Fn(&str) -> bool) -> ManagedHost {
    if set("IDENTITY_ENDPOINT") {
        if !set("IDENTITY_HEADER") {
            ManagedHost::Unsupported("Azure Arc (IDENTITY_ENDPOINT without IDENTITY_HEADER)")
        } else if set("IDENTITY_SERVER_THUMBPRINT") {
            ManagedHost::Unsupported("Service Fabric")
        } else {
            ManagedHost::AppService
        }
    } else if set("MSI_ENDPOINT") {
        ManagedHost::Unsupported(if set("MSI_SECRET") {
            "Azure ML (MSI_ENDPOINT)"
        } else {
            "Cloud Shell (MSI_ENDPOINT)"
        })
    } else {
        ManagedHost::Imds
    }
}

fn unsupported(source: &'static str) -> AuthError {
    AuthError::Failed {
        credential: "managed identity",
        message: format!(
            "the host announces a {source} managed identity, which this service cannot use \
             (supported: IDENTITY_ENDPOINT with IDENTITY_HEADER, or IMDS); \
             use --adx-auth azure-cli, secret or workload-identity"
        ),
    }
}

fn build(kind: Kind, env: impl Fn(&str) -> Option<String>) -> Result<Credential, AuthError> {
    let var = |k: &str| env(k).unwrap_or_default();
    let made: azure_core::Result<Arc<dyn TokenCredential>> = match kind {
        Kind::Secret => ClientSecretCredential::new(
            &var("AZURE_TENANT_ID"),
            var("AZURE_CLIENT_ID"),
            var("AZURE_CLIENT_SECRET").into(),
            None,
        )
        .map(|c| c as _),
        Kind::WorkloadIdentity => WorkloadIdentityCredential::new(None).map(|c| c as _),
        Kind::ManagedIdentity(_) => {
            let options = ManagedIdentityCredentialOptions {
                user_assigned_id: env("AZURE_CLIENT_ID").map(UserAssignedId::ClientId),
                ..Default::default()
            };
            ManagedIdentityCredential::new(Some(options)).map(|c| c as _)
        }
        Kind::AzureCli => AzureCliCredential::new(None).map(|c| c as _),
    };
    made.map(|c| (kind.name(), c))
        .map_err(|e| AuthError::Failed { credential: kind.name(), message: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_with(mode: AuthMode, vars: &[&str]) -> Result<Vec<Kind>, AuthError> {
        plan(mode, |k| vars.contains(&k).then(|| "x".to_owned()))
    }

    const APP_SERVICE: Kind = Kind::ManagedIdentity(ManagedHost::AppService);
    const IMDS: Kind = Kind::ManagedIdentity(ManagedHost::Imds);

    /// Gives a token expiring in `lifetime` on the first call and hangs on every later one.
    #[derive(Debug)]
    struct HangsAfterOne {
        calls: AtomicUsize,
        lifetime: time::Duration,
    }

    #[async_trait::async_trait]
    impl TokenCredential for HangsAfterOne {
        async fn get_token(
            &self,
            _: &[&str],
            _: Option<azure_core::credentials::TokenRequestOptions<'_>>,
        ) -> azure_core::Result<AccessToken> {
            if self.calls.fetch_add(1, Ordering::SeqCst) > 0 {
                std::future::pending::<()>().await;
            }
            Ok(AccessToken::new("first", OffsetDateTime::now_utc() + self.lifetime))
        }
    }

    #[tokio::test]
    async fn a_slow_refresh_never_stalls_requests_holding_a_usable_token() {
        // Inside the refresh margin, outside the usable one: served while a refresh runs.
        let credential =
            Arc::new(HangsAfterOne { calls: AtomicUsize::new(0), lifetime: time::Duration::minutes(2) });
        let inner = Inner {
            chain: vec![("test", Arc::clone(&credential) as Arc<dyn TokenCredential>)],
            working: AtomicUsize::new(0),
            scope: DEFAULT_SCOPE.into(),
            state: Mutex::default(),
        };
        let source = TokenSource { inner: Arc::new(inner) };
        let budget = Duration::from_secs(5);
        let first = source.authorization(budget, budget).await.unwrap();
        assert_eq!(first, "Bearer first");
        assert!(first.is_sensitive());
        // No wait at all is allowed: a call that had to wait for the hung refresh would fail.
        for _ in 0..3 {
            assert_eq!(source.authorization(budget, Duration::ZERO).await.unwrap(), "Bearer first");
        }
        let refreshing = async {
            while credential.calls.load(Ordering::SeqCst) < 2 {
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), refreshing).await.expect("a refresh started");
        assert_eq!(credential.calls.load(Ordering::SeqCst), 2, "one shared refresh, still hung");
    }

    #[test]
    fn none_sends_no_header() {
        assert!(TokenSource::new(AuthMode::None, DEFAULT_SCOPE.into()).unwrap().is_none());
    }

    #[test]
    fn auto_prefers_a_client_secret_then_workload_identity_then_managed_identity_then_the_cli() {
        let auto = |vars: &[&str]| plan_with(AuthMode::Auto, vars).unwrap();
        let secret = ["AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"];
        assert_eq!(auto(&secret), [Kind::Secret]);
        assert_eq!(auto(&[&secret[..], &["AZURE_FEDERATED_TOKEN_FILE"]].concat()), [Kind::Secret]);
        assert_eq!(
            auto(&["AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_FEDERATED_TOKEN_FILE"]),
            [Kind::WorkloadIdentity]
        );
        assert_eq!(auto(&["IDENTITY_ENDPOINT", "IDENTITY_HEADER", "AZURE_CLIENT_ID"]), [APP_SERVICE]);
        assert_eq!(auto(&["AZURE_CLIENT_ID"]), [IMDS, Kind::AzureCli]);
        assert_eq!(auto(&[]), [IMDS, Kind::AzureCli]);
        assert_eq!(plan_with(AuthMode::None, &secret).unwrap(), []);
    }

    #[test]
    fn hosts_whose_managed_identity_cannot_be_used_fall_through_to_the_cli_or_fail_clearly() {
        let hosts: [(&[&str], &str); 4] = [
            (&["IDENTITY_ENDPOINT", "IMDS_ENDPOINT"], "Azure Arc"),
            (&["MSI_ENDPOINT"], "Cloud Shell"),
            (&["MSI_ENDPOINT", "MSI_SECRET"], "Azure ML"),
            (&["IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT"], "Service Fabric"),
        ];
        for (vars, source) in hosts {
            assert_eq!(plan_with(AuthMode::Auto, vars).unwrap(), [Kind::AzureCli], "{source}");
            let error = plan_with(AuthMode::ManagedIdentity, vars).unwrap_err().to_string();
            assert!(error.contains(source) && error.contains("--adx-auth azure-cli"), "{error}");
        }
        assert_eq!(plan_with(AuthMode::ManagedIdentity, &[]).unwrap(), [IMDS]);
    }
}
