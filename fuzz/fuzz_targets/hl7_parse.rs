//! The HL7 v2 reader on arbitrary bytes: parse, the DFT^P03 reader on every message, the
//! redacted copy the hub keeps (which must read back as one message), and the ACK (AE with
//! every error) to each. Whatever the input, the answer is messages with
//! diagnostics; never a panic. (The same property runs in every test run with proptest:
//! `crates/concord-formats/tests/hl7_props.rs`.)

#![no_main]

use std::sync::OnceLock;

use concord_formats::hl7::{self, ack, dft, redact};
use concord_model::{Secret, phi::Pseudonymizer};
use libfuzzer_sys::fuzz_target;

fn pseudonyms() -> &'static Pseudonymizer {
    static P: OnceLock<Pseudonymizer> = OnceLock::new();
    P.get_or_init(|| Pseudonymizer::new(Secret::new("f".repeat(64))).expect("a long enough key"))
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let batch = hl7::parse(&text);
    for m in &batch.messages {
        let kept = redact::redact(m, pseudonyms());
        assert_eq!(hl7::parse(&kept.text).messages.len(), 1, "the redacted copy is one message");
        let errors = dft::read(m).err().unwrap_or_default();
        let at = chrono::NaiveDate::from_ymd_opt(2026, 1, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .expect("a valid date");
        let answer = ack::ack(m, ack::AckCode::Error, Some("fuzz"), &errors, "A1", at);
        let _ = hl7::parse(&answer);
    }
});
