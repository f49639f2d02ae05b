//! The session handshake (SIGMA-style, after ISO/IEC 18013-5 device
//! engagement): both sides send ephemeral X25519 keys, the terminal signs
//! the transcript with the key its operator-issued certificate names, and
//! both derive per-direction AES-256-GCM keys with HKDF-SHA256 salted by the
//! transcript hash.
//!
//! The phone stays anonymous in the handshake (it identifies itself to the
//! payment server, not to the terminal: P2's privacy goal).

use ring::aead::{LessSafeKey, UnboundKey, AES_256_GCM};
use ring::agreement::{self, EphemeralPrivateKey, UnparsedPublicKey, X25519};
use ring::hkdf::{self, HKDF_SHA256};
use ring::rand::SystemRandom;

use crate::certificate::{CertificateBody, TerminalCertificate};
use crate::channel::{Role, SecureChannel, PHONE_TO_TERMINAL, TERMINAL_TO_PHONE};
use crate::codec::to_cbor;
use crate::error::{ProtocolError, Result};
use crate::keys::{random_bytes, PublicKey, SigningKey};
use crate::messages::{ClientHello, TerminalHello};
use crate::PROTOCOL_VERSION;

const TRANSCRIPT_LABEL: &[u8] = b"wayfare/handshake/v1";

fn ephemeral() -> Result<(EphemeralPrivateKey, Vec<u8>)> {
    let rng = SystemRandom::new();
    let private =
        EphemeralPrivateKey::generate(&X25519, &rng).map_err(|_| ProtocolError::Random)?;
    let public = private
        .compute_public_key()
        .map_err(|_| ProtocolError::Random)?
        .as_ref()
        .to_vec();
    Ok((private, public))
}

fn transcript_hash(
    client_hello: &ClientHello,
    terminal_ephemeral: &[u8],
    terminal_nonce: &[u8],
    certificate: &TerminalCertificate,
) -> Result<[u8; 32]> {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(TRANSCRIPT_LABEL);
    for part in [
        &to_cbor(client_hello)?[..],
        terminal_ephemeral,
        terminal_nonce,
        certificate.as_bytes(),
    ] {
        ctx.update(&(part.len() as u32).to_be_bytes());
        ctx.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    Ok(out)
}

struct KeyLen;
impl hkdf::KeyType for KeyLen {
    fn len(&self) -> usize {
        AES_256_GCM.key_len()
    }
}

fn derive_channel(
    role: Role,
    private: EphemeralPrivateKey,
    peer_public: &[u8],
    transcript: &[u8; 32],
) -> Result<SecureChannel> {
    if peer_public.len() != 32 {
        return Err(ProtocolError::InvalidKey("X25519 key must be 32 bytes"));
    }
    let peer = UnparsedPublicKey::new(&X25519, peer_public);
    agreement::agree_ephemeral(private, &peer, |shared| {
        let prk = hkdf::Salt::new(HKDF_SHA256, transcript).extract(shared);
        let key = |label: u8| -> Result<LessSafeKey> {
            let info = [b"wayfare/session-key/v1".as_slice(), &[label]];
            let okm = prk
                .expand(&info, KeyLen)
                .map_err(|_| ProtocolError::InvalidKey("HKDF expand"))?;
            let mut bytes = [0u8; 32];
            okm.fill(&mut bytes)
                .map_err(|_| ProtocolError::InvalidKey("HKDF fill"))?;
            let unbound = UnboundKey::new(&AES_256_GCM, &bytes)
                .map_err(|_| ProtocolError::InvalidKey("AES key"))?;
            Ok(LessSafeKey::new(unbound))
        };
        Ok(SecureChannel::new(
            role,
            key(PHONE_TO_TERMINAL)?,
            key(TERMINAL_TO_PHONE)?,
        ))
    })
    .map_err(|_| ProtocolError::InvalidKey("X25519 agreement rejected the peer key"))?
}

/// The phone's side of a handshake in progress.
pub struct PhoneHandshake {
    private: EphemeralPrivateKey,
    hello: ClientHello,
}

impl std::fmt::Debug for PhoneHandshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PhoneHandshake")
    }
}

/// What the phone learns from a successful handshake.
#[derive(Debug)]
pub struct EstablishedSession {
    /// The encrypted channel.
    pub channel: SecureChannel,
    /// The verified certificate of the terminal.
    pub terminal: CertificateBody,
}

