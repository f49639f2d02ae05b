#![no_main]
//! Arbitrary bytes through every message and signed-object decoder.

use libfuzzer_sys::fuzz_target;
use wayfare_protocol::certificate::TerminalCertificate;
use wayfare_protocol::instruction::PaymentInstruction;
use wayfare_protocol::keys::PublicKey;
use wayfare_protocol::messages::{HandshakeMessage, SessionMessage};
use wayfare_protocol::receipt::Receipt;

fuzz_target!(|data: &[u8]| {
    let key = PublicKey([7u8; 32]);
    let _ = HandshakeMessage::decode(data);
    let _ = SessionMessage::decode(data);
    let _ = Receipt::from_bytes(data.to_vec()).verify(&key);
    let _ = TerminalCertificate::from_bytes(data.to_vec()).verify(&key, 0);
    let _ = PaymentInstruction::from_bytes(data.to_vec()).peek();
});
