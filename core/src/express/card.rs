//! The card's express answers (called by `crate::nfc` with the card locked):
//! the allowance for `SELECT`, and the signed tap (or a decline) for
//! `EXPRESS`. Every decline is `69 86`, on which the gate runs the full
//! session instead; only an offer that does not decode is `6A 80`.

use wayfare_protocol::apdu::{ResponseApdu, StatusWord};
use wayfare_protocol::express::{
    AllowanceBody, ExpressOffer, ExpressTap, ExpressTapBody, MAX_CARD_ANSWER_LEN,
};
use wayfare_protocol::ids::redact;

use super::store::{ExpressStore, StoredAllowance};
use super::types::{ExpressSettings, PendingExpressTap};
use super::{tap_key, ExpressError};
use crate::clock::now_ms;
use crate::wallet::WalletInner;

const LOG: &str = "wayfare_core::express";

/// How far ahead of the phone's clock an allowance's issue time may be
/// (the server's clock may run ahead; the gate judges with its own).
pub(crate) const CLOCK_SKEW_MS: u64 = 5 * 60 * 1000;

/// Why the phone declines an express tap (for logs; the gate only sees
/// `69 86`).
#[derive(Debug, thiserror::Error)]
pub(crate) enum Decline {
    /// The rider switched express taps off.
    #[error("express taps are off")]
    Off,
    /// No allowance held (never fetched, forgotten, blocked).
    #[error("no allowance")]
    NoAllowance,
    /// The allowance is not valid at this time.
    #[error("the allowance is expired or not yet valid")]
    OutsideValidity,
    /// The fare is in another currency than the allowance.
    #[error("the fare's currency is not the allowance's")]
    Currency,
    /// The fare is above a per-tap cap.
    #[error("the fare is above the {0} per-tap cap")]
    PerTap(&'static str),
    /// The fare would take the total above a cap.
    #[error("the fare would exceed the {0} total cap")]
    Total(&'static str),
    /// The allowance's counter is used up.
    #[error("no counter left under the allowance")]
    Counter,
    /// The wallet is not open or not registered, or the store failed.
    #[error(transparent)]
    Failed(#[from] ExpressError),
}

/// The allowance usable now, if express is on: the one check shared by
/// `SELECT`, `EXPRESS` and the status.
pub(crate) fn usable(
    settings: &ExpressSettings,
    held: Option<&StoredAllowance>,
    now: u64,
) -> Result<(StoredAllowance, AllowanceBody), Decline> {
    if !settings.enabled {
        return Err(Decline::Off);
    }
    let held = held.ok_or(Decline::NoAllowance)?;
    let (_, body) = held.read().map_err(ExpressError::from)?;
    if now > body.expires_at_ms || body.issued_at_ms > now.saturating_add(CLOCK_SKEW_MS) {
        return Err(Decline::OutsideValidity);
    }
    if held.spent_minor >= body.total_max_minor.min(settings.total_max_minor) {
        return Err(Decline::Total("allowance's"));
    }
    Ok((held.clone(), body))
}

/// The allowance's bytes for the `SELECT` answer, when express is on and a
/// valid allowance has room; `None` otherwise (then `SELECT` answers plain
/// `90 00`).
pub(crate) fn select_data(inner: &WalletInner) -> Option<Vec<u8>> {
    let state = inner.opened().ok()?;
    let store = ExpressStore::new(&state.store).ok()?;
    let settings = store.settings().ok()?;
    let held = store.allowance().ok()?;
    let (held, _) = usable(&settings, held.as_ref(), now_ms()).ok()?;
    let (allowance, _) = held.read().ok()?;
    let bytes = allowance.as_bytes();
    (bytes.len() <= MAX_CARD_ANSWER_LEN).then(|| bytes.to_vec())
}

/// The answer to an `EXPRESS` command: the signed tap and `90 00`, `69 86`
/// to decline, `6A 80` for an offer that does not decode.
pub(crate) async fn answer_offer(inner: &WalletInner, offer: &[u8]) -> Vec<u8> {
    let offer = match ExpressOffer::decode(offer) {
        Ok(offer) => offer,
        Err(e) => {
            tracing::info!(target: LOG, error = %e, "express offer refused: malformed");
            return ResponseApdu::status(StatusWord::WrongData).encode();
        }
    };
    let terminal = redact(&offer.terminal_id);
    match sign_tap(inner, &offer).await {
        Ok((data, counter)) => {
            tracing::info!(
                target: LOG,
                terminal = %terminal,
                amount_minor = offer.amount_minor,
                counter,
                "express tap signed"
            );
            ResponseApdu {
                data,
                status: StatusWord::Ok,
            }
            .encode()
        }
        Err(reason) => {
            tracing::info!(
                target: LOG,
                terminal = %terminal,
                amount_minor = offer.amount_minor,
                reason = %reason,
                "express tap declined; the gate runs the full session"
            );
            ResponseApdu::status(StatusWord::NotAllowed).encode()
        }
    }
}

/// Checks the offer against the rider's caps and the allowance's, records
/// the tap durably, then signs it; returns the tap's bytes and counter.
async fn sign_tap(inner: &WalletInner, offer: &ExpressOffer) -> Result<(Vec<u8>, u32), Decline> {
    let (state, identity) = inner.device().map_err(ExpressError::from)?;
    let store = ExpressStore::new(&state.store).map_err(ExpressError::from)?;
    // One tap (or allowance change) at a time: counters never repeat.
    let _guard = inner.express.state.lock().await;
    let settings = store.settings().map_err(ExpressError::from)?;
    let held = store.allowance().map_err(ExpressError::from)?;
    let now = now_ms();
    let (mut held, body) = usable(&settings, held.as_ref(), now)?;
    if offer.currency != body.currency {
        return Err(Decline::Currency);
    }
    if offer.amount_minor > settings.per_tap_max_minor {
        return Err(Decline::PerTap("rider's"));
    }
    if offer.amount_minor > body.per_tap_max_minor {
        return Err(Decline::PerTap("allowance's"));
    }
    let spent_after = held
        .spent_minor
        .checked_add(offer.amount_minor)
        .ok_or(Decline::Total("allowance's"))?;
    if spent_after > settings.total_max_minor {
        return Err(Decline::Total("rider's"));
    }
    if spent_after > body.total_max_minor {
        return Err(Decline::Total("allowance's"));
    }
    let counter = held.counter.checked_add(1).ok_or(Decline::Counter)?;
    let nonce = held.nonce().map_err(ExpressError::from)?;
    let key = tap_key::derive(identity.key.seed(), &nonce).map_err(ExpressError::from)?;
    if key.public_key() != body.tap_key {
        // A nonce that does not give the allowance's key: another device
        // seed (a copied data directory) or corruption. Never sign.
        return Err(ExpressError::WrongTapKey.into());
    }
    let tap = ExpressTap::sign(
        &key,
        &ExpressTapBody {
            allowance_id: body.allowance_id.clone(),
            counter,
            terminal_id: offer.terminal_id.clone(),
            amount_minor: offer.amount_minor,
            challenge: offer.challenge.clone(),
            spent_before_minor: held.spent_minor,
        },
    )
    .map_err(ExpressError::from)?;
    if tap.as_bytes().len() > MAX_CARD_ANSWER_LEN {
        return Err(ExpressError::TooLarge(tap.as_bytes().len()).into());
    }
    held.counter = counter;
    held.spent_minor = spent_after;
    let pending = PendingExpressTap {
        allowance_id: body.allowance_id,
        counter,
        terminal_id: offer.terminal_id.clone(),
        merchant_name: offer.merchant_name.clone(),
        line: offer.line.clone(),
        station: offer.station.clone(),
        amount_minor: offer.amount_minor,
        currency: offer.currency.clone(),
        offered_at_ms: offer.at_ms,
        tapped_at_ms: now,
    };
    // Durable before the tap leaves the phone.
    store
        .record_tap(&held, &pending)
        .await
        .map_err(ExpressError::from)?;
    Ok((tap.as_bytes().to_vec(), counter))
}
