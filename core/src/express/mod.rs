//! Express taps (DESIGN's tap budget, issue 9.2): a gate charges the phone
//! offline in two NFC round trips. While online the phone holds a
//! server-signed allowance for a tap key of its own (see [`tap_key`]);
//! at the gate the card presents the allowance in its `SELECT` answer and
//! signs the gate's offer with the tap key, within the rider's caps and
//! the allowance's. The gate settles with the server afterwards.
//!
//! Get it with `wallet.express()`: `set_settings` (on/off and the caps),
//! `refresh()` while online, `status()` offline, `sync()` for the
//! server's view (debt, blocked, settled taps). The card side lives in
//! `crate::nfc`, which calls [`card`]. Server contract: `docs/api.md`,
//! Express.

mod card;
mod store;
mod tap_key;
pub(crate) mod types;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use wayfare_protocol::express::{Allowance, MAX_CARD_ANSWER_LEN};
use wayfare_protocol::ids::redact;
use wayfare_protocol::ProtocolError;

pub use types::{
    ExpressAccount, ExpressAllowanceInfo, ExpressSettings, ExpressStatus, PendingExpressTap,
    SettledExpressTap,
};

pub(crate) use card::{answer_offer, select_data};
pub(crate) use types::ExpressLocks;

use crate::clock::now_ms;
use crate::error::WalletError;
use crate::http::Signer;
use crate::store::StoreError;
use crate::wallet::{DeviceIdentity, WalletInner};
use store::{ExpressStore, StoredAllowance};
use types::{AllowanceRequest, AllowanceResponse, ExpressAccountResponse, RevokedResponse};

const LOG: &str = "wayfare_core::express";
/// How long switching express off waits for the server's revocation: the
/// local switch is what matters, the revocation is a courtesy.
const REVOKE_WAIT: Duration = Duration::from_secs(5);

/// What can go wrong in the express area.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ExpressError {
    /// The wallet database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An express object could not be made or read.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// A wallet-level failure (not open, not registered, server, network).
    #[error(transparent)]
    Wallet(#[from] WalletError),
    /// The server's allowance is not the one asked for.
    #[error("the server's allowance does not match the request: {0}")]
    BadAllowance(String),
    /// The device seed does not give the allowance's tap key.
    #[error("this device cannot sign for the express allowance (its key does not match)")]
    WrongTapKey,
    /// The signed tap does not fit one short APDU.
    #[error("the signed express tap is {0} bytes, above one short APDU")]
    TooLarge(usize),
}

impl From<ExpressError> for WalletError {
    fn from(e: ExpressError) -> Self {
        match e {
            ExpressError::Store(e) => e.into(),
            ExpressError::Wallet(e) => e,
            ExpressError::Protocol(e) => WalletError::Server {
                code: "bad_allowance".into(),
                reason: format!("the server's express allowance is invalid: {e}"),
            },
            ExpressError::BadAllowance(reason) => WalletError::Server {
                code: "bad_allowance".into(),
                reason,
            },
            other @ ExpressError::TooLarge(_) => WalletError::Server {
                code: "bad_allowance".into(),
                reason: other.to_string(),
            },
            other @ ExpressError::WrongTapKey => WalletError::KeyStore {
                reason: other.to_string(),
            },
        }
    }
}

/// Express taps: the rider's settings, the offline allowance, and the
/// taps made with it. Get it with `wallet.express()`.
#[derive(uniffi::Object)]
pub struct ExpressApi {
    inner: Arc<WalletInner>,
}

impl std::fmt::Debug for ExpressApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExpressApi")
    }
}

fn check_settings(settings: &ExpressSettings) -> Result<(), WalletError> {
    if settings.per_tap_max_minor == 0 {
        return Err(WalletError::invalid(
            "per_tap_max_minor: the per-tap cap must be at least 1",
        ));
    }
    if settings.total_max_minor < settings.per_tap_max_minor {
        return Err(WalletError::invalid(
            "total_max_minor: the total cap must be at least the per-tap cap",
        ));
    }
    if i64::try_from(settings.total_max_minor).is_err() {
        return Err(WalletError::invalid("total_max_minor: too large"));
    }
    Ok(())
}