impl PhoneHandshake {
    /// Starts a handshake: returns the state and the hello to send.
    pub fn start() -> Result<(Self, ClientHello)> {
        let (private, public) = ephemeral()?;
        let hello = ClientHello {
            version: PROTOCOL_VERSION,
            ephemeral_key: public,
            nonce: random_bytes::<16>()?.to_vec(),
        };
        Ok((
            Self {
                private,
                hello: hello.clone(),
            },
            hello,
        ))
    }

    /// Checks the terminal's answer: certificate issued by `operator` and
    /// valid at `now_ms`, naming `expected_terminal_id` when the phone chose a
    /// terminal from a beacon, and a transcript signature by the certified
    /// key. Only then are session keys derived.
    pub fn finish(
        self,
        reply: &TerminalHello,
        operator: &PublicKey,
        expected_terminal_id: Option<&str>,
        now_ms: u64,
    ) -> Result<EstablishedSession> {
        if reply.version != PROTOCOL_VERSION {
            return Err(ProtocolError::UnsupportedVersion(reply.version));
        }
        let cert = reply.certificate.verify(operator, now_ms)?;
        if let Some(expected) = expected_terminal_id {
            if cert.terminal_id != expected {
                return Err(ProtocolError::InvalidField {
                    field: "terminal_id",
                    reason: "the certificate names another terminal than the one advertised".into(),
                });
            }
        }
        let transcript = transcript_hash(
            &self.hello,
            &reply.ephemeral_key,
            &reply.nonce,
            &reply.certificate,
        )?;
        cert.terminal_key
            .verify(&transcript, &reply.signature)
            .map_err(|_| ProtocolError::BadSignature("handshake transcript"))?;
        let channel = derive_channel(Role::Phone, self.private, &reply.ephemeral_key, &transcript)?;
        Ok(EstablishedSession {
            channel,
            terminal: cert,
        })
    }
}

