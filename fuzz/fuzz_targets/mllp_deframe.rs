//! The MLLP deframer on arbitrary bytes, fed in arbitrary chunks (the first byte of the input
//! sets the chunk size, as TCP reads would split a stream): frames come out, memory stays
//! bounded by the size limit, and no frame is ever larger than it.

#![no_main]

use concord_formats::hl7::mllp::{Deframer, Framed};
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 512;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, stream)) = data.split_first() else {
        return;
    };
    let mut deframer = Deframer::new(LIMIT);
    for piece in stream.chunks(usize::from(chunk).max(1)) {
        for framed in deframer.push(piece) {
            if let Framed::Message(bytes) = framed {
                assert!(bytes.len() <= LIMIT, "a frame of {} bytes passed a {LIMIT}-byte limit", bytes.len());
            }
        }
    }
});
