//! How a server instance is configured: [`ServerConfig`] (where it keeps
//! its data, where it listens) and [`ConfigFile`], the TOML file of
//! `wayfare-server --config` (see `server/wayfare-server.example.toml`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

use crate::funding::FundingConfig;
use crate::push::PushConfig;
use crate::tls::TlsConfig;

/// The server's TOML file: every section is optional, an unknown key is an
/// error (a typo must not silently turn a feature off).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// `[server]`: what the command-line flags set, for a file-based
    /// deployment (a flag or its environment variable wins over the file).
    #[serde(default)]
    pub server: ServerSection,
    /// `[[funding.providers]]`: the over-the-air top-up providers.
    #[serde(default)]
    pub funding: FundingConfig,
    /// `[push.fcm]`, `[push.apns]`: push to closed apps.
    #[serde(default)]
    pub push: PushConfig,
}

/// The `[server]` section: one key per `wayfare-server` flag, named as the
/// flag with underscores (`--data-dir` is `data_dir`). Each is optional;
/// the flag, then its `WAYFARE_*` environment variable, take precedence.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// Keys, admin token and the default SQLite database.
    pub data_dir: Option<PathBuf>,
    /// Address to listen on.
    pub listen: Option<SocketAddr>,
    /// `sqlite://…` or `postgres://…`.
    pub database_url: Option<String>,
    /// Where guardian alerts are POSTed for SMS/push.
    pub alert_webhook_url: Option<String>,
    /// Where closed days' billing records are POSTed.
    pub billing_url: Option<String>,
    /// The file holding the billing HMAC secret.
    pub billing_secret_file: Option<PathBuf>,
    /// Close each day once it ended at this UTC offset (minutes).
    pub billing_close_utc_offset_minutes: Option<i64>,
    /// PEM certificate chain: serve only HTTPS.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Also serve `/metrics` without the admin token on this address.
    pub metrics_listen: Option<SocketAddr>,
    /// `text` (default) or `json`: one JSON object per log line.
    pub log_format: Option<LogFormat>,
}

/// How the server writes its log lines (to stderr).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line (`timestamp`, `level`, `target`, `fields`),
    /// for a log collector.
    Json,
}

/// Why the TOML file cannot be read.
#[derive(Debug, Error)]
pub enum ConfigFileError {
    /// The file cannot be read.
    #[error("configuration {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML does not parse or has unknown keys.
    #[error("configuration: {0}")]
    Parse(String),
}

impl ConfigFile {
    /// Parses the text of a configuration file.
    pub fn from_toml(text: &str) -> Result<Self, ConfigFileError> {
        toml::from_str(text).map_err(|e| ConfigFileError::Parse(e.to_string()))
    }

    /// Reads and parses the configuration file at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigFileError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text)
    }
}

/// Configuration of one control-center instance.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Directory holding the signing keys, the admin token and (by default)
    /// the SQLite database. Created if missing.
    pub data_dir: PathBuf,
    /// Address to listen on; port 0 picks a free port (see
    /// [`crate::RunningServer::addr`]).
    pub listen: SocketAddr,
    /// Database URL (`sqlite://...` or `postgres://...`). `None` uses the
    /// SQLite file `DATA_DIR/wayfare.db`.
    pub database_url: Option<String>,
    /// Serve HTTPS with this certificate and key; `None` serves plain HTTP
    /// (logged as a warning unless [`ServerConfig::listen`] is loopback).
    pub tls: Option<TlsConfig>,
}

impl ServerConfig {
    /// A configuration with the default SQLite database in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>, listen: SocketAddr) -> Self {
        Self {
            data_dir: data_dir.into(),
            listen,
            database_url: None,
            tls: None,
        }
    }

    /// The same configuration serving HTTPS with `tls`.
    pub fn with_tls(mut self, tls: TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// The database URL actually used.
    pub fn effective_database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("wayfare.db").display()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_examples_server_section_parses_with_every_key_turned_on() {
        let example = include_str!("../wayfare-server.example.toml");
        let start = example.find("[server]").unwrap();
        let end = start + example[start..].find("\n\n").unwrap();
        let on: String = example[start..end]
            .lines()
            .map(|l| match l.strip_prefix("# ") {
                Some(rest) if rest.contains(" = ") => format!("{rest}\n"),
                _ => format!("{l}\n"),
            })
            .collect();
        let section = ConfigFile::from_toml(&on).unwrap().server;
        assert_eq!(section.data_dir, Some(PathBuf::from("/var/lib/wayfare")));
        assert_eq!(section.listen, Some("0.0.0.0:8443".parse().unwrap()));
        assert_eq!(section.billing_close_utc_offset_minutes, Some(480));
        assert!(section.tls_cert.is_some() && section.tls_key.is_some());
        assert!(section.metrics_listen.is_some() && section.alert_webhook_url.is_some());
        assert_eq!(section.log_format, Some(LogFormat::Text));
    }

    #[test]
    fn a_misspelt_or_mistyped_server_key_is_refused_by_name() {
        let err = ConfigFile::from_toml("[server]\nlisten_addr = \"127.0.0.1:1\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("listen_addr"), "{err}");
        let err = ConfigFile::from_toml("[server]\nlog_format = \"yaml\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("yaml"), "{err}");
        let err = ConfigFile::from_toml("[server]\nlisten = \"nowhere\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("listen") || err.contains("socket"), "{err}");
    }
}
