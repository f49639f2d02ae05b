//! The terminal's error type: one enum whose messages tell an operator what
//! to fix.

use std::path::{Path, PathBuf};

use thiserror::Error;
use wayfare_protocol::ProtocolError;

/// Everything that can stop the terminal from starting or from completing an
/// operation requested through its library API.
#[derive(Debug, Error)]
pub enum TerminalError {
    /// The configuration file or values are wrong.
    #[error("configuration error: {0}")]
    Config(String),
    /// A file could not be read or written.
    #[error("{what} {path}: {source}")]
    File {
        /// What was being done, e.g. "cannot read key file".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The terminal key, certificate or pinned keys are unusable.
    #[error("identity error: {0}")]
    Identity(String),
    /// A protocol-level check failed.
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    /// The durable store (sled) failed.
    #[error("storage error: {0}")]
    Store(String),
    /// A network socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// `[ble]` is configured but Bluetooth cannot serve: no such adapter,
    /// no BlueZ or D-Bus, or a build without Bluetooth.
    #[error("Bluetooth unavailable: {0}")]
    BluetoothUnavailable(String),
    /// mDNS advertisement failed.
    #[error("mDNS advertisement failed: {0}")]
    Mdns(String),
    /// The control center answered with an error or could not be reached.
    #[error("control center: {message}")]
    Platform {
        /// HTTP status, if an answer arrived.
        status: Option<u16>,
        /// Whether trying again later may succeed.
        retryable: bool,
        /// What went wrong.
        message: String,
    },
    /// A sale could not be entered.
    #[error("{0}")]
    Sale(#[from] crate::sale::SaleError),
}

impl TerminalError {
    /// For `map_err`: what a failed file operation on `path` becomes,
    /// `what` saying which it was (e.g. "cannot read key file"). Every
    /// file error names its file the same way.
    pub fn file<'a>(
        what: &'static str,
        path: &'a Path,
    ) -> impl Fn(std::io::Error) -> TerminalError + Copy + 'a {
        move |source| TerminalError::File {
            what,
            path: path.to_path_buf(),
            source,
        }
    }
}

impl From<sled::Error> for TerminalError {
    fn from(e: sled::Error) -> Self {
        TerminalError::Store(e.to_string())
    }
}

/// Result alias of this crate.
pub type Result<T, E = TerminalError> = std::result::Result<T, E>;
