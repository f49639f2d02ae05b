//! The express tap (DESIGN's tap budget): a gate decides offline, in two
//! NFC round trips, from objects it can verify with keys it already pins.
//!
//! - [`Allowance`]: the payment server's signed promise that taps signed
//!   by one *tap key* are honoured up to a per-tap and a total cap until an
//!   expiry. The phone generates the tap key for each allowance, so
//!   allowances carry no account and rotate on every refresh.
//! - [`ExpressOffer`]: the terminal's challenge and fare terms (plain CBOR;
//!   the phone checks them against the rider's caps before it signs).
//! - [`ExpressTap`]: the phone's tap-key signature over the offer's
//!   challenge, terminal and amount, with a per-allowance counter and the
//!   total already spent under the allowance.
//! - [`DenyList`]: the server's signed list of revoked allowances (lost
//!   phones, riders in debt, express switched off), synced by terminals.
//!
//! Wire budget: the allowance travels in the `SELECT` answer and the tap
//! in the `EXPRESS` answer, each one short APDU (at most 256 bytes), so
//! the bodies use one- and two-letter keys. Allowance and deny list are
//! signed with the server's receipt key under their own purposes.

use serde::{Deserialize, Serialize};

use crate::error::{ProtocolError, Result};
use crate::keys::{PublicKey, SigningKey};
use crate::signed::{self, check_validity, signed_object};

const ALLOWANCE_PURPOSE: &[u8] = b"wayfare/express-allowance/v1";
const TAP_PURPOSE: &[u8] = b"wayfare/express-tap/v1";
const DENY_LIST_PURPOSE: &[u8] = b"wayfare/express-deny-list/v1";

/// Version of the express objects.
pub const EXPRESS_VERSION: u16 = 1;
/// Bytes of a terminal's challenge.
pub const CHALLENGE_LEN: usize = 16;
/// Largest encoded offer: it must fit one short command APDU.
pub const MAX_OFFER_LEN: usize = 255;
/// Largest allowance or tap: each must fit one short response APDU.
pub const MAX_CARD_ANSWER_LEN: usize = 256;
/// Longest station or line name carried in an offer (bytes).
pub const MAX_PLACE_LEN: usize = 32;

/// What the server promises. Fields in canonical order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllowanceBody {
    /// Version ([`EXPRESS_VERSION`]).
    #[serde(rename = "v")]
    pub version: u16,
    /// The allowance's id (`alw_…`): what terminals and the deny list name.
    #[serde(rename = "id")]
    pub allowance_id: String,
    /// The phone's tap key for this allowance.
    #[serde(rename = "k")]
    pub tap_key: PublicKey,
    /// Largest single tap (minor units).
    #[serde(rename = "pt")]
    pub per_tap_max_minor: u64,
    /// Largest total of all taps under this allowance (minor units).
    #[serde(rename = "tt")]
    pub total_max_minor: u64,
    /// Currency of every tap.
    #[serde(rename = "c")]
    pub currency: String,
    /// The device's allowance sequence: each new allowance counts up.
    #[serde(rename = "s")]
    pub sequence: u64,
    /// Issued at (Unix ms).
    #[serde(rename = "ia")]
    pub issued_at_ms: u64,
    /// Not honoured after (Unix ms).
    #[serde(rename = "ea")]
    pub expires_at_ms: u64,
}

signed_object!(
    /// A server-signed allowance (COSE_Sign1).
    Allowance
);

impl Allowance {
    /// Signs an allowance with the server's key.
    pub fn issue(server: &SigningKey, body: &AllowanceBody) -> Result<Self> {
        body.check_shape()?;
        Ok(Self(signed::sign(server, ALLOWANCE_PURPOSE, body)?))
    }

    /// Verifies the server's signature, the shape and the validity window.
    pub fn verify(&self, server: &PublicKey, now_ms: u64) -> Result<AllowanceBody> {
        let body = self.verify_signature(server)?;
        check_validity("allowance", body.issued_at_ms, body.expires_at_ms, now_ms)?;
        Ok(body)
    }

