#![no_main]
//! Arbitrary GATT fragments through the reassembler, at the MTU the first
//! byte picks (including ones below the minimum), the rest cut into
//! fragments at each 0xFF byte: refusals are typed errors, never panics,
//! and no frame comes out larger than the framing allows. Whatever frames
//! do come out go back through a fragmenter and must reassemble unchanged.

use libfuzzer_sys::fuzz_target;
use wayfare_protocol::framing::MAX_FRAME_LEN;
use wayfare_protocol::gatt::{Fragmenter, Reassembler};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let mtu = match pick % 4 {
        0 => 23,
        1 => 185,
        2 => 512,
        _ => u16::from(pick),
    };
    let Ok(mut reassembler) = Reassembler::new(mtu) else {
        return;
    };
    let mut frames = Vec::new();
    for fragment in rest.split(|b| *b == 0xFF) {
        if let Ok(Some(frame)) = reassembler.push(fragment) {
            assert!(frame.len() <= MAX_FRAME_LEN);
            frames.push(frame);
        }
    }
    let _ = reassembler.finish();

    let (Ok(mut fragmenter), Ok(mut again)) = (Fragmenter::new(mtu), Reassembler::new(mtu)) else {
        return;
    };
    for frame in &frames {
        let Ok(fragments) = fragmenter.fragment(frame) else {
            return;
        };
        let mut out = None;
        for fragment in fragments {
            out = again.push(&fragment).ok().flatten();
        }
        assert_eq!(out.as_ref(), Some(frame));
    }
});
