//! Tap-in/tap-out (P3.6): on entry the terminal gives the phone a signed
//! tap-in token and charges nothing; on exit it verifies the token, prices
//! the trip from the operator's fare table and charges it like any fare.
//!
//! A missing, forged, expired, reused or other-line token at an exit gets
//! the table's maximum fare with the reason in the request's description:
//! never a free ride. The terminal remembers the token ids it honoured (in
//! sled, so across restarts); the control center refuses a second payment
//! naming the same token id, which covers exits at other terminals.
//!
//! The entry is recorded with the control center only as a terminal report
//! (`tap_in`, no amount); the exit payment's fare context carries the entry
//! station, time and token id, so the guardian's alert says where the ride
//! began and ended.

use wayfare_protocol::fare::{FareContext, FareDirection, FareMode, TripEntry};
use wayfare_protocol::ids::new_id;
use wayfare_protocol::keys::PublicKey;
use wayfare_protocol::tap_in::{TapInBody, TapInToken};
use wayfare_protocol::PROTOCOL_VERSION;

use crate::config::{TapConfig, TapRole};
use crate::error::{Result, TerminalError};
use crate::keys::TerminalIdentity;
use crate::sale::Sale;

/// The token ids this terminal already honoured.
#[derive(Clone, Debug)]
pub(crate) struct UsedTokens {
    tree: sled::Tree,
}

impl UsedTokens {
    /// Wraps the sled tree and drops ids whose tokens expired long ago
    /// (an expired token is refused anyway).
    pub(crate) fn new(tree: sled::Tree, now_ms: u64) -> Self {
        for (key, value) in tree.iter().flatten() {
            let expires = value
                .as_ref()
                .try_into()
                .map(u64::from_be_bytes)
                .unwrap_or(0);
            if expires < now_ms {
                let _ = tree.remove(key);
            }
        }
        Self { tree }
    }

    fn contains(&self, token_id: &str) -> bool {
        self.tree.contains_key(token_id).unwrap_or(true)
    }

    /// Records an honoured token durably.
    pub(crate) async fn remember(&self, token_id: &str, expires_at_ms: u64) -> Result<()> {
        self.tree
            .insert(token_id, &expires_at_ms.to_be_bytes())
            .map_err(TerminalError::from)?;
        crate::durable::flush(&self.tree)
            .await
            .map_err(TerminalError::from)?;
        Ok(())
    }
}

/// What the phone's token (or its absence) means here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TokenCheck {
    /// No token presented.
    Missing,
    /// A genuine token of another line.
    OtherLine(String),
    /// Not signed by a terminal the operator certified.
    Forged(String),
    /// Genuine, but its issuer may not record entries there: a POS or
    /// another merchant's terminal, or a station other than the one the
    /// operator registered for it (P3.6: the lowest band cannot be minted).
    NotAnEntry(String),
    /// Genuine, of this line, past its validity (the maximum fare closes
    /// its open entry at the control center).
    Expired(TapInBody),
    /// Genuine, of this line, already honoured here.
    Reused,
    /// Genuine, fresh, of this line, not used before.
    Valid(TapInBody),
}

/// Judges a presented token.
pub(crate) fn check_token(
    token: Option<&TapInToken>,
    config: &TapConfig,
    operator: &PublicKey,
    own_merchant: &str,
    used: &UsedTokens,
    now_ms: u64,
) -> TokenCheck {
    let Some(token) = token else {
        return TokenCheck::Missing;
    };
    let verified = token
        .verify_authentic(operator, now_ms)
        .map(|(body, cert)| {
            let issuer = cert.check_tap_in_issuer(&body.line, &body.station, body.station_index);
            (body, cert, issuer)
        });
    match verified {
        Err(e) => TokenCheck::Forged(e.to_string()),
        Ok((body, _, _)) if body.line != config.line => TokenCheck::OtherLine(body.line),
        Ok((_, cert, _)) if cert.merchant_id != own_merchant => TokenCheck::NotAnEntry(
            "the tap-in token was issued by another operator's terminal".into(),
        ),
        Ok((_, _, Err(why))) => TokenCheck::NotAnEntry(why),
        Ok((body, _, _)) if body.check_fresh(now_ms).is_err() => TokenCheck::Expired(body),
        Ok((body, _, _)) if used.contains(&body.token_id) => TokenCheck::Reused,
        Ok((body, _, _)) => TokenCheck::Valid(body),
    }
}

