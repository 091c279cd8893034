//! Microsoft Entra tokens for ADX: picks a credential from `--adx-auth` (or, with `auto`, from
//! the environment) and caches the token until shortly before it expires, since not every
//! credential caches (the Azure CLI one runs `az` on each call).
//!
//! A token is fetched by one background refresh at a time, shared by every request that needs
//! it; each credential attempt is bounded, a request waits for the refresh no longer than its
//! own budget, and a token that is about to expire keeps being served while the refresh runs,
//! so a slow credential never stalls requests that hold a usable token. After a refresh fails,
//! no other starts for a pause (growing with each failure in a row, jittered): requests that
//! need a token meanwhile get that failure at once.
//!
//! A token goes only to an `https` cluster that is a Kusto endpoint (the `trusted` module), for
//! the scope `--adx-scope` names or, without it, the one the cluster's auth metadata names (the
//! `cloud` module), read by the first refresh (a refresh that cannot read it fails as one whose
//! credentials fail). A token the cluster refuses ([`TokenSource::reject`]) is forgotten, and
//! the credentials are built afresh so that their own caches do not hand it back.

mod chain;
mod cloud;
#[cfg(test)]
mod tests;
mod trusted;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use azure_core::credentials::AccessToken;
use azure_core::time::{self, OffsetDateTime};
use reqwest::Url;
use reqwest::header::HeaderValue;
use tokio::sync::watch;
use tokio::time::Instant;

pub use chain::AuthMode;
use chain::Credential;
pub use trusted::TrustedHosts;

/// Refresh this long before expiry so a token never lapses mid-request.
const REFRESH_MARGIN: time::Duration = time::Duration::minutes(5);
/// A token this close to expiry is not sent at all: the request waits for the refresh.
const USABLE_MARGIN: time::Duration = time::Duration::seconds(30);
/// The longest one credential may take to answer. The IMDS probe alone would retry for 72 s
/// on a host without a managed identity; a real one answers within milliseconds.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// The pause after a failed refresh: between half and all of this, doubling with each
/// failure in a row up to [`LONGEST_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_secs(2);
const LONGEST_PAUSE: Duration = Duration::from_secs(30);
/// A token fetched to replace a refused one, and refused too sooner than this after it was
/// fetched, is kept: the cluster refuses new tokens (a wrong scope, an identity without
/// access), and fetching one for every refused query would flood the identity endpoint.
const REFUSED_TOO_SOON: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AuthError {
    #[error("cannot get a Microsoft Entra token ({credential}): {message}")]
    Failed { credential: &'static str, message: String },
    /// The request's budget ran out while the refresh goes on.
    #[error("no Microsoft Entra token within {waited:?} ({trying} still trying)")]
    Timeout { waited: Duration, trying: String },
}

/// Why there can be no token source for a cluster.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(
        "--adx-cluster is {scheme}://, and a Microsoft Entra token is only ever sent over https: \
         use the cluster's https:// URL, or --adx-auth none for a local engine that needs no token"
    )]
    NotHttps { scheme: String },
    #[error(
        "--adx-cluster's host {host} is not a known Kusto endpoint, and a Microsoft Entra token is \
         sent only to one (https://aka.ms/kustotrustedendpoints): --adx-trusted-hosts {host} \
         trusts it, or --adx-auth none for an engine that needs no token"
    )]
    Untrusted { host: String },
    #[error(transparent)]
    Auth(#[from] AuthError),
}

/// Builds the credentials to try, in order, afresh: their own token caches start empty.
type Make = Box<dyn Fn() -> Result<Vec<Credential>, AuthError> + Send + Sync>;

/// Credentials to try in order, with the shared token.
pub struct TokenSource {
    inner: Arc<Inner>,
}

struct Inner {
    make: Make,
    /// The credentials' names, for messages.
    names: String,
    /// The credential that last produced a token: tried first next time.
    working: AtomicUsize,
    scope: cloud::Scope,
    state: Mutex<State>,
}

/// What a refresh ends with, as every request waiting for it sees it.
type Outcome = Option<Result<HeaderValue, AuthError>>;

struct State {
    chain: Arc<[Credential]>,
    token: Option<Held>,
    /// The refresh in flight, if any.
    refreshing: Option<watch::Receiver<Outcome>>,
    /// The last refresh failed: none starts again before its pause ends.
    failed: Option<Failed>,
    /// The credential that gave the last token, to log each change once.
    announced: Option<&'static str>,
    /// The cluster refused the last token: the next one replaces it.
    refused: bool,
}