/// Whether a new allowance is due: none, half its life gone, not enough
/// room left for a full fare, or asked for with other caps.
fn needs_refresh(settings: &ExpressSettings, held: Option<&StoredAllowance>, now: u64) -> bool {
    if !settings.enabled {
        return false;
    }
    let Some(held) = held else {
        return true;
    };
    let Ok((_, body)) = held.read() else {
        return true;
    };
    let half_life = body.issued_at_ms + body.expires_at_ms.saturating_sub(body.issued_at_ms) / 2;
    let left = body.total_max_minor.saturating_sub(held.spent_minor);
    held.requested_per_tap_max_minor != settings.per_tap_max_minor
        || held.requested_total_max_minor != settings.total_max_minor
        || now >= half_life
        || left < body.per_tap_max_minor
}

/// The local status.
fn status_of(store: &ExpressStore, now: u64) -> Result<ExpressStatus, ExpressError> {
    let settings = store.settings()?;
    let held = store.allowance()?;
    let allowance = match &held {
        None => None,
        Some(h) => {
            let (_, body) = h.read()?;
            Some(ExpressAllowanceInfo {
                allowance_hint: redact(&body.allowance_id),
                per_tap_max_minor: body.per_tap_max_minor,
                total_max_minor: body.total_max_minor,
                currency: body.currency,
                issued_at_ms: body.issued_at_ms,
                expires_at_ms: body.expires_at_ms,
                spent_minor: h.spent_minor,
                taps: h.counter,
            })
        }
    };
    Ok(ExpressStatus {
        ready: card::usable(&settings, held.as_ref(), now).is_ok(),
        needs_refresh: needs_refresh(&settings, held.as_ref(), now),
        settings,
        allowance,
        pending_taps: store.pending_taps()?,
    })
}

impl ExpressApi {
    pub(crate) fn new(inner: Arc<WalletInner>) -> Self {
        Self { inner }
    }

    fn store(&self) -> Result<ExpressStore, WalletError> {
        let state = self.inner.opened()?;
        Ok(ExpressStore::new(&state.store)?)
    }

    /// Forgets the allowance held (under the state lock).
    async fn forget(&self, store: &ExpressStore, why: &str) -> Result<(), ExpressError> {
        let _guard = self.inner.express.state.lock().await;
        if store.forget_allowance().await? {
            tracing::info!(target: LOG, why, "express allowance forgotten");
        }
        Ok(())
    }

    /// Asks the server for an allowance for a fresh tap key and checks it
    /// is the one asked for.
    async fn request_allowance(
        &self,
        identity: &DeviceIdentity,
        settings: &ExpressSettings,
    ) -> Result<StoredAllowance, ExpressError> {
        let nonce = tap_key::new_nonce()?;
        let key = tap_key::derive(identity.key.seed(), &nonce)?;
        let request = AllowanceRequest {
            tap_key: key.public_key().to_base64(),
            per_tap_max_minor: settings.per_tap_max_minor,
            total_max_minor: settings.total_max_minor,
        };
        let signer = Signer {
            key: &identity.key,
            key_id: &identity.device_id,
        };
        let (_, answer): (_, AllowanceResponse) = self
            .inner
            .api
            .signed(
                Method::POST,
                "/v1/express/allowances",
                Some(&request),
                &signer,
                &[],
            )
            .await
            .map_err(WalletError::from)?;
        let allowance = Allowance::from_base64(&answer.allowance)?;
        let server = self.inner.receipt_key().await?;
        let body = allowance.verify_signature(&server)?;
        let bad = |reason: &str| Err(ExpressError::BadAllowance(reason.into()));
        if body.allowance_id != answer.allowance_id {
            return bad("its id is not the one announced");
        }
        if body.tap_key != key.public_key() {
            return bad("it is for another tap key");
        }
        if body.per_tap_max_minor > settings.per_tap_max_minor
            || body.total_max_minor > settings.total_max_minor
        {
            return bad("its caps are above the rider's");
        }
        if body.expires_at_ms < now_ms() {
            return bad("it has already expired");
        }
        if allowance.as_bytes().len() > MAX_CARD_ANSWER_LEN {
            return bad("it does not fit one short APDU");
        }
        Ok(StoredAllowance::fresh(&allowance, &nonce, settings))
    }