/// The terminal's side: answers a client hello in one step.
pub fn respond(
    client_hello: &ClientHello,
    terminal_key: &SigningKey,
    certificate: &TerminalCertificate,
) -> Result<(TerminalHello, SecureChannel)> {
    if client_hello.version != PROTOCOL_VERSION {
        return Err(ProtocolError::UnsupportedVersion(client_hello.version));
    }
    if client_hello.nonce.len() != 16 {
        return Err(ProtocolError::InvalidField {
            field: "nonce",
            reason: "must be 16 bytes".into(),
        });
    }
    let (private, public) = ephemeral()?;
    let nonce = random_bytes::<16>()?.to_vec();
    let transcript = transcript_hash(client_hello, &public, &nonce, certificate)?;
    let signature = terminal_key.sign(&transcript);
    let channel = derive_channel(
        Role::Terminal,
        private,
        &client_hello.ephemeral_key,
        &transcript,
    )?;
    Ok((
        TerminalHello {
            version: PROTOCOL_VERSION,
            ephemeral_key: public,
            nonce,
            certificate: certificate.clone(),
            signature,
        },
        channel,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certificate::CertificateBody;
    use crate::messages::{Done, DoneOutcome, SessionMessage, TerminalKind};

    struct Fixture {
        operator: SigningKey,
        terminal: SigningKey,
        cert: TerminalCertificate,
    }

    fn fixture() -> Fixture {
        let operator = SigningKey::generate().unwrap();
        let terminal = SigningKey::generate().unwrap();
        let cert = TerminalCertificate::issue(
            &operator,
            &CertificateBody {
                version: PROTOCOL_VERSION,
                terminal_id: "term_1".into(),
                merchant_id: "mer_1".into(),
                merchant_name: "Shop".into(),
                kind: TerminalKind::Pos,
                terminal_key: terminal.public_key(),
                not_before_ms: 0,
                not_after_ms: 10_000,
                transit: None,
            },
        )
        .unwrap();
        Fixture {
            operator,
            terminal,
            cert,
        }
    }

    fn done() -> SessionMessage {
        SessionMessage::Done(Done {
            outcome: DoneOutcome::Accepted,
            message: "ok".into(),
        })
    }

    #[test]
    fn handshake_then_messages_both_ways() {
        let f = fixture();
        let (phone, hello) = PhoneHandshake::start().unwrap();
        let (reply, mut term_ch) = respond(&hello, &f.terminal, &f.cert).unwrap();
        let est = phone
            .finish(&reply, &f.operator.public_key(), Some("term_1"), 5)
            .unwrap();
        let mut phone_ch = est.channel;
        assert_eq!(est.terminal.merchant_name, "Shop");
        for _ in 0..3 {
            let sealed = term_ch.seal(&done()).unwrap();
            assert_eq!(phone_ch.open(&sealed).unwrap(), done());
            let sealed = phone_ch.seal(&done()).unwrap();
            assert_eq!(term_ch.open(&sealed).unwrap(), done());
        }
    }

    #[test]
    fn rogue_certificate_is_refused() {
        let f = fixture();
        let rogue_op = SigningKey::generate().unwrap();
        let (phone, hello) = PhoneHandshake::start().unwrap();
        let (reply, _) = respond(&hello, &f.terminal, &f.cert).unwrap();
        assert!(matches!(
            phone.finish(&reply, &rogue_op.public_key(), None, 5),
            Err(ProtocolError::UnknownSigner(_))
        ));
    }

    #[test]
    fn expired_certificate_is_refused() {
        let f = fixture();
        let (phone, hello) = PhoneHandshake::start().unwrap();
        let (reply, _) = respond(&hello, &f.terminal, &f.cert).unwrap();
        assert!(matches!(
            phone.finish(&reply, &f.operator.public_key(), None, 10_001),
            Err(ProtocolError::Expired { .. })
        ));
    }

    #[test]
    fn stolen_certificate_without_the_terminal_key_is_refused() {
        let f = fixture();
        let impostor = SigningKey::generate().unwrap();
        let (phone, hello) = PhoneHandshake::start().unwrap();
        let (reply, _) = respond(&hello, &impostor, &f.cert).unwrap();
        assert!(matches!(
            phone.finish(&reply, &f.operator.public_key(), None, 5),
            Err(ProtocolError::BadSignature(_))
        ));
    }

    #[test]
    fn certificate_for_another_terminal_is_refused() {
        let f = fixture();
        let (phone, hello) = PhoneHandshake::start().unwrap();
        let (reply, _) = respond(&hello, &f.terminal, &f.cert).unwrap();
        assert!(phone
            .finish(&reply, &f.operator.public_key(), Some("term_2"), 5)
            .is_err());
    }

    #[test]
    fn replayed_hello_from_another_session_is_refused() {
        // A terminal answer recorded in one session does not complete another.
        let f = fixture();
        let (_, old_hello) = PhoneHandshake::start().unwrap();
        let (old_reply, _) = respond(&old_hello, &f.terminal, &f.cert).unwrap();
        let (phone, _) = PhoneHandshake::start().unwrap();
        assert!(matches!(
            phone.finish(&old_reply, &f.operator.public_key(), None, 5),
            Err(ProtocolError::BadSignature(_))
        ));
    }

    #[test]
    fn tampered_replayed_and_reordered_frames_are_refused() {
        let f = fixture();
        let (phone, hello) = PhoneHandshake::start().unwrap();
        let (reply, mut term_ch) = respond(&hello, &f.terminal, &f.cert).unwrap();
        let mut phone_ch = phone
            .finish(&reply, &f.operator.public_key(), None, 5)
            .unwrap()
            .channel;

        let first = term_ch.seal(&done()).unwrap();
        let second = term_ch.seal(&done()).unwrap();
        let third = term_ch.seal(&done()).unwrap();

        let mut tampered = first.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 0x80;
        assert_eq!(phone_ch.open(&tampered), Err(ProtocolError::Tampered));
        assert!(matches!(
            phone_ch.open(&second),
            Err(ProtocolError::Reordered {
                expected: 0,
                got: 1
            })
        ));
        phone_ch.open(&first).unwrap();
        assert!(matches!(
            phone_ch.open(&first),
            Err(ProtocolError::Replayed {
                expected: 1,
                got: 0
            })
        ));
        phone_ch.open(&second).unwrap();
        phone_ch.open(&third).unwrap();
        // A frame sealed for the other direction never opens on this one.
        let mut phone_ch2 = phone_ch;
        let own = phone_ch2.seal(&done()).unwrap();
        assert!(phone_ch2.open(&own).is_err());
        assert!(phone_ch2.open(&own[..10]).is_err());
    }
}
