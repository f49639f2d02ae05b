//! The server's long-lived secrets: the operator key (signs terminal
//! certificates), the receipt key (signs receipts), the pseudonym key
//! (derives riders' per-merchant pseudonyms) and the admin token.
//! Created on first start with mode 0600 in the data directory, reused after.

use std::path::Path;

use tokio::io::AsyncWriteExt;
use wayfare_protocol::consent::{base32_lower, PSEUDONYM_PREFIX};
use wayfare_protocol::ids::{b64_encode, sha256};
use wayfare_protocol::keys::{random_bytes, SigningKey};

use crate::error::ServerError;

const OPERATOR_KEY_FILE: &str = "operator-key";
const RECEIPT_KEY_FILE: &str = "receipt-key";
const ADMIN_TOKEN_FILE: &str = "admin-token";
const PSEUDONYM_KEY_FILE: &str = "pseudonym-key";

/// The secrets of one server instance.
pub struct ServerKeys {
    /// Signs terminal certificates.
    pub operator: SigningKey,
    /// Signs payment receipts.
    pub receipt: SigningKey,
    /// The bearer token of the operator (admin) API.
    pub admin_token: String,
    admin_token_digest: [u8; 32],
    /// The HMAC key of riders' per-merchant pseudonyms (see
    /// [`ServerKeys::pseudonym`]). Losing or changing it changes every
    /// pseudonym, so it is kept like the signing keys.
    pseudonym_key: ring::hmac::Key,
}

