//! HTTPS for the control center: the certificate chain and private key are
//! read from PEM files named in [`crate::ServerConfig::tls`], checked at
//! start, and the listener then speaks only TLS (rustls on ring, HTTP/1.1).
//!
//! [`TlsListener`] is an [`axum::serve::Listener`], so HTTPS goes through
//! the same `axum::serve` loop and graceful shutdown as plain HTTP. TLS
//! handshakes run in their own tasks with a deadline, so a client that
//! connects and says nothing never holds up anyone else's connection.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::crypto::ring::default_provider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use thiserror::Error;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// Longest time a client may take to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshaken connections waiting for the HTTP server to take them.
const ACCEPTED_QUEUE: usize = 64;
/// Pause after an accept error that is not about one connection (e.g. out
/// of file descriptors), as `axum::serve` does for plain TCP.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_secs(1);

/// Where the server's TLS certificate and private key are (PEM files).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsConfig {
    /// PEM file with the certificate chain, the server's own certificate
    /// first, then any intermediates.
    pub cert_path: PathBuf,
    /// PEM file with the private key of the first certificate (PKCS#8,
    /// PKCS#1 or SEC1).
    pub key_path: PathBuf,
}

impl TlsConfig {
    /// A configuration reading the chain from `cert_path` and the key from
    /// `key_path`.
    pub fn new(cert_path: impl Into<PathBuf>, key_path: impl Into<PathBuf>) -> Self {
        Self {
            cert_path: cert_path.into(),
            key_path: key_path.into(),
        }
    }
}

/// Why the TLS certificate or key cannot be used; the server refuses to
/// start.
#[derive(Debug, Error)]
pub enum TlsError {
    /// The certificate file cannot be read.
    #[error("cannot read the TLS certificate file {}: {source}", path.display())]
    ReadCertificate {
        /// The certificate file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The certificate file is not a usable PEM certificate chain.
    #[error("TLS certificate file {}: {reason}", path.display())]
    BadCertificate {
        /// The certificate file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The key file cannot be read.
    #[error("cannot read the TLS key file {}: {source}", path.display())]
    ReadKey {
        /// The key file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The key file is not a usable PEM private key.
    #[error("TLS key file {}: {reason}", path.display())]
    BadKey {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The key is not the key of the chain's first certificate.
    #[error(
        "TLS key file {} does not belong to the certificate in {}",
        key.display(),
        cert.display()
    )]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// rustls refused the configuration for another reason.
    #[error("TLS configuration: {0}")]
    Setup(String),
}

/// Reads and checks the certificate chain and key, and builds the rustls
/// server configuration (ring, TLS 1.2 and 1.3, no client certificates,
/// HTTP/1.1).
pub(crate) async fn load(config: &TlsConfig) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let cert_pem =
        tokio::fs::read(&config.cert_path)
            .await
            .map_err(|source| TlsError::ReadCertificate {
                path: config.cert_path.clone(),
                source,
            })?;
    let key_pem = tokio::fs::read(&config.key_path)
        .await
        .map_err(|source| TlsError::ReadKey {
            path: config.key_path.clone(),
            source,
        })?;
    let chain = parse_chain(&config.cert_path, &cert_pem)?;
    let key = parse_key(&config.key_path, &key_pem)?;

    let provider = Arc::new(default_provider());
    let signing_key =
        provider
            .key_provider
            .load_private_key(key)
            .map_err(|e| TlsError::BadKey {
                path: config.key_path.clone(),
                reason: format!("not a private key rustls can use: {e}"),
            })?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            return Err(TlsError::KeyMismatch {
                cert: config.cert_path.clone(),
                key: config.key_path.clone(),
            })
        }
        Err(e) => {
            return Err(TlsError::BadCertificate {
                path: config.cert_path.clone(),
                reason: format!("the first certificate cannot be parsed: {e}"),
            })
        }
    }
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SingleCertAndKey::from(certified)));
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(server))
}

fn parse_chain(path: &Path, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::BadCertificate {
            path: path.to_path_buf(),
            reason: format!("not valid PEM: {e}"),
        })?;
    if chain.is_empty() {
        return Err(TlsError::BadCertificate {
            path: path.to_path_buf(),
            reason: "no PEM certificate (-----BEGIN CERTIFICATE-----) in it".into(),
        });
    }
    Ok(chain)
}

fn parse_key(path: &Path, pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| TlsError::BadKey {
        path: path.to_path_buf(),
        reason: match e {
            rustls::pki_types::pem::Error::NoItemsFound => {
                "no PEM private key (-----BEGIN PRIVATE KEY-----, RSA or EC) in it".into()
            }
            other => format!("not valid PEM: {other}"),
        },
    })
}

/// A listener that hands `axum::serve` only connections that completed the
/// TLS handshake. Built by [`spawn`].
pub(crate) struct TlsListener {
    accepted: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local_addr: SocketAddr,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.accepted.recv().await {
            Some(conn) => conn,
            // The acceptor stopped (shutdown): nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}

/// Starts the task that accepts TCP connections on `tcp` and runs their
/// TLS handshakes; it stops (and closes the port) when `stop` turns true.
/// Returns the listener to serve and the task.
pub(crate) fn spawn(
    tcp: TcpListener,
    local_addr: SocketAddr,
    config: Arc<rustls::ServerConfig>,
    mut stop: watch::Receiver<bool>,
) -> (TlsListener, tokio::task::JoinHandle<()>) {
    let (tx, accepted) = mpsc::channel(ACCEPTED_QUEUE);
    let acceptor = TlsAcceptor::from(config);
    let task = tokio::spawn(async move {
        loop {
            let result = tokio::select! {
                _ = stop.wait_for(|v| *v) => break,
                result = tcp.accept() => result,
            };
            let (stream, peer) = match result {
                Ok(conn) => conn,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "accepting a TLS connection failed");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            };
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => {
                        // Fails only when the server is shutting down.
                        let _ = tx.send((tls, peer)).await;
                    }
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                }
            });
        }
    });
    (
        TlsListener {
            accepted,
            local_addr,
        },
        task,
    )
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
