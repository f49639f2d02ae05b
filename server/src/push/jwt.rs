//! The two JSON Web Tokens the push services want, signed with ring: RS256
//! for Google's OAuth 2.0 JWT bearer grant (the service account's RSA key)
//! and ES256 for APNs provider tokens (the team's P-256 key). Compact
//! serialization: base64url (no padding) of the header, of the claims, and
//! of the signature (for ES256 the fixed 64-byte `r || s`, as JWS wants).

use ring::rand::SystemRandom;
use ring::signature::{
    EcdsaKeyPair, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING, RSA_PKCS1_SHA256,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::PrivatePkcs8KeyDer;
use serde_json::Value;
use thiserror::Error;
use wayfare_protocol::ids::b64_encode;

/// Why a key cannot be used or a token cannot be signed.
#[derive(Debug, Error)]
pub enum JwtError {
    /// The key is not a PKCS#8 PEM key of the expected type.
    #[error("{0}")]
    BadKey(String),
    /// Signing failed (the system random generator).
    #[error("signing failed")]
    Sign,
}

/// Reads a PKCS#8 PEM private key (`-----BEGIN PRIVATE KEY-----`).
fn pkcs8(pem: &[u8], what: &str) -> Result<PrivatePkcs8KeyDer<'static>, JwtError> {
    PrivatePkcs8KeyDer::from_pem_slice(pem).map_err(|e| {
        JwtError::BadKey(format!(
            "{what} is not a PKCS#8 PEM private key (-----BEGIN PRIVATE KEY-----): {e}"
        ))
    })
}

/// An RSA key for RS256 (a Google service account's `private_key`).
pub struct Rs256Key(RsaKeyPair);

impl Rs256Key {
    /// Reads the PEM text of a PKCS#8 RSA private key.
    pub fn from_pem(pem: &str) -> Result<Self, JwtError> {
        let der = pkcs8(pem.as_bytes(), "the service account's private_key")?;
        RsaKeyPair::from_pkcs8(der.secret_pkcs8_der())
            .map(Self)
            .map_err(|e| JwtError::BadKey(format!("not a usable RSA key: {e}")))
    }

    /// The compact JWT of `header` and `claims`.
    pub fn sign(&self, header: &Value, claims: &Value) -> Result<String, JwtError> {
        let input = signing_input(header, claims);
        let mut signature = vec![0; self.0.public().modulus_len()];
        self.0
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| JwtError::Sign)?;
        Ok(format!("{input}.{}", b64_encode(&signature)))
    }
}

/// A P-256 key for ES256 (an APNs `.p8` key).
pub struct Es256Key(EcdsaKeyPair);

impl Es256Key {
    /// Reads the PEM text of a PKCS#8 P-256 private key.
    pub fn from_pem(pem: &[u8]) -> Result<Self, JwtError> {
        let der = pkcs8(pem, "the APNs key file")?;
        EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            der.secret_pkcs8_der(),
            &SystemRandom::new(),
        )
        .map(Self)
        .map_err(|e| JwtError::BadKey(format!("not a usable P-256 key: {e}")))
    }

    /// The compact JWT of `header` and `claims`.
    pub fn sign(&self, header: &Value, claims: &Value) -> Result<String, JwtError> {
        let input = signing_input(header, claims);
        let signature = self
            .0
            .sign(&SystemRandom::new(), input.as_bytes())
            .map_err(|_| JwtError::Sign)?;
        Ok(format!("{input}.{}", b64_encode(signature.as_ref())))
    }
}

fn signing_input(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        b64_encode(header.to_string().as_bytes()),
        b64_encode(claims.to_string().as_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{KeyPair, UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};
    use serde_json::json;
    use wayfare_protocol::ids::b64_decode;

    #[test]
    fn es256_tokens_verify_with_the_public_key() {
        let rng = SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let text = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, doc.as_ref())
        );
        let key = Es256Key::from_pem(text.as_bytes()).unwrap();
        let jwt = key
            .sign(
                &json!({"alg": "ES256", "kid": "K"}),
                &json!({"iss": "T", "iat": 1}),
            )
            .unwrap();
        let (input, sig) = jwt.rsplit_once('.').unwrap();
        let public = key.0.public_key().as_ref().to_vec();
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, public)
            .verify(input.as_bytes(), &b64_decode(sig).unwrap())
            .unwrap();
        let header: Value =
            serde_json::from_slice(&b64_decode(input.split('.').next().unwrap()).unwrap()).unwrap();
        assert_eq!(header["alg"], "ES256");
    }

    #[test]
    fn keys_of_the_wrong_kind_are_refused() {
        assert!(Rs256Key::from_pem("not a key").is_err());
        assert!(Es256Key::from_pem(
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
        )
        .is_err());
    }
}
