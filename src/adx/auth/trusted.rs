//! The hosts a token may be sent to, as Microsoft's Kusto SDKs decide (azure-kusto-python's
//! `KustoTrustedEndpoints` and its `wellKnownKustoEndpoints.json`, see
//! <https://aka.ms/kustotrustedendpoints>): a loopback address, a host under a Kusto suffix or
//! one of the Kusto hostnames of an Azure cloud, or a host `--adx-trusted-hosts` names. A
//! cluster URL mistyped, or pointed at another service, would otherwise be handed a token good
//! for every cluster the identity can read.
//!
//! The SDKs take the lists of the cluster's own cloud, which they learn from its auth metadata
//! at the first query. Here the check runs at start-up, before anything is asked of the host,
//! so the lists of every cloud are taken together.

use std::str::FromStr;

use reqwest::Url;
use url::Host;

/// Host suffixes of Kusto endpoints, in every cloud the SDKs list.
const SUFFIXES: &[&str] = &[
    // The public cloud.
    ".dxp.aad.azure.com",
    ".dxp-dev.aad.azure.com",
    ".kusto.azuresynapse.net",
    ".kusto.windows.net",
    ".kustodev.azuresynapse-dogfood.net",
    ".kustodev.windows.net",
    ".kustomfa.windows.net",
    ".playfabapi.com",
    ".playfab.com",
    ".azureplayfab.com",
    ".kusto.data.microsoft.com",
    ".kusto.fabric.microsoft.com",
    ".api.securityplatform.microsoft.com",
    ".securitycenter.windows.com",
    ".arg-int.core.windows.net",
    ".arg-df.core.windows.net",
    ".arg.core.windows.net",
    // US Government.
    ".kusto.usgovcloudapi.net",
    ".kustomfa.usgovcloudapi.net",
    ".arg.core.usgovcloudapi.net",
    // China.
    ".kusto.azuresynapse.azure.cn",
    ".kusto.chinacloudapi.cn",
    ".kustomfa.chinacloudapi.cn",
    ".playfab.cn",
    ".arg.core.chinacloudapi.cn",
    // The air-gapped and sovereign clouds.
    ".kusto.core.eaglex.ic.gov",
    ".kustomfa.core.eaglex.ic.gov",
    ".arg.core.eaglex.ic.gov",
    ".kusto.core.microsoft.scloud",
    ".kustomfa.core.microsoft.scloud",
    ".arg.core.microsoft.scloud",
    ".kusto.sovcloud-api.fr",
    ".kustomfa.sovcloud-api.fr",
];

/// Hostnames of Kusto endpoints (Application Insights, Log Analytics, Azure Monitor, Aria), in
/// every cloud the SDKs list.
const HOSTNAMES: &[&str] = &[
    "ade.applicationinsights.io",
    "ade.loganalytics.io",
    "adx.aimon.applicationinsights.azure.com",
    "adx.applicationinsights.azure.com",
    "adx.int.applicationinsights.azure.com",
    "adx.int.loganalytics.azure.com",
    "adx.int.monitor.azure.com",
    "adx.loganalytics.azure.com",
    "adx.monitor.azure.com",
    "kusto.aria.microsoft.com",
    "eu.kusto.aria.microsoft.com",
    "api.securityplatform.microsoft.com",
    "adx.applicationinsights.azure.us",
    "adx.loganalytics.azure.us",
    "adx.monitor.azure.us",
    "adx.applicationinsights.azure.cn",
    "adx.loganalytics.azure.cn",
    "adx.monitor.azure.cn",
    "adx.applicationinsights.azure.eaglex.ic.gov",
    "adx.loganalytics.azure.eaglex.ic.gov",
    "adx.monitor.azure.eaglex.ic.gov",
    "adx.applicationinsights.azure.microsoft.scloud",
    "adx.loganalytics.azure.microsoft.scloud",
    "adx.monitor.azure.microsoft.scloud",
    "adx.applicationinsights.azure.fr",
    "adx.loganalytics.azure.fr",
    "adx.monitor.azure.fr",
];

