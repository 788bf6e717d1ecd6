//! The redacted copy of a clinical message: what the hub keeps instead of the original.
//!
//! Minimisation is by allow-list, not by deny-list: a segment is kept only when the usage
//! workflow reads it (MSH, EVN, PID, PV1, FT1, PR1, PRT), and of those only the fields it reads.
//! Everything else (NK1, GT1, IN1, DG1, OBX, NTE, Z-segments, fields a future version adds) is
//! dropped, so a new place for a name or a date of birth cannot slip through. The identifiers
//! that link messages together, the MRN (PID-3) and the account or visit number (PID-18,
//! PV1-19), are replaced by keyed pseudonyms. The result is still a valid message in the
//! sender's delimiters: it parses, reads as the same charges, and can be replayed.

use concord_model::phi::{IdentifierKind, Pseudonymizer};

use super::{Message, Segment};

/// What to do with one field of a kept segment.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Keep {
    /// As sent.
    All,
    /// The first component of the first repetition, pseudonymised.
    Pseudonym(IdentifierKind),
}

/// The kept segments and, for each, its kept fields (all others are emptied).
fn allowed(segment: &str) -> Option<&'static [(usize, Keep)]> {
    use Keep::*;
    const EVN: &[(usize, Keep)] = &[(1, All), (2, All), (6, All), (7, All)];
    const PID: &[(usize, Keep)] = &[
        (1, All),
        (3, Pseudonym(IdentifierKind::Patient)),
        (18, Pseudonym(IdentifierKind::Encounter)),
    ];
    // Class, location (point of care^room^bed^facility), admission type, hospital service
    // (the service line), patient type, visit number, servicing facility.
    const PV1: &[(usize, Keep)] = &[
        (1, All),
        (2, All),
        (3, All),
        (4, All),
        (10, All),
        (18, All),
        (19, Pseudonym(IdentifierKind::Encounter)),
        (39, All),
    ];
    // What the charge reader reads: set id, transaction id, date, type, code, quantity and
    // extended amount (both orders: 2.1 swaps them), unit amount, department, location,
    // procedure, item and model number. Not the descriptions, diagnoses, or anyone's name
    // (FT1-8/9, 19, 20, 21, 23, 24).
    const FT1: &[(usize, Keep)] = &[
        (1, All),
        (2, All),
        (4, All),
        (6, All),
        (7, All),
        (10, All),
        (11, All),
        (12, All),
        (13, All),
        (16, All),
        (25, All),
        (34, All),
        (35, All),
    ];
    // Procedure coding and time; not the surgeon or anaesthetist (PR1-8, 11, 12).
    const PR1: &[(usize, Keep)] = &[(1, All), (2, All), (3, All), (5, All), (6, All)];
    // The device: instance, action, role, its UDI and the UDI's parts (2.9: PRT-16 to 20).
    const PRT: &[(usize, Keep)] = &[
        (1, All),
        (2, All),
        (4, All),
        (10, All),
        (16, All),
        (17, All),
        (18, All),
        (19, All),
        (20, All),
    ];
    match segment {
        "EVN" => Some(EVN),
        "PID" => Some(PID),
        "PV1" => Some(PV1),
        "FT1" => Some(FT1),
        "PR1" => Some(PR1),
        "PRT" => Some(PRT),
        _ => None,
    }
}

/// Whether the redacted copy keeps this segment's field (`None`: the segment itself). MSH is
/// kept whole.
pub fn keeps(segment: &str, field: Option<usize>) -> bool {
    segment == "MSH"
        || allowed(segment)
            .is_some_and(|kept| field.is_none_or(|f| kept.iter().any(|&(n, _)| n == f)))
}

/// The redacted message, segments ending in CR, and the ids of the segments it dropped (in
/// order, for the record: which kinds of data arrived and were not kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redacted {
    pub text: String,
    pub dropped: Vec<String>,
}

/// Redacts one message (see the module's doc).
pub fn redact(m: &Message<'_>, pseudonyms: &Pseudonymizer) -> Redacted {
    let sep = m.delimiters.field;
    let mut text = String::new();
    let mut dropped = vec![];
    for seg in &m.segments {
        if seg.id == "MSH" {
            // The header names systems and the message, never the patient.
            text.push_str(&seg.fields.join(&sep.to_string()));
            text.push('\r');
            continue;
        }
        let Some(kept) = allowed(seg.id) else {
            dropped.push(seg.id.to_string());
            continue;
        };
        text.push_str(&redact_segment(seg, kept, sep, pseudonyms));
        text.push('\r');
    }
    Redacted { text, dropped }
}

