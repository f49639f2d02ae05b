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

use std::time::Duration;

use tokio::time::Instant;
use wayfare_protocol::entry_consent::EntryConsent;
use wayfare_protocol::fare::{FareContext, FareDirection, FareMode, TripEntry};
use wayfare_protocol::ids::{new_id, redact};
use wayfare_protocol::keys::PublicKey;
use wayfare_protocol::messages::{DoneOutcome, SessionMessage};
use wayfare_protocol::tap_in::{TapInBody, TapInToken};
use wayfare_protocol::PROTOCOL_VERSION;

use crate::config::{TapConfig, TapRole};
use crate::error::{Result, TerminalError};
use crate::keys::TerminalIdentity;
use crate::linkage::LinkageEvent;
use crate::now_ms;
use crate::reports::Report;
use crate::sale::{Sale, SaleState};
use crate::session::{End, Session};

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

fn context(config: &TapConfig, mode: FareMode, entry: Option<TripEntry>) -> FareContext {
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

impl Session {
    /// Waits briefly for the phone's `TapIn` message (sent right after the
    /// handshake by phones that hold a token); silence means no token.
    pub(crate) async fn await_tap_in(
        &mut self,
        config: &TapConfig,
    ) -> Result<Option<TapInToken>, End> {
        let deadline = Instant::now() + Duration::from_millis(config.token_wait_ms);
        loop {
            let frame = match self
                .next_frame(deadline, "waiting for a tap-in token")
                .await
            {
                Err(End::Timeout(_)) => return Ok(None),
                other => other?,
            };
            match self.open(&frame)? {
                SessionMessage::TapIn { token } => return Ok(token),
                SessionMessage::Identity { handle } => self.note_identity(handle),
                // A gate finds an in-doubt exit by its token; the reminder
                // needs no answer.
                SessionMessage::PaymentPending { .. } => {}
                SessionMessage::Error(body) => return Err(End::phone(&body.message)),
                other => {
                    return Err(End::Protocol(format!(
                        "unexpected {} before the tap-in",
                        crate::session::message_name(&other)
                    )))
                }
            }
        }
    }

    /// Waits for the phone's `TapInAccepted` and checks that the consent
    /// names this token, this terminal and this line's maximum fare.
    async fn await_entry_consent(
        &mut self,
        config: &TapConfig,
        token: &TapInBody,
        now: u64,
    ) -> std::result::Result<EntryConsent, String> {
        let deadline = Instant::now() + Duration::from_millis(config.token_wait_ms);
        let frame = self
            .next_frame(deadline, "waiting for the entry acknowledgement")
            .await
            .map_err(|e| format!("{e:?}"))?;
        let consent = match self.open(&frame).map_err(|e| format!("{e:?}"))? {
            SessionMessage::TapInAccepted { consent } => consent,
            other => {
                return Err(format!(
                    "expected TapInAccepted, got {}",
                    crate::session::message_name(&other)
                ))
            }
        };
        let c = consent.peek().map_err(|e| e.to_string())?;
        if c.token_id != token.token_id || c.terminal_id != token.terminal_id {
            return Err("the consent names another token or terminal".into());
        }
        if c.maximum_fare_minor != config.fare_table.maximum_minor()
            || c.currency != config.currency.code()
        {
            return Err("the consent names another maximum fare".into());
        }
        if c.expires_at_ms != token.expires_at_ms {
            return Err("the consent names another expiry".into());
        }
        if c.signed_at_ms.abs_diff(now) > 5 * 60_000 {
            return Err("the consent is not fresh".into());
        }
        Ok(consent)
    }

    /// Records an entry: issues the token, opens the gate, reports.
    pub(crate) async fn tap_entry(&mut self, config: &TapConfig) -> Result<(), End> {
        let shared = self.shared.clone();
        let now = now_ms();
        let (token, body) =
            issue(config, &shared.identity, now).map_err(|e| End::Internal(e.to_string()))?;
        let maximum_fare_minor = config.fare_table.maximum_minor();
        self.send(&SessionMessage::TapInIssued {
            token,
            maximum_fare_minor,
            currency: config.currency.clone(),
        })
        .await?;
        // The gate opens only once the phone acknowledges the entry with a
        // device-signed consent, which the control center needs to charge
        // an incomplete journey (the signature is checked there).
        let consent = match self.await_entry_consent(config, &body, now).await {
            Ok(consent) => consent,
            Err(why) => {
                tracing::warn!(token = %redact(&body.token_id), reason = %why, "entry not acknowledged; gate stays shut");
                self.slot.take();
                self.done(
                    DoneOutcome::Refused,
                    "The entry was not acknowledged by the app; please update it or ask staff",
                )
                .await;
                return Ok(());
            }
        };
        let sale = Sale {
            order_id: body.token_id.clone(),
            amount_minor: 0,
            description: format!("Tap-in at {}", config.station),
        };
        let event = LinkageEvent {
            terminal_id: body.terminal_id.clone(),
            order_id: body.token_id.clone(),
            payment_id: String::new(),
            amount_minor: 0,
            currency: config.currency.code().to_string(),
            receipt: None,
        };
        let (state, outcome, message) = match shared.linkage.activate(event).await {
            Ok(()) => (
                SaleState::Accepted,
                DoneOutcome::Accepted,
                format!(
                    "Tap-in recorded at {}; tap out when you leave",
                    config.station
                ),
            ),
            Err(e) => {
                tracing::warn!(error = %e, "linkage device failed at tap-in");
                (
                    SaleState::Refused,
                    DoneOutcome::Refused,
                    "Tap-in recorded, but the gate did not open; please ask staff".to_string(),
                )
            }
        };
        shared.sales.finish(&sale, state, None, &message, now);
        if let Some(outcome) = shared.sales.outcome(&sale.order_id) {
            *shared
                .last_outcome
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some(outcome);
        }
        tracing::info!(token = %redact(&body.token_id), "tap-in token issued");
        // Free the terminal before the phone hears the outcome.
        self.slot.take();
        self.done(outcome, &message).await;
        let entry = TripEntry {
            station: body.station.clone(),
            station_index: body.station_index,
            at_ms: now,
            token_id: body.token_id.clone(),
        };
        let mut detail = format!("tap-in token issued at {}", config.station);
        if let Some(handle) = &self.handle {
            detail.push_str(&format!("; payer handle {handle}"));
        }
        let report = Report {
            report_id: new_id("rep").map_err(|e| End::Internal(e.to_string()))?,
            kind: "tap_in".into(),
            order_id: body.token_id.clone(),
            payment_id: None,
            amount_minor: None,
            currency: None,
            fare: Some(context(config, FareMode::TapIn, Some(entry))),
            at_ms: now,
            detail,
            entry_consent: Some(consent.to_base64()),
        };
        if let Err(e) = shared.reports.push(&report).await {
            tracing::error!(error = %e, "cannot queue the tap-in report");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
