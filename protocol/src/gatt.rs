//! The session over Bluetooth LE GATT: session frames cut into fragments
//! that fit one ATT write or notification, and put back together with hard
//! size limits.
//!
//! A Wayfare terminal serves one GATT service ([`SERVICE_UUID`]) with two
//! characteristics: the phone (GATT client, central) writes its fragments
//! to [`WRITE_CHAR_UUID`] and receives the terminal's fragments as
//! notifications of [`NOTIFY_CHAR_UUID`]. Each direction carries a
//! sequence of session frames (the payloads [`crate::framing`] would put
//! behind a length prefix on TCP), each frame cut into fragments of at
//! most `ATT_MTU - 3` bytes:
//!
//! ```text
//! fragment     = header [total_len] data
//! header       = 1 byte: START (0x80) | END (0x40) | 00 (reserved) | seq (4 bits)
//! total_len    = 2 bytes big-endian, only when START is set: the frame's length
//! ```
//!
//! The first fragment of a frame has START and the frame's total length
//! (at most [`MAX_FRAME_LEN`]); the fragment that completes it has END (a
//! frame of one fragment has both). The sequence number counts every
//! fragment of a direction modulo 16, across frames, starting at 0, so a
//! lost, repeated or reordered fragment is noticed even at a frame
//! boundary. The receiver checks every fragment against the MTU, the
//! declared length and the sequence before buffering it, and allocates at
//! most the declared length: a hostile peer can neither make it buffer
//! more than one frame nor make it panic. Any error breaks the link (the
//! session's secure channel could not continue past a lost fragment
//! anyway).
//!
//! No I/O here: [`Fragmenter`] and [`Reassembler`] are pure; the async pump
//! between a GATT link and a byte stream is [`link`] (feature `tokio`).

use thiserror::Error;

use crate::framing::MAX_FRAME_LEN;

#[cfg(feature = "tokio")]
pub mod link;

/// The 128-bit UUID of the Wayfare GATT service; terminals also advertise
/// it with their beacon as its service data.
pub const SERVICE_UUID: &str = "6c9f3a10-5d0b-4b8e-9a57-77a7e1f4d001";
/// The characteristic the phone writes its fragments to.
pub const WRITE_CHAR_UUID: &str = "6c9f3a10-5d0b-4b8e-9a57-77a7e1f4d002";
/// The characteristic whose notifications carry the terminal's fragments.
pub const NOTIFY_CHAR_UUID: &str = "6c9f3a10-5d0b-4b8e-9a57-77a7e1f4d003";

/// The smallest ATT MTU (Bluetooth Core, Vol 3, Part F, 3.2.8): every link
/// supports it, and a smaller value is refused.
pub const ATT_MIN_MTU: u16 = 23;
/// The largest attribute value (Bluetooth Core, Vol 3, Part F, 3.2.9): a
/// fragment is never longer, whatever MTU the platform reports.
pub const MAX_ATTRIBUTE_LEN: usize = 512;
/// Bytes of an ATT write or notification PDU that are not the value.
pub const ATT_OVERHEAD: usize = 3;
/// The fragment header byte.
pub const HEADER_LEN: usize = 1;
/// The total length carried by a START fragment.
pub const TOTAL_LEN_LEN: usize = 2;

/// Header flag: the first fragment of a frame (carries the total length).
pub const FLAG_START: u8 = 0x80;
/// Header flag: the fragment that completes its frame.
pub const FLAG_END: u8 = 0x40;
/// Header bits that must be zero.
pub const RESERVED_BITS: u8 = 0x30;
/// Header bits holding the sequence number.
pub const SEQ_MASK: u8 = 0x0F;

