//! Fuzz-style robustness test: random and mutated bytes fed to every
//! decoder must produce errors, never panics or unbounded allocation.
//! (Coverage-guided fuzzing lives in `fuzz/`; this runs in every `cargo test`.)

use wayfare_protocol::certificate::TerminalCertificate;
use wayfare_protocol::framing::{encode_frame, FrameDecoder};
use wayfare_protocol::instruction::PaymentInstruction;
use wayfare_protocol::keys::SigningKey;
use wayfare_protocol::messages::{HandshakeMessage, SessionMessage};
use wayfare_protocol::receipt::Receipt;

/// xorshift64*: a deterministic generator so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = (self.next() as usize) % (max + 1);
        (0..len).map(|_| self.next() as u8).collect()
    }
}

fn decode_everything(bytes: &[u8], key: &wayfare_protocol::keys::PublicKey) {
    let _ = HandshakeMessage::decode(bytes);
    let _ = SessionMessage::decode(bytes);
    let _ = Receipt::from_bytes(bytes.to_vec()).verify(key);
    let _ = TerminalCertificate::from_bytes(bytes.to_vec()).verify(key, 0);
    let _ = PaymentInstruction::from_bytes(bytes.to_vec()).peek();
}

#[test]
fn random_bytes_never_panic_the_frame_decoder() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let key = SigningKey::generate().unwrap().public_key();
    for _ in 0..20_000 {
        let mut dec = FrameDecoder::new();
        let chunk = rng.bytes(64);
        dec.push(&chunk);
        while let Ok(Some(frame)) = dec.next_frame() {
            decode_everything(&frame, &key);
        }
        let _ = dec.finish();
    }
}

#[test]
fn mutated_valid_messages_never_panic_decoders() {
    let mut rng = Rng(42);
    let key = SigningKey::generate().unwrap();
    let msg = HandshakeMessage::Busy {
        retry_after_ms: 500,
    }
    .encode()
    .unwrap();
    let receipt = Receipt::issue(
        &key,
        &wayfare_protocol::receipt::ReceiptBody {
            version: 1,
            payment_id: "pay_1".into(),
            order_id: "ord_1".into(),
            payer: "rider-1".into(),
            merchant_id: "mer_1".into(),
            terminal_id: "term_1".into(),
            amount_minor: 1,
            currency: wayfare_protocol::money::Currency::parse("EUR").unwrap(),
            completed_at_ms: 1,
            fare: None,
            points_spent: 0,
            points_value_minor: 0,
        },
    )
    .unwrap();
    let pk = key.public_key();
    for seed in [msg, receipt.as_bytes().to_vec()] {
        for _ in 0..5_000 {
            let mut m = seed.clone();
            let flips = 1 + rng.next() % 4;
            for _ in 0..flips {
                let i = (rng.next() as usize) % m.len();
                m[i] ^= 1 << (rng.next() % 8);
            }
            decode_everything(&m, &pk);
            // A mutation may only ever verify to the original body (COSE's
            // unprotected header is not signed); never to another one.
            if let Ok(body) = Receipt::from_bytes(m.clone()).verify(&pk) {
                assert_eq!(Some(body), receipt.verify(&pk).ok());
            }
            let framed = encode_frame(&m).unwrap();
            let mut dec = FrameDecoder::new();
            dec.push(&framed);
            assert_eq!(dec.next_frame().unwrap().unwrap(), m);
        }
    }
}