    /// Refresh, with the refresh lock held.
    async fn refresh_locked(&self) -> Result<ExpressStatus, ExpressError> {
        let (state, identity) = self.inner.device()?;
        let store = ExpressStore::new(&state.store)?;
        let settings = store.settings()?;
        let held = store.allowance()?;
        if !settings.enabled || !needs_refresh(&settings, held.as_ref(), now_ms()) {
            return status_of(&store, now_ms());
        }
        let fresh = match self.request_allowance(&identity, &settings).await {
            Ok(fresh) => fresh,
            Err(ExpressError::Wallet(WalletError::ExpressBlocked { reason, .. })) => {
                // The server will not honour new taps: present nothing, so
                // gates run the full session at once.
                self.forget(&store, "express blocked by a debt").await?;
                let debt_minor = self.account().await.ok().map(|a| a.debt_minor);
                return Err(WalletError::ExpressBlocked { debt_minor, reason }.into());
            }
            Err(ExpressError::Wallet(WalletError::InsufficientFunds { .. })) => {
                self.forget(&store, "no balance").await?;
                return Err(WalletError::InsufficientFunds {
                    balance_minor: Some(0),
                    amount_minor: settings.per_tap_max_minor,
                }
                .into());
            }
            Err(e) => {
                // Offline is the whole point: keep what we hold.
                tracing::info!(target: LOG, error = %e, "express allowance not refreshed; keeping the current one");
                return Err(e);
            }
        };
        let _guard = self.inner.express.state.lock().await;
        if store.settings()? != settings {
            // The rider changed the settings meanwhile; their call decides.
            tracing::info!(target: LOG, "express settings changed during refresh; allowance dropped");
            return status_of(&store, now_ms());
        }
        let mut fresh = fresh;
        let (_, body) = fresh.read()?;
        if let Some(old) = store.allowance()? {
            if old.read().map(|(_, b)| b.allowance_id).ok() == Some(body.allowance_id.clone()) {
                // The same allowance again: its counter and spending go on.
                fresh.counter = old.counter;
                fresh.spent_minor = old.spent_minor;
            }
        }
        store.hold_allowance(&fresh).await?;
        tracing::info!(
            target: LOG,
            allowance = %redact(&body.allowance_id),
            per_tap_max_minor = body.per_tap_max_minor,
            total_max_minor = body.total_max_minor,
            expires_at_ms = body.expires_at_ms,
            "express allowance refreshed"
        );
        status_of(&store, now_ms())
    }

    /// `GET /v1/express`.
    async fn account(&self) -> Result<ExpressAccountResponse, WalletError> {
        let (_, identity) = self.inner.device()?;
        let signer = Signer {
            key: &identity.key,
            key_id: &identity.device_id,
        };
        let (_, answer) = self
            .inner
            .api
            .signed::<(), _>(Method::GET, "/v1/express", None, &signer, &[])
            .await?;
        Ok(answer)
    }

