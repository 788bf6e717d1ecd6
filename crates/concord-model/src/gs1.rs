//! GS1 element strings: the data in a GS1-128, GS1 DataMatrix, GS1 QR or DataBar barcode, and
//! the human-readable text printed under it.
//!
//! A scanned UDI carries the device identifier (the GTIN, AI 01) together with production
//! identifiers (expiry, lot, serial). Receiving, implant logging and recalls need those parts
//! separately, so the string is split once, at the edge, and anything that cannot be read
//! unambiguously is refused: a lot number split in the wrong place is worse than a rejected scan.
//!
//! Two spellings are accepted:
//! - human-readable: `(01)00614141000012(17)261231(10)LOT1(21)SN9`;
//! - raw, as a scanner transmits it: an optional symbology identifier (`]C1`, `]d2`, `]Q3`,
//!   `]e0`), then the elements back to back, each variable-length element ended by the FNC1
//!   separator GS (`\u{1d}`) or by the end of the data.
//!
//! Only the application identifiers found on medical supplies are known. In raw data an unknown
//! AI stops parsing, because its length (and so where the next element starts) is unknown.

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::Serialize;

use crate::{error::FieldError, ids::Gtin};

/// The group separator a scanner sends for FNC1: it ends a variable-length element.
const GS: u8 = 0x1d;

/// One element of the string, as read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Gs1Element {
    /// The application identifier, digits only, e.g. `"17"`.
    pub ai: String,
    /// The element's data exactly as encoded.
    pub value: String,
}

/// A parsed GS1 string. The elements Concord acts on are lifted into typed fields; `elements`
/// keeps every element in the order read, so nothing scanned is lost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Gs1Barcode {
    /// AI (01), check digit verified. For a UDI this is the device identifier.
    pub gtin: Option<Gtin>,
    /// AI (17), the expiry date.
    pub expiry: Option<NaiveDate>,
    /// AI (10), the batch or lot.
    pub lot: Option<String>,
    /// AI (21), the serial number.
    pub serial: Option<String>,
    /// Every element, in order, including those not lifted above.
    pub elements: Vec<Gs1Element>,
}

/// What an AI's data must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// Exactly this many digits.
    Digits(usize),
    /// Six digits, YYMMDD.
    Date,
    /// One to this many digits, ended by GS in raw data.
    VarDigits(usize),
    /// One to this many characters of GS1's printable set, ended by GS in raw data.
    VarText(usize),
}

impl Format {
    /// The length of a fixed-length element; `None` for those that run to a GS.
    fn fixed_len(self) -> Option<usize> {
        match self {
            Self::Digits(n) => Some(n),
            Self::Date => Some(6),
            Self::VarDigits(_) | Self::VarText(_) => None,
        }
    }

    fn max_len(self) -> usize {
        match self {
            Self::Digits(n) | Self::VarDigits(n) | Self::VarText(n) => n,
            Self::Date => 6,
        }
    }

    fn numeric(self) -> bool {
        !matches!(self, Self::VarText(_))
    }
}

/// An application identifier Concord reads.
struct AiSpec {
    ai: &'static str,
    format: Format,
    /// The data is a GTIN whose GS1 check digit must hold.
    gtin: bool,
}

/// An AI whose data carries no check digit of its own.
const fn plain(ai: &'static str, format: Format) -> AiSpec {
    AiSpec {
        ai,
        format,
        gtin: false,
    }
}

/// GS1 assigns AIs so that none is a prefix of another, which is what lets raw data be split
/// without separators after fixed-length elements: at any position at most one of these matches.
const KNOWN_AIS: &[AiSpec] = &[
    plain("00", Format::Digits(18)), // SSCC
    AiSpec {
        ai: "01",
        format: Format::Digits(14),
        gtin: true,
    },
    AiSpec {
        ai: "02",
        format: Format::Digits(14),
        gtin: true,
    },
    plain("10", Format::VarText(20)),  // batch / lot
    plain("11", Format::Date),         // production date
    plain("13", Format::Date),         // packaging date
    plain("15", Format::Date),         // best before
    plain("16", Format::Date),         // sell by
    plain("17", Format::Date),         // expiry
    plain("21", Format::VarText(20)),  // serial
    plain("240", Format::VarText(30)), // additional product id
    plain("241", Format::VarText(30)), // customer part number
    plain("30", Format::VarDigits(8)), // variable count
    plain("37", Format::VarDigits(8)), // count of trade items
];

