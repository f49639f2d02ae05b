//! The session over NFC (P5: the phone is the contactless card), in
//! ISO/IEC 7816-4 APDUs.
//!
//! The reader (the access terminal) selects Wayfare's proprietary AID, then
//! carries the same framed session it runs over TCP: each session frame
//! travels in `EXCHANGE` commands, split with command chaining (CLA bit
//! `0x10`) when it does not fit one short APDU; the card's answer frame
//! comes back in pieces of at most 256 bytes, `61 XX` telling the reader to
//! fetch the rest with `GET RESPONSE`. Every refusal has its status word.
//! No I/O here: [`CardLink`] is the card side's state machine (the core's
//! HCE handler drives it), [`ReaderLink`] the reader's.

use thiserror::Error;

use crate::framing::MAX_FRAME_LEN;

/// Wayfare's proprietary application identifier (`F0` + "WAYFARE").
pub const WAYFARE_AID: [u8; 8] = [0xF0, 0x57, 0x41, 0x59, 0x46, 0x41, 0x52, 0x45];
/// Inter-industry class byte.
pub const CLA: u8 = 0x00;
/// Proprietary class byte of `EXCHANGE`.
pub const CLA_PROPRIETARY: u8 = 0x80;
/// Command-chaining bit of the class byte: more pieces follow.
pub const CLA_CHAINING: u8 = 0x10;
/// `SELECT`.
pub const INS_SELECT: u8 = 0xA4;
/// `GET RESPONSE`.
pub const INS_GET_RESPONSE: u8 = 0xC0;
/// Wayfare's `EXCHANGE`: a piece of a session frame.
pub const INS_EXCHANGE: u8 = 0xD0;
/// Wayfare's `EXPRESS`: an express-tap offer (`crate::express`), answered
/// with the signed tap in one response.
pub const INS_EXPRESS: u8 = 0xE2;
/// Largest data field of a short command APDU.
pub const MAX_SHORT_DATA: usize = 255;
/// Largest data field of a short response APDU.
pub const MAX_SHORT_RESPONSE: usize = 256;

/// ISO/IEC 7816-4 status words used by the card side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusWord {
    /// `90 00`: done.
    Ok,
    /// `61 XX`: more response data; fetch up to XX (00 = 256) bytes.
    MoreData(u8),
    /// `67 00`: wrong length (bad Lc, or a frame larger than allowed).
    WrongLength,
    /// `69 85`: conditions of use not satisfied (no application selected,
    /// nothing to GET RESPONSE, a chain broken by another command).
    ConditionsNotSatisfied,
    /// `69 86`: command not allowed: the phone declines an express tap
    /// (switched off, above the rider's caps, no valid allowance); the
    /// reader falls back to the full session.
    NotAllowed,
    /// `6A 80`: wrong data (a frame that does not decode).
    WrongData,
    /// `6A 82`: application not found (another AID).
    NotFound,
    /// `6D 00`: instruction not supported.
    InsNotSupported,
    /// `6E 00`: class not supported.
    ClaNotSupported,
    /// `6F 00`: no precise diagnosis (the card side failed).
    Unknown,
}

impl StatusWord {
    /// The two status bytes.
    pub fn bytes(self) -> [u8; 2] {
        match self {
            StatusWord::Ok => [0x90, 0x00],
            StatusWord::MoreData(n) => [0x61, n],
            StatusWord::WrongLength => [0x67, 0x00],
            StatusWord::ConditionsNotSatisfied => [0x69, 0x85],
            StatusWord::NotAllowed => [0x69, 0x86],
            StatusWord::WrongData => [0x6A, 0x80],
            StatusWord::NotFound => [0x6A, 0x82],
            StatusWord::InsNotSupported => [0x6D, 0x00],
            StatusWord::ClaNotSupported => [0x6E, 0x00],
            StatusWord::Unknown => [0x6F, 0x00],
        }
    }

