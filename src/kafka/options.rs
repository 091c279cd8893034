//! `--kafka-option KEY=VALUE`: the security settings, spelled as librdkafka (and so every
//! Kafka tool an operator already has a config for) spells them, mapped onto the client's
//! SASL and TLS settings. Anything the client cannot honour is refused at start-up rather
//! than silently ignored.

use std::path::Path;
use std::sync::Arc;

use rskafka::client::{ClientBuilder, Credentials, SaslConfig};

use super::KafkaError;

/// The keys understood, for the error that names an unknown one.
const KEYS: &str = "security.protocol, sasl.mechanism, sasl.username, sasl.password, ssl.ca.location";

/// How the consumer talks to the brokers.
#[derive(Clone, Default)]
pub struct Security {
    sasl: Option<SaslConfig>,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl std::fmt::Debug for Security {
    // Never the credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Security")
            .field("sasl", &self.sasl.is_some())
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

#[derive(Default)]
struct Raw {
    protocol: Option<String>,
    mechanism: Option<String>,
    username: Option<String>,
    password: Option<String>,
    ca: Option<String>,
}

impl Security {
    /// Reads the `KEY=VALUE` options.
    pub fn parse(options: &[String]) -> Result<Self, KafkaError> {
        let raw = raw(options)?;
        let protocol = raw.protocol.as_deref().unwrap_or("PLAINTEXT").to_ascii_uppercase();
        let (sasl, tls) = match protocol.as_str() {
            "PLAINTEXT" => (false, false),
            "SSL" => (false, true),
            "SASL_PLAINTEXT" => (true, false),
            "SASL_SSL" => (true, true),
            other => {
                return Err(option(format!(
                    "security.protocol `{other}` is not PLAINTEXT, SSL, SASL_PLAINTEXT nor SASL_SSL"
                )));
            }
        };
        let sasl_keys = raw.mechanism.is_some() || raw.username.is_some() || raw.password.is_some();
        if sasl_keys && !sasl {
            return Err(option(format!(
                "sasl.* settings need security.protocol SASL_PLAINTEXT or SASL_SSL, not {protocol}"
            )));
        }
        if raw.ca.is_some() && !tls {
            return Err(option(format!(
                "ssl.ca.location needs security.protocol SSL or SASL_SSL, not {protocol}"
            )));
        }
        Ok(Self {
            sasl: sasl.then(|| sasl_config(&raw)).transpose()?,
            tls: tls.then(|| tls_config(raw.ca.as_deref().map(Path::new))).transpose()?,
        })
    }

    /// The client builder with these settings.
    pub fn apply(&self, mut builder: ClientBuilder) -> ClientBuilder {
        if let Some(sasl) = &self.sasl {
            builder = builder.sasl_config(sasl.clone());
        }
        if let Some(tls) = &self.tls {
            builder = builder.tls_config(tls.clone());
        }
        builder
    }
}

fn option(message: String) -> KafkaError {
    KafkaError::Option(message)
}

fn raw(options: &[String]) -> Result<Raw, KafkaError> {
    let mut raw = Raw::default();
    for kv in options {
        let (key, value) =
            kv.split_once('=').ok_or_else(|| option(format!("`{}` is not KEY=VALUE", key_only(kv))))?;
        let slot = match key.trim() {
            "security.protocol" => &mut raw.protocol,
            "sasl.mechanism" | "sasl.mechanisms" => &mut raw.mechanism,
            "sasl.username" => &mut raw.username,
            "sasl.password" => &mut raw.password,
            "ssl.ca.location" => &mut raw.ca,
            other => {
                return Err(option(format!("unknown setting `{other}`: the consumer understands {KEYS}")));
            }
        };
        *slot = Some(value.to_owned());
    }
    Ok(raw)
}

/// What of a malformed option may be shown: never a value, which may be a secret.
fn key_only(kv: &str) -> String {
    kv.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '.').take(40).collect()
}

fn sasl_config(raw: &Raw) -> Result<SaslConfig, KafkaError> {
    let (Some(username), Some(password)) = (&raw.username, &raw.password) else {
        return Err(option("SASL needs sasl.username and sasl.password".into()));
    };
    let credentials = Credentials::new(username.clone(), password.clone());
    match raw.mechanism.as_deref().unwrap_or("PLAIN").to_ascii_uppercase().as_str() {
        "PLAIN" => Ok(SaslConfig::Plain(credentials)),
        "SCRAM-SHA-256" => Ok(SaslConfig::ScramSha256(credentials)),
        "SCRAM-SHA-512" => Ok(SaslConfig::ScramSha512(credentials)),
        other => {
            Err(option(format!("sasl.mechanism `{other}` is not PLAIN, SCRAM-SHA-256 nor SCRAM-SHA-512")))
        }
    }
}

/// TLS that trusts the system's roots, and the PEM file `ca` when given.
fn tls_config(ca: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, KafkaError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some(ca) = ca {
        let unreadable = |e: &dyn std::fmt::Display| option(format!("ssl.ca.location {}: {e}", ca.display()));
        let certs: Vec<CertificateDer> = CertificateDer::pem_file_iter(ca)
            .map_err(|e| unreadable(&e))?
            .collect::<Result<_, _>>()
            .map_err(|e| unreadable(&e))?;
        if certs.is_empty() {
            return Err(unreadable(&"no PEM certificate in the file"));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| unreadable(&e))?;
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| option(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(options: &[&str]) -> Result<Security, String> {
        Security::parse(&options.iter().map(|s| s.to_string()).collect::<Vec<_>>()).map_err(|e| e.to_string())
    }

    #[test]
    fn plaintext_by_default() {
        let security = parse(&[]).unwrap();
        assert!(security.sasl.is_none() && security.tls.is_none());
    }

    #[test]
    fn sasl_ssl_with_scram() {
        let security = parse(&[
            "security.protocol=sasl_ssl",
            "sasl.mechanism=SCRAM-SHA-512",
            "sasl.username=u",
            "sasl.password=p=with=equals",
        ])
        .unwrap();
        assert!(matches!(&security.sasl, Some(SaslConfig::ScramSha512(c)) if c.password == "p=with=equals"));
        assert!(security.tls.is_some());
    }

    #[test]
    fn refuses_what_it_cannot_honour_without_echoing_values() {
        let unknown = parse(&["ssl.keystore.password=hunter2"]).unwrap_err();
        assert!(unknown.contains("ssl.keystore.password") && !unknown.contains("hunter2"), "{unknown}");
        assert!(parse(&["sasl.username=u"]).unwrap_err().contains("SASL_PLAINTEXT"));
        assert!(
            parse(&["security.protocol=SASL_PLAINTEXT", "sasl.username=u"])
                .unwrap_err()
                .contains("sasl.password")
        );
        assert!(
            parse(&["security.protocol=SSL", "ssl.ca.location=/nonexistent.pem"])
                .unwrap_err()
                .contains("/nonexistent.pem")
        );
        let malformed = parse(&["sasl.password"]).unwrap_err();
        assert!(malformed.contains("KEY=VALUE"), "{malformed}");
        assert!(parse(&["security.protocol=KERBEROS"]).unwrap_err().contains("KERBEROS"));
    }
}