fn known_ai(ai: &str) -> Option<&'static AiSpec> {
    KNOWN_AIS.iter().find(|s| s.ai == ai)
}

/// Splits a GS1 element string (human-readable or raw) into its elements, validating each.
///
/// Every problem found is reported, not just the first; in raw data parsing stops at the first
/// problem that makes the rest unreadable (an unknown AI, data ending inside a fixed element).
pub fn parse_gs1(input: &str) -> Result<Gs1Barcode, Vec<FieldError>> {
    let (data, offset) = trim_edges(input);
    // GS1 data is ASCII; refusing anything else up front also makes every byte offset below a
    // character boundary, so slicing can never split a character.
    if let Some(at) = data.bytes().position(|b| !b.is_ascii()) {
        return Err(vec![FieldError::new(
            position(offset + at),
            "charset",
            "GS1 data holds ASCII characters only",
        )]);
    }
    let (data, offset) = strip_symbology_id(data, offset).map_err(|e| vec![e])?;
    if data.bytes().all(|b| b == GS) {
        return Err(vec![empty_error()]);
    }
    let mut parse = Parse::new();
    if data.starts_with('(') {
        parse_bracketed(data, offset, &mut parse);
    } else {
        parse_raw(data, offset, &mut parse);
    }
    parse.finish()
}

/// Scanners in keyboard mode append CR/LF and people paste with spaces; neither is data.
/// Returns the trimmed text and how many bytes were cut from the front, for error positions.
fn trim_edges(input: &str) -> (&str, usize) {
    let is_edge = |c: char| matches!(c, ' ' | '\t' | '\r' | '\n');
    let front_trimmed = input.trim_start_matches(is_edge);
    (
        front_trimmed.trim_end_matches(is_edge),
        input.len() - front_trimmed.len(),
    )
}

/// Drops a leading AIM symbology identifier (`]` + letter + digit, e.g. `]d2` for GS1
/// DataMatrix): it says which symbology was scanned, not what it holds.
fn strip_symbology_id(data: &str, offset: usize) -> Result<(&str, usize), FieldError> {
    let Some(rest) = data.strip_prefix(']') else {
        return Ok((data, offset));
    };
    let b = rest.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1].is_ascii_digit() {
        Ok((rest.get(2..).unwrap_or_default(), offset + 3))
    } else {
        Err(FieldError::new(
            position(offset),
            "symbology",
            "a symbology identifier is ']' followed by a letter and a digit, e.g. ]d2",
        ))
    }
}

/// Positions are 0-based character offsets into the input as given.
fn position(at: usize) -> String {
    format!("position {at}")
}

fn empty_error() -> FieldError {
    FieldError::new("", "empty", "the barcode data is empty")
}

/// Raw data: AIs are recognised by prefix, fixed-length elements take their length, variable
/// ones run to the next GS or the end.
fn parse_raw(data: &str, offset: usize, parse: &mut Parse) {
    let bytes = data.as_bytes();
    let mut pos = 0;
    while pos < bytes.len() {
        // A GS after a fixed-length element is allowed (and some encoders emit a leading one).
        if bytes[pos] == GS {
            pos += 1;
            continue;
        }
        let rest = bytes.get(pos..).unwrap_or_default();
        let Some(spec) = KNOWN_AIS.iter().find(|s| rest.starts_with(s.ai.as_bytes())) else {
            parse.error(
                position(offset + pos),
                "unknown_ai",
                format!(
                    "no known application identifier at {:?}",
                    snippet(data, pos)
                ),
            );
            return;
        };
        let start = pos + spec.ai.len();
        let end = raw_value_end(bytes, start, spec.format);
        let Some(value) = data.get(start..end) else {
            parse.error(
                format!("({})", spec.ai),
                "length",
                format!(
                    "({}) needs {} characters but the data ends after {}",
                    spec.ai,
                    spec.format.max_len(),
                    bytes.len().saturating_sub(start)
                ),
            );
            return;
        };
        parse.accept(spec, value);
        pos = end;
    }
}

