//! How the operator configures push: the `[push.fcm]` and `[push.apns]`
//! sections of the server's TOML file (`wayfare-server --config`), resolved
//! at start into [`PushGateways`] (key files read and checked, URLs
//! checked), so a mistake stops the server instead of losing the first
//! alert. Endpoints default to Google's and Apple's; tests point them at
//! loopback stand-ins and add their CA with `extra_root_ca_file`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;

use super::{ApnsGateway, FcmGateway, PushGateways};

/// Each request to a push service (and to Google's token endpoint) is
/// bounded by this.
pub(super) const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Why the push configuration cannot be used; the server refuses to start.
#[derive(Debug, Error)]
pub enum PushConfigError {
    /// A file named in the configuration cannot be read.
    #[error("push configuration: cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A setting is wrong; the message names it and says how to fix it.
    #[error("push configuration [push.{section}]: {reason}")]
    Invalid {
        /// `fcm` or `apns`.
        section: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// `[push]`: the push services to use; neither by default.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushConfig {
    /// Firebase Cloud Messaging (Android).
    #[serde(default)]
    pub fcm: Option<FcmConfig>,
    /// Apple Push Notification service (iOS).
    #[serde(default)]
    pub apns: Option<ApnsConfig>,
}

/// `[push.fcm]`: Firebase Cloud Messaging through the HTTP v1 API.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FcmConfig {
    /// The service account's JSON key file from the Firebase console
    /// (`project_id`, `client_email`, `private_key`, `token_uri`).
    pub service_account_file: PathBuf,
    /// The FCM API base URL (default `https://fcm.googleapis.com`).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The OAuth 2.0 token endpoint, instead of the file's `token_uri`.
    #[serde(default)]
    pub token_uri: Option<String>,
    /// A PEM file of CA certificates trusted besides the system's roots.
    #[serde(default)]
    pub extra_root_ca_file: Option<PathBuf>,
}

/// `[push.apns]`: the Apple Push Notification service with token-based
/// authentication (a `.p8` key from the Apple developer account).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApnsConfig {
    /// The `.p8` key file (PKCS#8 PEM, P-256).
    pub key_file: PathBuf,
    /// The key's id (10 characters, shown with the key).
    pub key_id: String,
    /// The developer team id (10 characters).
    pub team_id: String,
    /// The app's bundle id (the `apns-topic`).
    pub topic: String,
    /// The APNs base URL (default `https://api.push.apple.com`; use
    /// `https://api.sandbox.push.apple.com` for development builds).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// A PEM file of CA certificates trusted besides the system's roots.
    #[serde(default)]
    pub extra_root_ca_file: Option<PathBuf>,
}

impl PushConfig {
    /// Reads the key files and builds the adapters.
    pub fn resolve(&self) -> Result<PushGateways, PushConfigError> {
        let mut gateways = PushGateways::default();
        if let Some(fcm) = &self.fcm {
            gateways = gateways.with_fcm(Arc::new(FcmGateway::from_config(fcm)?));
        }
        if let Some(apns) = &self.apns {
            gateways = gateways.with_apns(Arc::new(ApnsGateway::from_config(apns)?));
        }
        Ok(gateways)
    }
}

/// Reads a file named in the configuration.
pub(super) fn read(path: &Path) -> Result<Vec<u8>, PushConfigError> {
    std::fs::read(path).map_err(|source| PushConfigError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// A base URL: https, or http to a loopback address only (stand-ins in
/// tests); no trailing slash.
pub(super) fn base_url(
    section: &'static str,
    what: &str,
    url: &str,
) -> Result<String, PushConfigError> {
    let invalid = |reason: String| PushConfigError::Invalid { section, reason };
    let parsed = reqwest::Url::parse(url).map_err(|e| invalid(format!("{what} {url:?}: {e}")))?;
    let host = parsed.host_str().unwrap_or_default();
    let loopback = host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err(invalid(format!("{what} {url:?} must be an https:// URL"))),
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// An HTTP client for one push service: the system's roots plus the
/// configured extra CA, HTTP/2 only when `http2_only` (APNs).
pub(super) fn client(
    section: &'static str,
    extra_root_ca_file: Option<&Path>,
    http2_only: bool,
) -> Result<reqwest::Client, PushConfigError> {
    // reqwest is built without a default rustls provider; install ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("wayfare-server/", env!("CARGO_PKG_VERSION")));
    if http2_only {
        builder = builder.http2_prior_knowledge();
    }
    if let Some(path) = extra_root_ca_file {
        let pem = read(path)?;
        let certs =
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| PushConfigError::Invalid {
                section,
                reason: format!("extra_root_ca_file {}: {e}", path.display()),
            })?;
        if certs.is_empty() {
            return Err(PushConfigError::Invalid {
                section,
                reason: format!("extra_root_ca_file {} holds no certificate", path.display()),
            });
        }
        builder = builder.tls_certs_merge(certs);
    }
    builder.build().map_err(|e| PushConfigError::Invalid {
        section,
        reason: format!("HTTP client: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_https_or_loopback_http() {
        assert_eq!(
            base_url("fcm", "endpoint", "https://fcm.googleapis.com/").unwrap(),
            "https://fcm.googleapis.com"
        );
        assert!(base_url("fcm", "endpoint", "http://127.0.0.1:9/").is_ok());
        assert!(base_url("fcm", "endpoint", "http://[::1]:9").is_ok());
        for bad in ["http://fcm.example", "ftp://127.0.0.1", "nonsense"] {
            assert!(base_url("fcm", "endpoint", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_toml_sections_parse_and_refuse_unknown_keys() {
        let c: PushConfig = toml::from_str(
            "[fcm]\nservice_account_file = \"/k.json\"\n\
             [apns]\nkey_file = \"/k.p8\"\nkey_id = \"ABC123DEFG\"\nteam_id = \"DEF123GHIJ\"\ntopic = \"app.wayfare\"\n",
        )
        .unwrap();
        assert!(c.fcm.is_some() && c.apns.is_some());
        assert!(toml::from_str::<PushConfig>("[fcm]\nservice_acount_file = \"x\"").is_err());
    }

    #[test]
    fn the_shipped_example_parses_once_turned_on() {
        // Its push lines are commented out with "# " (prose with "## ").
        let example = include_str!("../../wayfare-server.example.toml");
        let (funding, push) = example.split_at(example.find("## Push to closed apps").unwrap());
        let on: String = push
            .lines()
            .map(|l| {
                l.strip_prefix("# ")
                    .filter(|_| !l.starts_with("## "))
                    .unwrap_or(l)
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let file = crate::ConfigFile::from_toml(&format!("{funding}{on}")).unwrap();
        let apns = file.push.apns.unwrap();
        assert_eq!(
            apns.endpoint.as_deref(),
            Some("https://api.sandbox.push.apple.com")
        );
        assert!(file.push.fcm.is_some());
        assert_eq!(file.funding.providers.len(), 2);
    }
}
