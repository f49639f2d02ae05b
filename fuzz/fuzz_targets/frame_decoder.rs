#![no_main]
//! Arbitrary bytes through the incremental frame decoder.

use libfuzzer_sys::fuzz_target;
use wayfare_protocol::framing::FrameDecoder;

fuzz_target!(|data: &[u8]| {
    let mut decoder = FrameDecoder::new();
    for chunk in data.chunks(7) {
        decoder.push(chunk);
        while let Ok(Some(_frame)) = decoder.next_frame() {}
    }
    let _ = decoder.finish();
});
