//! Counter and kiosk top-ups (P1, P5's top-up terminal).
//!
//! The cashier enters the cash received (`POST /top-ups` on the control
//! interface); a phone that connects gets the terminal-signed
//! [`TopUpOffer`] for it, the rider claims it with the payment server, and
//! the phone brings back the server-signed receipt, which the terminal
//! verifies and prints through its linkage device.
//!
//! Cash must never be lost nor paid out twice, so an offer, once signed,
//! is kept durably ([`OfferBook`]) before any phone sees it: a phone that
//! reconnects gets the same offer (the server credits each order once),
//! and any ending other than a verified receipt — a decline, a lost link,
//! a "pending" from the phone — leaves the order in doubt until the
//! platform says it was credited, or the offer has expired uncredited
//! (the server never credits an expired offer): only then does the
//! cashier hand the cash back ([`resolver`]).

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use wayfare_protocol::ids::redact;
use wayfare_protocol::money::{validate_amount, Currency};
use wayfare_protocol::top_up::{TopUpOffer, TopUpOfferBody, MAX_OFFER_LIFETIME_MS};

use crate::error::{Result, TerminalError};

pub(crate) mod control;
pub(crate) mod resolver;

/// Top-up terminal settings (`mode = { kind = "top_up", … }`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopUpConfig {
    /// Currency of the cash taken.
    pub currency: Currency,
    /// How long an offer stays claimable (ms, at most 10 minutes): also
    /// how long a declined or interrupted top-up waits before the cash can
    /// safely go back to the rider.
    #[serde(default = "default_offer_ttl")]
    pub offer_ttl_ms: u64,
    /// The largest amount a cashier may enter, in minor units.
    #[serde(default = "default_max_amount")]
    pub max_amount_minor: u64,
}

fn default_offer_ttl() -> u64 {
    120_000
}

fn default_max_amount() -> u64 {
    50_000
}

impl TopUpConfig {
    /// Checks the settings; says which one is wrong.
    pub(crate) fn validate(&self) -> std::result::Result<(), String> {
        if !(1_000..=MAX_OFFER_LIFETIME_MS).contains(&self.offer_ttl_ms) {
            return Err(format!(
                "mode.offer_ttl_ms = {} must be between 1000 and {MAX_OFFER_LIFETIME_MS} (10 minutes)",
                self.offer_ttl_ms
            ));
        }
        validate_amount(i128::from(self.max_amount_minor))
            .map_err(|e| format!("mode.max_amount_minor: {e}"))?;
        Ok(())
    }
}

/// An offer this terminal signed and a phone may have seen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct HeldOffer {
    /// The signed offer (base64url COSE), sent unchanged to every phone
    /// that connects for this order.
    pub offer: String,
    /// Its body, for the checks and the cashier.
    pub order_id: String,
    /// Amount offered.
    pub amount_minor: u64,
    /// After this no claim is credited (Unix ms).
    pub expires_at_ms: u64,
    /// Why the outcome is unknown; `None` while no session has ended
    /// without a verdict.
    #[serde(default)]
    pub in_doubt: Option<String>,
}

impl HeldOffer {
    /// A held offer for a freshly signed `offer`.
    pub(crate) fn new(offer: &TopUpOffer, body: &TopUpOfferBody) -> Self {
        Self {
            offer: offer.to_base64(),
            order_id: body.order_id.clone(),
            amount_minor: body.amount_minor,
            expires_at_ms: body.expires_at_ms,
            in_doubt: None,
        }
    }

    /// The signed offer.
    pub(crate) fn signed(&self) -> Result<TopUpOffer> {
        TopUpOffer::from_base64(&self.offer)
            .map_err(|e| TerminalError::Store(format!("unreadable held top-up offer: {e}")))
    }
}

/// Every offer not yet settled, in memory and in sled.
pub(crate) struct OfferBook {
    tree: sled::Tree,
    offers: Mutex<HashMap<String, HeldOffer>>,
}

impl std::fmt::Debug for OfferBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OfferBook")
            .field("len", &self.lock().len())
            .finish()
    }
}

impl OfferBook {
    /// Loads the offers an earlier run left unsettled.
    pub(crate) fn open(tree: sled::Tree) -> Result<Self> {
        let mut offers = HashMap::new();
        for entry in tree.iter() {
            let (key, value) = entry?;
            match serde_json::from_slice::<HeldOffer>(&value) {
                Ok(held) => {
                    offers.insert(held.order_id.clone(), held);
                }
                Err(e) => {
                    tracing::error!(error = %e, "dropping an unreadable top-up offer record");
                    let _ = tree.remove(key);
                }
            }
        }
        Ok(Self {
            tree,
            offers: Mutex::new(offers),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, HeldOffer>> {
        // Every update is one insert or remove: a panic elsewhere cannot
        // leave the map half-changed.
        self.offers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps an offer (durably, flushed) before a phone may see it.
    pub(crate) async fn keep(&self, held: HeldOffer) -> Result<()> {
        let bytes = serde_json::to_vec(&held)
            .map_err(|e| TerminalError::Store(format!("cannot encode a top-up offer: {e}")))?;
        self.tree.insert(held.order_id.as_bytes(), bytes)?;
        crate::durable::flush(&self.tree).await?;
        self.lock().insert(held.order_id.clone(), held);
        Ok(())
    }

    /// The held offer of an order.
    pub(crate) fn get(&self, order_id: &str) -> Option<HeldOffer> {
        self.lock().get(order_id).cloned()
    }

    /// Every held offer.
    pub(crate) fn list(&self) -> Vec<HeldOffer> {
        self.lock().values().cloned().collect()
    }

    /// Takes the right to settle an order: exactly one caller (the session
    /// with the receipt, or the resolver) gets it; the others get `None`
    /// and must not print or report it.
    pub(crate) fn settle(&self, order_id: &str) -> Option<HeldOffer> {
        let held = self.lock().remove(order_id);
        if held.is_some() {
            if let Err(e) = self.tree.remove(order_id.as_bytes()) {
                tracing::error!(order = %redact(order_id), error = %e, "cannot drop a settled top-up offer from sled");
            }
        }
        held
    }
}
