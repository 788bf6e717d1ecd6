//! DFT^P03 (post detail financial transaction), read as the charges it posts: each FT1 with
//! its code, quantity and amounts, and the implant it records where the message carries one.
//!
//! Versions differ: in HL7 2.1 FT1-10 holds the extended amount and FT1-11 the quantity; from
//! 2.2 on, FT1-10 is the quantity and FT1-11 the extended amount. The reader takes the version
//! from MSH-12, so a charge always means the same whichever version sent it.
//!
//! Implants: FT1-34 (item number) and FT1-35 (model number) where the version has them, and a
//! device's UDI where a PRT segment (2.7+) carries one in PRT-10, read as a GS1 element string
//! (GTIN, lot, serial, expiry).

use chrono::{NaiveDate, NaiveDateTime};
use concord_model::gs1::{Gs1Barcode, parse_gs1};
use rust_decimal::Decimal;
use serde::Serialize;

use super::{Diagnostic, Field, Message, Problem, Segment, Severity};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DftP03 {
    pub control_id: String,
    pub version: String,
    /// MSH-3 sending application (its first component).
    pub sending_application: String,
    /// MSH-4 sending facility (its first component).
    pub sending_facility: String,
    /// PID-3's first identifier (the MRN, as sent: the caller pseudonymises it).
    pub patient_id: Option<String>,
    /// PID-18, or PV1-19 (visit number).
    pub account: Option<String>,
    /// PV1-3.1 point of care (PV1-3 is point of care^room^bed^facility).
    pub point_of_care: Option<String>,
    /// PV1-3.4, else PV1-39 (servicing facility).
    pub visit_facility: Option<String>,
    /// PV1-10 hospital service: the service line.
    pub hospital_service: Option<String>,
    pub charges: Vec<Charge>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Coded {
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Charge {
    /// FT1-1.
    pub set_id: Option<String>,
    /// FT1-4 (its first component for a range).
    pub transaction_date: Option<NaiveDateTime>,
    /// FT1-6: `CG` charge, `CD` credit, `PY` payment, `AJ` adjustment.
    pub transaction_type: String,
    /// FT1-7.
    pub code: Coded,
    pub quantity: Option<Decimal>,
    pub extended_amount: Option<Decimal>,
    /// FT1-12.
    pub unit_amount: Option<Decimal>,
    /// FT1-13.
    pub department: Option<Coded>,
    /// FT1-16 assigned patient location (point of care^room^bed^facility), its facility.
    pub location_facility: Option<String>,
    /// FT1-25.
    pub procedure_code: Option<Coded>,
    /// FT1-34 item number (2.6+).
    pub item_number: Option<Coded>,
    /// FT1-35 model number (2.6+).
    pub model_number: Option<String>,
    /// The device a PRT segment after this FT1 names by UDI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub implant: Option<Gs1Barcode>,
}

/// Reads a DFT^P03; errors name segment and field (e.g. `FT1-10`).
pub fn read(m: &Message<'_>) -> Result<(DftP03, Vec<Diagnostic>), Vec<Diagnostic>> {
    let mut r = Reader { m, found: vec![] };
    let (kind, event) = m.message_type();
    if kind != "DFT" || event != "P03" {
        r.error(
            m.msh(),
            Some(9),
            Problem::DataTypeError,
            format!("MSH-9 is {kind}^{event}, not DFT^P03"),
        );
    }
    let version = m.version();
    // 2.1 put the extended amount before the quantity.
    let (qty_field, ext_field) = if version == "2.1" || version.starts_with("2.1.") {
        (11, 10)
    } else {
        (10, 11)
    };
    let pid = m.first("PID");
    let pv1 = m.first("PV1");
    let patient_id = pid.and_then(|p| p.field(3).component(1).value());
    let account = pid
        .and_then(|p| p.field(18).component(1).value())
        .or_else(|| pv1.and_then(|p| p.field(19).component(1).value()));
    let point_of_care = pv1.and_then(|p| p.field(3).component(1).value());
    let visit_facility = pv1.and_then(|p| {
        p.field(3)
            .component(4)
            .subcomponent(1)
            .value()
            .or_else(|| p.field(39).component(1).value())
    });
    let hospital_service = pv1.and_then(|p| p.field(10).component(1).value());
    let mut charges: Vec<Charge> = vec![];
    for seg in &m.segments {
        match seg.id {
            "FT1" => {
                let charge = Charge {
                    set_id: seg.field(1).value(),
                    transaction_date: r.datetime(seg, 4),
                    transaction_type: r.required(seg, 6, "transaction type"),
                    code: r.coded(seg, 7).unwrap_or_else(|| {
                        r.error(
                            seg,
                            Some(7),
                            Problem::RequiredFieldMissing,
                            "FT1-7 (transaction code) is required".into(),
                        );
                        Coded {
                            code: String::new(),
                            text: None,
                            system: None,
                        }
                    }),
                    quantity: r.number(seg, qty_field, seg.field(qty_field)),
                    extended_amount: r.number(seg, ext_field, money(seg.field(ext_field))),
                    unit_amount: r.number(seg, 12, money(seg.field(12))),
                    department: r.coded(seg, 13),
                    location_facility: seg.field(16).component(4).value(),
                    procedure_code: r.coded(seg, 25),
                    item_number: r.coded(seg, 34),
                    model_number: seg.field(35).value(),
                    implant: None,
                };
                charges.push(charge);
            }
            "PRT" => {
                let Some(udi) = seg.field(10).component(1).value() else {
                    continue;
                };
                match (parse_gs1(&udi), charges.last_mut()) {
                    (Ok(device), Some(charge)) => charge.implant = Some(device),
                    (Ok(_), None) => r.warn(
                        seg,
                        Some(10),
                        "a device before any FT1 belongs to no charge".into(),
                    ),
                    (Err(errors), _) => r.error(
                        seg,
                        Some(10),
                        Problem::DataTypeError,
                        format!(
                            "PRT-10 {udi:?} is not a GS1 UDI: {}",
                            errors
                                .iter()
                                .map(|e| format!("{} {}", e.path, e.message))
                                .collect::<Vec<_>>()
                                .join("; ")
                        ),
                    ),
                }
            }
            _ => {}
        }
    }
    if charges.is_empty() {
        r.found.push(Diagnostic {
            severity: Severity::Error,
            problem: Problem::SegmentMissing,
            message: m.position,
            segment: m.segments.len(),
            segment_id: "FT1".into(),
            field: None,
            line: m.msh().line,
            reason: "a DFT^P03 posts at least one FT1".into(),
        });
    }
    let value = DftP03 {
        control_id: m.control_id(),
        version,
        sending_application: m.msh().field(3).component(1).value().unwrap_or_default(),
        sending_facility: m.msh().field(4).component(1).value().unwrap_or_default(),
        patient_id,
        account,
        point_of_care,
        visit_facility,
        hospital_service,
        charges,
    };
    if r.found.iter().any(Diagnostic::is_error) {
        Err(r.found)
    } else {
        Ok((value, r.found))
    }
}

/// The amount of a CP (price^type…, the price an MO: quantity&denomination).
fn money(f: Field<'_>) -> Field<'_> {
    f.component(1).subcomponent(1)
}

struct Reader<'m, 'a> {
    m: &'m Message<'a>,
    found: Vec<Diagnostic>,
}

impl Reader<'_, '_> {
    fn error(&mut self, seg: &Segment<'_>, field: Option<usize>, problem: Problem, reason: String) {
        self.found.push(Diagnostic {
            severity: Severity::Error,
            problem,
            message: self.m.position,
            segment: seg.position,
            segment_id: seg.id.to_string(),
            field,
            line: seg.line,
            reason,
        });
    }

    fn warn(&mut self, seg: &Segment<'_>, field: Option<usize>, reason: String) {
        self.found.push(Diagnostic {
            severity: Severity::Warning,
            problem: Problem::UnexpectedSegment,
            message: self.m.position,
            segment: seg.position,
            segment_id: seg.id.to_string(),
            field,
            line: seg.line,
            reason,
        });
    }

    fn required(&mut self, seg: &Segment<'_>, n: usize, what: &str) -> String {
        match seg.field(n).component(1).value() {
            Some(v) => v,
            None => {
                self.error(
                    seg,
                    Some(n),
                    Problem::RequiredFieldMissing,
                    format!("{}-{n} ({what}) is required", seg.id),
                );
                String::new()
            }
        }
    }

    fn coded(&mut self, seg: &Segment<'_>, n: usize) -> Option<Coded> {
        let f = seg.field(n);
        let code = f.component(1).value()?;
        Some(Coded {
            code,
            text: f.component(2).value(),
            system: f.component(3).value(),
        })
    }

    fn number(&mut self, seg: &Segment<'_>, n: usize, f: Field<'_>) -> Option<Decimal> {
        let v = f.value()?;
        match v.trim().parse::<Decimal>() {
            Ok(d) => Some(d),
            Err(_) => {
                self.error(
                    seg,
                    Some(n),
                    Problem::DataTypeError,
                    format!("{}-{n} {v:?} is not a number", seg.id),
                );
                None
            }
        }
    }

    /// An HL7 DTM (`YYYY[MM[DD[HH[MM[SS[.S…]]]]]][+/-ZZZZ]`), to the second; a time zone
    /// offset is dropped (the caller knows the sender's zone).
    fn datetime(&mut self, seg: &Segment<'_>, n: usize) -> Option<NaiveDateTime> {
        let v = seg.field(n).component(1).value()?;
        let digits: String = v
            .split(['+', '-'])
            .next()
            .unwrap_or("")
            .split('.')
            .next()
            .unwrap_or("")
            .to_string();
        let parsed = (|| {
            if digits.len() < 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let date = NaiveDate::parse_from_str(&digits[..8], "%Y%m%d").ok()?;
            let num = |from: usize| -> Option<u32> {
                digits
                    .get(from..from + 2)
                    .map_or(Some(0), |s| s.parse().ok())
            };
            date.and_hms_opt(num(8)?, num(10)?, num(12)?)
        })();
        if parsed.is_none() {
            self.error(
                seg,
                Some(n),
                Problem::DataTypeError,
                format!(
                    "{}-{n} {v:?} is not an HL7 date/time (YYYYMMDD[HHMM[SS]])",
                    seg.id
                ),
            );
        }
        parsed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hl7::parse;

    fn dft(version: &str, ft1: &str) -> String {
        format!(
            "MSH|^~\\&|EHR|MERCY EAST|CONCORD|HUB|20261121093000||DFT^P03|M-1|P|{version}\rEVN|P03|20261121093000\rPID|1||MRN-7^^^MR||Doe^Jane||19700101|F||||||||||ACC-9\r{ft1}\r"
        )
    }

    #[test]
    fn a_charge_reads_with_quantity_amounts_and_codes() {
        let text = dft(
            "2.5",
            "FT1|1|||20261121081500||CG|C1776^Hip implant^CDM|||1|4200.00&USD|4200.00|OR^Operating room|||^^^MERCY EAST|||||||||27130^Total hip^CPT4",
        );
        let batch = parse(&text);
        let (d, warnings) = read(&batch.messages[0]).unwrap();
        assert!(warnings.is_empty());
        assert_eq!(d.patient_id.as_deref(), Some("MRN-7"));
        assert_eq!(d.account.as_deref(), Some("ACC-9"));
        let c = &d.charges[0];
        assert_eq!(c.code.code, "C1776");
        assert_eq!(c.quantity, Some(Decimal::ONE));
        assert_eq!(c.extended_amount, Some("4200.00".parse().unwrap()));
        assert_eq!(c.unit_amount, Some("4200.00".parse().unwrap()));
        assert_eq!(c.department.as_ref().unwrap().code, "OR");
        assert_eq!(c.location_facility.as_deref(), Some("MERCY EAST"));
        assert_eq!(
            c.procedure_code.as_ref().unwrap().system.as_deref(),
            Some("CPT4")
        );
        assert_eq!(
            c.transaction_date,
            NaiveDate::from_ymd_opt(2026, 11, 21)
                .unwrap()
                .and_hms_opt(8, 15, 0)
        );
    }

    #[test]
    fn version_2_1_swaps_quantity_and_extended_amount() {
        let ft1 = "FT1|1|||20261121||CG|C1776|||900.00|2|450.00";
        let old_text = dft("2.1", ft1);
        let old = parse(&old_text);
        let (d, _) = read(&old.messages[0]).unwrap();
        assert_eq!(d.charges[0].quantity, Some(Decimal::TWO));
        assert_eq!(
            d.charges[0].extended_amount,
            Some("900.00".parse().unwrap())
        );
        let ft1 = "FT1|1|||20261121||CG|C1776|||2|900.00|450.00";
        let new_text = dft("2.3", ft1);
        let new = parse(&new_text);
        let (d2, _) = read(&new.messages[0]).unwrap();
        assert_eq!(d2.charges[0].quantity, d.charges[0].quantity);
        assert_eq!(d2.charges[0].extended_amount, d.charges[0].extended_amount);
    }

    #[test]
    fn an_implant_is_read_from_its_udi() {
        let text = dft(
            "2.8",
            "FT1|1|||20261121||CG|C1776|||1|4200\rPRT|1|AD||||||||(01)00614141000012(17)281231(10)LOT7(21)SN42",
        );
        let (d, _) = read(&parse(&text).messages[0]).unwrap();
        let implant = d.charges[0].implant.as_ref().unwrap();
        assert_eq!(implant.gtin.as_ref().unwrap().as_str(), "00614141000012");
        assert_eq!(implant.lot.as_deref(), Some("LOT7"));
        assert_eq!(implant.serial.as_deref(), Some("SN42"));
    }

    #[test]
    fn errors_name_segment_and_field() {
        let text = dft("2.5", "FT1|1|||2026-11-21||||||many|lots");
        let errors = read(&parse(&text).messages[0]).unwrap_err();
        let at: Vec<String> = errors.iter().map(|e| e.location()).collect();
        assert_eq!(
            at,
            vec!["FT1-4", "FT1-6", "FT1-7", "FT1-10", "FT1-11"],
            "{errors:?}"
        );
        let bad_udi = dft(
            "2.8",
            "FT1|1|||20261121||CG|X\rPRT|1|AD||||||||(01)00614141000013",
        );
        let errors = read(&parse(&bad_udi).messages[0]).unwrap_err();
        assert_eq!(errors[0].location(), "PRT-10");
        let not_dft = "MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5\rPID|1\r";
        let errors = read(&parse(not_dft).messages[0]).unwrap_err();
        assert_eq!(errors[0].location(), "MSH-9");
        assert_eq!(errors[1].segment_id, "FT1");
    }
}
