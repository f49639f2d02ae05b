//! The terminal's identity on disk: its Ed25519 key (a seed file, created
//! with mode 0600 on first start) and its operator-issued certificate.

use std::path::Path;

use tokio::io::AsyncWriteExt;
use wayfare_protocol::certificate::{CertificateBody, TerminalCertificate};
use wayfare_protocol::ids::{b64_decode, b64_encode};
use wayfare_protocol::keys::{PublicKey, SigningKey};

use crate::config::TerminalConfig;
use crate::error::{Result, TerminalError};

/// Loads the terminal key from `path` (base64url of the 32-byte seed), or
/// creates a fresh one there (mode 0600) when the file does not exist.
pub async fn load_or_create_key(path: &Path) -> Result<SigningKey> {
    match tokio::fs::read_to_string(path).await {
        Ok(text) => {
            warn_if_readable_by_others(path).await;
            let seed = b64_decode(text.trim()).map_err(|_| {
                TerminalError::Identity(format!(
                    "key file {} does not hold a base64url Ed25519 seed",
                    path.display()
                ))
            })?;
            SigningKey::from_seed(&seed)
                .map_err(|e| TerminalError::Identity(format!("key file {}: {e}", path.display())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_key(path).await,
        Err(source) => Err(TerminalError::file("cannot read key file", path)(source)),
    }
}

async fn create_key(path: &Path) -> Result<SigningKey> {
    let file_err = TerminalError::file("cannot create key file", path);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(dir).await.map_err(file_err)?;
    }
    let key = SigningKey::generate()?;
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path).await.map_err(file_err)?;
    file.write_all(format!("{}\n", b64_encode(key.seed())).as_bytes())
        .await
        .map_err(file_err)?;
    file.sync_all().await.map_err(file_err)?;
    tracing::info!(path = %path.display(), public_key = %key.public_key(), "created a new terminal key");
    Ok(key)
}

#[cfg(unix)]
async fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = tokio::fs::metadata(path).await {
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "the terminal key file is readable by other users; chmod 600 it");
        }
    }
}

#[cfg(not(unix))]
async fn warn_if_readable_by_others(_path: &Path) {}

/// Reads a certificate file (base64url COSE_Sign1 text).
pub async fn load_certificate(path: &Path) -> Result<TerminalCertificate> {
    let text = tokio::fs::read_to_string(path)
        .await
        .map_err(TerminalError::file("cannot read certificate file", path))?;
    TerminalCertificate::from_base64(text.trim())
        .map_err(|e| TerminalError::Identity(format!("certificate file {}: {e}", path.display())))
}

/// Writes a certificate file (base64url text), creating parent directories.
pub async fn save_certificate(path: &Path, certificate: &TerminalCertificate) -> Result<()> {
    let file_err = TerminalError::file("cannot write certificate file", path);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(dir).await.map_err(file_err)?;
    }
    tokio::fs::write(path, format!("{}\n", certificate.to_base64()))
        .await
        .map_err(file_err)
}

/// The verified identity the terminal runs with.
#[derive(Debug)]
pub struct TerminalIdentity {
    /// The terminal's signing key.
    pub key: SigningKey,
    /// The certificate sent in every handshake.
    pub certificate: TerminalCertificate,
    /// What the certificate says (verified).
    pub body: CertificateBody,
}

/// Loads the key and certificate named by `config` and checks that they
/// belong together: issued by the pinned operator key, valid now, naming
/// `terminal_id` and our key, of a kind that fits the configured mode.
pub async fn load_identity(config: &TerminalConfig, now_ms: u64) -> Result<TerminalIdentity> {
    let key = load_or_create_key(&config.key_path()).await?;
    let certificate = load_certificate(&config.certificate_path()).await?;
    let body = check_certificate(config, &certificate, &key.public_key(), now_ms)?;
    Ok(TerminalIdentity {
        key,
        certificate,
        body,
    })
}

/// The checks of [`load_identity`] without the file access.
pub fn check_certificate(
    config: &TerminalConfig,
    certificate: &TerminalCertificate,
    our_key: &PublicKey,
    now_ms: u64,
) -> Result<CertificateBody> {
    let body = certificate
        .verify(&config.operator_key, now_ms)
        .map_err(|e| {
            TerminalError::Identity(format!(
                "the certificate does not verify with the pinned operator key: {e}"
            ))
        })?;
    if body.terminal_id != config.terminal_id {
        return Err(TerminalError::Identity(format!(
            "the certificate names terminal {} but terminal_id is {}",
            body.terminal_id, config.terminal_id
        )));
    }
    if body.terminal_key != *our_key {
        return Err(TerminalError::Identity(
            "the certificate was issued for another terminal key than the one in the key file"
                .into(),
        ));
    }
    if !config.mode.accepts_kind(body.kind) {
        return Err(TerminalError::Identity(format!(
            "the certificate is for a {} terminal, which cannot run in the configured mode",
            body.kind.as_str()
        )));
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn key_is_created_once_with_private_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/terminal.key");
        let a = load_or_create_key(&path).await.unwrap();
        let b = load_or_create_key(&path).await.unwrap();
        assert_eq!(a.public_key(), b.public_key());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "not a key").unwrap();
        assert!(load_or_create_key(&path).await.is_err());
    }
}