    /// Reads the two status bytes.
    pub fn from_bytes(sw1: u8, sw2: u8) -> Self {
        match (sw1, sw2) {
            (0x90, 0x00) => StatusWord::Ok,
            (0x61, n) => StatusWord::MoreData(n),
            (0x67, 0x00) => StatusWord::WrongLength,
            (0x69, 0x85) => StatusWord::ConditionsNotSatisfied,
            (0x69, 0x86) => StatusWord::NotAllowed,
            (0x6A, 0x80) => StatusWord::WrongData,
            (0x6A, 0x82) => StatusWord::NotFound,
            (0x6D, 0x00) => StatusWord::InsNotSupported,
            (0x6E, 0x00) => StatusWord::ClaNotSupported,
            _ => StatusWord::Unknown,
        }
    }
}

/// Why an APDU or an exchange was refused.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ApduError {
    /// Fewer than the four header bytes, or a body shorter than Lc says.
    #[error("truncated APDU: {0}")]
    Truncated(&'static str),
    /// Lc or the body length is inconsistent.
    #[error("wrong APDU length: {0}")]
    WrongLength(&'static str),
    /// The reassembled frame would exceed the session's maximum.
    #[error("the frame exceeds {max} bytes")]
    FrameTooLarge {
        /// The limit.
        max: usize,
    },
    /// The card answered with a status word other than success.
    #[error("the card refused: {0:?}")]
    Refused(StatusWord),
    /// The command does not fit the exchange's state.
    #[error("{0}")]
    OutOfSequence(&'static str),
}

impl ApduError {
    /// The status word a card answers this refusal with.
    pub fn status(&self) -> StatusWord {
        match self {
            ApduError::Truncated(_)
            | ApduError::WrongLength(_)
            | ApduError::FrameTooLarge { .. } => StatusWord::WrongLength,
            ApduError::Refused(sw) => *sw,
            ApduError::OutOfSequence(_) => StatusWord::ConditionsNotSatisfied,
        }
    }
}

/// A parsed command APDU (short form: Lc and Le of one byte each).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandApdu {
    /// Class.
    pub cla: u8,
    /// Instruction.
    pub ins: u8,
    /// Parameter 1.
    pub p1: u8,
    /// Parameter 2.
    pub p2: u8,
    /// Command data (empty when there is no Lc).
    pub data: Vec<u8>,
    /// Expected response length (`Some(256)` for Le = 00), if present.
    pub le: Option<usize>,
}

impl CommandApdu {
    /// Parses a short command APDU (ISO 7816-4 cases 1 to 4).
    pub fn parse(bytes: &[u8]) -> Result<Self, ApduError> {
        if bytes.len() < 4 {
            return Err(ApduError::Truncated("fewer than four header bytes"));
        }
        let (cla, ins, p1, p2) = (bytes[0], bytes[1], bytes[2], bytes[3]);
        let body = &bytes[4..];
        let le_of = |b: u8| if b == 0 { 256 } else { usize::from(b) };
        let (data, le) = match body.len() {
            0 => (Vec::new(), None),
            1 => (Vec::new(), Some(le_of(body[0]))),
            _ => {
                let lc = usize::from(body[0]);
                if lc == 0 {
                    return Err(ApduError::WrongLength("Lc of zero with a body"));
                }
                let rest = &body[1..];
                if rest.len() < lc {
                    return Err(ApduError::Truncated("body shorter than Lc"));
                }
                match rest.len() - lc {
                    0 => (rest.to_vec(), None),
                    1 => (rest[..lc].to_vec(), Some(le_of(rest[lc]))),
                    _ => return Err(ApduError::WrongLength("body longer than Lc and Le")),
                }
            }
        };
        Ok(Self {
            cla,
            ins,
            p1,
            p2,
            data,
            le,
        })
    }

    /// Encodes it (short form).
    pub fn encode(&self) -> Result<Vec<u8>, ApduError> {
        if self.data.len() > MAX_SHORT_DATA {
            return Err(ApduError::WrongLength("more than 255 data bytes"));
        }
        let mut out = vec![self.cla, self.ins, self.p1, self.p2];
        if !self.data.is_empty() {
            out.push(self.data.len() as u8);
            out.extend_from_slice(&self.data);
        }
        if let Some(le) = self.le {
            out.push(if le >= 256 { 0 } else { le as u8 });
        }
        Ok(out)
    }

    /// `SELECT` by Wayfare's AID.
    pub fn select_wayfare() -> Self {
        Self {
            cla: CLA,
            ins: INS_SELECT,
            p1: 0x04,
            p2: 0x00,
            data: WAYFARE_AID.to_vec(),
            le: Some(256),
        }
    }
}

/// A response APDU: data and a status word.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseApdu {
    /// Response data.
    pub data: Vec<u8>,
    /// Status.
    pub status: StatusWord,
}

