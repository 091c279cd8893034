//! Microsoft Entra tokens for ADX: picks a credential from `--adx-auth` (or, with `auto`, from
//! the environment) and caches the token until shortly before it expires, since not every
//! credential caches (the Azure CLI one runs `az` on each call).
//!
//! A token is fetched by one background refresh at a time, shared by every request that needs
//! it; each credential attempt is bounded, a request waits for the refresh no longer than its
//! own budget, and a token that is about to expire keeps being served while the refresh runs,
//! so a slow credential never stalls requests that hold a usable token.

mod chain;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use azure_core::credentials::AccessToken;
use azure_core::time::{self, OffsetDateTime};
use reqwest::header::HeaderValue;
use tokio::sync::watch;

pub use chain::AuthMode;
use chain::Credential;

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
        let plan = chain::plan(mode, chain::env)?;
        if plan.is_empty() {
            return Ok(None);
        }
        let chain = plan.into_iter().map(|kind| chain::build(kind, chain::env)).collect::<Result<_, _>>()?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use azure_core::credentials::TokenCredential;

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
}
