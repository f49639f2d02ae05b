#![no_main]
//! Arbitrary bytes as every express-tap object a terminal or the server
//! decodes from a phone: the offer, the allowance, the signed tap, the deny
//! list. Each refuses bad input with a typed error, never a panic.

use libfuzzer_sys::fuzz_target;
use wayfare_protocol::express::{
    Allowance, AllowanceBody, DenyList, ExpressOffer, ExpressTap, EXPRESS_VERSION,
};
use wayfare_protocol::keys::PublicKey;

fuzz_target!(|data: &[u8]| {
    let _ = ExpressOffer::decode(data);
    let key = PublicKey([7; 32]);
    let _ = Allowance::from_bytes(data.to_vec()).verify(&key, 0);
    let _ = Allowance::from_bytes(data.to_vec()).peek();
    let _ = DenyList::from_bytes(data.to_vec()).verify(&key);
    let allowance = AllowanceBody {
        version: EXPRESS_VERSION,
        allowance_id: "alw_1".into(),
        tap_key: key,
        per_tap_max_minor: 1,
        total_max_minor: 1,
        currency: "CNY".into(),
        sequence: 1,
        issued_at_ms: 0,
        expires_at_ms: 1,
    };
    let _ = ExpressTap::from_bytes(data.to_vec()).verify(&allowance);
    let _ = ExpressTap::from_bytes(data.to_vec()).peek();
});