/// The cached token.
struct Held {
    /// `Bearer <token>`, marked sensitive.
    header: HeaderValue,
    expires_on: OffsetDateTime,
    fetched: Instant,
    /// Fetched after the cluster refused its predecessor.
    replacement: bool,
    /// Whether its refusal has been logged (a replacement refused too soon is kept).
    refusal_logged: bool,
}

struct Failed {
    error: AuthError,
    until: Instant,
    in_a_row: u32,
}

impl TokenSource {
    /// The tokens for `cluster`: `Ok(None)` for [`AuthMode::None`], else an error unless the
    /// cluster is `https` and a Kusto endpoint (the `trusted` module, or a host `trusted`
    /// names). The scope is `scope` when given, else read from the cluster's auth metadata by
    /// the first refresh. Starts fetching a first token at once, so that the start-up log says
    /// which credential works.
    pub fn for_cluster(
        mode: AuthMode,
        cluster: &Url,
        scope: Option<String>,
        trusted: &TrustedHosts,
    ) -> Result<Option<Self>, SourceError> {
        let kinds = chain::plan(mode, chain::env)?;
        if kinds.is_empty() {
            return Ok(None);
        }
        if cluster.scheme() != "https" {
            return Err(SourceError::NotHttps { scheme: cluster.scheme().to_owned() });
        }
        if let Some(host) = trusted::untrusted(cluster, trusted) {
            return Err(SourceError::Untrusted { host });
        }
        let make: Make = Box::new(move || kinds.iter().map(|&kind| chain::build(kind, chain::env)).collect());
        let credentials = make()?;
        let scope = scope.map_or_else(|| cloud::Scope::of(cluster), cloud::Scope::given);
        let source = Self::from_credentials(make, credentials, scope);
        drop(source.inner.refresh(&mut source.inner.state(), ATTEMPT_TIMEOUT));
        Ok(Some(source))
    }

    fn from_credentials(make: Make, credentials: Vec<Credential>, scope: cloud::Scope) -> Self {
        let names = credentials.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", then ");
        let chain = credentials.into();
        let state =
            State { chain, token: None, refreshing: None, failed: None, announced: None, refused: false };
        let inner = Inner { make, names, working: AtomicUsize::new(0), scope, state: Mutex::new(state) };
        Self { inner: Arc::new(inner) }
    }

    /// The credentials this source tries, for the start-up log.
    pub fn credential_name(&self) -> String {
        self.inner.names.clone()
    }

    /// `Bearer <token>`, marked sensitive so no logging layer prints it. Waits at most `wait`
    /// (what is left of the request's budget); a refresh this starts gives each credential
    /// at most a few seconds, and never more than the request `budget`. During the pause after
    /// a failed refresh, a request without a usable token gets that failure at once.
    pub async fn authorization(&self, budget: Duration, wait: Duration) -> Result<HeaderValue, AuthError> {
        let attempt_timeout = ATTEMPT_TIMEOUT.min(budget);
        let mut refresh = {
            let mut state = self.inner.state();
            let now = OffsetDateTime::now_utc();
            let usable = state.token.as_ref().filter(|t| t.expires_on - USABLE_MARGIN > now);
            match usable.map(|t| (t.header.clone(), t.expires_on)) {
                Some((header, expires_on)) => {
                    if expires_on - REFRESH_MARGIN <= now {
                        // Within a failure's pause no refresh starts: the token still serves.
                        drop(self.inner.refresh(&mut state, attempt_timeout));
                    }
                    return Ok(header);
                }
                None => self.inner.refresh(&mut state, attempt_timeout)?,
            }
        };
        let waited = tokio::time::timeout(wait, refresh.wait_for(Option::is_some))
            .await
            .map_err(|_| AuthError::Timeout { waited: wait, trying: self.credential_name() })?;
        match waited.as_deref() {
            Ok(Some(outcome)) => outcome.clone(),
            _ => Err(AuthError::Failed {
                credential: "token",
                message: "the token refresh ended unanswered".into(),
            }),
        }
    }

    /// The cluster refused `authorization` (HTTP 401). If it is still the cached token, it is
    /// forgotten and the credentials are built afresh, so the next [`authorization`] fetches a
    /// new one; unless it is itself the replacement of a refused token, fetched moments ago:
    /// then the cluster refuses new tokens too, and it is kept. A value that is no longer the
    /// cached one changes nothing.
    ///
    /// [`authorization`]: Self::authorization
    pub fn reject(&self, authorization: &HeaderValue) {
        let mut state = self.inner.state();
        let Some(token) = state.token.as_mut().filter(|t| t.header == *authorization) else { return };
        let age = token.fetched.elapsed();
        if token.replacement && age < REFUSED_TOO_SOON {
            if !std::mem::replace(&mut token.refusal_logged, true) {
                tracing::warn!(
                    ?age,
                    "ADX refuses new tokens too; keeping this one rather than fetching one per query: \
                     check --adx-scope and the identity's access to the database"
                );
            }
            return;
        }
        state.token = None;
        state.refused = true;
        match (self.inner.make)() {
            Ok(credentials) => state.chain = credentials.into(),
            Err(e) => tracing::warn!("cannot build the credentials afresh, keeping them: {e}"),
        }
        tracing::info!("ADX refused the token; the next query fetches a new one");
    }
}

