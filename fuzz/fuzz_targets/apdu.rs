#![no_main]
//! Arbitrary command APDUs through the card side (the phone's HCE link),
//! split into commands at each 0xFF byte, and arbitrary responses through
//! the reader's gatherer: refusals are status words, never panics.

use libfuzzer_sys::fuzz_target;
use wayfare_protocol::apdu::{CardEvent, CardLink, CommandApdu, ReaderLink};
use wayfare_protocol::express::ExpressOffer;

fuzz_target!(|data: &[u8]| {
    let mut card = CardLink::new();
    let _ = card.command(&CommandApdu::select_wayfare().encode().unwrap_or_default());
    for command in data.split(|b| *b == 0xFF) {
        match card.command(command) {
            CardEvent::Frame(frame) => {
                let _ = card.answer(frame);
            }
            CardEvent::Express(offer) => {
                let _ = ExpressOffer::decode(&offer);
            }
            _ => {}
        }
    }
    let mut answer = Vec::new();
    let _ = ReaderLink::gather(&mut answer, data);
});
