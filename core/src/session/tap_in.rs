//! The tap-in token this phone holds (P3.6), in the wallet database (tree
//! `tap_in_tokens`). An entry terminal issues it; the core verifies it with
//! the pinned operator key before keeping it, presents it to the next tram
//! or gate terminal (`SessionMessage::TapIn`) and forgets it once a trip was
//! charged on exit (or the terminal charged the maximum fare instead).
//! One token is held at a time: a new entry replaces the previous token.

use serde::{Deserialize, Serialize};
use wayfare_protocol::keys::PublicKey;
use wayfare_protocol::tap_in::{TapInBody, TapInToken};

use crate::store::{Store, StoreError};

const TREE: &str = "tap_in_tokens";
const CURRENT: &[u8] = b"current";

fn corrupt(reason: impl ToString) -> StoreError {
    StoreError::Corrupt {
        tree: TREE,
        reason: reason.to_string(),
    }
}

/// The held token and what it says (verified when it was kept).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct HeldToken {
    /// The COSE token, base64url.
    pub token: String,
    /// Its id.
    pub token_id: String,
    /// Line of the trip.
    pub line: String,
    /// Boarding station.
    pub station: String,
    /// Boarding time (Unix ms).
    pub tapped_in_at_ms: u64,
    /// After this the token is worthless (Unix ms).
    pub expires_at_ms: u64,
}

/// A handle on the tree. Cheap to create.
#[derive(Clone)]
pub(crate) struct TapInStore {
    store: Store,
    tree: sled::Tree,
}

impl TapInStore {
    /// The tree of an open store.
    pub(crate) fn new(store: &Store) -> Result<Self, StoreError> {
        Ok(Self {
            store: store.clone(),
            tree: store.tree(TREE)?,
        })
    }

    /// The held token, if any and not expired at `now_ms`.
    pub(crate) fn current(&self, now_ms: u64) -> Result<Option<HeldToken>, StoreError> {
        let Some(raw) = self.tree.get(CURRENT)? else {
            return Ok(None);
        };
        let held: HeldToken = serde_json::from_slice(&raw).map_err(corrupt)?;
        Ok((now_ms <= held.expires_at_ms).then_some(held))
    }

    /// Verifies a token an entry terminal issued and keeps it (replacing
    /// any other). A token that does not verify is refused.
    pub(crate) async fn keep(
        &self,
        token: &TapInToken,
        issued_by: &str,
        operator: &PublicKey,
        now_ms: u64,
    ) -> Result<TapInBody, KeepError> {
        let (body, cert) = token.verify(operator, now_ms).map_err(KeepError::Invalid)?;
        // Only the transit terminal of this session, registered to record
        // entries on the token's line at the token's station, replaces the
        // held token (issue 8.2): a shop's POS cannot overwrite it.
        if body.terminal_id != issued_by {
            return Err(KeepError::NotAnEntry(
                "the token was issued by another terminal than this one".into(),
            ));
        }
        cert.check_tap_in_issuer(&body.line, &body.station, body.station_index)
            .map_err(KeepError::NotAnEntry)?;
        let held = HeldToken {
            token: token.to_base64(),
            token_id: body.token_id.clone(),
            line: body.line.clone(),
            station: body.station.clone(),
            tapped_in_at_ms: body.tapped_in_at_ms,
            expires_at_ms: body.expires_at_ms,
        };
        let raw = serde_json::to_vec(&held).map_err(|e| KeepError::Store(corrupt(e)))?;
        self.tree
            .insert(CURRENT, raw)
            .map_err(|e| KeepError::Store(e.into()))?;
        self.store.flush().await.map_err(KeepError::Store)?;
        Ok(body)
    }

    /// Forgets the held token (whichever it is).
    pub(crate) async fn forget(&self) -> Result<(), StoreError> {
        self.tree.remove(CURRENT)?;
        self.store.flush().await
    }
}

/// What a tap at a tram or gate terminal did (`TerminalSession::tap`).
// Exported through uniffi, which has no boxed variants; one per tap.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum TapOutcome {
    /// An entry was recorded: the phone now holds a tap-in token for the
    /// exit. Nothing was paid.
    Entered {
        /// Boarding station.
        station: String,
        /// Line.
        line: String,
        /// When the token stops being honoured (Unix ms).
        token_expires_at_ms: u64,
        /// The terminal's message, e.g. "Tap-in recorded at Central".
        message: String,
    },
    /// The terminal asks for a payment (a flat fare, the fare of the trip
    /// that ends here, or the maximum fare with its reason in the
    /// description): call `confirm()` or `decline()`.
    PaymentRequested {
        /// The request.
        request: crate::session::PaymentRequestInfo,
    },
    /// A `top_up` terminal (counter or kiosk) offers the cash the cashier
    /// took, checked against the connected terminal: show it, then call
    /// `accept_top_up()` or `decline_top_up()`.
    TopUpOffered {
        /// The offer.
        offer: crate::session::TopUpOfferInfo,
    },
}