    /// Verifies signature and shape only: the server settles taps made
    /// while the allowance was valid, even after it expired.
    pub fn verify_signature(&self, server: &PublicKey) -> Result<AllowanceBody> {
        let body: AllowanceBody = signed::verify(&self.0, ALLOWANCE_PURPOSE, server, "allowance")?;
        body.check_shape()?;
        Ok(body)
    }

    /// Reads the body without checking anything (the phone's own copy).
    pub fn peek(&self) -> Result<AllowanceBody> {
        signed::peek(&self.0, "allowance")
    }
}

impl AllowanceBody {
    fn check_shape(&self) -> Result<()> {
        if self.version != EXPRESS_VERSION {
            return Err(ProtocolError::UnsupportedVersion(self.version));
        }
        if self.per_tap_max_minor == 0 || self.per_tap_max_minor > self.total_max_minor {
            return Err(invalid(
                "allowance.caps",
                "per-tap cap must be 1..=total cap",
            ));
        }
        if self.expires_at_ms <= self.issued_at_ms {
            return Err(invalid(
                "allowance.expires_at_ms",
                "expires before it is issued",
            ));
        }
        if self.allowance_id.is_empty() || self.allowance_id.len() > 40 {
            return Err(invalid("allowance.id", "empty or longer than 40 bytes"));
        }
        Ok(())
    }
}

/// The terminal's fare terms and challenge (terminal → phone).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpressOffer {
    /// The terminal asking.
    #[serde(rename = "t")]
    pub terminal_id: String,
    /// Its merchant (operator) name, for the rider's history.
    #[serde(rename = "mn")]
    pub merchant_name: String,
    /// Line, for the rider's history (may be empty).
    #[serde(rename = "ln")]
    pub line: String,
    /// Station, for the rider's history (may be empty).
    #[serde(rename = "st")]
    pub station: String,
    /// The fare (minor units).
    #[serde(rename = "f")]
    pub amount_minor: u64,
    /// Its currency.
    #[serde(rename = "c")]
    pub currency: String,
    /// Fresh random bytes: the signed tap answers this offer only.
    #[serde(rename = "ch", with = "serde_bytes")]
    pub challenge: Vec<u8>,
    /// The terminal's clock (Unix ms), for the rider's history.
    #[serde(rename = "at")]
    pub at_ms: u64,
}

impl ExpressOffer {
    /// Encodes the offer, refusing one that does not fit a short APDU.
    pub fn encode(&self) -> Result<Vec<u8>> {
        self.check_shape()?;
        let bytes = crate::codec::to_cbor(self)?;
        if bytes.len() > MAX_OFFER_LEN {
            return Err(ProtocolError::FrameTooLarge {
                len: bytes.len(),
                max: MAX_OFFER_LEN,
            });
        }
        Ok(bytes)
    }

    /// Decodes and checks an offer from a reader.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_OFFER_LEN {
            return Err(ProtocolError::FrameTooLarge {
                len: bytes.len(),
                max: MAX_OFFER_LEN,
            });
        }
        let offer: Self = crate::codec::from_cbor(bytes)?;
        offer.check_shape()?;
        Ok(offer)
    }

    fn check_shape(&self) -> Result<()> {
        if self.challenge.len() != CHALLENGE_LEN {
            return Err(invalid("offer.challenge", "must be 16 bytes"));
        }
        if self.amount_minor == 0 {
            return Err(invalid("offer.amount_minor", "must be positive"));
        }
        if self.terminal_id.is_empty() {
            return Err(invalid("offer.terminal_id", "empty"));
        }
        if self.station.len() > MAX_PLACE_LEN || self.line.len() > MAX_PLACE_LEN {
            return Err(invalid("offer.station", "longer than 32 bytes"));
        }
        Ok(())
    }
}

/// What the phone signs with the allowance's tap key. Fields in canonical
/// order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpressTapBody {
    /// The allowance the tap is made under.
    #[serde(rename = "a")]
    pub allowance_id: String,
    /// This tap's number under the allowance (1, 2, …): the server charges
    /// each (allowance, counter) once.
    #[serde(rename = "n")]
    pub counter: u32,
    /// The terminal the tap is for (the server pays only its merchant).
    #[serde(rename = "t")]
    pub terminal_id: String,
    /// The amount authorised (minor units), in the allowance's currency.
    #[serde(rename = "f")]
    pub amount_minor: u64,
    /// The offer's challenge.
    #[serde(rename = "ch", with = "serde_bytes")]
    pub challenge: Vec<u8>,
    /// The total the phone authorised under this allowance before this tap.
    #[serde(rename = "sp")]
    pub spent_before_minor: u64,
}

