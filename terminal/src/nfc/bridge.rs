//! Carries one session over a card's APDUs (the reader side of
//! `wayfare_protocol::apdu`): the terminal's session writes into an
//! in-memory pipe as it would into a socket; each `EXCHANGE` takes what it
//! wrote to the phone and brings back what the phone wrote. A card only
//! answers, so while neither side speaks the reader polls with empty
//! commands. Blocking: it runs on the reader's thread and reaches the
//! async session through a runtime handle.

#![cfg_attr(not(feature = "nfc"), allow(dead_code))]

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, ReadHalf};
use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio::time::Instant;
use wayfare_protocol::apdu::{
    ApduError, CommandApdu, ReaderLink, ResponseApdu, StatusWord, WAYFARE_AID,
};
use wayfare_protocol::framing::{ends_on_frame_boundary, MAX_FRAME_LEN};

use super::NfcError;

/// How long the reader waits for the terminal's side before it polls the
/// card anyway (the card may have more to say).
const TERMINAL_WAIT: Duration = Duration::from_millis(40);

/// A card in the reader's field: one APDU out, its response back.
pub(crate) trait CardChannel {
    /// Sends a command APDU and returns the response APDU (data + SW).
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, NfcError>;
}

/// What `SELECT` found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Selected {
    /// Wayfare answered, with its data (the express allowance, when the
    /// phone offers express taps) and the bytes the exchange cost.
    Wayfare {
        /// The answer's data.
        data: Vec<u8>,
        /// Command and response bytes on the wire.
        wire_bytes: usize,
    },
    /// The card (or phone) has no Wayfare application.
    Other,
}

/// Selects Wayfare's application on the card.
pub(crate) fn select(card: &mut impl CardChannel) -> Result<Selected, NfcError> {
    let command = CommandApdu::select_wayfare().encode()?;
    let response = card.transmit(&command)?;
    let answer = ResponseApdu::parse(&response)?;
    match answer.status {
        StatusWord::Ok => Ok(Selected::Wayfare {
            data: answer.data,
            wire_bytes: command.len() + response.len(),
        }),
        StatusWord::NotFound => Ok(Selected::Other),
        other => Err(NfcError::Apdu(ApduError::Refused(other))),
    }
}

/// Sends `frame` (a piece of the session's stream, possibly empty) and
/// returns the card's answer, following command chaining and `GET
/// RESPONSE`.
pub(crate) fn exchange(card: &mut impl CardChannel, piece: &[u8]) -> Result<Vec<u8>, NfcError> {
    let commands = ReaderLink::exchange_commands(piece)?;
    let last = commands.len() - 1;
    let mut answer = Vec::new();
    for (i, command) in commands.iter().enumerate() {
        let response = card.transmit(command)?;
        if i < last {
            let status = ResponseApdu::parse(&response)?.status;
            if status != StatusWord::Ok {
                return Err(ApduError::Refused(status).into());
            }
            continue;
        }
        let mut next = ReaderLink::gather(&mut answer, &response)?;
        while let Some(left) = next {
            let response = card.transmit(&ReaderLink::get_response(left))?;
            next = ReaderLink::gather(&mut answer, &response)?;
        }
    }
    Ok(answer)
}

/// How a tap's session over the card ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TapEnd {
    /// The terminal's session finished and everything it said was
    /// delivered.
    Finished,
    /// The card said its session is over (`69 85`).
    CardEnded,
    /// The terminal is shutting down.
    Shutdown,
}

/// Runs the session between `terminal_end` (the terminal's session) and
/// the selected card until one side ends. An error means the card left the
/// field or broke the protocol; the caller drops the pipe, so the session
/// sees its phone disconnect.
pub(crate) fn pump(
    card: &mut impl CardChannel,
    terminal_end: DuplexStream,
    runtime: &Handle,
    shutdown: &watch::Receiver<bool>,
) -> Result<TapEnd, NfcError> {
    let (mut from_terminal, mut to_terminal) = tokio::io::split(terminal_end);
    let mut terminal_done = false;
    loop {
        if *shutdown.borrow() || shutdown.has_changed().is_err() {
            return Ok(TapEnd::Shutdown);
        }
        let piece = runtime.block_on(collect(&mut from_terminal, &mut terminal_done));
        if piece.is_empty() && terminal_done {
            return Ok(TapEnd::Finished);
        }
        let answer = match exchange(card, &piece) {
            Ok(answer) => answer,
            Err(NfcError::Apdu(ApduError::Refused(StatusWord::ConditionsNotSatisfied))) => {
                return Ok(TapEnd::CardEnded)
            }
            Err(e) => return Err(e),
        };
        if !answer.is_empty() && !terminal_done {
            let delivered = runtime.block_on(to_terminal.write_all(&answer));
            if delivered.is_err() {
                terminal_done = true;
            }
        }
    }
}

