//! The PC/SC reader loop (pcsc-lite's `pcscd` through the `pcsc` crate):
//! waits for a card on the configured reader, selects Wayfare, runs one
//! session over it, then waits for the card to leave before it takes the
//! next. Thin on purpose: everything it does with the card is in
//! [`super::bridge`].

use std::ffi::CString;
use std::sync::Arc;
use std::time::Duration;

use pcsc::{Context, Disposition, Protocols, ReaderState, Scope, ShareMode, State};
use tokio::runtime::Handle;
use tokio::sync::watch;

use super::bridge::{self, CardChannel, Selected, TapEnd};
use super::{NfcConfig, NfcError};
use crate::express;
use crate::session::link::Peer;
use crate::Shared;

/// How often a blocking wait wakes to notice shutdown.
const WAKE_EVERY: Duration = Duration::from_millis(250);
/// Wait before trying again when pcscd or the reader is missing.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// Room in the pipe between the card and the session.
const PIPE_CAPACITY: usize = 64 * 1024;

/// A card connected through PC/SC.
struct PcscCard(pcsc::Card);

impl CardChannel for PcscCard {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, NfcError> {
        let mut buf = [0u8; pcsc::MAX_BUFFER_SIZE];
        Ok(self.0.transmit(command, &mut buf)?.to_vec())
    }
}

/// Runs the reader loop on the calling (dedicated) thread until shutdown.
pub(crate) fn run(
    shared: Arc<Shared>,
    config: NfcConfig,
    runtime: Handle,
    shutdown: watch::Receiver<bool>,
) {
    let mut last_problem: Option<String> = None;
    while !stopping(&shutdown) {
        match serve_reader(&shared, &config, &runtime, &shutdown) {
            Ok(()) => break,
            Err(e) => {
                let problem = e.to_string();
                // Each new problem once at `warn`; repeats at `debug`.
                if last_problem.as_deref() != Some(problem.as_str()) {
                    tracing::warn!(error = %problem, "NFC reader unavailable; retrying");
                    last_problem = Some(problem);
                } else {
                    tracing::debug!(error = %problem, "NFC reader still unavailable");
                }
                sleep_unless_shutdown(RETRY_AFTER, &shutdown);
            }
        }
    }
}

/// Shutdown was asked for, or the terminal that owns the loop is gone.
fn stopping(shutdown: &watch::Receiver<bool>) -> bool {
    *shutdown.borrow() || shutdown.has_changed().is_err()
}

fn sleep_unless_shutdown(total: Duration, shutdown: &watch::Receiver<bool>) {
    let mut left = total;
    while !left.is_zero() && !stopping(shutdown) {
        let step = left.min(WAKE_EVERY);
        std::thread::sleep(step);
        left -= step;
    }
}

/// Serves taps on the configured reader; returns `Ok` at shutdown and an
/// error when PC/SC or the reader fails (the caller retries).
fn serve_reader(
    shared: &Arc<Shared>,
    config: &NfcConfig,
    runtime: &Handle,
    shutdown: &watch::Receiver<bool>,
) -> Result<(), NfcError> {
    let context = Context::establish(Scope::User)?;
    let reader = find_reader(&context, config.reader.as_deref())?;
    tracing::info!(reader = %reader.to_string_lossy(), aid = %bridge::aid_hex(), "NFC reader ready");
    let mut state = ReaderState::new(reader.clone(), State::UNAWARE);
    loop {
        if stopping(shutdown) {
            return Ok(());
        }
        match context.get_status_change(WAKE_EVERY, std::slice::from_mut(&mut state)) {
            Ok(()) => {}
            Err(pcsc::Error::Timeout) => continue,
            Err(e) => return Err(e.into()),
        }
        state.sync_current_state();
        let now = state.current_state();
        if now.contains(State::UNKNOWN) || now.contains(State::UNAVAILABLE) {
            return Err(NfcError::ReaderGone(reader.to_string_lossy().into_owned()));
        }
        if !now.contains(State::PRESENT) || now.contains(State::MUTE) {
            continue;
        }
        // A card (or phone) is in the field: one session, then wait for it
        // to leave.
        match context.connect(&reader, ShareMode::Exclusive, Protocols::ANY) {
            Ok(card) => tap(shared, card, runtime, shutdown),
            Err(e) => tracing::info!(error = %e, "could not connect to the card in the field"),
        }
        wait_for_removal(&context, &mut state, shutdown)?;
    }
}