impl ResponseApdu {
    /// A bare status word.
    pub fn status(status: StatusWord) -> Self {
        Self {
            data: Vec::new(),
            status,
        }
    }

    /// Bytes on the wire: data then SW1 SW2.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.data.clone();
        out.extend_from_slice(&self.status.bytes());
        out
    }

    /// Parses a response (at least the two status bytes).
    pub fn parse(bytes: &[u8]) -> Result<Self, ApduError> {
        if bytes.len() < 2 {
            return Err(ApduError::Truncated(
                "a response needs its two status bytes",
            ));
        }
        let (data, sw) = bytes.split_at(bytes.len() - 2);
        if data.len() > MAX_SHORT_RESPONSE {
            return Err(ApduError::WrongLength("response data above 256 bytes"));
        }
        Ok(Self {
            data: data.to_vec(),
            status: StatusWord::from_bytes(sw[0], sw[1]),
        })
    }
}

/// What the card side's owner does with a command.
#[derive(Debug, PartialEq, Eq)]
pub enum CardEvent {
    /// Answer the reader with these bytes (already encoded).
    Respond(Vec<u8>),
    /// A whole session frame arrived: hand it to the session, then call
    /// [`CardLink::answer`] with the reply frame (or an empty frame).
    Frame(Vec<u8>),
    /// The reader selected the application: a new session begins. The
    /// owner answers (`90 00`, with the express allowance as data when
    /// express taps are on).
    Selected,
    /// An express-tap offer: the owner answers with the signed tap or a
    /// refusal status.
    Express(Vec<u8>),
}

/// The card side (the phone): selection, reassembly of chained commands,
/// and the answer frame handed out in `GET RESPONSE` pieces.
#[derive(Debug, Default)]
pub struct CardLink {
    selected: bool,
    incoming: Vec<u8>,
    outgoing: Vec<u8>,
}

impl CardLink {
    /// A link waiting for `SELECT`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the application is selected.
    pub fn is_selected(&self) -> bool {
        self.selected
    }

    /// Handles one command APDU.
    pub fn command(&mut self, apdu: &[u8]) -> CardEvent {
        let command = match CommandApdu::parse(apdu) {
            Ok(c) => c,
            Err(e) => return respond(ResponseApdu::status(e.status())),
        };
        match (command.cla & !CLA_CHAINING, command.ins) {
            (CLA, INS_SELECT) if command.p1 == 0x04 => {
                if command.data == WAYFARE_AID {
                    *self = Self {
                        selected: true,
                        ..Self::default()
                    };
                    CardEvent::Selected
                } else {
                    self.selected = false;
                    respond(ResponseApdu::status(StatusWord::NotFound))
                }
            }
            (_, _) if !self.selected => {
                respond(ResponseApdu::status(StatusWord::ConditionsNotSatisfied))
            }
            (CLA, INS_GET_RESPONSE) => {
                if self.outgoing.is_empty() {
                    return respond(ResponseApdu::status(StatusWord::ConditionsNotSatisfied));
                }
                let want = command.le.unwrap_or(MAX_SHORT_RESPONSE);
                respond(self.next_piece(want))
            }
            (CLA_PROPRIETARY, INS_EXCHANGE) => {
                self.outgoing.clear();
                if self.incoming.len() + command.data.len() > MAX_FRAME_LEN {
                    self.incoming.clear();
                    return respond(ResponseApdu::status(StatusWord::WrongLength));
                }
                self.incoming.extend_from_slice(&command.data);
                if command.cla & CLA_CHAINING != 0 {
                    return respond(ResponseApdu::status(StatusWord::Ok));
                }
                CardEvent::Frame(std::mem::take(&mut self.incoming))
            }
            (CLA_PROPRIETARY, INS_EXPRESS) if command.cla & CLA_CHAINING == 0 => {
                self.incoming.clear();
                self.outgoing.clear();
                CardEvent::Express(command.data)
            }
            (CLA | CLA_PROPRIETARY, _) => {
                respond(ResponseApdu::status(StatusWord::InsNotSupported))
            }
            _ => respond(ResponseApdu::status(StatusWord::ClaNotSupported)),
        }
    }