/// Hosts trusted beyond the SDKs' lists (`--adx-trusted-hosts`): `name` alone, or with a
/// leading dot every host under it (`.example.com`), as the SDKs' `add_trusted_hosts` rules;
/// kept lowercase, as the lists are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedHosts(Vec<String>);

impl FromStr for TrustedHosts {
    type Err = String;

    /// A comma-separated list; names are compared without case.
    fn from_str(text: &str) -> Result<Self, String> {
        let mut hosts = Vec::new();
        for entry in text.split(',').map(str::trim).filter(|entry| !entry.is_empty()) {
            let name = entry.strip_prefix('.').unwrap_or(entry);
            let valid = name.split('.').all(|label| {
                !label.is_empty() && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
            if !valid {
                return Err(format!("`{entry}` is not a hostname (or `.suffix`)"));
            }
            hosts.push(entry.to_ascii_lowercase());
        }
        Ok(Self(hosts))
    }
}

/// Whether `host` matches one of `rules`: a rule with a leading dot (a suffix) any host that ends
/// with it after something, another rule (a hostname) that host alone; case aside.
fn matches<'a>(host: &str, rules: impl IntoIterator<Item = &'a str>) -> bool {
    let host = host.to_ascii_lowercase();
    rules.into_iter().any(|rule| match rule.starts_with('.') {
        true => host.len() > rule.len() && host.ends_with(rule),
        false => host == rule,
    })
}

/// The cluster's host when a token must not be sent to it.
pub fn untrusted(cluster: &Url, extra: &TrustedHosts) -> Option<String> {
    let trusted = match cluster.host()? {
        Host::Ipv4(address) => address.is_loopback(),
        Host::Ipv6(address) => address.is_loopback(),
        Host::Domain(name) => {
            let known = SUFFIXES.iter().chain(HOSTNAMES).copied();
            name.eq_ignore_ascii_case("localhost")
                || matches(name, known.chain(extra.0.iter().map(String::as_str)))
        }
    };
    (!trusted).then(|| cluster.host_str().unwrap_or_default().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn untrusted_host(cluster: &str, extra: &str) -> bool {
        untrusted(&cluster.parse().unwrap(), &extra.parse().unwrap()).is_some()
    }

    #[test]
    fn kusto_endpoints_of_every_cloud_and_loopback_are_trusted() {
        for cluster in [
            "https://mycluster.westeurope.kusto.windows.net",
            "https://MyCluster.WestEurope.Kusto.Windows.Net:443/",
            "https://mycluster.kusto.fabric.microsoft.com",
            "https://help.kusto.chinacloudapi.cn",
            "https://c.kusto.usgovcloudapi.net",
            "https://ade.loganalytics.io",
            "https://127.0.0.1:8443",
            "https://[::1]:8443",
            "https://localhost",
        ] {
            assert!(!untrusted_host(cluster, ""), "{cluster}");
        }
    }

    #[test]
    fn other_hosts_are_not_unless_named() {
        for cluster in [
            "https://kusto.windows.net",
            "https://mycluster.westeurope.kusto.windows.net.evil.example",
            "https://evilkusto.windows.net",
            "https://xade.loganalytics.io",
            "https://10.0.0.4",
            "https://adx.mycompany.example",
        ] {
            assert!(untrusted_host(cluster, ""), "{cluster}");
        }
        assert!(!untrusted_host("https://adx.mycompany.example", "ADX.mycompany.example"));
        assert!(!untrusted_host("https://adx.mycompany.example", "other.example, .MyCompany.example"));
        assert!(
            untrusted_host("https://mycompany.example", ".mycompany.example"),
            "a suffix needs a name before it"
        );
        assert!(untrusted_host("https://adx.mycompany.example", "mycompany.example"), "a name is exact");
        assert_eq!(
            untrusted(&"https://a.example:8443".parse().unwrap(), &TrustedHosts::default()).as_deref(),
            Some("a.example")
        );
    }

    #[test]
    fn names_that_are_no_hostnames_are_refused() {
        for text in ["a..b", "a b", "*.example.com", "a/b", "..example.com", "."] {
            assert!(text.parse::<TrustedHosts>().is_err(), "{text}");
        }
        assert_eq!("".parse::<TrustedHosts>().unwrap(), TrustedHosts::default());
    }
}