/// The reader named by `wanted` (exact, or the start of its name); the
/// first reader when `wanted` is `None`.
fn find_reader(context: &Context, wanted: Option<&str>) -> Result<CString, NfcError> {
    let readers = match context.list_readers_owned() {
        Ok(readers) => readers,
        Err(pcsc::Error::NoReadersAvailable) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    readers
        .into_iter()
        .find(|name| match wanted {
            None => true,
            Some(wanted) => name.to_string_lossy().starts_with(wanted),
        })
        .ok_or_else(|| NfcError::ReaderNotFound(wanted.unwrap_or("any").to_string()))
}

/// One tap: select, run the session over the card, let the card go.
fn tap(shared: &Arc<Shared>, card: pcsc::Card, runtime: &Handle, shutdown: &watch::Receiver<bool>) {
    let mut card = PcscCard(card);
    match bridge::select(&mut card) {
        Ok(Selected::Wayfare { data, wire_bytes }) => {
            if !data.is_empty() && shared.express.offered() {
                match express::gate::try_express(shared, &mut card, &data, wire_bytes, runtime) {
                    (express::gate::Outcome::Accepted, _) => return release(card),
                    (express::gate::Outcome::Refused(why), _) if !why.falls_back() => {
                        tracing::warn!(reason = %why, "express tap refused; not opening");
                        return release(card);
                    }
                    (express::gate::Outcome::Refused(why), _) => {
                        tracing::info!(reason = %why, "express tap not taken; running the full session");
                    }
                }
            }
        }
        Ok(Selected::Other) => {
            tracing::info!("a card without Wayfare was tapped");
            return;
        }
        Err(e) => {
            tracing::info!(error = %e, "selecting Wayfare on the tapped card failed");
            return;
        }
    }
    tracing::info!("phone tapped: Wayfare selected");
    let (terminal_end, reader_end) = tokio::io::duplex(PIPE_CAPACITY);
    // Not awaited: the session files its report on its own; a next phone
    // meanwhile is told `Busy` by the one-phone-at-a-time rule.
    runtime.spawn(crate::session::serve(
        shared.clone(),
        terminal_end,
        Peer::Nfc,
        None,
        shutdown.clone(),
    ));
    match bridge::pump(&mut card, reader_end, runtime, shutdown) {
        Ok(TapEnd::Finished) => tracing::debug!("NFC session finished"),
        Ok(TapEnd::CardEnded) => tracing::debug!("the phone ended the NFC session"),
        Ok(TapEnd::Shutdown) => tracing::debug!("NFC session cut by shutdown"),
        // The session sees its phone disconnect (and leaves a sale whose
        // request was sent in doubt, never declined).
        Err(e) => tracing::info!(error = %e, "the phone left the field or broke the NFC exchange"),
    }
    release(card);
}

/// Lets the card go (the phone sees the field reset).
fn release(card: PcscCard) {
    if let Err((_, e)) = card.0.disconnect(Disposition::ResetCard) {
        tracing::debug!(error = %e, "releasing the card failed");
    }
}

/// Waits until the card that was served leaves the field.
fn wait_for_removal(
    context: &Context,
    state: &mut ReaderState,
    shutdown: &watch::Receiver<bool>,
) -> Result<(), NfcError> {
    while !stopping(shutdown) {
        if !state.current_state().contains(State::PRESENT) {
            return Ok(());
        }
        match context.get_status_change(WAKE_EVERY, std::slice::from_mut(state)) {
            Ok(()) => state.sync_current_state(),
            Err(pcsc::Error::Timeout) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