    /// The answer to a whole frame: the first piece now, the rest through
    /// `GET RESPONSE`. An oversized answer is refused.
    pub fn answer(&mut self, frame: Vec<u8>) -> Vec<u8> {
        if frame.len() > MAX_FRAME_LEN {
            return ResponseApdu::status(StatusWord::Unknown).encode();
        }
        self.outgoing = frame;
        self.next_piece(MAX_SHORT_RESPONSE).encode()
    }

    /// The reader left (deselect, field lost): forget everything.
    pub fn deselect(&mut self) {
        *self = Self::default();
    }

    fn next_piece(&mut self, want: usize) -> ResponseApdu {
        let n = want.min(MAX_SHORT_RESPONSE).min(self.outgoing.len());
        let piece: Vec<u8> = self.outgoing.drain(..n).collect();
        let status = match self.outgoing.len() {
            0 => StatusWord::Ok,
            left if left >= 256 => StatusWord::MoreData(0),
            left => StatusWord::MoreData(left as u8),
        };
        ResponseApdu {
            data: piece,
            status,
        }
    }
}

fn respond(r: ResponseApdu) -> CardEvent {
    CardEvent::Respond(r.encode())
}

/// The reader side (the access terminal): splits a frame into chained
/// `EXCHANGE` commands and gathers the card's answer.
#[derive(Debug, Default)]
pub struct ReaderLink;

impl ReaderLink {
    /// The commands carrying `frame`, chained when it needs more than one.
    pub fn exchange_commands(frame: &[u8]) -> Result<Vec<Vec<u8>>, ApduError> {
        if frame.len() > MAX_FRAME_LEN {
            return Err(ApduError::FrameTooLarge { max: MAX_FRAME_LEN });
        }
        let pieces: Vec<&[u8]> = if frame.is_empty() {
            vec![&[][..]]
        } else {
            frame.chunks(MAX_SHORT_DATA).collect()
        };
        let last = pieces.len() - 1;
        pieces
            .into_iter()
            .enumerate()
            .map(|(i, piece)| {
                CommandApdu {
                    cla: if i < last {
                        CLA_PROPRIETARY | CLA_CHAINING
                    } else {
                        CLA_PROPRIETARY
                    },
                    ins: INS_EXCHANGE,
                    p1: 0,
                    p2: 0,
                    data: piece.to_vec(),
                    le: (i == last).then_some(256),
                }
                .encode()
            })
            .collect()
    }

    /// The `EXPRESS` command carrying an encoded offer (one short APDU).
    pub fn express_command(offer: &[u8]) -> Result<Vec<u8>, ApduError> {
        if offer.len() > MAX_SHORT_DATA {
            return Err(ApduError::FrameTooLarge {
                max: MAX_SHORT_DATA,
            });
        }
        CommandApdu {
            cla: CLA_PROPRIETARY,
            ins: INS_EXPRESS,
            p1: 0,
            p2: 0,
            data: offer.to_vec(),
            le: Some(256),
        }
        .encode()
    }

    /// The `GET RESPONSE` command for `61 XX`.
    pub fn get_response(left: u8) -> Vec<u8> {
        vec![CLA, INS_GET_RESPONSE, 0, 0, left]
    }

    /// Adds one response to the answer being gathered; returns how many
    /// bytes to fetch next (`Some`) or `None` when the answer is complete.
    pub fn gather(answer: &mut Vec<u8>, response: &[u8]) -> Result<Option<u8>, ApduError> {
        let r = ResponseApdu::parse(response)?;
        if answer.len() + r.data.len() > MAX_FRAME_LEN {
            return Err(ApduError::FrameTooLarge { max: MAX_FRAME_LEN });
        }
        answer.extend_from_slice(&r.data);
        match r.status {
            StatusWord::Ok => Ok(None),
            StatusWord::MoreData(n) => Ok(Some(n)),
            other => Err(ApduError::Refused(other)),
        }
    }
}

#[cfg(test)]
mod tests;
