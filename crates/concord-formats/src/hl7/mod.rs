//! HL7 version 2 (any 2.x): messages as sent over MLLP or in files.
//!
//! [`parse`] reads one or more messages (a file may hold several; segments end in CR, LF or
//! CRLF, blank lines between messages are skipped). Each message takes its delimiters from its
//! own MSH: MSH-1 is the field separator, MSH-2 the component, repetition, escape and
//! subcomponent characters (and, from 2.7, truncation). Like the X12 engine it never fails and
//! never panics: what it could read comes back with diagnostics naming the message, the segment
//! (its position and id) and the field.
//!
//! Values are borrowed from the input and decoded only when asked ([`Field::text`] resolves
//! escape sequences: `\F\ \S\ \T\ \R\ \E\`, `\Xhh…\`, `\.br\`).

pub mod ack;
pub mod dft;
pub mod mllp;
pub mod redact;

use serde::Serialize;

/// The delimiters of one message, from its MSH.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Delimiters {
    pub field: char,
    pub component: char,
    pub repetition: char,
    pub escape: Option<char>,
    pub subcomponent: Option<char>,
}

impl Default for Delimiters {
    fn default() -> Self {
        Delimiters {
            field: '|',
            component: '^',
            repetition: '~',
            escape: Some('\\'),
            subcomponent: Some('&'),
        }
    }
}

/// What is wrong, in words that map to HL7 table 0357 (message error condition codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    /// Text before the first MSH, or a message not starting with MSH.
    NoMsh,
    /// MSH-1/MSH-2 missing or not usable as delimiters.
    BadDelimiters,
    /// A segment id that is not three upper-case letters or digits.
    BadSegmentId,
    /// A required field is empty (MSH-9, MSH-10, MSH-12; a typed reader's fields).
    RequiredFieldMissing,
    /// A number, date or code that does not read.
    DataTypeError,
    /// An escape sequence that is not one HL7 defines, or is not closed.
    BadEscape,
    /// A segment a typed reader needs is missing.
    SegmentMissing,
    /// A segment where a typed reader does not expect one.
    UnexpectedSegment,
}

impl Problem {
    /// HL7 table 0357: 100 segment sequence error, 101 required field missing, 102 data type
    /// error, 207 application internal error.
    pub fn code(self) -> (&'static str, &'static str) {
        match self {
            Self::NoMsh | Self::BadDelimiters | Self::BadSegmentId | Self::UnexpectedSegment => {
                ("100", "Segment sequence error")
            }
            Self::RequiredFieldMissing | Self::SegmentMissing => ("101", "Required field missing"),
            Self::DataTypeError | Self::BadEscape => ("102", "Data type error"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Warning,
}

/// One finding, located as precisely as it can be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub problem: Problem,
    /// The message's position in the input (1-based).
    pub message: usize,
    /// The segment's position in its message (MSH = 1); 0 for text outside any message.
    pub segment: usize,
    pub segment_id: String,
    /// The field (`PID-3` is 3; MSH counts MSH-1 as the field separator, as HL7 does).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<usize>,
    /// The line of the input the segment starts on (1-based).
    pub line: usize,
    pub reason: String,
}

impl Diagnostic {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// `PID-3`, `FT1-10`, `MSH`: where, as people write it.
    pub fn location(&self) -> String {
        match self.field {
            Some(f) => format!("{}-{f}", self.segment_id),
            None => self.segment_id.clone(),
        }
    }
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "message {} segment {} ({}) line {}: {}",
            self.message,
            self.segment,
            self.location(),
            self.line,
            self.reason
        )
    }
}

/// One segment, its fields split (field 0 is the id).
#[derive(Debug, Clone)]
pub struct Segment<'a> {
    pub id: &'a str,
    /// Position in the message (MSH = 1).
    pub position: usize,
    pub line: usize,
    fields: Vec<&'a str>,
    delimiters: Delimiters,
}

impl<'a> Segment<'a> {
    /// Field `n` as HL7 numbers them (for MSH, 1 is the field separator and 2 the encoding
    /// characters); an absent field reads as empty.
    pub fn field(&self, n: usize) -> Field<'a> {
        let raw = if self.id == "MSH" {
            match n {
                0 => "MSH",
                // MSH-1 is the separator itself and is not in the split.
                1 => "",
                _ => self.fields.get(n - 1).copied().unwrap_or(""),
            }
        } else {
            self.fields.get(n).copied().unwrap_or("")
        };
        Field {
            raw,
            delimiters: self.delimiters,
        }
    }

    /// How many fields the segment carries (not counting the id).
    pub fn field_count(&self) -> usize {
        if self.id == "MSH" {
            self.fields.len()
        } else {
            self.fields.len().saturating_sub(1)
        }
    }
}

