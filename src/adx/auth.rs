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
use tokio::sync::Mutex;

/// How the service authenticates to ADX.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMode {
    /// Client secret if AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET are set, else
    /// workload identity if AZURE_FEDERATED_TOKEN_FILE is set, else managed identity if the
    /// host offers one, else the Azure CLI.
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

/// A credential with its token cache.
pub struct TokenSource {
    name: &'static str,
    credential: Arc<dyn TokenCredential>,
    scope: String,
    cached: Mutex<Option<AccessToken>>,
}

impl TokenSource {
    /// `Ok(None)` for [`AuthMode::None`].
    pub fn new(mode: AuthMode, scope: String) -> Result<Option<Self>, AuthError> {
        let (name, credential) = match resolve(mode) {
            AuthMode::None => return Ok(None),
            AuthMode::Secret => ("client secret", secret()),
            AuthMode::WorkloadIdentity => (
                "workload identity",
                WorkloadIdentityCredential::new(None).map(|c| c as Arc<dyn TokenCredential>),
            ),
            AuthMode::ManagedIdentity => (
                "managed identity",
                ManagedIdentityCredential::new(None).map(|c| c as Arc<dyn TokenCredential>),
            ),
            AuthMode::AzureCli | AuthMode::Auto => {
                ("Azure CLI", AzureCliCredential::new(None).map(|c| c as Arc<dyn TokenCredential>))
            }
        };
        let credential = credential.map_err(|e| AuthError { credential: name, message: e.to_string() })?;
        Ok(Some(Self { name, credential, scope, cached: Mutex::new(None) }))
    }

    pub fn credential_name(&self) -> &'static str {
        self.name
    }

    /// `Bearer <token>`, marked sensitive so no logging layer prints it.
    pub async fn authorization(&self) -> Result<HeaderValue, AuthError> {
        let mut cached = self.cached.lock().await;
        let fresh = |t: &AccessToken| t.expires_on - REFRESH_MARGIN > OffsetDateTime::now_utc();
        if !cached.as_ref().is_some_and(fresh) {
            let token = self
                .credential
                .get_token(&[self.scope.as_str()], None)
                .await
                .map_err(|e| AuthError { credential: self.name, message: e.to_string() })?;
            *cached = Some(token);
        }
        let token = cached.as_ref().expect("filled above");
        let mut value = HeaderValue::try_from(format!("Bearer {}", token.token.secret())).map_err(|_| {
            AuthError { credential: self.name, message: "token is not a valid header value".into() }
        })?;
        value.set_sensitive(true);
        Ok(value)
    }
}

fn resolve(mode: AuthMode) -> AuthMode {
    if mode != AuthMode::Auto {
        return mode;
    }
    let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    if ["AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"].iter().all(|k| set(k)) {
        AuthMode::Secret
    } else if set("AZURE_FEDERATED_TOKEN_FILE") {
        AuthMode::WorkloadIdentity
    } else if set("IDENTITY_ENDPOINT") || set("MSI_ENDPOINT") || set("AZURE_POD_IDENTITY_AUTHORITY_HOST") {
        // App Service, Functions, Arc and AKS pod identity announce their endpoint; a VM's
        // IMDS cannot be detected without a network probe, so ask for it explicitly there.
        AuthMode::ManagedIdentity
    } else {
        AuthMode::AzureCli
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
    fn secret_mode_without_variables_is_a_clear_error_not_a_panic() {
        // SAFETY-free: only reads the environment; CI does not set these variables.
        if std::env::var_os("AZURE_CLIENT_SECRET").is_some() {
            return;
        }
        let err = TokenSource::new(AuthMode::Secret, DEFAULT_SCOPE.into()).err().expect("must fail");
        assert!(err.to_string().contains("client secret"), "{err}");
    }
}