/// Where a raw element's data ends (exclusive); may lie past the data for a truncated element.
fn raw_value_end(bytes: &[u8], start: usize, format: Format) -> usize {
    match format.fixed_len() {
        Some(n) => start + n,
        None => bytes
            .get(start..)
            .and_then(|rest| rest.iter().position(|&b| b == GS))
            .map_or(bytes.len(), |i| start + i),
    }
}

/// A few characters from `at`, to show where an unknown AI starts.
fn snippet(data: &str, at: usize) -> &str {
    data.get(at..(at + 4).min(data.len())).unwrap_or_default()
}

/// Human-readable data: each element is `(AI)` followed by its data up to the next `(AI)`.
/// Parentheses are in GS1's character set, so only a `(` that starts a well-formed `(digits)`
/// ends a value. Spaces around values are layout, not data (GS1 data has no spaces).
fn parse_bracketed(data: &str, offset: usize, parse: &mut Parse) {
    let mut pos = 0;
    while pos < data.len() {
        let Some((ai, value_start)) = bracketed_ai_at(data, pos) else {
            parse.error(
                position(offset + pos),
                "syntax",
                "expected an application identifier in parentheses, e.g. (01)",
            );
            return;
        };
        let value_end = next_bracketed_ai(data, value_start).unwrap_or(data.len());
        let value = data
            .get(value_start..value_end)
            .unwrap_or_default()
            .trim_matches(' ');
        match known_ai(ai) {
            Some(spec) => parse.accept(spec, value),
            None => parse.error(
                format!("({ai})"),
                "unknown_ai",
                format!("({ai}) is not an application identifier Concord reads"),
            ),
        }
        pos = value_end;
    }
}

/// `(` + 2 to 4 digits + `)` at `pos`: the digits and where the element's data starts.
fn bracketed_ai_at(data: &str, pos: usize) -> Option<(&str, usize)> {
    let rest = data.get(pos..)?.strip_prefix('(')?;
    let close = rest.find(')')?;
    let ai = rest.get(..close)?;
    let well_formed = (2..=4).contains(&ai.len()) && ai.bytes().all(|b| b.is_ascii_digit());
    well_formed.then_some((ai, pos + close + 2))
}

fn next_bracketed_ai(data: &str, from: usize) -> Option<usize> {
    data.get(from..)?
        .match_indices('(')
        .map(|(i, _)| from + i)
        .find(|&i| bracketed_ai_at(data, i).is_some())
}

/// What a valid element's data turned out to be.
enum Typed {
    Plain,
    Gtin(Gtin),
    Date(NaiveDate),
}

/// Checks one element's data against its AI's rules; the error names the AI, e.g. `(17)`.
fn check_value(spec: &AiSpec, value: &str) -> Result<Typed, FieldError> {
    let fail =
        |rule: &str, message: String| FieldError::new(format!("({})", spec.ai), rule, message);
    check_length(spec, value).map_err(|m| fail("length", m))?;
    if spec.format.numeric() && !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(fail(
            "digits",
            format!("({}) must be digits only, got {value:?}", spec.ai),
        ));
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(fail(
            "charset",
            format!(
                "({}) holds a space or control character: {value:?}",
                spec.ai
            ),
        ));
    }
    if spec.format == Format::Date {
        return parse_yymmdd(value).map(Typed::Date).ok_or_else(|| {
            fail(
                "date",
                format!("({}) {value:?} is not a date in YYMMDD form", spec.ai),
            )
        });
    }
    if spec.gtin {
        return Gtin::parse(value)
            .map(Typed::Gtin)
            .map_err(|e| fail("check_digit", e.to_string()));
    }
    Ok(Typed::Plain)
}