/// A field as sent (repetitions, components and subcomponents split on demand).
#[derive(Debug, Clone, Copy)]
pub struct Field<'a> {
    raw: &'a str,
    delimiters: Delimiters,
}

impl<'a> Field<'a> {
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Each repetition of the field.
    pub fn repetitions(&self) -> Vec<Field<'a>> {
        self.raw
            .split(self.delimiters.repetition)
            .map(|raw| Field {
                raw,
                delimiters: self.delimiters,
            })
            .collect()
    }

    /// Component `n` (1-based) of the first repetition.
    pub fn component(&self, n: usize) -> Field<'a> {
        let first = self
            .raw
            .split(self.delimiters.repetition)
            .next()
            .unwrap_or("");
        Field {
            raw: first
                .split(self.delimiters.component)
                .nth(n.saturating_sub(1))
                .unwrap_or(""),
            delimiters: self.delimiters,
        }
    }

    /// Subcomponent `n` (1-based).
    pub fn subcomponent(&self, n: usize) -> Field<'a> {
        let raw = match self.delimiters.subcomponent {
            Some(sub) => self.raw.split(sub).nth(n.saturating_sub(1)).unwrap_or(""),
            None if n == 1 => self.raw,
            None => "",
        };
        Field {
            raw,
            delimiters: self.delimiters,
        }
    }

    /// The value with escape sequences resolved; `Err` names a sequence HL7 does not define.
    pub fn text(&self) -> Result<String, String> {
        unescape(self.raw, &self.delimiters)
    }

    /// The decoded value, `None` when empty (or only the HL7 null `""`).
    pub fn value(&self) -> Option<String> {
        if self.raw.is_empty() || self.raw == "\"\"" {
            return None;
        }
        Some(self.text().unwrap_or_else(|_| self.raw.to_string()))
    }
}

/// Resolves HL7 escape sequences.
pub fn unescape(raw: &str, d: &Delimiters) -> Result<String, String> {
    let Some(esc) = d.escape else {
        return Ok(raw.to_string());
    };
    if !raw.contains(esc) {
        return Ok(raw.to_string());
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(start) = rest.find(esc) {
        out.push_str(&rest[..start]);
        let after = &rest[start + esc.len_utf8()..];
        let Some(end) = after.find(esc) else {
            return Err(format!("escape sequence not closed: {:?}", &rest[start..]));
        };
        let seq = &after[..end];
        match seq {
            "F" => out.push(d.field),
            "S" => out.push(d.component),
            "R" => out.push(d.repetition),
            "E" => out.push(esc),
            "T" => out.push(d.subcomponent.unwrap_or('&')),
            ".br" => out.push('\n'),
            "H" | "N" => {}
            s if s.starts_with('X')
                && s.len() > 1
                && s.len() % 2 == 1
                && s.bytes().skip(1).all(|b| b.is_ascii_hexdigit()) =>
            {
                let bytes: Option<Vec<u8>> = (1..s.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
                    .collect();
                match bytes.map(String::from_utf8) {
                    Some(Ok(text)) => out.push_str(&text),
                    _ => return Err(format!("\\{s}\\ is not hexadecimal UTF-8")),
                }
            }
            s if s.starts_with(".sp") || s.starts_with(".in") || s.starts_with(".ti") => {}
            s => return Err(format!("\\{s}\\ is not an HL7 escape sequence")),
        }
        rest = &after[end + esc.len_utf8()..];
    }
    out.push_str(rest);
    Ok(out)
}

/// One message.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    /// Position in the input (1-based).
    pub position: usize,
    pub delimiters: Delimiters,
    pub segments: Vec<Segment<'a>>,
}

impl<'a> Message<'a> {
    pub fn msh(&self) -> &Segment<'a> {
        &self.segments[0]
    }

    /// MSH-9 as `TYPE^EVENT` (e.g. `DFT^P03`).
    pub fn message_type(&self) -> (String, String) {
        let f = self.msh().field(9);
        (
            f.component(1).value().unwrap_or_default(),
            f.component(2).value().unwrap_or_default(),
        )
    }

    /// MSH-10.
    pub fn control_id(&self) -> String {
        self.msh().field(10).value().unwrap_or_default()
    }

    /// MSH-12's first component, e.g. `2.5.1`.
    pub fn version(&self) -> String {
        self.msh()
            .field(12)
            .component(1)
            .value()
            .unwrap_or_default()
    }

    pub fn first(&self, id: &str) -> Option<&Segment<'a>> {
        self.segments.iter().find(|s| s.id == id)
    }
}