/// Why a fragment, a frame or an MTU was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GattError {
    /// The link's MTU is below the ATT minimum.
    #[error("ATT MTU {mtu} is below the minimum of {ATT_MIN_MTU}")]
    MtuTooSmall {
        /// The MTU offered.
        mtu: u16,
    },
    /// A fragment without its header or a START fragment without its total
    /// length; or the link ended in the middle of a frame.
    #[error("truncated fragment or frame: {have} bytes, {need} needed")]
    Truncated {
        /// Bytes received.
        have: usize,
        /// Bytes needed.
        need: usize,
    },
    /// A fragment longer than the link's MTU allows.
    #[error("fragment of {len} bytes exceeds the {max} bytes the MTU allows")]
    FragmentTooLarge {
        /// Its length.
        len: usize,
        /// `ATT_MTU - 3`.
        max: usize,
    },
    /// A frame longer than [`MAX_FRAME_LEN`], declared or to be sent.
    #[error("frame of {len} bytes exceeds the maximum of {max}")]
    FrameTooLarge {
        /// Its length.
        len: usize,
        /// [`MAX_FRAME_LEN`].
        max: usize,
    },
    /// A header with reserved bits set.
    #[error("fragment header {header:#04x} has reserved bits set")]
    ReservedBits {
        /// The header byte.
        header: u8,
    },
    /// A continuation fragment while no frame was begun.
    #[error("continuation fragment without a START")]
    ContinuationWithoutStart,
    /// A START fragment while a frame was still incomplete.
    #[error("START fragment while a frame of {declared} bytes has only {have}")]
    UnexpectedStart {
        /// The incomplete frame's declared length.
        declared: usize,
        /// Its bytes received.
        have: usize,
    },
    /// A fragment out of sequence (lost, repeated or reordered).
    #[error("fragment sequence {got}, expected {expected}")]
    OutOfSequence {
        /// The next sequence number.
        expected: u8,
        /// The fragment's.
        got: u8,
    },
    /// More data than the frame's declared length.
    #[error("fragment data runs {excess} bytes past the declared frame length {declared}")]
    Overflow {
        /// The frame's declared length.
        declared: usize,
        /// Bytes beyond it.
        excess: usize,
    },
    /// END set before the frame was complete, or missing on the fragment
    /// that completed it.
    #[error("END flag {} with {have} of {declared} bytes", if *.end { "set" } else { "missing" })]
    MisplacedEnd {
        /// Whether the fragment had END.
        end: bool,
        /// The frame's declared length.
        declared: usize,
        /// Its bytes after this fragment.
        have: usize,
    },
    /// An earlier fragment was refused: the link is broken and must be
    /// closed.
    #[error("the link broke on an earlier fragment")]
    Broken,
}

/// The largest fragment (header included) a link of `mtu` carries: the
/// value of one ATT write or notification, `ATT_MTU - 3` but at most
/// [`MAX_ATTRIBUTE_LEN`]. Refuses an MTU below [`ATT_MIN_MTU`].
pub fn max_fragment_len(mtu: u16) -> Result<usize, GattError> {
    if mtu < ATT_MIN_MTU {
        return Err(GattError::MtuTooSmall { mtu });
    }
    Ok((usize::from(mtu) - ATT_OVERHEAD).min(MAX_ATTRIBUTE_LEN))
}

/// Cuts outgoing frames into fragments for one direction of a link.
#[derive(Debug, Clone)]
pub struct Fragmenter {
    max_fragment: usize,
    next_seq: u8,
}

impl Fragmenter {
    /// A fragmenter for a link with this ATT MTU.
    pub fn new(mtu: u16) -> Result<Self, GattError> {
        Ok(Self {
            max_fragment: max_fragment_len(mtu)?,
            next_seq: 0,
        })
    }

    /// The largest fragment this fragmenter produces.
    pub fn max_fragment_len(&self) -> usize {
        self.max_fragment
    }

    /// Cuts `frame` into fragments, to be sent in order.
    pub fn fragment(&mut self, frame: &[u8]) -> Result<Vec<Vec<u8>>, GattError> {
        if frame.len() > MAX_FRAME_LEN {
            return Err(GattError::FrameTooLarge {
                len: frame.len(),
                max: MAX_FRAME_LEN,
            });
        }
        let first_room = self.max_fragment - HEADER_LEN - TOTAL_LEN_LEN;
        let room = self.max_fragment - HEADER_LEN;
        let (first, mut rest) = frame.split_at(frame.len().min(first_room));
        let mut fragments = Vec::with_capacity(1 + rest.len().div_ceil(room));

        let mut header = FLAG_START | self.take_seq();
        if rest.is_empty() {
            header |= FLAG_END;
        }
        let mut start = Vec::with_capacity(HEADER_LEN + TOTAL_LEN_LEN + first.len());
        start.push(header);
        // MAX_FRAME_LEN (16 KiB) fits two bytes.
        start.extend_from_slice(&(frame.len() as u16).to_be_bytes());
        start.extend_from_slice(first);
        fragments.push(start);

        while !rest.is_empty() {
            let (piece, tail) = rest.split_at(rest.len().min(room));
            let mut header = self.take_seq();
            if tail.is_empty() {
                header |= FLAG_END;
            }
            let mut fragment = Vec::with_capacity(HEADER_LEN + piece.len());
            fragment.push(header);
            fragment.extend_from_slice(piece);
            fragments.push(fragment);
            rest = tail;
        }
        Ok(fragments)
    }

