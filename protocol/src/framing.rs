//! Length-prefixed framing for stream transports (TCP, BLE L2CAP).
//!
//! A frame is a 4-byte big-endian length followed by that many bytes. The
//! length is checked against [`MAX_FRAME_LEN`] before any buffer is
//! allocated, so a hostile peer can't make us reserve memory.

use crate::error::{ProtocolError, Result};

/// Largest frame payload accepted, in bytes. Session messages are well under
/// 2 KiB; the margin leaves room for certificates and receipts.
pub const MAX_FRAME_LEN: usize = 16 * 1024;

/// Size of the length prefix.
pub const HEADER_LEN: usize = 4;

/// Wraps a payload into a frame.
pub fn encode_frame(payload: &[u8]) -> Result<Vec<u8>> {
    if payload.len() > MAX_FRAME_LEN {
        return Err(ProtocolError::FrameTooLarge {
            len: payload.len(),
            max: MAX_FRAME_LEN,
        });
    }
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    Ok(out)
}

/// Whether `bytes` (a piece of a framed stream, from a frame boundary)
/// ends on a frame boundary: every frame in it is whole. A transport that
/// carries the stream in pieces (NFC's APDUs) uses it to send whole frames
/// when it can. A bad header counts as whole: the receiver refuses it.
pub fn ends_on_frame_boundary(bytes: &[u8]) -> bool {
    let mut at = 0;
    while at < bytes.len() {
        let Some(header) = bytes.get(at..at + HEADER_LEN) else {
            return false;
        };
        let mut h = [0u8; HEADER_LEN];
        h.copy_from_slice(header);
        match payload_len(h) {
            Ok(len) => at += HEADER_LEN + len,
            Err(_) => return true,
        }
    }
    at == bytes.len()
}

/// Reads the payload length from a frame header, refusing oversized frames.
pub fn payload_len(header: [u8; HEADER_LEN]) -> Result<usize> {
    let len = u32::from_be_bytes(header) as usize;
    if len > MAX_FRAME_LEN {
        return Err(ProtocolError::FrameTooLarge {
            len,
            max: MAX_FRAME_LEN,
        });
    }
    Ok(len)
}

/// Incremental decoder for transports that deliver arbitrary chunks
/// (BLE notifications, NFC APDUs). Feed bytes with [`FrameDecoder::push`],
/// take complete frames with [`FrameDecoder::next_frame`].
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buffer: Vec<u8>,
}

impl FrameDecoder {
    /// Creates an empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// Returns the next complete frame, `None` if more bytes are needed, or
    /// an error if the announced length is too large.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>> {
        if self.buffer.len() < HEADER_LEN {
            return Ok(None);
        }
        let mut header = [0u8; HEADER_LEN];
        header.copy_from_slice(&self.buffer[..HEADER_LEN]);
        let len = payload_len(header)?;
        if self.buffer.len() < HEADER_LEN + len {
            return Ok(None);
        }
        let frame = self.buffer[HEADER_LEN..HEADER_LEN + len].to_vec();
        self.buffer.drain(..HEADER_LEN + len);
        Ok(Some(frame))
    }

    /// Call when the stream ended: an incomplete frame is an error.
    pub fn finish(&self) -> Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let need = if self.buffer.len() < HEADER_LEN {
            HEADER_LEN
        } else {
            let mut header = [0u8; HEADER_LEN];
            header.copy_from_slice(&self.buffer[..HEADER_LEN]);
            HEADER_LEN + payload_len(header)?
        };
        Err(ProtocolError::Truncated {
            have: self.buffer.len(),
            need,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_in_chunks() {
        let a = encode_frame(b"hello").unwrap();
        let b = encode_frame(&[7u8; 300]).unwrap();
        let stream: Vec<u8> = a.iter().chain(b.iter()).copied().collect();
        let mut dec = FrameDecoder::new();
        let mut frames = Vec::new();
        for chunk in stream.chunks(7) {
            dec.push(chunk);
            while let Some(f) = dec.next_frame().unwrap() {
                frames.push(f);
            }
        }
        dec.finish().unwrap();
        assert_eq!(frames, vec![b"hello".to_vec(), vec![7u8; 300]]);
    }

    #[test]
    fn oversized_frame_is_refused_before_buffering() {
        let mut dec = FrameDecoder::new();
        dec.push(&((MAX_FRAME_LEN as u32) + 1).to_be_bytes());
        assert!(matches!(
            dec.next_frame(),
            Err(ProtocolError::FrameTooLarge { .. })
        ));
        assert!(encode_frame(&vec![0u8; MAX_FRAME_LEN + 1]).is_err());
    }

    #[test]
    fn truncated_frame_is_reported() {
        let frame = encode_frame(b"abcdef").unwrap();
        let mut dec = FrameDecoder::new();
        dec.push(&frame[..7]);
        assert_eq!(dec.next_frame().unwrap(), None);
        assert_eq!(
            dec.finish(),
            Err(ProtocolError::Truncated { have: 7, need: 10 })
        );
    }

    #[test]
    fn frame_boundaries_are_found() {
        let a = encode_frame(b"abc").unwrap();
        let b = encode_frame(b"").unwrap();
        let both = [a.clone(), b].concat();
        assert!(ends_on_frame_boundary(&[]));
        assert!(ends_on_frame_boundary(&a));
        assert!(ends_on_frame_boundary(&both));
        assert!(!ends_on_frame_boundary(&a[..2]));
        assert!(!ends_on_frame_boundary(&a[..5]));
        assert!(!ends_on_frame_boundary(
            &[both.as_slice(), &a[..6]].concat()
        ));
        assert!(ends_on_frame_boundary(&[0xFF, 0xFF, 0xFF, 0xFF]));
    }
}
