//! The allowance's tap key: derived from the sealed device seed and a
//! random nonce kept with the allowance, never stored.
//!
//! tap seed = HMAC-SHA256(device seed, `wayfare/express-tap-key/v1` ‖ nonce)
//!
//! A copy of the data directory therefore holds only the nonce: without
//! the device seed (unsealed by the platform key store) it cannot sign a
//! tap. A fresh nonce per allowance gives each allowance its own key, so
//! gates and the server cannot link two allowances to one phone.

use ring::hmac;
use wayfare_protocol::keys::{random_bytes, SigningKey};
use wayfare_protocol::ProtocolError;

/// Domain separation: this HMAC output is a tap seed and nothing else.
const LABEL: &[u8] = b"wayfare/express-tap-key/v1";
/// Bytes of the per-allowance nonce.
pub(crate) const NONCE_LEN: usize = 16;

/// A fresh nonce for a new allowance.
pub(crate) fn new_nonce() -> Result<[u8; NONCE_LEN], ProtocolError> {
    random_bytes::<NONCE_LEN>()
}

/// The tap key of the allowance made with `nonce`.
pub(crate) fn derive(device_seed: &[u8; 32], nonce: &[u8]) -> Result<SigningKey, ProtocolError> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, device_seed);
    let mut context = hmac::Context::with_key(&key);
    context.update(LABEL);
    context.update(nonce);
    let tag = context.sign();
    SigningKey::from_seed(tag.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tap_key_depends_on_seed_and_nonce_and_is_reproducible() {
        let seed = [7u8; 32];
        let a = derive(&seed, &[1; NONCE_LEN]).unwrap();
        assert_eq!(
            a.public_key(),
            derive(&seed, &[1; NONCE_LEN]).unwrap().public_key()
        );
        assert_ne!(
            a.public_key(),
            derive(&seed, &[2; NONCE_LEN]).unwrap().public_key()
        );
        assert_ne!(
            a.public_key(),
            derive(&[8u8; 32], &[1; NONCE_LEN]).unwrap().public_key()
        );
        // Not the device key itself.
        assert_ne!(
            a.public_key(),
            SigningKey::from_seed(&seed).unwrap().public_key()
        );
        assert_ne!(new_nonce().unwrap(), new_nonce().unwrap());
    }
}
