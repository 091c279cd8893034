//! Which Microsoft Entra credentials to try, from `--adx-auth` and (with `auto`) the
//! environment, and building them.

use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use azure_identity::{
    AzureCliCredential, ClientSecretCredential, ManagedIdentityCredential, ManagedIdentityCredentialOptions,
    UserAssignedId, WorkloadIdentityCredential,
};

use super::AuthError;

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

/// Where a managed identity is served, as the host announces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ManagedHost {
    /// App Service, Functions, Container Apps: IDENTITY_ENDPOINT and IDENTITY_HEADER.
    AppService,
    /// Nothing announced: the instance metadata service of VMs, scale sets and AKS nodes.
    Imds,
    /// A source azure_identity does not serve (its credential refuses it at construction).
    Unsupported(&'static str),
}

/// One credential of the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
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

/// A credential and its name for logs and messages.
pub(super) type Credential = (&'static str, Arc<dyn TokenCredential>);

/// A set, non-empty environment variable.
pub(super) fn env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.is_empty())
}

/// The credentials `mode` tries, in order, given the environment (`env` answers set,
/// non-empty variables); empty for [`AuthMode::None`].
pub(super) fn plan(mode: AuthMode, env: impl Fn(&str) -> Option<String>) -> Result<Vec<Kind>, AuthError> {
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

/// A new credential of `kind`, with a token cache of its own that starts empty. Reads no
/// more than the environment.
pub(super) fn build(kind: Kind, env: impl Fn(&str) -> Option<String>) -> Result<Credential, AuthError> {
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
