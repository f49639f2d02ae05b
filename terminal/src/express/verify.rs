//! The gate's offline decision on an express tap: everything it checks
//! with keys and lists it already holds, no I/O. Split in two so that a
//! tap that cannot pass is refused before the second round trip.

use std::collections::HashSet;

use thiserror::Error;
use wayfare_protocol::express::{
    Allowance, AllowanceBody, ExpressOffer, ExpressTap, ExpressTapBody,
};
use wayfare_protocol::keys::PublicKey;
use wayfare_protocol::ProtocolError;

/// The deny list as the gate holds it.
#[derive(Clone, Debug, Default)]
pub struct DenySnapshot {
    /// Its version (0: never synced).
    pub version: u64,
    /// When the server issued it (Unix ms; 0: never synced).
    pub issued_at_ms: u64,
    /// The revoked allowances.
    pub allowance_ids: HashSet<String>,
}

/// Why the gate does not take an express tap.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum Refusal {
    /// No deny list, or one older than the gate allows: express taps wait
    /// until it syncs (the full session still works online).
    #[error("the deny list is missing or too old")]
    DenyListStale,
    /// The allowance is not the server's, is expired, or is malformed.
    #[error("allowance: {0}")]
    Allowance(ProtocolError),
    /// The allowance is revoked (lost phone, debt, express switched off).
    #[error("the allowance is on the deny list")]
    Denied,
    /// The fare is not in the allowance's currency or above its per-tap cap.
    #[error("the fare is outside the allowance's caps")]
    OutsideCaps,
    /// The phone declined (express off, the rider's caps, no allowance).
    #[error("the phone declined the express tap")]
    PhoneDeclined,
    /// The signed tap does not answer this offer or breaks the caps.
    #[error("tap: {0}")]
    Tap(ProtocolError),
    /// This gate already took a tap with this counter under this allowance.
    #[error("a replayed tap (counter {0} already seen)")]
    Replayed(u32),
}

impl Refusal {
    /// Whether the gate should still run the full session with the phone:
    /// yes unless the phone is revoked or cheating.
    pub fn falls_back(&self) -> bool {
        matches!(
            self,
            Refusal::DenyListStale | Refusal::OutsideCaps | Refusal::PhoneDeclined
        ) || matches!(self, Refusal::Allowance(ProtocolError::Expired { .. }))
    }
}

/// Before the offer: the allowance from `SELECT`'s answer, against the
/// server key, the deny list and the fare.
pub fn check_allowance(
    server_key: &PublicKey,
    deny: &DenySnapshot,
    max_deny_list_age_ms: u64,
    allowance: &[u8],
    fare_minor: u64,
    currency: &str,
    now_ms: u64,
) -> Result<AllowanceBody, Refusal> {
    if deny.issued_at_ms == 0 || now_ms.saturating_sub(deny.issued_at_ms) > max_deny_list_age_ms {
        return Err(Refusal::DenyListStale);
    }
    let body = Allowance::from_bytes(allowance.to_vec())
        .verify(server_key, now_ms)
        .map_err(Refusal::Allowance)?;
    if deny.allowance_ids.contains(&body.allowance_id) {
        return Err(Refusal::Denied);
    }
    if body.currency != currency || fare_minor > body.per_tap_max_minor {
        return Err(Refusal::OutsideCaps);
    }
    Ok(body)
}

/// After the offer: the phone's signed tap, against the allowance, the
/// offer and the last counter this gate saw under the allowance.
pub fn check_tap(
    allowance: &AllowanceBody,
    offer: &ExpressOffer,
    tap: &[u8],
    last_seen_counter: Option<u32>,
) -> Result<ExpressTapBody, Refusal> {
    let body = ExpressTap::from_bytes(tap.to_vec())
        .verify_for_offer(allowance, offer)
        .map_err(Refusal::Tap)?;
    if last_seen_counter.is_some_and(|seen| body.counter <= seen) {
        return Err(Refusal::Replayed(body.counter));
    }
    Ok(body)
}
