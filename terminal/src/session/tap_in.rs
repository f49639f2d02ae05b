//! A tap-in/tap-out terminal's session (P3.6, see [`crate::tap`]): the
//! phone's tap-in token is awaited before the fare is planned, and an entry
//! is recorded once the phone acknowledges it with a signed consent.

use std::time::Duration;

use tokio::time::Instant;
use wayfare_protocol::entry_consent::EntryConsent;
use wayfare_protocol::fare::{FareMode, TripEntry};
use wayfare_protocol::ids::{new_id, redact};
use wayfare_protocol::messages::{DoneOutcome, SessionMessage};
use wayfare_protocol::tap_in::{TapInBody, TapInToken};

use super::{End, Session};
use crate::config::TapConfig;
use crate::linkage::LinkageEvent;
use crate::now_ms;
use crate::reports::Report;
use crate::sale::{Sale, SaleState};
use crate::tap::{context, issue};

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
