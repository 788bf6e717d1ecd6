//! The original-mode acknowledgement (ACK) to a received message: AA when it was accepted
//! (durably stored), AE when it was stored but has errors, AR when it was refused. AE and AR
//! carry an ERR segment per error, naming the segment and field (in the ERR-2 location format
//! from 2.5 on, ERR-1 before) and the HL7 table 0357 condition code.

use chrono::NaiveDateTime;

use super::{Delimiters, Diagnostic, Message};

/// MSA-1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckCode {
    Accept,
    Error,
    Reject,
}

impl AckCode {
    pub fn code(self) -> &'static str {
        match self {
            Self::Accept => "AA",
            Self::Error => "AE",
            Self::Reject => "AR",
        }
    }
}

/// The version an ACK declares when the message it answers declared none (MSH-12 missing).
const DEFAULT_VERSION: &str = "2.5";

fn or<'a>(value: &'a str, default: &'a str) -> &'a str {
    if value.is_empty() { default } else { value }
}

/// Escapes delimiters in text put into a field (line breaks become spaces).
pub fn escape(text: &str, d: &Delimiters) -> String {
    let Some(esc) = d.escape else {
        return text
            .chars()
            .filter(|c| ![d.field, d.component, d.repetition].contains(c))
            .collect();
    };
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            c if c == esc => out.push_str(&format!("{esc}E{esc}")),
            c if c == d.field => out.push_str(&format!("{esc}F{esc}")),
            c if c == d.component => out.push_str(&format!("{esc}S{esc}")),
            c if c == d.repetition => out.push_str(&format!("{esc}R{esc}")),
            c if Some(c) == d.subcomponent => out.push_str(&format!("{esc}T{esc}")),
            '\r' | '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The ACK to `received`, in its delimiters and version, segments ending in CR. `control_id`
/// is the ACK's own MSH-10; `text` goes to MSA-3. A message missing MSH-11 or MSH-12 is still
/// answered with a well-formed ACK (processing id `P`, version 2.5).
pub fn ack(
    received: &Message<'_>,
    code: AckCode,
    text: Option<&str>,
    errors: &[Diagnostic],
    control_id: &str,
    now: NaiveDateTime,
) -> String {
    let d = received.delimiters;
    let msh = received.msh();
    let f = |n: usize| msh.field(n).raw().to_string();
    let encoding: String = [
        Some(d.component),
        Some(d.repetition),
        d.escape,
        d.subcomponent,
    ]
    .into_iter()
    .flatten()
    .collect();
    let version = received.version();
    let (_, event) = received.message_type();
    let sep = d.field;
    let mut out = format!(
        "MSH{sep}{encoding}{sep}{}{sep}{}{sep}{}{sep}{}{sep}{}{sep}{sep}ACK{}{event}{}ACK{sep}{}{sep}{}{sep}{}\r",
        f(5),
        f(6),
        f(3),
        f(4),
        now.format("%Y%m%d%H%M%S"),
        d.component,
        d.component,
        escape(control_id, &d),
        or(msh.field(11).raw(), "P"),
        or(msh.field(12).raw(), DEFAULT_VERSION),
    );
    out.push_str(&format!(
        "MSA{sep}{}{sep}{}{sep}{}\r",
        code.code(),
        msh.field(10).raw(),
        escape(text.unwrap_or(""), &d)
    ));
    let new_style = version
        .strip_prefix("2.")
        .and_then(|minor| minor.split('.').next())
        .and_then(|m| m.parse::<u32>().ok())
        .is_some_and(|m| m >= 5);
    let c = d.component;
    for e in errors.iter().filter(|e| e.is_error()) {
        let (cond, name) = e.problem.code();
        let field = e.field.map(|f| f.to_string()).unwrap_or_default();
        let reason = escape(&e.reason, &d);
        if new_style {
            out.push_str(&format!(
                "ERR{sep}{sep}{}{c}{}{c}{field}{sep}{cond}{c}{name}{c}HL70357{sep}E{sep}{sep}{sep}{sep}{reason}\r",
                e.segment_id, e.segment
            ));
        } else {
            out.push_str(&format!(
                "ERR{sep}{}{c}{}{c}{field}{c}{cond}&{name}&HL70357\r",
                e.segment_id, e.segment
            ));
        }
    }
    out
}

/// The reject sent for a frame that holds no readable message (no MSH, or more than one
/// message): there is no header to answer from, so the ACK is written in the standard
/// delimiters and version 2.5, with an empty MSA-2.
pub fn reject_unreadable(reason: &str, control_id: &str, now: NaiveDateTime) -> String {
    let d = Delimiters::default();
    format!(
        "MSH|^~\\&|CONCORD|CONCORD|||{}||ACK|{}|P|{DEFAULT_VERSION}\rMSA|AR||{}\r",
        now.format("%Y%m%d%H%M%S"),
        escape(control_id, &d),
        escape(reason, &d)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hl7::{dft, parse};

    fn at() -> NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2026, 11, 21)
            .unwrap()
            .and_hms_opt(9, 30, 0)
            .unwrap()
    }

    #[test]
    fn an_unreadable_frame_gets_a_reject_that_parses() {
        let a = reject_unreadable("no MSH segment | at all", "A9", at());
        let batch = parse(&a);
        assert!(batch.diagnostics.is_empty(), "{:?}", batch.diagnostics);
        let msa = batch.messages[0].first("MSA").unwrap();
        assert_eq!(msa.field(1).raw(), "AR");
        assert_eq!(msa.field(3).text().unwrap(), "no MSH segment | at all");
    }

    #[test]
    fn an_accept_echoes_the_control_id_and_swaps_the_parties() {
        let text =
            "MSH|^~\\&|EHR|MERCY|CONCORD|HUB|20261121||DFT^P03|M-1|P|2.5\rFT1|1|||20261121||CG|X\r";
        let batch = parse(text);
        let a = ack(
            &batch.messages[0],
            AckCode::Accept,
            None,
            &[],
            "ACK-1",
            at(),
        );
        let reread = parse(&a);
        assert!(reread.diagnostics.is_empty(), "{:?}", reread.diagnostics);
        let m = &reread.messages[0];
        assert_eq!(m.message_type(), ("ACK".into(), "P03".into()));
        assert_eq!(m.msh().field(3).raw(), "CONCORD");
        assert_eq!(m.msh().field(5).raw(), "EHR");
        assert_eq!(m.control_id(), "ACK-1");
        let msa = m.first("MSA").unwrap();
        assert_eq!((msa.field(1).raw(), msa.field(2).raw()), ("AA", "M-1"));
    }

    #[test]
    fn an_error_ack_names_segment_and_field_in_the_versions_format() {
        for (version, expect) in [
            ("2.5", "FT1^2^10"),
            ("2.3", "FT1^2^10^102&Data type error&HL70357"),
        ] {
            let text = format!(
                "MSH|^~\\&|EHR|MERCY|CONCORD|HUB|20261121||DFT^P03|M-2|P|{version}\rFT1|1|||20261121||CG|X|||many\r"
            );
            let batch = parse(&text);
            let errors = dft::read(&batch.messages[0]).unwrap_err();
            let a = ack(
                &batch.messages[0],
                AckCode::Error,
                Some("FT1-10 | not a number"),
                &errors,
                "A2",
                at(),
            );
            let m = parse(&a).messages[0].clone();
            let msa = m.first("MSA").unwrap();
            assert_eq!(msa.field(1).raw(), "AE");
            assert_eq!(msa.field(3).text().unwrap(), "FT1-10 | not a number");
            let err = m.first("ERR").unwrap();
            let located = if version == "2.5" {
                err.field(2).raw()
            } else {
                err.field(1).raw()
            };
            assert_eq!(located, expect, "{version}: {a}");
        }
    }
}
