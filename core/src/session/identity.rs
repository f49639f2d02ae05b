//! The optional identity step (P3.5) and what it shows: the rider's
//! pseudonym for the terminal's merchant, never the account id, the
//! account handle or a phone number (P2).
//!
//! The control center derives one pseudonym per rider and merchant
//! (`GET /v1/wallet/pseudonyms/{merchant_id}`); the core keeps them in the
//! wallet database (tree `pseudonyms`, by merchant id) so that the identity
//! step at a merchant seen before needs no network. With the rider's
//! consent the step also carries a device-signed [`RegistrationConsent`]
//! for that terminal, which the terminal forwards to the control center.

use reqwest::Method;
use serde::Deserialize;
use wayfare_protocol::consent::{is_pseudonym, ConsentBody, RegistrationConsent};
use wayfare_protocol::ids::{new_id, redact};

use crate::clock::now_ms;
use crate::error::WalletError;
use crate::store::StoreError;
use crate::wallet::{DeviceIdentity, WalletInner};

const TREE: &str = "pseudonyms";

/// What the identity step showed the terminal.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct IdentityShared {
    /// The terminal's merchant.
    pub merchant_id: String,
    /// The rider's pseudonym for that merchant (`pn_…`): what its
    /// terminals, platform and receipts know the rider by. Other merchants
    /// see other pseudonyms.
    pub pseudonym: String,
    /// Whether the rider's consent to be registered with the merchant's
    /// platform was sent. The terminal forwards it; the registration then
    /// appears in `wallet.registrations().list()`.
    pub registration_requested: bool,
}

#[derive(Deserialize)]
struct PseudonymAnswer {
    pseudonym: String,
}

/// Merchant ids go into a URL path: only the server's id characters.
fn check_merchant_id(merchant_id: &str) -> Result<(), WalletError> {
    let plain = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
    if merchant_id.is_empty() || merchant_id.len() > 64 || !merchant_id.bytes().all(plain) {
        return Err(WalletError::invalid(
            "the terminal's certificate names a merchant id this wallet cannot look up",
        ));
    }
    Ok(())
}

/// The rider's pseudonym for `merchant_id`: from the wallet database, or
/// fetched from the control center once and kept.
pub(crate) async fn pseudonym_for(
    inner: &WalletInner,
    merchant_id: &str,
) -> Result<String, WalletError> {
    check_merchant_id(merchant_id)?;
    let (state, id) = inner.device()?;
    let tree = state.store.tree(TREE)?;
    if let Some(raw) = tree.get(merchant_id.as_bytes()).map_err(StoreError::from)? {
        if let Ok(cached) = std::str::from_utf8(&raw) {
            if is_pseudonym(cached) {
                return Ok(cached.to_string());
            }
        }
        tracing::warn!(target: "wayfare_core::session", merchant = %redact(merchant_id), "dropping a malformed cached pseudonym");
    }
    let signer = id.signer();
    let (_, answer): (_, PseudonymAnswer) = inner
        .api
        .signed::<(), _>(
            Method::GET,
            &format!("/v1/wallet/pseudonyms/{merchant_id}"),
            None,
            &signer,
            &[],
        )
        .await?;
    if !is_pseudonym(&answer.pseudonym) {
        return Err(WalletError::Server {
            code: "bad_response".into(),
            reason: "the control center answered something that is not a pseudonym".into(),
        });
    }
    tree.insert(merchant_id.as_bytes(), answer.pseudonym.as_bytes())
        .map_err(StoreError::from)?;
    state.store.flush().await?;
    tracing::debug!(target: "wayfare_core::session", merchant = %redact(merchant_id), "pseudonym fetched and kept");
    Ok(answer.pseudonym)
}

/// The device-signed consent to be registered, under `pseudonym`, with the
/// platform of `merchant_id` by `terminal_id`.
pub(crate) fn sign_consent(
    id: &DeviceIdentity,
    pseudonym: &str,
    merchant_id: &str,
    terminal_id: &str,
) -> Result<RegistrationConsent, WalletError> {
    let body = ConsentBody {
        version: wayfare_protocol::PROTOCOL_VERSION,
        consent_id: new_id("con")?,
        pseudonym: pseudonym.to_string(),
        merchant_id: merchant_id.to_string(),
        terminal_id: terminal_id.to_string(),
        device_id: id.device_id.clone(),
        issued_at_ms: now_ms(),
    };
    Ok(RegistrationConsent::sign(&id.key, &body)?)
}
