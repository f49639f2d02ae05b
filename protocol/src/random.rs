//! Randomness from the system CSPRNG (`ring`), for keys, nonces and ids:
//! the one place the protocol asks for it.

use ring::rand::{SecureRandom, SystemRandom};

use crate::error::{ProtocolError, Result};

/// Fills a fixed-size array from the system CSPRNG.
pub fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut out = [0u8; N];
    SystemRandom::new()
        .fill(&mut out)
        .map_err(|_| ProtocolError::Random)?;
    Ok(out)
}