/// Everything read from an input: its messages and what was found wrong.
#[derive(Debug, Clone)]
pub struct Batch<'a> {
    pub messages: Vec<Message<'a>>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Batch<'_> {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Reads every message in `text`. Never fails: problems are diagnostics.
pub fn parse(text: &str) -> Batch<'_> {
    let mut messages: Vec<Message<'_>> = vec![];
    let mut diagnostics = vec![];
    let mut line = 1usize;
    let mut current: Option<Message<'_>> = None;
    // File batch envelopes (FHS/BHS/BTS/FTS) are accepted around the messages.
    const ENVELOPE: [&str; 4] = ["FHS", "BHS", "BTS", "FTS"];
    for piece in segments_of(text, &mut line) {
        let (raw, start_line) = (piece.text.trim_start_matches('\u{feff}'), piece.line);
        if raw.trim().is_empty() {
            continue;
        }
        // Lines read as the continuation of this segment: named where the segment will stand.
        let (message, segment) = match &current {
            _ if raw.starts_with("MSH") => (messages.len() + 1, 1),
            Some(m) => (m.position, m.segments.len() + 1),
            None => (messages.len() + 1, 0),
        };
        for at in piece.continued {
            diagnostics.push(Diagnostic {
                severity: Severity::Warning,
                problem: Problem::UnexpectedSegment,
                message,
                segment,
                segment_id: raw.chars().take(3).collect(),
                field: None,
                line: at,
                reason: format!(
                    "line {at} does not start a segment: read as a line break inside the segment before it"
                ),
            });
        }
        if raw.starts_with("MSH") {
            if let Some(m) = current.take() {
                messages.push(m);
            }
            let position = messages.len() + 1;
            match msh_delimiters(raw) {
                Ok(delimiters) => {
                    let segment = split(raw, "MSH", 1, start_line, delimiters);
                    let message = Message {
                        position,
                        delimiters,
                        segments: vec![segment],
                    };
                    check_msh(&message, start_line, &mut diagnostics);
                    current = Some(message);
                }
                Err(reason) => diagnostics.push(Diagnostic {
                    severity: Severity::Error,
                    problem: Problem::BadDelimiters,
                    message: position,
                    segment: 1,
                    segment_id: "MSH".into(),
                    field: Some(2),
                    line: start_line,
                    reason,
                }),
            }
            continue;
        }
        let id_end = raw
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(raw.len());
        let id = &raw[..id_end.min(3)];
        if ENVELOPE.contains(&id) && current.is_none() {
            continue;
        }
        let Some(message) = current.as_mut() else {
            diagnostics.push(Diagnostic {
                severity: Severity::Error,
                problem: Problem::NoMsh,
                message: messages.len() + 1,
                segment: 0,
                segment_id: id.into(),
                field: None,
                line: start_line,
                reason: format!("segment {id:?} outside any message: a message starts with MSH"),
            });
            continue;
        };
        if ENVELOPE.contains(&id) {
            messages.push(current.take().expect("current message"));
            continue;
        }
        let position = message.segments.len() + 1;
        let d = message.delimiters;
        let ok_id = id_end == 3
            && id
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        let next = raw[id.len()..].chars().next();
        if !ok_id || next.is_some_and(|c| c != d.field) {
            diagnostics.push(Diagnostic {
                severity: Severity::Error,
                problem: Problem::BadSegmentId,
                message: message.position,
                segment: position,
                segment_id: raw.chars().take(3).collect(),
                field: None,
                line: start_line,
                reason: format!(
                    "{:?} does not start with a segment id (three upper-case letters or digits, then {:?})",
                    raw.chars().take(12).collect::<String>(),
                    d.field
                ),
            });
            continue;
        }
        let segment = split(raw, id, position, start_line, d);
        message.segments.push(segment);
    }
    if let Some(m) = current.take() {
        messages.push(m);
    }
    for m in &messages {
        check_escapes(m, &mut diagnostics);
    }
    Batch {
        messages,
        diagnostics,
    }
}