    /// `DELETE /v1/express/allowances`, best effort.
    async fn revoke_all(&self) {
        let revoke = async {
            let (_, identity) = self.inner.device()?;
            let signer = Signer {
                key: &identity.key,
                key_id: &identity.device_id,
            };
            let (_, answer): (_, RevokedResponse) = self
                .inner
                .api
                .signed::<(), _>(Method::DELETE, "/v1/express/allowances", None, &signer, &[])
                .await?;
            Ok::<_, WalletError>(answer.revoked)
        };
        match tokio::time::timeout(REVOKE_WAIT, revoke).await {
            Ok(Ok(revoked)) => {
                tracing::info!(target: LOG, revoked, "express allowances revoked at the server")
            }
            Ok(Err(e)) => {
                tracing::info!(target: LOG, error = %e, "could not revoke express allowances (they expire on their own)")
            }
            Err(_) => {
                tracing::info!(target: LOG, "revoking express allowances timed out (they expire on their own)")
            }
        }
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl ExpressApi {
    /// The rider's express settings (off, with default caps, until set).
    pub fn settings(&self) -> Result<ExpressSettings, WalletError> {
        Ok(self.store()?.settings()?)
    }

    /// Saves the rider's choice and brings the allowance in line with it.
    ///
    /// Off: the allowance is forgotten on this phone at once (no gate can
    /// charge it any more) and the server is asked to revoke it; when the
    /// server cannot be reached, express is still off.
    ///
    /// On: an allowance whose caps are above the new ones is forgotten,
    /// then a new allowance is fetched when one is due (as `refresh()`).
    /// The settings are saved even when that fails: the error (`Network`,
    /// `ExpressBlocked`, `InsufficientFunds`…) only says no new allowance
    /// was fetched; call `refresh()` later. Fails with `InvalidInput` for
    /// a per-tap cap of 0 or a total below the per-tap cap.
    pub async fn set_settings(
        &self,
        settings: ExpressSettings,
    ) -> Result<ExpressStatus, WalletError> {
        check_settings(&settings)?;
        let store = self.store()?;
        let was_on = store.settings()?.enabled;
        let had_allowance = {
            let _guard = self.inner.express.state.lock().await;
            store.save_settings(&settings).await?;
            match store.allowance()? {
                None => false,
                Some(held) => {
                    let too_large = match held.read() {
                        Ok((_, body)) => {
                            body.per_tap_max_minor > settings.per_tap_max_minor
                                || body.total_max_minor > settings.total_max_minor
                        }
                        Err(_) => true,
                    };
                    if !settings.enabled || too_large {
                        store.forget_allowance().await?;
                        tracing::info!(target: LOG, off = !settings.enabled, "express allowance forgotten after a settings change");
                    }
                    true
                }
            }
        };
        tracing::info!(
            target: LOG,
            enabled = settings.enabled,
            per_tap_max_minor = settings.per_tap_max_minor,
            total_max_minor = settings.total_max_minor,
            "express settings saved"
        );
        if !settings.enabled {
            if was_on || had_allowance {
                self.revoke_all().await;
            }
            return Ok(status_of(&store, now_ms())?);
        }
        self.refresh().await
    }

    /// Fetches a new allowance when one is due (express on and none held,
    /// half its life gone, too little room left for a full fare, or the
    /// caps changed); otherwise only reports the status. Call it whenever
    /// the phone is online (app start, network back, after a top-up).
    /// On failure the allowance held is kept (`Network`: try later), except
    /// `ExpressBlocked` (an express fare left a debt: top up) and
    /// `InsufficientFunds` (zero balance), after which the phone holds none.
    pub async fn refresh(&self) -> Result<ExpressStatus, WalletError> {
        let _guard = self.inner.express.refresh.lock().await;
        Ok(self.refresh_locked().await?)
    }

    /// Where express taps stand on this phone, from local data (works
    /// offline): the settings, the allowance held and what was spent under
    /// it, and the taps not yet known settled.
    pub fn status(&self) -> Result<ExpressStatus, WalletError> {
        Ok(status_of(&self.store()?, now_ms())?)
    }

    /// Asks the server how express taps stand: the debt they left, whether
    /// express is blocked until a top-up, and the recently settled taps.
    /// Pending taps the server reports settled are dropped here (they are
    /// in the wallet history as payments from then on); when blocked, the
    /// allowance held is forgotten.
    pub async fn sync(&self) -> Result<ExpressAccount, WalletError> {
        let store = self.store()?;
        let answer = self.account().await?;
        let dropped = store
            .drop_settled(
                answer
                    .taps
                    .iter()
                    .map(|t| (t.allowance_id.as_str(), t.counter)),
            )
            .await?;
        if answer.blocked {
            self.forget(&store, "express blocked by a debt").await?;
        }
        tracing::info!(
            target: LOG,
            blocked = answer.blocked,
            settled = answer.taps.len(),
            dropped,
            "express state synced"
        );
        Ok(ExpressAccount {
            debt_minor: answer.debt_minor,
            blocked: answer.blocked,
            currency: answer.currency,
            settled_taps: answer.taps,
            pending_taps: store.pending_taps()?,
        })
    }
}
