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
mod tests {
    use super::*;

    const MTUS: [u16; 3] = [23, 185, 512];

    fn frame(len: usize, salt: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31) ^ salt)
            .collect()
    }

    fn send_all(mtu: u16, frames: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let mut fragmenter = Fragmenter::new(mtu).unwrap();
        frames
            .iter()
            .flat_map(|f| fragmenter.fragment(f).unwrap())
            .collect()
    }

    #[test]
    fn frames_round_trip_at_each_mtu() {
        for mtu in MTUS {
            let max = usize::from(mtu) - ATT_OVERHEAD;
            // Empty, one byte, exactly one fragment, one more, many, the largest.
            let frames: Vec<Vec<u8>> = [0, 1, max - 3, max - 2, max * 3 + 7, MAX_FRAME_LEN]
                .iter()
                .enumerate()
                .map(|(i, len)| frame(*len, i as u8))
                .collect();
            let fragments = send_all(mtu, &frames);
            assert!(fragments.iter().all(|f| f.len() <= max), "mtu {mtu}");
            let mut reassembler = Reassembler::new(mtu).unwrap();
            let got: Vec<Vec<u8>> = fragments
                .iter()
                .filter_map(|f| reassembler.push(f).unwrap())
                .collect();
            assert_eq!(got, frames, "mtu {mtu}");
            reassembler.finish().unwrap();
        }
    }

    #[test]
    fn fragments_fill_the_mtu_and_number_in_sequence() {
        let fragments = send_all(23, &[frame(17 + 19 + 5, 0), frame(3, 1)]);
        let lens: Vec<usize> = fragments.iter().map(Vec::len).collect();
        assert_eq!(lens, vec![20, 20, 6, 6]);
        let headers: Vec<u8> = fragments.iter().map(|f| f[0]).collect();
        assert_eq!(headers, vec![0x80, 0x01, 0x42, 0xC3]);
        assert_eq!(&fragments[0][1..3], &41u16.to_be_bytes());
        // The sequence wraps at 16.
        let many = send_all(23, &vec![Vec::new(); 18]);
        assert_eq!(many[16][0], FLAG_START | FLAG_END);
        assert_eq!(many[17][0], FLAG_START | FLAG_END | 1);
    }

    #[test]
    fn small_mtu_and_large_frames_are_refused_when_sending() {
        assert_eq!(
            Fragmenter::new(22).unwrap_err(),
            GattError::MtuTooSmall { mtu: 22 }
        );
        assert!(Reassembler::new(0).is_err());
        assert_eq!(Fragmenter::new(9000).unwrap().max_fragment_len(), 512);
        assert!(matches!(
            Fragmenter::new(185)
                .unwrap()
                .fragment(&vec![0; MAX_FRAME_LEN + 1]),
            Err(GattError::FrameTooLarge { .. })
        ));
    }

    fn refuses(mtu: u16, fragments: &[Vec<u8>]) -> GattError {
        let mut reassembler = Reassembler::new(mtu).unwrap();
        for fragment in fragments {
            if let Err(e) = reassembler.push(fragment) {
                assert_eq!(reassembler.push(&fragments[0]), Err(GattError::Broken));
                return e;
            }
        }
        panic!("all fragments accepted");
    }

    #[test]
    fn truncated_fragments_and_frames_are_refused() {
        for mtu in MTUS {
            assert_eq!(
                refuses(mtu, &[vec![]]),
                GattError::Truncated { have: 0, need: 1 }
            );
            assert_eq!(
                refuses(mtu, &[vec![FLAG_START | FLAG_END, 0]]),
                GattError::Truncated { have: 2, need: 3 }
            );
            // The link ends in the middle of a frame.
            let fragments = send_all(mtu, &[frame(1500, 0)]);
            let mut reassembler = Reassembler::new(mtu).unwrap();
            reassembler.push(&fragments[0]).unwrap();
            assert_eq!(
                reassembler.finish(),
                Err(GattError::Truncated {
                    have: usize::from(mtu) - 6,
                    need: 1500
                })
            );
            // END on a fragment that does not complete the frame.
            let mut cut = fragments.clone();
            cut[1][0] |= FLAG_END;
            assert!(matches!(
                refuses(mtu, &cut),
                GattError::MisplacedEnd { end: true, .. }
            ));
        }
    }

    #[test]
    fn oversized_fragments_and_frames_are_refused() {
        for mtu in MTUS {
            let max = usize::from(mtu) - ATT_OVERHEAD;
            // A fragment cut for a larger MTU.
            let big = send_all(mtu + 1, &[frame(2000, 0)]);
            assert_eq!(
                refuses(mtu, &big),
                GattError::FragmentTooLarge { len: max + 1, max }
            );
            // A declared total above MAX_FRAME_LEN, refused before buffering.
            let mut start = vec![FLAG_START];
            start.extend_from_slice(&((MAX_FRAME_LEN + 1) as u16).to_be_bytes());
            assert_eq!(
                refuses(mtu, &[start]),
                GattError::FrameTooLarge {
                    len: MAX_FRAME_LEN + 1,
                    max: MAX_FRAME_LEN
                }
            );
            // More data than declared.
            let mut lying = send_all(mtu, &[frame(100, 0)]);
            lying[0][1..3].copy_from_slice(&5u16.to_be_bytes());
            assert!(matches!(
                refuses(mtu, &lying),
                GattError::Overflow { declared: 5, .. }
            ));
            // The completing fragment without END.
            let mut endless = send_all(mtu, &[frame(600, 0)]);
            if let Some(last) = endless.last_mut() {
                last[0] &= !FLAG_END;
            }
            assert!(matches!(
                refuses(mtu, &endless),
                GattError::MisplacedEnd { end: false, .. }
            ));
        }
    }

    #[test]
    fn sequence_errors_are_refused() {
        for mtu in MTUS {
            let fragments = send_all(mtu, &[frame(1500, 0), frame(10, 1)]);
            // A lost fragment.
            let mut lost = fragments.clone();
            lost.remove(1);
            assert_eq!(
                refuses(mtu, &lost),
                GattError::OutOfSequence {
                    expected: 1,
                    got: 2
                }
            );
            // A repeated fragment.
            let mut repeated = fragments.clone();
            repeated.insert(2, fragments[1].clone());
            assert_eq!(
                refuses(mtu, &repeated),
                GattError::OutOfSequence {
                    expected: 2,
                    got: 1
                }
            );
            // Swapped fragments.
            let mut swapped = fragments.clone();
            swapped.swap(1, 2);
            assert!(matches!(
                refuses(mtu, &swapped),
                GattError::OutOfSequence { .. }
            ));
            // A first fragment that is not the link's first.
            assert!(matches!(
                refuses(mtu, &fragments[1..]),
                GattError::OutOfSequence { expected: 0, .. }
            ));
        }
    }

    #[test]
    fn continuation_without_start_and_duplicate_start_are_refused() {
        for mtu in MTUS {
            let fragments = send_all(mtu, &[frame(1500, 0)]);
            let mut orphan = fragments[1].clone();
            orphan[0] &= !SEQ_MASK;
            assert_eq!(refuses(mtu, &[orphan]), GattError::ContinuationWithoutStart);
            // A second START (renumbered to be in sequence) while the first
            // frame is incomplete.
            let mut again = fragments[0].clone();
            again[0] = FLAG_START | 1;
            assert!(matches!(
                refuses(mtu, &[fragments[0].clone(), again]),
                GattError::UnexpectedStart { declared: 1500, .. }
            ));
            assert_eq!(
                refuses(mtu, &[vec![0x20]]),
                GattError::ReservedBits { header: 0x20 }
            );
        }
    }

    #[test]
    fn random_and_mutated_fragments_are_refused_without_panicking() {
        // xorshift64*: deterministic, so a failure reproduces.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_F491_4F6C_DD1D)
        };
        for round in 0..3_000 {
            let mtu = MTUS[round % 3];
            let mut fragments = send_all(mtu, &[frame(round % 1200, 0), frame(33, 1)]);
            for _ in 0..(next() % 4) {
                let i = (next() as usize) % fragments.len();
                let f = &mut fragments[i];
                match next() % 3 {
                    0 if !f.is_empty() => {
                        let at = (next() as usize) % f.len();
                        f[at] ^= next() as u8 | 1;
                    }
                    1 => f.truncate((next() as usize) % (f.len() + 1)),
                    _ => f.extend((0..next() % 40).map(|_| next() as u8)),
                }
            }
            let mut reassembler = Reassembler::new(mtu).unwrap();
            for f in &fragments {
                if let Ok(Some(got)) = reassembler.push(f) {
                    assert!(got.len() <= MAX_FRAME_LEN);
                }
            }
            let _ = reassembler.finish();
        }
    }
}