fn redact_segment(
    seg: &Segment<'_>,
    kept: &[(usize, Keep)],
    sep: char,
    pseudonyms: &Pseudonymizer,
) -> String {
    let mut fields: Vec<String> = vec![seg.id.to_string()];
    for &(n, keep) in kept {
        let field = seg.field(n);
        if field.is_empty() {
            continue;
        }
        let value = match keep {
            Keep::All => field.raw().to_string(),
            // The assigning authority (CX.4) is part of the identity: equal MRNs from two
            // facilities are two patients.
            Keep::Pseudonym(kind) => match (field.component(1).value(), field.component(4).value())
            {
                (Some(id), Some(authority)) if !Pseudonymizer::is_pseudonym(kind, id.trim()) => {
                    pseudonyms.pseudonym(kind, &format!("{authority}|{id}"))
                }
                (Some(id), _) => pseudonyms.pseudonymize(kind, &id),
                (None, _) => continue,
            },
        };
        if fields.len() <= n {
            fields.resize(n + 1, String::new());
        }
        fields[n] = value;
    }
    fields.join(&sep.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hl7::{dft, parse};
    use concord_model::redact::Secret;

    const DFT: &str = "MSH|^~\\&|EHR|MERCY|CONCORD|HUB|20261121093000||DFT^P03|M-7|P|2.7\r\
EVN|P03|20261121093000\r\
PID|1|EXT-55|MRN12345^^^MERCY^MR~123-45-6789^^^SSA^SS||Doe^Jane^Q||19800214|F|||12 Elm St^^Springfield^IL^62701||(217)555-0101|||||ACC-9001|123-45-6789\r\
NK1|1|Doe^John|SPO|12 Elm St^^Springfield^IL^62701\r\
PV1|1|O|OR^04^1^MERCY||||1234^Welby^Marcus|||CAR||||||||OP|V-77|||||||||||||||||||MERCY\r\
GT1|1||Doe^Jane||12 Elm St\r\
DG1|1||I25.10^Atherosclerotic heart disease^I10\r\
FT1|1|||20261121093000||CG|IMP-1001^Coronary stent^CDM|||1|1450.00|1450.00|CATH^Cath lab||||||I25.10|1234^Welby^Marcus|5678^Kildare^James||||92928^PCI^CPT\r\
PRT|1|AD||SPLY^Supplied^HL70912|1234^Welby^Marcus|||||(01)00614141999996(17)281231(10)LOT42(21)SN7\r\
FT1|2|||20261121093000||CG|IMP-1002^Guidewire^CDM|Jane's wire||1|45.00|45.00|CATH|||||||||||Doe^Entered^By|92928\r\
NTE|1||Patient Jane Doe tolerated well\r";

    fn pseudonyms() -> Pseudonymizer {
        Pseudonymizer::new(Secret::new("k".repeat(32))).unwrap()
    }

    #[test]
    fn names_dates_of_birth_and_addresses_are_gone_and_ids_are_pseudonyms() {
        let batch = parse(DFT);
        let r = redact(&batch.messages[0], &pseudonyms());
        for phi in [
            "Doe",
            "Jane",
            "19800214",
            "Elm",
            "555-0101",
            "6789",
            "MRN12345",
            "ACC-9001",
            "V-77",
            "EXT-55",
            "Welby",
            "Kildare",
            "I25.10",
            "tolerated",
        ] {
            assert!(!r.text.contains(phi), "{phi} in {}", r.text);
        }
        assert_eq!(r.dropped, ["NK1", "GT1", "DG1", "NTE"]);
        let p = pseudonyms();
        let again = parse(&r.text);
        assert!(again.diagnostics.is_empty(), "{:?}", again.diagnostics);
        let m = &again.messages[0];
        let pid = m.first("PID").unwrap();
        assert_eq!(
            pid.field(3).raw(),
            p.pseudonym(IdentifierKind::Patient, "MERCY|MRN12345")
        );
        assert_eq!(
            m.first("PV1").unwrap().field(19).raw(),
            p.pseudonym(IdentifierKind::Encounter, "V-77")
        );
        assert_eq!(m.first("PV1").unwrap().field(10).raw(), "CAR");
    }

    /// What the `hl7_parse` fuzzer found: blank lines kept a segment whose field separator is
    /// not ASCII apart from the header; the redacted copy, without them, parsed as no message.
    /// Such a header is now refused, and every message that parses has a copy that parses as
    /// one message.
    #[test]
    fn a_redacted_copy_parses_as_one_message_even_after_blank_lines() {
        let text = String::from_utf8_lossy(
            b"MSH|^~\r\r\r\r\r\rFT1\r\rMSH\x81\x00|^~\r\r&|EHR|MERCY|CONCORD|MSG00001|P|2.7\rEVM\r\r\r\
              \r\r\r\r\r\r\r\rFT1\xed\xf2\xb2\xacH\x81\x00|^\r\r\r\r\rT1\r\rMSH\x81\x00|^~\r_\r",
        );
        let batch = parse(&text);
        assert_eq!(batch.messages.len(), 1, "only the first header is usable");
        for m in &batch.messages {
            let kept = redact(m, &pseudonyms());
            assert_eq!(parse(&kept.text).messages.len(), 1, "{:?}", kept.text);
        }
    }

    #[test]
    fn the_redacted_message_reads_as_the_same_charges_and_redacting_twice_changes_nothing() {
        let original = dft::read(&parse(DFT).messages[0]).unwrap().0;
        let r = redact(&parse(DFT).messages[0], &pseudonyms());
        let redacted = dft::read(&parse(&r.text).messages[0]).unwrap().0;
        assert_eq!(redacted.charges, original.charges);
        let charge = &redacted.charges[0];
        assert_eq!(charge.quantity, Some(rust_decimal::Decimal::ONE));
        assert_eq!(charge.procedure_code.as_ref().unwrap().code, "92928");
        assert_eq!(
            charge.implant.as_ref().unwrap().lot.as_deref(),
            Some("LOT42")
        );
        assert_eq!(redacted.control_id, original.control_id);
        assert_ne!(redacted.patient_id, original.patient_id);
        let twice = redact(&parse(&r.text).messages[0], &pseudonyms());
        assert_eq!(twice.text, r.text);
    }
}
