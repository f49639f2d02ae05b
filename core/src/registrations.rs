//! Platform registrations (P3.5): the merchants whose platforms registered
//! the rider, with the rider's consent, at one of their terminals
//! (`TerminalSession::identify(true)`). The rider lists and revokes them.
//! Get it with `wallet.registrations()`. Server contract: `docs/api.md`,
//! Platform registrations.

use std::sync::Arc;

use reqwest::Method;
use serde::Deserialize;

use crate::error::WalletError;
use crate::http::check_server_id;
use crate::wallet::WalletInner;

/// One merchant platform the rider is registered with.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, uniffi::Record)]
pub struct PlatformRegistration {
    /// The registration's id (`reg_…`), for `revoke`.
    pub registration_id: String,
    /// The merchant whose platform holds the registration.
    pub merchant_id: String,
    /// The merchant's name.
    pub merchant_name: String,
    /// The terminal where the rider consented.
    pub terminal_id: String,
    /// The rider's pseudonym for this merchant: all the platform knows the
    /// rider by.
    pub pseudonym: String,
    /// When it was made (Unix ms).
    pub created_at_ms: u64,
    /// When the rider revoked it (Unix ms), if revoked.
    #[serde(default)]
    pub revoked_at_ms: Option<u64>,
}

#[derive(Deserialize)]
struct Listed {
    registrations: Vec<PlatformRegistration>,
}

/// The rider's platform registrations.
#[derive(uniffi::Object)]
pub struct RegistrationsApi {
    inner: Arc<WalletInner>,
}

impl std::fmt::Debug for RegistrationsApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RegistrationsApi")
    }
}

/// Ids go into URL paths: only the server's id characters.
fn check_registration_id(id: &str) -> Result<(), WalletError> {
    check_server_id("registration_id", "registration", "reg", id)
}

impl RegistrationsApi {
    pub(crate) fn new(inner: Arc<WalletInner>) -> Self {
        Self { inner }
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl RegistrationsApi {
    /// The merchant platforms the rider is registered with now, newest
    /// first (revoked ones are not listed).
    pub async fn list(&self) -> Result<Vec<PlatformRegistration>, WalletError> {
        let listed: Listed = self
            .inner
            .device_send(Method::GET, "/v1/wallet/registrations")
            .await?;
        Ok(listed.registrations)
    }

    /// Revokes a registration: the merchant's platform no longer has the
    /// rider, and the consent that made it can never be used again.
    /// Revoking twice is harmless. Fails with `NotFound` for an id that is
    /// not the rider's.
    pub async fn revoke(
        &self,
        registration_id: String,
    ) -> Result<PlatformRegistration, WalletError> {
        check_registration_id(&registration_id)?;
        self.inner
            .device_send(
                Method::POST,
                &format!("/v1/wallet/registrations/{registration_id}/revoke"),
            )
            .await
    }
}
