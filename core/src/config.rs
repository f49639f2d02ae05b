//! The wallet configuration given by the app.

use std::path::PathBuf;

use wayfare_protocol::keys::PublicKey;

use crate::error::WalletError;

/// Which network interfaces the core's own mDNS browser uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum MdnsScope {
    /// Loopback only (127.0.0.1): tests and the one-machine demo. Multicast
    /// never leaves the machine.
    Loopback,
    /// Every interface: a real LAN.
    AllInterfaces,
}

/// How to set up a wallet.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct WalletConfig {
    /// A private directory for the wallet database (created if missing).
    pub data_dir: String,
    /// The control center, e.g. `https://cc.example.com` (see docs/api.md).
    pub server_url: String,
    /// The operator's Ed25519 key that issues terminal certificates,
    /// base64url. `None`: fetched from `GET /v1/keys` the first time it is
    /// needed and pinned in the wallet (trust on first use). Apps should
    /// ship it.
    pub operator_key: Option<String>,
    /// The payment server's Ed25519 receipt key, base64url. `None`: fetched
    /// and pinned like `operator_key`.
    pub receipt_key: Option<String>,
    /// Where the core's own mDNS browser looks for terminals.
    pub mdns_scope: MdnsScope,
}

/// A checked configuration.
#[derive(Debug, Clone)]
pub(crate) struct ValidConfig {
    pub data_dir: PathBuf,
    pub server_url: String,
    pub operator_key: Option<PublicKey>,
    pub receipt_key: Option<PublicKey>,
    pub mdns_scope: MdnsScope,
}

fn parse_key(name: &str, value: &Option<String>) -> Result<Option<PublicKey>, WalletError> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => PublicKey::from_base64(text).map(Some).map_err(|e| {
            WalletError::invalid(format!("{name} is not a base64url Ed25519 public key: {e}"))
        }),
    }
}

impl WalletConfig {
    /// Checks the configuration.
    pub(crate) fn validate(&self) -> Result<ValidConfig, WalletError> {
        if self.data_dir.trim().is_empty() {
            return Err(WalletError::invalid("data_dir is empty"));
        }
        wayfare_protocol::transport::check_server_url(&self.server_url)
            .map_err(|e| WalletError::invalid(format!("server_url: {e}")))?;
        Ok(ValidConfig {
            data_dir: PathBuf::from(&self.data_dir),
            server_url: self.server_url.trim().to_string(),
            operator_key: parse_key("operator_key", &self.operator_key)?,
            receipt_key: parse_key("receipt_key", &self.receipt_key)?,
            mdns_scope: self.mdns_scope,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wayfare_protocol::keys::SigningKey;

    fn config() -> WalletConfig {
        WalletConfig {
            data_dir: "/tmp/x".into(),
            server_url: "http://127.0.0.1:1".into(),
            operator_key: None,
            receipt_key: None,
            mdns_scope: MdnsScope::Loopback,
        }
    }

    /// Issue 8.3: keys are pinned on first use, so the control center is
    /// reached over HTTPS; plain http only to loopback.
    #[test]
    fn plain_http_to_another_machine_is_refused() {
        let mut c = config();
        c.server_url = "http://cc.example.com".into();
        let err = c.validate().unwrap_err();
        assert!(err.to_string().contains("https://"), "{err}");
        c.server_url = "https://cc.example.com".into();
        assert!(c.validate().is_ok());
        c.server_url = "http://localhost:8080".into();
        assert!(c.validate().is_ok());
    }

    #[test]
    fn keys_are_parsed_and_bad_input_is_refused() {
        let key = SigningKey::generate().unwrap().public_key();
        let mut c = config();
        c.operator_key = Some(key.to_base64());
        assert_eq!(c.validate().unwrap().operator_key, Some(key));
        c.receipt_key = Some("nope".into());
        assert!(matches!(
            c.validate(),
            Err(WalletError::InvalidInput { .. })
        ));
        let mut c = config();
        c.data_dir = " ".into();
        assert!(c.validate().is_err());
    }
}
