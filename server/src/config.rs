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
    /// `[[funding.providers]]`: the over-the-air top-up providers.
    #[serde(default)]
    pub funding: FundingConfig,
    /// `[push.fcm]`, `[push.apns]`: push to closed apps.
    #[serde(default)]
    pub push: PushConfig,
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