/// What the terminal does for this phone.
// One per session, consumed at once: boxing the exit would only add noise.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Record the entry: issue a token.
    Entry,
    /// Charge this exit; `token` is the honoured token (id, expiry).
    Exit {
        sale: Sale,
        fare: FareContext,
        token: Option<(String, u64)>,
    },
}

/// The fare context of a trip at this terminal, shared by the exit
/// payment and the session's tap-in report.
pub(crate) fn context(config: &TapConfig, mode: FareMode, entry: Option<TripEntry>) -> FareContext {
    FareContext {
        mode,
        line: config.line.clone(),
        vehicle: config.vehicle.clone(),
        direction: FareDirection {
            from: config.direction_from.clone(),
            towards: config.direction_towards.clone(),
        },
        station: config.station.clone(),
        station_index: config.station_index,
        entry,
    }
}

/// An exit charging `amount_minor` for the journey `body` began, with the
/// entry in the fare context (the control center closes the entry with it).
fn exit_for(
    config: &TapConfig,
    body: &TapInBody,
    mode: FareMode,
    amount_minor: u64,
    description: String,
) -> Result<Plan> {
    let entry = TripEntry {
        station: body.station.clone(),
        station_index: body.station_index,
        at_ms: body.tapped_in_at_ms,
        token_id: body.token_id.clone(),
    };
    Ok(Plan::Exit {
        sale: Sale {
            order_id: new_id("ord")?,
            amount_minor,
            description,
        },
        fare: context(config, mode, Some(entry)),
        token: Some((body.token_id.clone(), body.expires_at_ms)),
    })
}

/// Decides entry or exit and prices an exit.
pub(crate) fn plan(config: &TapConfig, check: TokenCheck, now_ms: u64) -> Result<Plan> {
    let reason = match (&check, config.role) {
        (_, TapRole::Entry) => return Ok(Plan::Entry),
        (TokenCheck::Missing | TokenCheck::OtherLine(_), TapRole::Both) => return Ok(Plan::Entry),
        (TokenCheck::Valid(body), _) => {
            let quote = config.fare_table.price(
                body.station_index,
                config.station_index,
                body.tapped_in_at_ms,
                now_ms,
            );
            let description = format!(
                "Fare {} from {} to {}",
                config.line, body.station, config.station
            );
            return exit_for(
                config,
                body,
                FareMode::TapOut,
                quote.amount_minor,
                description,
            );
        }
        (TokenCheck::Missing, _) => "no tap-in token was presented".to_string(),
        (TokenCheck::OtherLine(line), _) => format!("the tap-in token is for line {line}"),
        (TokenCheck::Forged(_), _) => "the tap-in token is not genuine".to_string(),
        (TokenCheck::NotAnEntry(why), _) => format!("the tap-in token is not a valid entry: {why}"),
        (TokenCheck::Expired(body), _) => {
            // The journey is charged the maximum here, once: the entry goes
            // with the fare so the control center closes it (and refuses
            // the token again).
            let description = format!(
                "Maximum fare {} at {}: the tap-in token has expired",
                config.line, config.station
            );
            let maximum = config.fare_table.maximum_minor();
            return exit_for(config, body, FareMode::MaximumFare, maximum, description);
        }
        (TokenCheck::Reused, _) => "the tap-in token was already used".to_string(),
    };
    Ok(Plan::Exit {
        sale: Sale {
            order_id: new_id("ord")?,
            amount_minor: config.fare_table.maximum_minor(),
            description: format!(
                "Maximum fare {} at {}: {reason}",
                config.line, config.station
            ),
        },
        fare: context(config, FareMode::MaximumFare, None),
        token: None,
    })
}

/// A fresh token for a phone entering at this terminal.
pub(crate) fn issue(
    config: &TapConfig,
    identity: &TerminalIdentity,
    now_ms: u64,
) -> Result<(TapInToken, TapInBody)> {
    let body = TapInBody {
        version: PROTOCOL_VERSION,
        token_id: new_id("tap")?,
        terminal_id: identity.body.terminal_id.clone(),
        line: config.line.clone(),
        station: config.station.clone(),
        station_index: config.station_index,
        direction_from: config.direction_from.clone(),
        direction_towards: config.direction_towards.clone(),
        tapped_in_at_ms: now_ms,
        expires_at_ms: now_ms.saturating_add(config.token_ttl_ms),
        certificate: identity.certificate.clone(),
    };
    let token = TapInToken::issue(&identity.key, &body)?;
    Ok((token, body))
}

#[cfg(test)]
mod tests;