/// One segment's text as found, the line it starts on, and the lines that continued it.
struct Piece<'a> {
    text: &'a str,
    line: usize,
    continued: Vec<usize>,
}

/// Segments of `text`: CR, LF and CRLF all end a segment. A line that cannot even try to start
/// a segment (it does not begin with three letters or digits and a punctuation character)
/// continues the one before: a line break inside a field, as some senders wrap long values.
/// It is kept in the value, and the piece lists where it happened.
fn segments_of<'a>(text: &'a str, line: &mut usize) -> Vec<Piece<'a>> {
    // (start, end, line, continued lines), as byte offsets into `text`.
    let mut pieces: Vec<(usize, usize, usize, Vec<usize>)> = vec![];
    let mut push = |from: usize, to: usize, at: usize| {
        let b = &text.as_bytes()[from..to];
        let starts_segment = b.len() >= 3
            && b[..3].iter().all(u8::is_ascii_alphanumeric)
            && b.get(3).is_none_or(|c| can_delimit(char::from(*c)));
        let blank = text[from..to].trim().is_empty();
        match pieces.last_mut() {
            Some(last) if !blank && !starts_segment && last.1 > last.0 => {
                last.3.push(at);
                last.1 = to;
            }
            _ => pieces.push((from, to, at, vec![])),
        }
    };
    let bytes = text.as_bytes();
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        if bytes[i] == b'\r' || bytes[i] == b'\n' {
            push(start, i, *line);
            *line += 1;
            if bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
                i += 1;
            }
            start = i + 1;
        }
        i += 1;
    }
    if start < text.len() {
        push(start, text.len(), *line);
    }
    pieces
        .into_iter()
        .map(|(from, to, line, continued)| Piece {
            text: &text[from..to],
            line,
            continued,
        })
        .collect()
}

/// Whether a character may be a delimiter: ASCII punctuation, as the standard's are. One rule
/// for both places that need it: `segments_of` starts a segment where a line's fourth byte is
/// one, and `msh_delimiters` accepts only such delimiters, so a message's own segments can never
/// read as line breaks inside the segment before them (which the `hl7_parse` fuzzer found when
/// the two rules differed).
fn can_delimit(c: char) -> bool {
    c.is_ascii_punctuation()
}

fn msh_delimiters(raw: &str) -> Result<Delimiters, String> {
    let mut chars = raw.chars().skip(3);
    let field = chars
        .next()
        .ok_or("MSH ends before MSH-1 (the field separator)")?;
    if !can_delimit(field) {
        return Err(format!(
            "MSH-1 {field:?} cannot be a field separator: delimiters are ASCII punctuation"
        ));
    }
    let encoding: String = chars.take_while(|c| *c != field).collect();
    let enc: Vec<char> = encoding.chars().collect();
    if enc.len() < 2 {
        return Err(format!(
            "MSH-2 {encoding:?} must hold at least the component and repetition characters (^~\\&)"
        ));
    }
    let mut all = vec![field];
    all.extend(&enc);
    for (i, c) in all.iter().enumerate() {
        if !can_delimit(*c) || all[..i].contains(c) {
            return Err(format!(
                "MSH-2 {encoding:?}: delimiters must be distinct ASCII punctuation"
            ));
        }
    }
    Ok(Delimiters {
        field,
        component: enc[0],
        repetition: enc[1],
        escape: enc.get(2).copied(),
        subcomponent: enc.get(3).copied(),
    })
}

fn split<'a>(
    raw: &'a str,
    id: &'a str,
    position: usize,
    line: usize,
    delimiters: Delimiters,
) -> Segment<'a> {
    Segment {
        id,
        position,
        line,
        fields: raw.split(delimiters.field).collect(),
        delimiters,
    }
}

