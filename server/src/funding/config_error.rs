//! Why a funding configuration cannot be used: its own file, so that the
//! server's error type can name it without depending on the funding area.

use thiserror::Error;

/// Why the funding configuration cannot be used.
#[derive(Debug, Error)]
pub enum FundingConfigError {
    /// The file cannot be read.
    #[error("funding configuration {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML does not parse or has unknown keys.
    #[error("funding configuration: {0}")]
    Parse(String),
    /// A provider's settings are wrong; the message names the provider.
    #[error("funding provider {id:?}: {reason}")]
    Provider {
        /// The provider id.
        id: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
}