fn check_length(spec: &AiSpec, value: &str) -> Result<(), String> {
    let len = value.len();
    match spec.format.fixed_len() {
        Some(n) if len != n => Err(format!(
            "({}) must be exactly {n} characters, got {len}",
            spec.ai
        )),
        Some(_) => Ok(()),
        None if len == 0 => Err(format!("({}) is empty", spec.ai)),
        None if len > spec.format.max_len() => Err(format!(
            "({}) may hold at most {} characters, got {len} (a missing GS separator?)",
            spec.ai,
            spec.format.max_len()
        )),
        None => Ok(()),
    }
}

/// A GS1 date, YYMMDD. DD = 00 means the last day of the month (common on expiry dates).
///
/// Simplification: GS1 resolves the century with a sliding window around today's date; this
/// takes 2000 + YY. Read in 2026 the two agree for 2000 to 2076 (they differ only for 20th-century
/// dates, which no supply in use carries), and parsing stays a pure function of its input.
fn parse_yymmdd(value: &str) -> Option<NaiveDate> {
    let b = value.as_bytes();
    if b.len() != 6 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let two = |i: usize| u32::from(b[i] - b'0') * 10 + u32::from(b[i + 1] - b'0');
    let year = 2000 + i32::from(b[0] - b'0') * 10 + i32::from(b[1] - b'0');
    let (month, day) = (two(2), two(4));
    if day == 0 {
        last_day_of_month(year, month)
    } else {
        NaiveDate::from_ymd_opt(year, month, day)
    }
}

fn last_day_of_month(year: i32, month: u32) -> Option<NaiveDate> {
    if !(1..=12).contains(&month) {
        return None;
    }
    let (next_year, next_month) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    NaiveDate::from_ymd_opt(next_year, next_month, 1)?.pred_opt()
}

/// The barcode being assembled and every problem met on the way.
struct Parse {
    barcode: Gs1Barcode,
    errors: Vec<FieldError>,
}

impl Parse {
    fn new() -> Self {
        Self {
            barcode: Gs1Barcode {
                gtin: None,
                expiry: None,
                lot: None,
                serial: None,
                elements: Vec::new(),
            },
            errors: Vec::new(),
        }
    }