signed_object!(
    /// A tap signed by the phone's tap key (COSE_Sign1).
    ExpressTap
);

impl ExpressTap {
    /// Signs a tap with the allowance's tap key.
    pub fn sign(tap_key: &SigningKey, body: &ExpressTapBody) -> Result<Self> {
        Ok(Self(signed::sign(tap_key, TAP_PURPOSE, body)?))
    }

    /// The terminal's check: signed by the allowance's tap key, answering
    /// this offer, within the allowance's caps.
    pub fn verify_for_offer(
        &self,
        allowance: &AllowanceBody,
        offer: &ExpressOffer,
    ) -> Result<ExpressTapBody> {
        let body = self.verify(allowance)?;
        if body.terminal_id != offer.terminal_id {
            return Err(invalid("tap.terminal_id", "not this terminal"));
        }
        if body.challenge != offer.challenge {
            return Err(invalid("tap.challenge", "does not answer this offer"));
        }
        if body.amount_minor != offer.amount_minor || allowance.currency != offer.currency {
            return Err(invalid("tap.amount_minor", "not the offered fare"));
        }
        Ok(body)
    }

    /// The server's check: signed by the allowance's tap key and within
    /// its caps (the terminal and amount are checked against the uploading
    /// terminal by the caller).
    pub fn verify(&self, allowance: &AllowanceBody) -> Result<ExpressTapBody> {
        let body: ExpressTapBody =
            signed::verify(&self.0, TAP_PURPOSE, &allowance.tap_key, "express tap")?;
        if body.allowance_id != allowance.allowance_id {
            return Err(invalid("tap.allowance_id", "not the presented allowance"));
        }
        if body.counter == 0 {
            return Err(invalid("tap.counter", "counters start at 1"));
        }
        if body.amount_minor == 0 || body.amount_minor > allowance.per_tap_max_minor {
            return Err(invalid(
                "tap.amount_minor",
                "above the allowance's per-tap cap",
            ));
        }
        let total = body
            .spent_before_minor
            .checked_add(body.amount_minor)
            .ok_or_else(|| invalid("tap.spent_before_minor", "overflows"))?;
        if total > allowance.total_max_minor {
            return Err(invalid(
                "tap.spent_before_minor",
                "above the allowance's total cap",
            ));
        }
        if body.challenge.len() != CHALLENGE_LEN {
            return Err(invalid("tap.challenge", "must be 16 bytes"));
        }
        Ok(body)
    }

    /// Reads the body without checking anything (for logs and queues).
    pub fn peek(&self) -> Result<ExpressTapBody> {
        signed::peek(&self.0, "express tap")
    }
}

/// The server's list of allowances terminals must refuse. Fields in
/// canonical order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DenyListBody {
    /// Increases with every change: terminals keep the newest.
    pub version: u64,
    /// Issued at (Unix ms): terminals refuse express taps when their copy
    /// is older than they allow.
    pub issued_at_ms: u64,
    /// Revoked allowances that have not expired yet.
    pub allowance_ids: Vec<String>,
}

signed_object!(
    /// A server-signed deny list (COSE_Sign1).
    DenyList
);

impl DenyList {
    /// Signs a deny list with the server's key.
    pub fn issue(server: &SigningKey, body: &DenyListBody) -> Result<Self> {
        Ok(Self(signed::sign(server, DENY_LIST_PURPOSE, body)?))
    }

    /// Verifies the server's signature.
    pub fn verify(&self, server: &PublicKey) -> Result<DenyListBody> {
        signed::verify(&self.0, DENY_LIST_PURPOSE, server, "deny list")
    }
}

fn invalid(field: &'static str, reason: &str) -> ProtocolError {
    ProtocolError::InvalidField {
        field,
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests;
