//! The express tap over the card (the reader's side): `SELECT` already
//! brought the allowance; this sends the offer, checks the signed tap,
//! records it durably, then opens the gate. Runs on the reader's thread.

use std::time::Instant;

use tokio::runtime::Handle;
use wayfare_protocol::apdu::{ReaderLink, ResponseApdu, StatusWord};
use wayfare_protocol::express::{ExpressOffer, CHALLENGE_LEN, MAX_PLACE_LEN};
use wayfare_protocol::ids::{b64_encode, redact};
use wayfare_protocol::keys::random_bytes;

use super::queue::QueuedTap;
use super::verify::{check_allowance, check_tap, Refusal};
use crate::config::ModeConfig;
use crate::linkage::LinkageEvent;
use crate::nfc::bridge::CardChannel;
use crate::{now_ms, Shared};

/// How an express attempt ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The gate opened; the tap is queued for settlement.
    Accepted,
    /// Not taken; see [`Refusal::falls_back`] for what the reader does next.
    Refused(Refusal),
}

/// What one express tap cost on the wire and in compute.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Cost {
    /// Bytes both ways (commands and responses, status words included),
    /// `SELECT` counted.
    pub(crate) bytes: usize,
    /// Command/response round trips, `SELECT` counted.
    pub(crate) round_trips: usize,
    /// The gate's own compute (checks, offer, queueing), not the card's.
    pub(crate) compute_us: u128,
}

fn cut(text: &str) -> String {
    let mut end = text.len().min(MAX_PLACE_LEN);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

/// Runs the express tap after `SELECT` answered with `allowance` (which
/// cost `select_bytes` on the wire).
pub(crate) fn try_express(
    shared: &Shared,
    card: &mut impl CardChannel,
    allowance: &[u8],
    select_bytes: usize,
    runtime: &Handle,
) -> (Outcome, Cost) {
    let mut cost = Cost {
        bytes: select_bytes,
        round_trips: 1,
        compute_us: 0,
    };
    let outcome = match attempt(shared, card, allowance, &mut cost, runtime) {
        Ok(()) => Outcome::Accepted,
        Err(refusal) => {
            shared.express.note_refusal(&refusal);
            Outcome::Refused(refusal)
        }
    };
    (outcome, cost)
}

fn attempt(
    shared: &Shared,
    card: &mut impl CardChannel,
    allowance: &[u8],
    cost: &mut Cost,
    runtime: &Handle,
) -> Result<(), Refusal> {
    let ModeConfig::Tram(tram) = &shared.config.mode else {
        return Err(Refusal::PhoneDeclined);
    };
    let station = shared
        .position_now()
        .map_or_else(|| tram.station.clone(), |p| p.position.station);
    let express = &shared.express;
    let started = Instant::now();
    let now = now_ms();
    let body = check_allowance(
        &shared.config.receipt_key,
        &express.deny.snapshot(),
        express.config.max_deny_list_age_ms,
        allowance,
        tram.fare_minor,
        tram.currency.code(),
        now,
    )?;
    let challenge = random_bytes::<CHALLENGE_LEN>().map_err(Refusal::Tap)?;
    let offer = ExpressOffer {
        terminal_id: shared.identity.body.terminal_id.clone(),
        merchant_name: cut(&shared.identity.body.merchant_name),
        line: cut(&tram.line),
        // Where the tram is at this tap.
        station: cut(&station),
        amount_minor: tram.fare_minor,
        currency: tram.currency.code().to_string(),
        challenge: challenge.to_vec(),
        at_ms: now,
    };
    let command = offer
        .encode()
        .and_then(|o| {
            ReaderLink::express_command(&o)
                .map_err(|e| wayfare_protocol::ProtocolError::Malformed(e.to_string()))
        })
        .map_err(Refusal::Tap)?;
    cost.compute_us += started.elapsed().as_micros();

    let response = card.transmit(&command).map_err(|e| {
        Refusal::Tap(wayfare_protocol::ProtocolError::Malformed(format!(
            "the card left: {e}"
        )))
    })?;
    cost.round_trips += 1;
    cost.bytes += command.len() + response.len();

    let started = Instant::now();
    let answer = ResponseApdu::parse(&response)
        .map_err(|e| Refusal::Tap(wayfare_protocol::ProtocolError::Malformed(e.to_string())))?;
    match answer.status {
        StatusWord::Ok => {}
        StatusWord::NotAllowed => return Err(Refusal::PhoneDeclined),
        other => {
            return Err(Refusal::Tap(wayfare_protocol::ProtocolError::Malformed(
                format!("the phone answered {other:?}"),
            )))
        }
    }
    let last = express.queue.last_seen(&body.allowance_id).unwrap_or(None);
    let tap = check_tap(&body, &offer, &answer.data, last)?;
    let queued = QueuedTap {
        allowance: b64_encode(allowance),
        tap: b64_encode(&answer.data),
        tapped_at_ms: now,
    };
    // Durable before the gate opens: a crash never loses a ride's fare.
    if let Err(e) = express
        .queue
        .accept(&body.allowance_id, tap.counter, &queued)
    {
        tracing::error!(error = %e, "cannot record an express tap; not opening");
        return Err(Refusal::Replayed(tap.counter));
    }
    cost.compute_us += started.elapsed().as_micros();
    express.note_accepted();
    let event = LinkageEvent {
        terminal_id: offer.terminal_id.clone(),
        order_id: format!("xt_{}_{}", body.allowance_id, tap.counter),
        // Settled later by the control center.
        payment_id: String::new(),
        amount_minor: offer.amount_minor,
        currency: offer.currency.clone(),
        receipt: None,
    };
    if let Err(e) = runtime.block_on(shared.linkage.activate(event)) {
        tracing::error!(error = %e, "the linkage device failed after an express tap");
    }
    tracing::info!(
        allowance = %redact(&body.allowance_id),
        counter = tap.counter,
        fare_minor = offer.amount_minor,
        round_trips = cost.round_trips,
        bytes = cost.bytes,
        compute_us = cost.compute_us as u64,
        "express tap accepted offline; gate opened"
    );
    Ok(())
}