    fn error(&mut self, path: String, rule: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(path, rule, message));
    }

    /// Records one element. A repeated AI is refused even with the same data: two expiry
    /// dates or two lots on one label mean the scan cannot be trusted.
    fn accept(&mut self, spec: &AiSpec, value: &str) {
        if self.barcode.elements.iter().any(|e| e.ai == spec.ai) {
            self.error(
                format!("({})", spec.ai),
                "repeated_ai",
                format!("({}) appears more than once", spec.ai),
            );
            return;
        }
        self.barcode.elements.push(Gs1Element {
            ai: spec.ai.to_string(),
            value: value.to_string(),
        });
        match check_value(spec, value) {
            Ok(typed) => self.lift(spec.ai, value, typed),
            Err(e) => self.errors.push(e),
        }
    }

    fn lift(&mut self, ai: &str, value: &str, typed: Typed) {
        match (ai, typed) {
            ("01", Typed::Gtin(gtin)) => self.barcode.gtin = Some(gtin),
            ("17", Typed::Date(date)) => self.barcode.expiry = Some(date),
            ("10", _) => self.barcode.lot = Some(value.to_string()),
            ("21", _) => self.barcode.serial = Some(value.to_string()),
            _ => {}
        }
    }

    fn finish(self) -> Result<Gs1Barcode, Vec<FieldError>> {
        if !self.errors.is_empty() {
            Err(self.errors)
        } else if self.barcode.elements.is_empty() {
            Err(vec![empty_error()])
        } else {
            Ok(self.barcode)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HUMAN: &str = "(01)00614141000012(17)261231(10)LOT1(21)SN9";
    const RAW: &str = concat!(
        "]d2",
        "0100614141000012",
        "17261231",
        "10LOT1",
        "\u{1d}",
        "21SN9"
    );

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn rules(errors: &[FieldError]) -> Vec<(&str, &str)> {
        errors
            .iter()
            .map(|e| (e.path.as_str(), e.rule.as_str()))
            .collect()
    }

    #[test]
    fn human_readable_form_is_split_and_typed() {
        let bc = parse_gs1(HUMAN).unwrap();
        assert_eq!(bc.gtin.as_ref().map(Gtin::as_str), Some("00614141000012"));
        assert_eq!(bc.expiry, Some(date(2026, 12, 31)));
        assert_eq!(bc.lot.as_deref(), Some("LOT1"));
        assert_eq!(bc.serial.as_deref(), Some("SN9"));
        let ais: Vec<&str> = bc.elements.iter().map(|e| e.ai.as_str()).collect();
        assert_eq!(ais, ["01", "17", "10", "21"]);
        assert_eq!(bc.elements[2].value, "LOT1");
    }

    #[test]
    fn raw_and_human_readable_forms_agree() {
        assert_eq!(parse_gs1(RAW).unwrap(), parse_gs1(HUMAN).unwrap());
        // Without a symbology identifier, with a trailing CR/LF and a GS after a fixed element.
        let raw = "010061414100001217261231\u{1d}10LOT1\u{1d}21SN9\r\n";
        assert_eq!(parse_gs1(raw).unwrap(), parse_gs1(HUMAN).unwrap());
        // Spaces between elements of the printed form are layout.
        let spaced = "(01) 00614141000012 (17) 261231 (10) LOT1 (21) SN9";
        assert_eq!(parse_gs1(spaced).unwrap(), parse_gs1(HUMAN).unwrap());
    }

    #[test]
    fn gs_separated_raw_string_with_other_ais() {
        let raw = "]C10100614141000012\u{1d}3012\u{1d}240REF-77\u{1d}10A1\u{1d}";
        let bc = parse_gs1(raw).unwrap();
        let pairs: Vec<(&str, &str)> = bc
            .elements
            .iter()
            .map(|e| (e.ai.as_str(), e.value.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("01", "00614141000012"),
                ("30", "12"),
                ("240", "REF-77"),
                ("10", "A1")
            ]
        );
        assert_eq!(bc.lot.as_deref(), Some("A1"));
        assert_eq!(bc.expiry, None);
    }

    #[test]
    fn day_00_is_the_last_day_of_the_month() {
        let leap = parse_gs1("(17)280200").unwrap();
        assert_eq!(leap.expiry, Some(date(2028, 2, 29)));
        assert_eq!(
            parse_gs1("(17)270200").unwrap().expiry,
            Some(date(2027, 2, 28))
        );
        assert_eq!(
            parse_gs1("17281200").unwrap().expiry,
            Some(date(2028, 12, 31))
        );
    }

    #[test]
    fn bad_dates_are_refused() {
        for bad in ["(17)261301", "(17)260230", "(17)2612AB", "(11)261300"] {
            let errors = parse_gs1(bad).unwrap_err();
            assert!(
                errors
                    .iter()
                    .any(|e| e.rule == "date" || e.rule == "digits"),
                "{bad}: {errors:?}"
            );
        }
        assert_eq!(
            rules(&parse_gs1("(17)261301").unwrap_err()),
            [("(17)", "date")]
        );
    }

    #[test]
    fn bad_check_digit_names_ai_01() {
        let errors = parse_gs1("(01)00614141000013(10)LOT1").unwrap_err();
        assert_eq!(rules(&errors), [("(01)", "check_digit")]);
        let raw = parse_gs1("]d20100614141000013").unwrap_err();
        assert_eq!(rules(&raw), [("(01)", "check_digit")]);
    }

    #[test]
    fn unknown_ai_is_reported_where_it_is() {
        let raw = parse_gs1("010061414100001299ABC").unwrap_err();
        assert_eq!(rules(&raw), [("position 16", "unknown_ai")]);
        // The position counts from the start of the input, symbology identifier included.
        let prefixed = parse_gs1("]d20100614141000012").unwrap();
        assert!(prefixed.gtin.is_some());
        let prefixed_bad = parse_gs1("]d29912").unwrap_err();
        assert_eq!(rules(&prefixed_bad), [("position 3", "unknown_ai")]);
        // In the printed form every element is delimited, so later problems are still found.
        let human = parse_gs1("(99)ABC(17)261301").unwrap_err();
        assert_eq!(rules(&human), [("(99)", "unknown_ai"), ("(17)", "date")]);
    }

    #[test]
    fn variable_field_longer_than_its_maximum() {
        let raw = parse_gs1("10ABCDEFGHIJKLMNOPQRSTU").unwrap_err();
        assert_eq!(rules(&raw), [("(10)", "length")]);
        let exactly_20 = parse_gs1("10ABCDEFGHIJKLMNOPQRST").unwrap();
        assert_eq!(exactly_20.lot.as_deref(), Some("ABCDEFGHIJKLMNOPQRST"));
        let human = parse_gs1("(21)123456789012345678901").unwrap_err();
        assert_eq!(rules(&human), [("(21)", "length")]);
    }

    #[test]
    fn wrong_lengths_digits_and_repeats() {
        assert_eq!(
            rules(&parse_gs1("(01)0061414100001").unwrap_err()),
            [("(01)", "length")]
        );
        assert_eq!(
            rules(&parse_gs1("01006141410000").unwrap_err()),
            [("(01)", "length")]
        );
        assert_eq!(
            rules(&parse_gs1("(30)12A").unwrap_err()),
            [("(30)", "digits")]
        );
        assert_eq!(
            rules(&parse_gs1("(37)123456789").unwrap_err()),
            [("(37)", "length")]
        );
        assert_eq!(
            rules(&parse_gs1("(10)A(10)A").unwrap_err()),
            [("(10)", "repeated_ai")]
        );
        assert_eq!(
            rules(&parse_gs1("(10)(21)X").unwrap_err()),
            [("(10)", "length")]
        );
    }

    #[test]
    fn empty_input_is_refused() {
        for empty in ["", "   ", "]d2", "\u{1d}", "]C1\u{1d}\r\n"] {
            assert_eq!(
                rules(&parse_gs1(empty).unwrap_err()),
                [("", "empty")],
                "{empty:?}"
            );
        }
    }

    #[test]
    fn garbage_is_refused_without_panicking() {
        let odd = [
            "(",
            ")",
            "()",
            "(0",
            "(01",
            "(01)",
            "]",
            "]d",
            "]dd",
            "01",
            "17",
            "1",
            "00",
            "10",
            "10\u{1d}",
            "17999999",
            "(17)991399",
            "é",
            "(10)é",
            "((((",
            "(0000)",
            "\0",
            "]]]]",
            "(10)LOT\u{1d}",
            "0100614141000012\u{7f}",
            "(1)2",
            "21é",
            "ü0100614141000012",
        ];
        for input in odd {
            assert!(parse_gs1(input).is_err(), "{input:?} was accepted");
        }
        // Every short string over an alphabet of awkward characters: no panic, whatever result.
        let alphabet = ['(', ')', '0', '1', '7', ']', 'd', '\u{1d}', 'é', ' '];
        for a in alphabet {
            for b in alphabet {
                for c in alphabet {
                    let _ = parse_gs1(&format!("{a}{b}{c}"));
                    let _ = parse_gs1(&format!("(01){a}{b}{c}(10){c}{b}"));
                }
            }
        }
    }
}