impl Inner {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The refresh in flight, or a new one started in the background; the last failure
    /// instead while its pause lasts.
    fn refresh(
        self: &Arc<Self>,
        state: &mut State,
        attempt_timeout: Duration,
    ) -> Result<watch::Receiver<Outcome>, AuthError> {
        if let Some(refreshing) = &state.refreshing {
            return Ok(refreshing.clone());
        }
        if let Some(failed) = state.failed.as_ref().filter(|f| Instant::now() < f.until) {
            return Err(failed.error.clone());
        }
        let (tx, rx) = watch::channel(None);
        state.refreshing = Some(rx.clone());
        let (inner, chain) = (Arc::clone(self), Arc::clone(&state.chain));
        tokio::spawn(async move {
            let fetched = inner.fetch(&chain, attempt_timeout).await;
            tx.send_replace(Some(inner.settle(fetched)));
        });
        Ok(rx)
    }

    /// Records what a refresh ended with: the new token, or the failure and its pause.
    fn settle(
        &self,
        fetched: Result<(&'static str, AccessToken), AuthError>,
    ) -> Result<HeaderValue, AuthError> {
        let fetched = fetched.and_then(|(name, token)| Ok((name, header(&token)?, token.expires_on)));
        let mut state = self.state();
        state.refreshing = None;
        match fetched {
            Ok((name, header, expires_on)) => {
                let recovered = state.failed.take().is_some();
                if state.announced.replace(name) != Some(name) || recovered {
                    tracing::info!(credential = name, "ADX token obtained");
                }
                let (fetched, replacement) = (Instant::now(), std::mem::take(&mut state.refused));
                let held =
                    Held { header: header.clone(), expires_on, fetched, replacement, refusal_logged: false };
                state.token = Some(held);
                Ok(header)
            }
            Err(error) => {
                let previous = state.failed.take();
                let in_a_row = previous.as_ref().map_or(0, |f| f.in_a_row) + 1;
                let pause = pause(in_a_row);
                if previous.is_none_or(|f| f.error != error) {
                    tracing::warn!(?pause, "{error}");
                } else {
                    tracing::debug!(in_a_row, ?pause, "{error}");
                }
                state.failed = Some(Failed { error: error.clone(), until: Instant::now() + pause, in_a_row });
                Err(error)
            }
        }
    }

    /// A new token from the first credential that gives one, starting with the last that did;
    /// each attempt bounded by `attempt_timeout`.
    async fn fetch(
        &self,
        chain: &[Credential],
        attempt_timeout: Duration,
    ) -> Result<(&'static str, AccessToken), AuthError> {
        let first = self.working.load(Ordering::Relaxed).min(chain.len() - 1);
        let mut failures = Vec::new();
        let scopes = [self.scope.get().await?];
        for i in (first..chain.len()).chain(0..first) {
            let (name, credential) = &chain[i];
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
        let credential = if chain.len() == 1 { chain[0].0 } else { "every credential" };
        Err(AuthError::Failed { credential, message: failures.join("; ") })
    }
}

/// The pause after the `in_a_row`-th failed refresh in a row (from 1): half to all of a step
/// that doubles from [`FIRST_PAUSE`] up to [`LONGEST_PAUSE`], so replicas spread out.
fn pause(in_a_row: u32) -> Duration {
    crate::backoff::Backoff::new(FIRST_PAUSE, LONGEST_PAUSE).pause(in_a_row)
}

fn header(token: &AccessToken) -> Result<HeaderValue, AuthError> {
    let mut value = HeaderValue::try_from(format!("Bearer {}", token.token.secret()))
        .map_err(|_| AuthError::Failed { credential: "token", message: "not a valid header value".into() })?;
    value.set_sensitive(true);
    Ok(value)
}