    fn take_seq(&mut self) -> u8 {
        let seq = self.next_seq;
        self.next_seq = (seq + 1) & SEQ_MASK;
        seq
    }
}

/// Puts incoming fragments back together into frames, for one direction
/// of a link. After an error every later fragment is refused with
/// [`GattError::Broken`].
#[derive(Debug, Clone)]
pub struct Reassembler {
    max_fragment: usize,
    next_seq: u8,
    state: State,
}

#[derive(Debug, Clone)]
enum State {
    Idle,
    Partial { declared: usize, buffer: Vec<u8> },
    Broken,
}

impl Reassembler {
    /// A reassembler for a link with this ATT MTU.
    pub fn new(mtu: u16) -> Result<Self, GattError> {
        Ok(Self {
            max_fragment: max_fragment_len(mtu)?,
            next_seq: 0,
            state: State::Idle,
        })
    }

    /// Takes one fragment; returns the frame it completes, if any.
    pub fn push(&mut self, fragment: &[u8]) -> Result<Option<Vec<u8>>, GattError> {
        let result = self.accept(fragment);
        if result.is_err() {
            self.state = State::Broken;
        }
        result
    }

    /// Call when the link ended: a frame left incomplete is an error.
    pub fn finish(&self) -> Result<(), GattError> {
        match &self.state {
            State::Idle => Ok(()),
            State::Partial { declared, buffer } => Err(GattError::Truncated {
                have: buffer.len(),
                need: *declared,
            }),
            State::Broken => Err(GattError::Broken),
        }
    }

    fn accept(&mut self, fragment: &[u8]) -> Result<Option<Vec<u8>>, GattError> {
        if matches!(self.state, State::Broken) {
            return Err(GattError::Broken);
        }
        let Some((&header, body)) = fragment.split_first() else {
            return Err(GattError::Truncated {
                have: 0,
                need: HEADER_LEN,
            });
        };
        if fragment.len() > self.max_fragment {
            return Err(GattError::FragmentTooLarge {
                len: fragment.len(),
                max: self.max_fragment,
            });
        }
        if header & RESERVED_BITS != 0 {
            return Err(GattError::ReservedBits { header });
        }
        let seq = header & SEQ_MASK;
        if seq != self.next_seq {
            return Err(GattError::OutOfSequence {
                expected: self.next_seq,
                got: seq,
            });
        }
        let end = header & FLAG_END != 0;

        let (declared, mut buffer, data) = if header & FLAG_START != 0 {
            if let State::Partial { declared, buffer } = &self.state {
                return Err(GattError::UnexpectedStart {
                    declared: *declared,
                    have: buffer.len(),
                });
            }
            let Some((len, data)) = body.split_first_chunk::<TOTAL_LEN_LEN>() else {
                return Err(GattError::Truncated {
                    have: fragment.len(),
                    need: HEADER_LEN + TOTAL_LEN_LEN,
                });
            };
            let declared = usize::from(u16::from_be_bytes(*len));
            if declared > MAX_FRAME_LEN {
                return Err(GattError::FrameTooLarge {
                    len: declared,
                    max: MAX_FRAME_LEN,
                });
            }
            (declared, Vec::with_capacity(declared), data)
        } else {
            match std::mem::replace(&mut self.state, State::Idle) {
                State::Partial { declared, buffer } => (declared, buffer, body),
                _ => return Err(GattError::ContinuationWithoutStart),
            }
        };

        let have = buffer.len() + data.len();
        if have > declared {
            return Err(GattError::Overflow {
                declared,
                excess: have - declared,
            });
        }
        if end != (have == declared) {
            return Err(GattError::MisplacedEnd {
                end,
                declared,
                have,
            });
        }
        buffer.extend_from_slice(data);
        self.next_seq = (seq + 1) & SEQ_MASK;
        if end {
            self.state = State::Idle;
            Ok(Some(buffer))
        } else {
            self.state = State::Partial { declared, buffer };
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests;
