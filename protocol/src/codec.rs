//! CBOR encoding of protocol structures (ciborium + serde).
//!
//! Structures whose bytes get signed declare their fields in a fixed order;
//! ciborium writes struct fields in declaration order, so encoding is
//! deterministic for a given value.

use serde::{de::DeserializeOwned, Serialize};

use crate::error::{ProtocolError, Result};

/// Encodes a value as CBOR.
pub fn to_cbor<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(128);
    ciborium::into_writer(value, &mut out)
        .map_err(|e| ProtocolError::Malformed(format!("encode: {e}")))?;
    Ok(out)
}

/// Decodes a value from CBOR, refusing trailing bytes.
pub fn from_cbor<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    let mut reader = bytes;
    let value = ciborium::from_reader(&mut reader)
        .map_err(|e| ProtocolError::Malformed(format!("decode: {e}")))?;
    if !reader.is_empty() {
        return Err(ProtocolError::Malformed(format!(
            "{} trailing bytes after message",
            reader.len()
        )));
    }
    Ok(value)
}
