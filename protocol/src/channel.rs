//! The encrypted session channel: AES-256-GCM with one key and one counter
//! per direction.
//!
//! A sealed frame is `counter (8 bytes, big-endian) || ciphertext || tag`.
//! The counter is the GCM nonce and is bound into the AAD; the receiver
//! accepts exactly the next counter, so a replayed frame and a skipped
//! (reordered or dropped) frame are told apart and both end the session.

use ring::aead::{Aad, LessSafeKey, Nonce, NONCE_LEN};

use crate::error::{ProtocolError, Result};
use crate::messages::SessionMessage;

const COUNTER_LEN: usize = 8;

/// Which side of the session this channel belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The phone (initiator).
    Phone,
    /// The access terminal (responder).
    Terminal,
}

/// One direction's key and counter.
struct Direction {
    key: LessSafeKey,
    counter: u64,
    label: u8,
}

/// An established, encrypted session. Not `Clone`: each counter must have a
/// single owner.
pub struct SecureChannel {
    send: Direction,
    recv: Direction,
}

impl std::fmt::Debug for SecureChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecureChannel")
            .field("sent", &self.send.counter)
            .field("received", &self.recv.counter)
            .finish()
    }
}

fn nonce_for(counter: u64) -> Nonce {
    let mut n = [0u8; NONCE_LEN];
    n[NONCE_LEN - COUNTER_LEN..].copy_from_slice(&counter.to_be_bytes());
    Nonce::assume_unique_for_key(n)
}

fn aad_for(label: u8, counter: u64) -> [u8; 17] {
    let mut aad = [0u8; 17];
    aad[..8].copy_from_slice(b"wayfare1");
    aad[8] = label;
    aad[9..].copy_from_slice(&counter.to_be_bytes());
    aad
}

/// Labels of the two directions, also used in key derivation.
pub(crate) const PHONE_TO_TERMINAL: u8 = b'p';
pub(crate) const TERMINAL_TO_PHONE: u8 = b't';

impl SecureChannel {
    /// Builds a channel from the two derived keys.
    pub(crate) fn new(
        role: Role,
        phone_to_terminal: LessSafeKey,
        terminal_to_phone: LessSafeKey,
    ) -> Self {
        let p2t = Direction {
            key: phone_to_terminal,
            counter: 0,
            label: PHONE_TO_TERMINAL,
        };
        let t2p = Direction {
            key: terminal_to_phone,
            counter: 0,
            label: TERMINAL_TO_PHONE,
        };
        match role {
            Role::Phone => Self {
                send: p2t,
                recv: t2p,
            },
            Role::Terminal => Self {
                send: t2p,
                recv: p2t,
            },
        }
    }

    /// Encrypts raw bytes into a sealed frame payload.
    pub fn seal_bytes(&mut self, plaintext: &[u8]) -> Result<Vec<u8>> {
        let counter = self.send.counter;
        let next = counter
            .checked_add(1)
            .ok_or(ProtocolError::CounterExhausted)?;
        let mut buf = Vec::with_capacity(COUNTER_LEN + plaintext.len() + 16);
        buf.extend_from_slice(&counter.to_be_bytes());
        let mut body = plaintext.to_vec();
        self.send
            .key
            .seal_in_place_append_tag(
                nonce_for(counter),
                Aad::from(aad_for(self.send.label, counter)),
                &mut body,
            )
            .map_err(|_| ProtocolError::Tampered)?;
        buf.extend_from_slice(&body);
        self.send.counter = next;
        Ok(buf)
    }

    /// Decrypts a sealed frame payload, enforcing the counter order.
    pub fn open_bytes(&mut self, sealed: &[u8]) -> Result<Vec<u8>> {
        if sealed.len() < COUNTER_LEN + 16 {
            return Err(ProtocolError::Truncated {
                have: sealed.len(),
                need: COUNTER_LEN + 16,
            });
        }
        let mut ctr = [0u8; COUNTER_LEN];
        ctr.copy_from_slice(&sealed[..COUNTER_LEN]);
        let got = u64::from_be_bytes(ctr);
        let expected = self.recv.counter;
        if got < expected {
            return Err(ProtocolError::Replayed { expected, got });
        }
        if got > expected {
            return Err(ProtocolError::Reordered { expected, got });
        }
        let mut body = sealed[COUNTER_LEN..].to_vec();
        let plain = self
            .recv
            .key
            .open_in_place(
                nonce_for(got),
                Aad::from(aad_for(self.recv.label, got)),
                &mut body,
            )
            .map_err(|_| ProtocolError::Tampered)?;
        let out = plain.to_vec();
        self.recv.counter = expected
            .checked_add(1)
            .ok_or(ProtocolError::CounterExhausted)?;
        Ok(out)
    }

    /// Encrypts a session message.
    pub fn seal(&mut self, message: &SessionMessage) -> Result<Vec<u8>> {
        self.seal_bytes(&message.encode()?)
    }

    /// Decrypts and decodes a session message.
    pub fn open(&mut self, sealed: &[u8]) -> Result<SessionMessage> {
        SessionMessage::decode(&self.open_bytes(sealed)?)
    }
}
