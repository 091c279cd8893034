//! Microsoft Entra tokens for ADX: picks a credential from `--adx-auth` (or, with `auto`, from
//! the environment) and caches the token until shortly before it expires, since not every
//! credential caches (the Azure CLI one runs `az` on each call).

use std::sync::Arc;

use azure_core::credentials::{AccessToken, TokenCredential};
use azure_core::time::{Duration, OffsetDateTime};
use azure_identity::{
    AzureCliCredential, ClientSecretCredential, ManagedIdentityCredential, WorkloadIdentityCredential,
};
use reqwest::header::HeaderValue;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::Mutex;

/// How the service authenticates to ADX.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMode {
    /// Client secret if AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET are set, else
    /// workload identity if AZURE_FEDERATED_TOKEN_FILE is set, else managed identity, falling
    /// back to the Azure CLI when the host has none.
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
const REFRESH_MARGIN: Duration = Duration::minutes(5);

#[derive(Debug, thiserror::Error)]
#[error("cannot get a Microsoft Entra token ({credential}): {message}")]
pub struct AuthError {
    credential: &'static str,
    message: String,
}

type Credential = (&'static str, Arc<dyn TokenCredential>);

/// Credentials to try in order, with the token cache.
pub struct TokenSource {
    chain: Vec<Credential>,
    /// The credential that last produced a token: tried first next time.
    working: AtomicUsize,
    scope: String,
    cached: Mutex<Option<AccessToken>>,
}

impl TokenSource {
    /// `Ok(None)` for [`AuthMode::None`].
    pub fn new(mode: AuthMode, scope: String) -> Result<Option<Self>, AuthError> {
        let chain = match resolve(mode) {
            AuthMode::None => return Ok(None),
            AuthMode::Secret => vec![credential("client secret", secret())?],
            AuthMode::WorkloadIdentity => vec![credential("workload identity", workload_identity())?],
            AuthMode::ManagedIdentity => vec![credential("managed identity", managed_identity())?],
            AuthMode::AzureCli => vec![credential("Azure CLI", azure_cli())?],
            // Nothing in the environment says which: a managed identity if the host has one,
            // else whoever is logged in to the Azure CLI.
            AuthMode::Auto => vec![
                credential("managed identity", managed_identity())?,
                credential("Azure CLI", azure_cli())?,
            ],
        };
        Ok(Some(Self { chain, working: AtomicUsize::new(0), scope, cached: Mutex::new(None) }))
    }

    /// The credentials this source tries, for the start-up log.
    pub fn credential_name(&self) -> String {
        self.chain.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", then ")
    }

    /// `Bearer <token>`, marked sensitive so no logging layer prints it.
    pub async fn authorization(&self) -> Result<HeaderValue, AuthError> {
        let mut cached = self.cached.lock().await;
        let fresh = |t: &AccessToken| t.expires_on - REFRESH_MARGIN > OffsetDateTime::now_utc();
        if !cached.as_ref().is_some_and(fresh) {
            *cached = Some(self.fetch().await?);
        }
        let token = cached.as_ref().expect("filled above");
        let mut value = HeaderValue::try_from(format!("Bearer {}", token.token.secret()))
            .map_err(|_| AuthError { credential: "token", message: "not a valid header value".into() })?;
        value.set_sensitive(true);
        Ok(value)
    }

    /// A new token from the first credential that gives one, starting with the last that did.
    async fn fetch(&self) -> Result<AccessToken, AuthError> {
        let first = self.working.load(Ordering::Relaxed);
        let mut failures = Vec::new();
        for i in (first..self.chain.len()).chain(0..first) {
            let (name, credential) = &self.chain[i];
            match credential.get_token(&[self.scope.as_str()], None).await {
                Ok(token) => {
                    self.working.store(i, Ordering::Relaxed);
                    return Ok(token);
                }
                Err(e) => failures.push(format!("{name}: {e}")),
            }
        }
        let credential = if self.chain.len() == 1 { self.chain[0].0 } else { "every credential" };
        Err(AuthError { credential, message: failures.join("; ") })
    }
}

fn credential(
    name: &'static str,
    made: azure_core::Result<Arc<dyn TokenCredential>>,
) -> Result<Credential, AuthError> {
    made.map(|c| (name, c)).map_err(|e| AuthError { credential: name, message: e.to_string() })
}

fn workload_identity() -> azure_core::Result<Arc<dyn TokenCredential>> {
    WorkloadIdentityCredential::new(None).map(|c| c as Arc<dyn TokenCredential>)
}

fn managed_identity() -> azure_core::Result<Arc<dyn TokenCredential>> {
    ManagedIdentityCredential::new(None).map(|c| c as Arc<dyn TokenCredential>)
}

fn azure_cli() -> azure_core::Result<Arc<dyn TokenCredential>> {
    AzureCliCredential::new(None).map(|c| c as Arc<dyn TokenCredential>)
}

fn resolve(mode: AuthMode) -> AuthMode {
    resolve_from(mode, |k| std::env::var_os(k).is_some_and(|v| !v.is_empty()))
}

/// `auto`'s choice, given which environment variables are set.
fn resolve_from(mode: AuthMode, set: impl Fn(&str) -> bool) -> AuthMode {
    if mode != AuthMode::Auto {
        return mode;
    }
    if ["AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"].iter().all(|k| set(k)) {
        AuthMode::Secret
    } else if set("AZURE_FEDERATED_TOKEN_FILE") {
        AuthMode::WorkloadIdentity
    } else if set("IDENTITY_ENDPOINT") || set("MSI_ENDPOINT") {
        // App Service, Functions and Arc announce their managed identity endpoint.
        AuthMode::ManagedIdentity
    } else {
        AuthMode::Auto
    }
}

fn secret() -> azure_core::Result<Arc<dyn TokenCredential>> {
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    ClientSecretCredential::new(
        &var("AZURE_TENANT_ID"),
        var("AZURE_CLIENT_ID"),
        var("AZURE_CLIENT_SECRET").into(),
        None,
    )
    .map(|c| c as Arc<dyn TokenCredential>)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_sends_no_header() {
        assert!(TokenSource::new(AuthMode::None, DEFAULT_SCOPE.into()).unwrap().is_none());
    }

    #[test]
    fn auto_prefers_a_client_secret_then_workload_identity_then_the_cli() {
        let env = |vars: &[&str]| {
            let set: Vec<&str> = vars.to_vec();
            resolve_from(AuthMode::Auto, |k| set.contains(&k))
        };
        let secret = ["AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"];
        assert_eq!(env(&secret), AuthMode::Secret);
        assert_eq!(env(&[&secret[..], &["AZURE_FEDERATED_TOKEN_FILE"]].concat()), AuthMode::Secret);
        assert_eq!(
            env(&["AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_FEDERATED_TOKEN_FILE"]),
            AuthMode::WorkloadIdentity
        );
        assert_eq!(env(&["IDENTITY_ENDPOINT"]), AuthMode::ManagedIdentity);
        assert_eq!(
            env(&["AZURE_CLIENT_ID"]),
            AuthMode::Auto,
            "managed identity, then the CLI, at token time"
        );
        assert_eq!(resolve_from(AuthMode::None, |_| true), AuthMode::None);
    }
}
