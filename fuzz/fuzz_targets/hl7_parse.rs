//! The HL7 v2 reader on arbitrary bytes: parse, the DFT^P03 reader on every message, and the
//! ACK (AE with every error) to each. Whatever the input, the answer is messages with
//! diagnostics; never a panic. (The same property runs in every test run with proptest:
//! `crates/concord-formats/tests/hl7_props.rs`.)

#![no_main]

use concord_formats::hl7::{self, ack, dft};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let batch = hl7::parse(&text);
    for m in &batch.messages {
        let errors = dft::read(m).err().unwrap_or_default();
        let at = chrono::NaiveDate::from_ymd_opt(2026, 1, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .expect("a valid date");
        let answer = ack::ack(m, ack::AckCode::Error, Some("fuzz"), &errors, "A1", at);
        let _ = hl7::parse(&answer);
    }
});
