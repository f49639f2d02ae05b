//! How a server instance is configured.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::tls::TlsConfig;

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