/// What the terminal's session wrote within [`TERMINAL_WAIT`]; returns as
/// soon as whole frames are in.
async fn collect(from_terminal: &mut ReadHalf<DuplexStream>, done: &mut bool) -> Vec<u8> {
    let deadline = Instant::now() + TERMINAL_WAIT;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 4096];
    while !*done && out.len() < MAX_FRAME_LEN {
        if !out.is_empty() && ends_on_frame_boundary(&out) {
            break;
        }
        let room = (MAX_FRAME_LEN - out.len()).min(buf.len());
        match tokio::time::timeout_at(deadline, from_terminal.read(&mut buf[..room])).await {
            Err(_) => break,
            Ok(Ok(0)) | Ok(Err(_)) => *done = true,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
    out
}

/// The AID the reader selects, for logs.
pub(crate) fn aid_hex() -> String {
    hex::encode_upper(WAYFARE_AID)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wayfare_protocol::apdu::{CardEvent, CardLink};

    /// A card that echoes each whole piece back once, reversed, then
    /// answers empty; the way a real card refuses is kept.
    struct EchoCard {
        link: CardLink,
        seen: Vec<Vec<u8>>,
    }

    impl CardChannel for EchoCard {
        fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, NfcError> {
            Ok(match self.link.command(command) {
                CardEvent::Respond(bytes) => bytes,
                CardEvent::Selected => ResponseApdu::status(StatusWord::Ok).encode(),
                CardEvent::Express(_) => ResponseApdu::status(StatusWord::NotAllowed).encode(),
                CardEvent::Frame(piece) => {
                    self.seen.push(piece.clone());
                    let mut back = piece;
                    back.reverse();
                    self.link.answer(back)
                }
            })
        }
    }

    #[test]
    fn long_pieces_chain_both_ways() {
        let mut card = EchoCard {
            link: CardLink::new(),
            seen: Vec::new(),
        };
        assert!(matches!(
            select(&mut card).unwrap(),
            Selected::Wayfare { .. }
        ));
        let piece: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
        let answer = exchange(&mut card, &piece).unwrap();
        assert_eq!(card.seen, vec![piece.clone()]);
        assert_eq!(answer, piece.iter().rev().copied().collect::<Vec<_>>());
        // An empty poll is a command too.
        assert_eq!(exchange(&mut card, &[]).unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn exchange_before_select_is_refused() {
        let mut card = EchoCard {
            link: CardLink::new(),
            seen: Vec::new(),
        };
        assert!(matches!(
            exchange(&mut card, b"hello"),
            Err(NfcError::Apdu(ApduError::Refused(
                StatusWord::ConditionsNotSatisfied
            )))
        ));
    }

    #[test]
    fn a_card_without_wayfare_is_told_apart() {
        struct Other;
        impl CardChannel for Other {
            fn transmit(&mut self, _: &[u8]) -> Result<Vec<u8>, NfcError> {
                Ok(vec![0x6A, 0x82])
            }
        }
        assert_eq!(select(&mut Other).unwrap(), Selected::Other);
    }

    #[test]
    fn a_truncated_response_is_an_error_not_a_panic() {
        struct Broken;
        impl CardChannel for Broken {
            fn transmit(&mut self, _: &[u8]) -> Result<Vec<u8>, NfcError> {
                Ok(vec![0x90])
            }
        }
        assert!(matches!(
            exchange(&mut Broken, b"x"),
            Err(NfcError::Apdu(_))
        ));
    }
}