fn check_msh(m: &Message<'_>, line: usize, out: &mut Vec<Diagnostic>) {
    let msh = m.msh();
    // Decoded, not raw: `^` or `""` is no message type, and no control id either.
    let (kind, _) = m.message_type();
    for (n, what, missing) in [
        (9, "message type", kind.is_empty()),
        (10, "message control id", m.control_id().is_empty()),
        (12, "version id", msh.field(12).is_empty()),
    ] {
        if missing {
            out.push(Diagnostic {
                severity: Severity::Error,
                problem: Problem::RequiredFieldMissing,
                message: m.position,
                segment: 1,
                segment_id: "MSH".into(),
                field: Some(n),
                line,
                reason: format!("MSH-{n} ({what}) is required"),
            });
        }
    }
    let version = m.version();
    if !version.is_empty() && !version.starts_with("2.") {
        out.push(Diagnostic {
            severity: Severity::Warning,
            problem: Problem::DataTypeError,
            message: m.position,
            segment: 1,
            segment_id: "MSH".into(),
            field: Some(12),
            line,
            reason: format!("MSH-12 {version:?} is not an HL7 version 2.x"),
        });
    }
}

/// Every escape sequence of the message, checked once (a warning: the value is kept as sent).
fn check_escapes(m: &Message<'_>, out: &mut Vec<Diagnostic>) {
    let Some(esc) = m.delimiters.escape else {
        return;
    };
    for seg in &m.segments {
        // MSH-1 and MSH-2 are the delimiters themselves.
        let first = if seg.id == "MSH" { 3 } else { 1 };
        for n in first..=seg.field_count() {
            let f = seg.field(n);
            if f.raw().contains(esc)
                && let Err(reason) = f.text()
            {
                out.push(Diagnostic {
                    severity: Severity::Warning,
                    problem: Problem::BadEscape,
                    message: m.position,
                    segment: seg.position,
                    segment_id: seg.id.to_string(),
                    field: Some(n),
                    line: seg.line,
                    reason,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADT: &str = "MSH|^~\\&|EHR|MERCY|CONCORD|HUB|20261121093000||ADT^A01|MSG001|P|2.5.1\rEVN|A01|20261121093000\rPID|1||12345^^^MR~999^^^SS||Duck^Daffy\\S\\Jr||19700101|M\r";

    #[test]
    fn a_message_reads_with_delimiters_from_its_msh() {
        let batch = parse(ADT);
        assert!(batch.diagnostics.is_empty(), "{:?}", batch.diagnostics);
        let m = &batch.messages[0];
        assert_eq!(m.message_type(), ("ADT".into(), "A01".into()));
        assert_eq!(
            (m.control_id().as_str(), m.version().as_str()),
            ("MSG001", "2.5.1")
        );
        let pid = m.first("PID").unwrap();
        assert_eq!(pid.field(3).repetitions().len(), 2);
        assert_eq!(pid.field(3).component(1).raw(), "12345");
        assert_eq!(pid.field(3).repetitions()[1].component(4).raw(), "SS");
        assert_eq!(pid.field(5).component(2).text().unwrap(), "Daffy^Jr");
        assert_eq!(m.msh().field(1).raw(), "");
        assert_eq!(m.msh().field(2).raw(), "^~\\&");
        assert_eq!(m.msh().field(3).raw(), "EHR");
    }

    #[test]
    fn other_delimiters_and_line_ends_are_honoured() {
        let text = "MSH#*!@%#A#B#C#D#20261121##DFT*P03#X1#P#2.3\nFT1#1###x#*#a*b!c\r\n\nMSH#*!@%#A#B#C#D#20261121##ACK#X2#P#2.3\n";
        let batch = parse(text);
        assert!(batch.diagnostics.is_empty(), "{:?}", batch.diagnostics);
        assert_eq!(batch.messages.len(), 2);
        let ft1 = batch.messages[0].first("FT1").unwrap();
        assert_eq!(ft1.field(6).repetitions().len(), 2);
        assert_eq!(ft1.field(6).component(2).raw(), "b");
        assert_eq!(ft1.line, 2);
        assert_eq!(batch.messages[1].segments[0].line, 4);
    }

    #[test]
    fn escapes_resolve_and_bad_ones_are_named() {
        let d = Delimiters::default();
        assert_eq!(
            unescape("a\\F\\b\\R\\c\\E\\d\\T\\", &d).unwrap(),
            "a|b~c\\d&"
        );
        assert_eq!(unescape("line\\.br\\next", &d).unwrap(), "line\nnext");
        assert_eq!(unescape("\\X48656C6C6F\\", &d).unwrap(), "Hello");
        assert!(
            unescape("\\Q\\", &d)
                .unwrap_err()
                .contains("not an HL7 escape")
        );
        assert!(unescape("open\\F", &d).unwrap_err().contains("not closed"));
        let batch = parse("MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5\rNTE|1||bad \\Q\\ here\r");
        let d = &batch.diagnostics[0];
        assert_eq!(
            (d.problem, d.location().as_str(), d.segment),
            (Problem::BadEscape, "NTE-3", 2)
        );
    }

    #[test]
    fn broken_messages_are_diagnosed_not_fatal() {
        let batch = parse("PID|1\rMSH|^~\\&|A|B|C|D|1||||P|\rpid|x\rPV1|1\r");
        let found: Vec<(Problem, String)> = batch
            .diagnostics
            .iter()
            .map(|d| (d.problem, d.location()))
            .collect();
        assert!(found.contains(&(Problem::NoMsh, "PID".into())), "{found:?}");
        assert!(found.contains(&(Problem::RequiredFieldMissing, "MSH-9".into())));
        assert!(found.contains(&(Problem::RequiredFieldMissing, "MSH-10".into())));
        assert!(found.contains(&(Problem::RequiredFieldMissing, "MSH-12".into())));
        assert!(found.contains(&(Problem::BadSegmentId, "pid".into())));
        assert_eq!(batch.messages[0].segments.len(), 2, "MSH and PV1");
        assert_eq!(
            parse("MSH|^|x").diagnostics[0].problem,
            Problem::BadDelimiters
        );
        assert_eq!(parse("MSH").diagnostics[0].problem, Problem::BadDelimiters);
    }

    /// Delimiters outside ASCII punctuation are refused: a segment is found by its fourth byte
    /// being ASCII punctuation, so with any other separator the message's own segments would
    /// read as line breaks inside the segment before them (found by the `hl7_parse` fuzzer).
    #[test]
    fn delimiters_must_be_ascii_punctuation() {
        for msh in [
            "MSH\u{FFFD}^~\\&\u{FFFD}A\u{FFFD}B",
            "MSH|\0^~\\|A|B",
            "MSH|^\u{00A7}\\&|A|B",
            "MSH\u{00A6}^~\\&\u{00A6}A",
        ] {
            let batch = parse(msh);
            assert!(batch.messages.is_empty(), "{msh:?}");
            let d = &batch.diagnostics[0];
            assert_eq!(
                (d.problem, d.location()),
                (Problem::BadDelimiters, "MSH-2".into()),
                "{msh:?}"
            );
            assert!(d.reason.contains("ASCII punctuation"), "{}", d.reason);
        }
        assert!(
            parse("MSH#^~\\&#A#B#C#D#1##ADT^A01#1#P#2.5")
                .diagnostics
                .is_empty()
        );
    }

    #[test]
    fn a_line_break_inside_a_field_continues_the_segment() {
        let text = "MSH|^~\\&|A|B|C|D|1||ORM^O01|1|P|2.3\nOBR|1|x|(608)258-\n8866|y\nDG1|1\n";
        let batch = parse(text);
        assert!(!batch.has_errors(), "{:?}", batch.diagnostics);
        let m = &batch.messages[0];
        let obr = m.first("OBR").unwrap();
        assert_eq!(obr.field(3).raw(), "(608)258-\n8866");
        assert_eq!(obr.field(4).raw(), "y");
        assert_eq!(m.segments.len(), 3);
        let w = &batch.diagnostics[0];
        assert_eq!((w.line, w.segment_id.as_str(), w.segment), (3, "OBR", 2));
    }

    #[test]
    fn odd_input_never_panics() {
        for text in [
            "",
            "\r\r\n",
            "MSH",
            "MSH|",
            "MSH|^~",
            "MSH|^~\\&",
            "MSH|||||",
            "MSH|^~\\&|\u{e9}|\u{1F600}",
            "ZZZ",
            "MSH|^~\\&|A\rPID|\\",
            "MSH|^~\\&|A\rPID|\\X4\\",
            "MSH|^~\\&|A\rPID|\\X\u{e9}9\\",
        ] {
            let batch = parse(text);
            for m in &batch.messages {
                let _ = (m.message_type(), m.control_id(), m.version());
                for s in &m.segments {
                    for n in 0..=s.field_count() + 1 {
                        let _ = s.field(n).component(3).subcomponent(2).text();
                    }
                }
            }
        }
    }
}
