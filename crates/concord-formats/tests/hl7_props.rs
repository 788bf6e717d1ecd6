//! Properties of the HL7 v2 reader: no input makes it panic, every diagnostic points at a
//! segment of its message, the redacted copy of every message reads back as one message, and
//! the ACK to anything re-parses cleanly and echoes the control id.

use concord_formats::hl7::{self, ack, dft, redact};
use concord_model::{Secret, phi::Pseudonymizer};
use proptest::prelude::*;

const SAMPLE: &str = "MSH|^~\\&|EHR|MERCY|CONCORD|HUB|20261121093000||DFT^P03|M-1|P|2.5\rEVN|P03|20261121\rPID|1||MRN-7^^^MR||Doe^Jane\rFT1|1|||20261121||CG|C1776^Hip^CDM|||1|4200.00\rPRT|1|AD||||||||(01)00614141000012(10)LOT7\r";

fn at() -> chrono::NaiveDateTime {
    chrono::NaiveDate::from_ymd_opt(2026, 11, 21)
        .unwrap()
        .and_hms_opt(9, 0, 0)
        .unwrap()
}

/// Everything the reader does with a text, none of which may panic.
fn exercise(text: &str) {
    let batch = hl7::parse(text);
    for d in &batch.diagnostics {
        if d.message > 0
            && let Some(m) = batch.messages.iter().find(|m| m.position == d.message)
        {
            assert!(
                d.segment <= m.segments.len() + 1,
                "{d} points past its message"
            );
        }
    }
    let pseudonyms = Pseudonymizer::new(Secret::new("p".repeat(32))).expect("a long enough key");
    for m in &batch.messages {
        // The copy the hub keeps instead of the message must read back as one message.
        let kept = redact::redact(m, &pseudonyms);
        assert_eq!(hl7::parse(&kept.text).messages.len(), 1, "{:?}", kept.text);
        let errors = dft::read(m).err().unwrap_or_default();
        let answer = ack::ack(
            m,
            ack::AckCode::Error,
            Some("x|y^z"),
            &errors,
            "ACK-1",
            at(),
        );
        let reread = hl7::parse(&answer);
        assert!(!reread.has_errors(), "{answer:?}: {:?}", reread.diagnostics);
        let msa = reread.messages[0].first("MSA").expect("an MSA");
        assert_eq!(msa.field(2).raw(), m.msh().field(10).raw());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        exercise(&text);
    }

    #[test]
    fn edited_samples_never_panic(cut in 0usize..SAMPLE.len(), insert in "[|^~\\\\&\r\n A-Z0-9]{0,8}") {
        let mut text = SAMPLE.to_string();
        let cut = (0..=cut).rev().find(|c| text.is_char_boundary(*c)).unwrap_or(0);
        text.insert_str(cut, &insert);
        exercise(&text);
        exercise(&SAMPLE[..cut]);
    }
}