impl ServerKeys {
    /// Loads the secrets from `data_dir`, creating any that are missing.
    pub async fn load_or_create(data_dir: &Path) -> Result<Self, ServerError> {
        tokio::fs::create_dir_all(data_dir)
            .await
            .map_err(|source| io_err(data_dir, source))?;
        let operator = load_or_create_seed(&data_dir.join(OPERATOR_KEY_FILE)).await?;
        let receipt = load_or_create_seed(&data_dir.join(RECEIPT_KEY_FILE)).await?;
        let admin_token = load_or_create_token(&data_dir.join(ADMIN_TOKEN_FILE)).await?;
        let admin_token_digest = sha256(admin_token.as_bytes());
        let pseudonym_seed = load_or_create_secret(&data_dir.join(PSEUDONYM_KEY_FILE)).await?;
        Ok(Self {
            operator,
            receipt,
            admin_token,
            admin_token_digest,
            pseudonym_key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &pseudonym_seed),
        })
    }

    /// The rider's pseudonym for a merchant (P2, P3.5): what the merchant's
    /// terminals, platform and receipts know the rider by.
    ///
    /// `pn_` + base32(HMAC-SHA256(pseudonym key, account id, merchant id))
    /// truncated to 160 bits: one stable pseudonym per rider and merchant,
    /// unlinkable across merchants without this key. Only the server can
    /// derive one, so only it can resolve one back to an account.
    pub fn pseudonym(&self, account_id: &str, merchant_id: &str) -> String {
        derive_pseudonym(&self.pseudonym_key, account_id, merchant_id)
    }

    /// True when `candidate` is the admin token. Compares digests, so the
    /// time taken reveals nothing useful about the token.
    pub fn is_admin_token(&self, candidate: &str) -> bool {
        let digest = sha256(candidate.as_bytes());
        digest
            .iter()
            .zip(self.admin_token_digest.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

/// Bytes of the pseudonym HMAC kept: 160 bits.
const PSEUDONYM_BYTES: usize = 20;

fn derive_pseudonym(key: &ring::hmac::Key, account_id: &str, merchant_id: &str) -> String {
    let mut material = Vec::with_capacity(8 + account_id.len() + merchant_id.len());
    for part in [account_id, merchant_id] {
        material.extend_from_slice(&(part.len() as u32).to_be_bytes());
        material.extend_from_slice(part.as_bytes());
    }
    let tag = ring::hmac::sign(key, &material);
    format!(
        "{PSEUDONYM_PREFIX}{}",
        base32_lower(&tag.as_ref()[..PSEUDONYM_BYTES])
    )
}

fn io_err(path: &Path, source: std::io::Error) -> ServerError {
    ServerError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Reads 32 secret bytes from `path`, creating the file if it is missing.
async fn load_or_create_secret(path: &Path) -> Result<Vec<u8>, ServerError> {
    let bytes = match tokio::fs::read(path).await {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let seed = random_bytes::<32>()?;
            write_secret(path, &seed).await?;
            seed.to_vec()
        }
        Err(e) => return Err(io_err(path, e)),
    };
    if bytes.len() != 32 {
        return Err(ServerError::BadKeyFile {
            path: path.display().to_string(),
            reason: format!("expected 32 bytes, found {}", bytes.len()),
        });
    }
    Ok(bytes)
}

async fn load_or_create_seed(path: &Path) -> Result<SigningKey, ServerError> {
    let bytes = load_or_create_secret(path).await?;
    SigningKey::from_seed(&bytes).map_err(|e| ServerError::BadKeyFile {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

async fn load_or_create_token(path: &Path) -> Result<String, ServerError> {
    match tokio::fs::read_to_string(path).await {
        Ok(text) => {
            let token = text.trim().to_string();
            if token.len() < 16 {
                return Err(ServerError::BadKeyFile {
                    path: path.display().to_string(),
                    reason: "admin token shorter than 16 characters".into(),
                });
            }
            Ok(token)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let token = b64_encode(&random_bytes::<32>()?);
            write_secret(path, token.as_bytes()).await?;
            Ok(token)
        }
        Err(e) => Err(io_err(path, e)),
    }
}

/// Writes a new secret file with mode 0600 (never overwrites one).
async fn write_secret(path: &Path, bytes: &[u8]) -> Result<(), ServerError> {
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path).await.map_err(|e| io_err(path, e))?;
    file.write_all(bytes).await.map_err(|e| io_err(path, e))?;
    file.sync_all().await.map_err(|e| io_err(path, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_are_stable_per_merchant_and_unlinkable() {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &[1u8; 32]);
        let other_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &[2u8; 32]);
        let a = derive_pseudonym(&key, "acc_1", "mer_1");
        assert!(wayfare_protocol::consent::is_pseudonym(&a), "{a}");
        assert_eq!(a, derive_pseudonym(&key, "acc_1", "mer_1"));
        assert_ne!(a, derive_pseudonym(&key, "acc_1", "mer_2"));
        assert_ne!(a, derive_pseudonym(&key, "acc_2", "mer_1"));
        assert_ne!(a, derive_pseudonym(&other_key, "acc_1", "mer_1"));
        // Length-prefixed: moving a character between the parts changes it.
        assert_ne!(derive_pseudonym(&key, "acc_1m", "er_1"), a);
    }

    #[tokio::test]
    async fn keys_are_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = ServerKeys::load_or_create(dir.path()).await.unwrap();
        let second = ServerKeys::load_or_create(dir.path()).await.unwrap();
        assert_eq!(first.operator.public_key(), second.operator.public_key());
        assert_eq!(first.receipt.public_key(), second.receipt.public_key());
        assert_ne!(first.operator.public_key(), first.receipt.public_key());
        assert_eq!(first.admin_token, second.admin_token);
        assert_eq!(
            first.pseudonym("acc_1", "mer_1"),
            second.pseudonym("acc_1", "mer_1")
        );
        assert!(first.is_admin_token(&first.admin_token));
        assert!(!first.is_admin_token("nope"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for f in [
                OPERATOR_KEY_FILE,
                RECEIPT_KEY_FILE,
                ADMIN_TOKEN_FILE,
                PSEUDONYM_KEY_FILE,
            ] {
                let mode = std::fs::metadata(dir.path().join(f))
                    .unwrap()
                    .permissions()
                    .mode();
                assert_eq!(mode & 0o777, 0o600, "{f}");
            }
        }
    }
}
