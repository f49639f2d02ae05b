//! The claims this phone signed, in the wallet database (tree
//! `kiosk_claims`, keyed by terminal and order). A claim is kept before the
//! server hears of it, so every retry — and a second accept of the same
//! offer after a lost answer — sends the very same signed bytes: the
//! server credits a (terminal, order) once, and this phone never signs a
//! second, different claim for it.

use serde::{Deserialize, Serialize};
use wayfare_protocol::top_up::{TopUpClaim, TopUpClaimBody, TopUpOfferBody};
use wayfare_protocol::PROTOCOL_VERSION;

use super::Offered;
use crate::store::{Store, StoreError};
use crate::wallet::DeviceIdentity;

const TREE: &str = "kiosk_claims";

/// One claim and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredClaim {
    /// The signed offer (COSE, base64url).
    pub offer: String,
    /// The signed claim (COSE, base64url).
    pub claim: String,
    /// The server's top-up id, once credited.
    #[serde(default)]
    pub top_up_id: Option<String>,
    /// The verified receipt, once credited.
    #[serde(default)]
    pub receipt: Option<String>,
}

/// A handle on the tree. Cheap to create.
pub(crate) struct ClaimStore {
    store: Store,
    tree: sled::Tree,
}

fn key(offer: &TopUpOfferBody) -> Vec<u8> {
    let mut key = offer.terminal_id.as_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(offer.order_id.as_bytes());
    key
}

fn corrupt(reason: impl ToString) -> StoreError {
    StoreError::Corrupt {
        tree: TREE,
        reason: reason.to_string(),
    }
}

impl ClaimStore {
    /// The tree of an open store.
    pub(crate) fn new(store: &Store) -> Result<Self, StoreError> {
        Ok(Self {
            store: store.clone(),
            tree: store.tree(TREE)?,
        })
    }

    /// The claim of this offer: the one kept earlier for the same signed
    /// offer, or a new one signed by this device and made durable before
    /// it is returned.
    pub(crate) async fn claim_for(
        &self,
        offered: &Offered,
        id: &DeviceIdentity,
        now_ms: u64,
    ) -> Result<StoredClaim, ClaimError> {
        let offer_text = offered.offer.to_base64();
        if let Some(kept) = self.get(&offered.body)? {
            if kept.offer == offer_text {
                return Ok(kept);
            }
            // The terminal signed another offer under the same order id:
            // never claim two offers of one order.
            return Err(ClaimError::OtherOffer);
        }
        let body = TopUpClaimBody {
            version: PROTOCOL_VERSION,
            account_id: id.account_id.clone(),
            device_id: id.device_id.clone(),
            order_id: offered.body.order_id.clone(),
            terminal_id: offered.body.terminal_id.clone(),
            amount_minor: offered.body.amount_minor,
            currency: offered.body.currency.clone(),
            offer_digest: offered.offer.digest(),
            signed_at_ms: now_ms,
        };
        let claim = TopUpClaim::sign(&id.key, &body).map_err(ClaimError::Signing)?;
        let kept = StoredClaim {
            offer: offer_text,
            claim: claim.to_base64(),
            top_up_id: None,
            receipt: None,
        };
        self.put(&offered.body, &kept).await?;
        Ok(kept)
    }

    /// Records the credit of a kept claim.
    pub(crate) async fn credited(
        &self,
        offer: &TopUpOfferBody,
        mut kept: StoredClaim,
        top_up_id: &str,
        receipt: &str,
    ) -> Result<(), StoreError> {
        kept.top_up_id = Some(top_up_id.to_string());
        kept.receipt = Some(receipt.to_string());
        self.put(offer, &kept).await
    }

    /// The claim kept for this offer's (terminal, order), if any.
    pub(crate) fn get(&self, offer: &TopUpOfferBody) -> Result<Option<StoredClaim>, StoreError> {
        match self.tree.get(key(offer))? {
            Some(raw) => serde_json::from_slice(&raw).map(Some).map_err(corrupt),
            None => Ok(None),
        }
    }

    async fn put(&self, offer: &TopUpOfferBody, kept: &StoredClaim) -> Result<(), StoreError> {
        let raw = serde_json::to_vec(kept).map_err(corrupt)?;
        self.tree.insert(key(offer), raw)?;
        self.store.flush().await
    }
}

/// Why no claim could be made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClaimError {
    /// The wallet database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The device key could not sign.
    #[error("the claim could not be signed: {0}")]
    Signing(wayfare_protocol::ProtocolError),
    /// This phone already claimed another offer of the same order.
    #[error(
        "this phone already claimed another offer of this order; ask the cashier for a new order"
    )]
    OtherOffer,
}