/// Why a token was not kept.
#[derive(Debug, thiserror::Error)]
pub(crate) enum KeepError {
    /// It did not verify (forged, expired, unknown operator).
    #[error("the tap-in token does not verify: {0}")]
    Invalid(wayfare_protocol::ProtocolError),
    /// Genuine, but its terminal may not record this entry.
    #[error("the tap-in token is not a valid entry: {0}")]
    NotAnEntry(String),
    /// The database failed.
    #[error(transparent)]
    Store(StoreError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ScratchDb;
    use wayfare_protocol::certificate::{CertificateBody, TerminalCertificate};
    use wayfare_protocol::keys::SigningKey;
    use wayfare_protocol::messages::TerminalKind;

    fn token(operator: &SigningKey, expires_at_ms: u64) -> TapInToken {
        token_from(operator, expires_at_ms, TerminalKind::Gate, true)
    }

    fn token_from(
        operator: &SigningKey,
        expires_at_ms: u64,
        kind: TerminalKind,
        placed: bool,
    ) -> TapInToken {
        let key = SigningKey::generate().unwrap();
        let certificate = TerminalCertificate::issue(
            operator,
            &CertificateBody {
                version: 1,
                terminal_id: "term_e".into(),
                merchant_id: "mer_1".into(),
                merchant_name: "Tram".into(),
                kind,
                terminal_key: key.public_key(),
                not_before_ms: 0,
                not_after_ms: 10_000_000,
                transit: placed.then(|| wayfare_protocol::certificate::TransitPlacement {
                    line: "T1".into(),
                    station: "Central".into(),
                    station_index: 1,
                    issues_tap_in: true,
                }),
            },
        )
        .unwrap();
        TapInToken::issue(
            &key,
            &TapInBody {
                version: 1,
                token_id: "tap_1".into(),
                terminal_id: "term_e".into(),
                line: "T1".into(),
                station: "Central".into(),
                station_index: 1,
                direction_from: "A".into(),
                direction_towards: "B".into(),
                tapped_in_at_ms: 1_000,
                expires_at_ms,
                certificate,
            },
        )
        .unwrap()
    }

    #[tokio::test]
    async fn genuine_tokens_are_kept_until_expiry_or_forgotten() {
        let scratch = ScratchDb::new();
        let store = scratch.open().await;
        let tokens = TapInStore::new(&store).unwrap();
        let operator = SigningKey::generate().unwrap();
        let other = SigningKey::generate().unwrap();
        assert!(tokens.current(0).unwrap().is_none());

        let forged = token(&other, 5_000);
        assert!(matches!(
            tokens
                .keep(&forged, "term_e", &operator.public_key(), 2_000)
                .await,
            Err(KeepError::Invalid(_))
        ));
        assert!(tokens.current(2_000).unwrap().is_none());

        let good = token(&operator, 5_000);
        let body = tokens
            .keep(&good, "term_e", &operator.public_key(), 2_000)
            .await
            .unwrap();
        assert_eq!(body.station, "Central");
        let held = tokens.current(3_000).unwrap().unwrap();
        assert_eq!(held.token, good.to_base64());
        assert!(
            tokens.current(5_001).unwrap().is_none(),
            "expired tokens are not presented"
        );
        tokens.forget().await.unwrap();
        assert!(tokens.current(3_000).unwrap().is_none());
    }

    /// Issue 8.2: the held token is replaced only by an entry its own
    /// terminal may record: not by a POS, an unplaced or exit-only
    /// terminal, or a token naming another terminal than the session's.
    #[tokio::test]
    async fn only_tokens_from_a_placed_entry_terminal_of_the_session_are_kept() {
        let scratch = ScratchDb::new();
        let store = scratch.open().await;
        let tokens = TapInStore::new(&store).unwrap();
        let operator = SigningKey::generate().unwrap();
        let op = operator.public_key();
        for (what, t) in [
            (
                "a POS",
                token_from(&operator, 5_000, TerminalKind::Pos, true),
            ),
            (
                "an unplaced gate",
                token_from(&operator, 5_000, TerminalKind::Gate, false),
            ),
        ] {
            assert!(
                matches!(
                    tokens.keep(&t, "term_e", &op, 2_000).await,
                    Err(KeepError::NotAnEntry(_))
                ),
                "{what}"
            );
        }
        let good = token(&operator, 5_000);
        assert!(matches!(
            tokens.keep(&good, "term_other", &op, 2_000).await,
            Err(KeepError::NotAnEntry(_))
        ));
        assert!(tokens.current(2_000).unwrap().is_none());
        tokens.keep(&good, "term_e", &op, 2_000).await.unwrap();
        assert!(tokens.current(2_000).unwrap().is_some());
    }
}
