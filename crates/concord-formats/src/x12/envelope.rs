//! The envelope structure (interchange ⊃ functional group ⊃ transaction set) and its checks:
//! every header has its trailer, control numbers agree (ISA13 = IEA02, GS06 = GE02, ST02 = SE02)
//! and so do the counts (SE01 segments, GE01 sets, IEA01 groups). A problem is reported and the
//! parse goes on, so one pass finds every error a 997 has to name.

use std::{borrow::Cow, collections::HashSet};

use serde::{Serialize, Serializer, ser::SerializeStruct};

use super::{Diagnostic, Lexer, Problem, Segment, Separators, diag::Scope};

/// A parsed file: its interchanges (borrowing from the input) and everything found wrong.
#[derive(Debug, Default, Serialize)]
pub struct Document<'a> {
    pub interchanges: Vec<Interchange<'a>>,
    pub diagnostics: Vec<Diagnostic>,
}

#[derive(Debug)]
pub struct Interchange<'a> {
    pub separators: Separators,
    pub isa: Segment<'a>,
    pub groups: Vec<FunctionalGroup<'a>>,
    /// `None` when the interchange has no IEA (an error is reported).
    pub iea: Option<Segment<'a>>,
}

#[derive(Debug)]
pub struct FunctionalGroup<'a> {
    pub gs: Segment<'a>,
    pub sets: Vec<TransactionSet<'a>>,
    pub ge: Option<Segment<'a>>,
}

/// One transaction set: its segments from `ST` to `SE` inclusive (no `SE` when it is missing).
#[derive(Debug)]
pub struct TransactionSet<'a> {
    pub segments: Vec<Segment<'a>>,
    /// Whether the set ended with its `SE`.
    pub complete: bool,
}

impl<'a> Interchange<'a> {
    pub fn sender_qualifier(&self) -> &'a str {
        self.isa.element(5).trim()
    }
    pub fn sender_id(&self) -> &'a str {
        self.isa.element(6).trim()
    }
    pub fn receiver_qualifier(&self) -> &'a str {
        self.isa.element(7).trim()
    }
    pub fn receiver_id(&self) -> &'a str {
        self.isa.element(8).trim()
    }
    pub fn control_number(&self) -> &'a str {
        self.isa.element(13)
    }
    /// ISA12, `00401` or `00501`.
    pub fn version(&self) -> &'a str {
        self.isa.element(12)
    }
    /// ISA14: the sender asks for an interchange acknowledgement (TA1).
    pub fn ack_requested(&self) -> bool {
        self.isa.element(14) == "1"
    }
    /// ISA15: `P` production, `T` test.
    pub fn usage(&self) -> &'a str {
        self.isa.element(15)
    }
}

impl<'a> FunctionalGroup<'a> {
    /// GS01, the functional identifier code (`PO`, `PR`, `SH`, `IN`, `FA`).
    pub fn functional_id(&self) -> &'a str {
        self.gs.element(1)
    }
    pub fn sender(&self) -> &'a str {
        self.gs.element(2)
    }
    pub fn receiver(&self) -> &'a str {
        self.gs.element(3)
    }
    pub fn control_number(&self) -> &'a str {
        self.gs.element(6)
    }
    /// GS08, the version/release/industry code (`004010`, `005010X222A1`).
    pub fn version(&self) -> &'a str {
        self.gs.element(8)
    }
}

impl<'a> TransactionSet<'a> {
    /// ST01, the transaction set identifier (`850`).
    pub fn id(&self) -> &'a str {
        self.segments[0].element(1)
    }
    /// ST02.
    pub fn control_number(&self) -> &'a str {
        self.segments[0].element(2)
    }
    /// ST03, the implementation convention reference (005010).
    pub fn implementation_reference(&self) -> &'a str {
        self.segments[0].element(3)
    }
    /// The segments between `ST` and `SE`.
    pub fn body(&self) -> &[Segment<'a>] {
        let end = self.segments.len() - usize::from(self.complete);
        &self.segments[1..end.max(1)]
    }
    /// The position in the set (`ST` = 1) of the segment numbered `segment` in the file.
    pub fn position(&self, segment: u32) -> u32 {
        segment - self.segments[0].number + 1
    }
}

/// The functional group a transaction set belongs in (GS01 for ST01), for the sets we know.
pub fn functional_id_for(set_id: &str) -> Option<&'static str> {
    Some(match set_id {
        "850" => "PO",
        "855" => "PR",
        "856" => "SH",
        "810" => "IN",
        "997" | "999" => "FA",
        "832" => "SC",
        "860" => "PC",
        "865" => "CA",
        "846" => "IB",
        _ => return None,
    })
}

/// Decode bytes for [`parse`]. X12 is ASCII (the extended set adds a few Latin characters); bytes
/// that are not UTF-8 are replaced and reported, with the segment they are in, rather than
/// refusing the whole file.
pub fn parse_bytes(input: &[u8]) -> (Cow<'_, str>, Option<Diagnostic>) {
    match std::str::from_utf8(input) {
        Ok(s) => (Cow::Borrowed(s), None),
        Err(e) => {
            let offset = e.valid_up_to();
            let mut d = Diagnostic::error(
                Problem::InvalidEncoding,
                format!(
                    "byte {offset} (0x{:02X}) is not valid UTF-8; undecodable bytes were replaced with U+FFFD",
                    input[offset]
                ),
            );
            // The segment holding it: count terminators before it (the ISA gives the terminator).
            if let Ok((seps, _)) = Separators::from_isa(input.trim_ascii_start()) {
                d.segment = memchr::memchr_iter(seps.segment, &input[..offset]).count() as u32 + 1;
            }
            (String::from_utf8_lossy(input), Some(d))
        }
    }
}

/// Parse a whole file. Never fails: what cannot be read becomes a diagnostic, and everything
/// that can be read is in the document.
pub fn parse(input: &str) -> Document<'_> {
    let mut p = Parser {
        doc: Document::default(),
        interchange: None,
        group: None,
        set: None,
        orphan: None,
        group_controls: HashSet::new(),
        set_controls: HashSet::new(),
    };
    let mut lexer = Lexer::new(input);
    for segment in lexer.by_ref() {
        p.segment(segment);
    }
    p.end_of_input();
    let mut doc = p.doc;
    doc.diagnostics.extend(lexer.diagnostics);
    doc.diagnostics.sort_by_key(|d| d.segment);
    doc
}

struct Parser<'a> {
    doc: Document<'a>,
    interchange: Option<Interchange<'a>>,
    group: Option<FunctionalGroup<'a>>,
    set: Option<TransactionSet<'a>>,
    /// An `ST` outside any group: its segments are skipped up to its `SE`.
    orphan: Option<Segment<'a>>,
    /// Control numbers seen in the open interchange (GS06) and group (ST02): duplicates are
    /// errors, and a set lookup keeps a group of 10,000 sets linear.
    group_controls: HashSet<&'a str>,
    set_controls: HashSet<&'a str>,
}

fn is_segment_id(id: &str) -> bool {
    let b = id.as_bytes();
    (2..=3).contains(&b.len())
        && b[0].is_ascii_uppercase()
        && b.iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// Whether a count element (SE01, GE01, IEA01) says `n`, without allocating.
/// Whether a count element (`SE01`, `GE01`, `CTT01`…) says `n`: leading zeros allowed.
pub(crate) fn says(element: &str, n: usize) -> bool {
    element.parse::<usize>().ok() == Some(n) && !element.starts_with('+')
}

fn digits(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

impl<'a> Parser<'a> {
    fn scope(&self) -> Scope {
        let interchange = self.interchange.as_ref();
        Scope {
            interchange: interchange.map(|_| self.doc.interchanges.len()),
            group: self
                .group
                .as_ref()
                .zip(interchange)
                .map(|(_, i)| i.groups.len()),
            set: self
                .set
                .as_ref()
                .zip(self.group.as_ref())
                .map(|(_, g)| g.sets.len()),
        }
    }

    fn push(&mut self, mut d: Diagnostic) {
        d.scope = self.scope();
        // A position inside the set, for segments of the set (not the next header that showed
        // the set had no SE).
        if let Some(set) = &self.set
            && d.segment >= set.segments[0].number
            && (d.segment == set.segments[0].number
                || !matches!(
                    d.segment_id.as_str(),
                    "ISA" | "GS" | "ST" | "GE" | "IEA" | ""
                ))
        {
            d.set_position = Some(set.position(d.segment));
        }
        self.doc.diagnostics.push(d);
    }

    fn segment(&mut self, seg: Segment<'a>) {
        if !is_segment_id(seg.id) {
            let reason = if seg.id.is_empty() {
                "empty segment (two terminators in a row, or a segment starting with a separator)"
                    .to_string()
            } else {
                format!(
                    "{:?} is not a segment id (2–3 upper-case letters and digits)",
                    seg.id
                )
            };
            self.push(
                Diagnostic::error(Problem::InvalidSegmentId, reason)
                    .at(&seg)
                    .value(seg.id),
            );
        }
        if let Some(st) = self.orphan {
            // Skip the orphan set's segments up to its SE, or up to the next envelope segment.
            match seg.id {
                "SE" => {
                    self.orphan = None;
                    return;
                }
                "ISA" | "GS" | "ST" | "GE" | "IEA" => {
                    self.orphan = None;
                    self.push(
                        Diagnostic::error(
                            Problem::SeMissing,
                            format!("transaction set started at segment {} has no SE", st.number),
                        )
                        .at(&seg),
                    );
                }
                _ => return,
            }
        }
        // Byte patterns, not string matches: this runs for every segment of every file.
        match seg.id.as_bytes() {
            [b'I', b'S', b'A'] => self.isa(seg),
            [b'I', b'E', b'A'] => self.iea(seg),
            [b'G', b'S'] => self.gs(seg),
            [b'G', b'E'] => self.ge(seg),
            [b'S', b'T'] => self.st(seg),
            [b'S', b'E'] => self.se(seg),
            _ => match &mut self.set {
                Some(set) => set.segments.push(seg),
                None => {
                    let reason = if self.group.is_some() {
                        "segment outside a transaction set (no ST before it)"
                    } else if self.interchange.is_some() {
                        "segment outside a functional group (no GS before it)"
                    } else {
                        "segment outside an interchange (no ISA before it)"
                    };
                    self.push(Diagnostic::error(Problem::UnexpectedSegment, reason).at(&seg));
                }
            },
        }
    }

    fn isa(&mut self, isa: Segment<'a>) {
        self.close_interchange(&isa, "this ISA");
        let count = isa.element_count();
        if count != 16 {
            self.push(
                Diagnostic::error(
                    if count > 16 {
                        Problem::TooManyElements
                    } else {
                        Problem::MandatoryElementMissing
                    },
                    format!("ISA has {count} elements; it must have 16"),
                )
                .at(&isa),
            );
        }
        type Check = (usize, fn(&str) -> bool, Problem, &'static str);
        let checks: [Check; 6] = [
            (
                9,
                |v| digits(v, 6, 6) && valid_date(&format!("20{v}")),
                Problem::InvalidDate,
                "a date YYMMDD",
            ),
            (
                10,
                |v| digits(v, 4, 4) && valid_time(v),
                Problem::InvalidTime,
                "a time HHMM",
            ),
            (
                12,
                |v| digits(v, 5, 5),
                Problem::InvalidCode,
                "a 5-digit version (00401, 00501)",
            ),
            (
                13,
                |v| digits(v, 9, 9),
                Problem::InvalidNumber,
                "a 9-digit control number",
            ),
            (
                14,
                |v| v == "0" || v == "1",
                Problem::InvalidCode,
                "0 or 1 (acknowledgement requested)",
            ),
            (
                15,
                |v| matches!(v, "P" | "T" | "I"),
                Problem::InvalidCode,
                "P (production), T (test) or I (information)",
            ),
        ];
        // Split once: the ISA is the one segment whose every element is checked.
        let mut elements = [""; 17];
        for (slot, value) in elements.iter_mut().skip(1).zip(isa.elements()) {
            *slot = value;
        }
        for (position, ok, problem, expected) in checks {
            let value = elements[position];
            if !ok(value) {
                self.push(
                    Diagnostic::error(
                        problem,
                        format!("ISA{position:02} must be {expected}, got {value:?}"),
                    )
                    .at(&isa)
                    .element(position as u16)
                    .value(value),
                );
            }
        }
        self.group_controls.clear();
        self.interchange = Some(Interchange {
            separators: isa.separators,
            isa,
            groups: Vec::new(),
            iea: None,
        });
    }

    fn iea(&mut self, iea: Segment<'a>) {
        if self.interchange.is_none() {
            self.push(Diagnostic::error(Problem::UnexpectedSegment, "IEA without an ISA").at(&iea));
            return;
        }
        self.close_group(&iea, "this IEA");
        let interchange = self.interchange.as_ref().expect("checked above");
        let (control, groups) = (interchange.control_number(), interchange.groups.len());
        let counted = Counted {
            what: "functional groups",
            whole: "the interchange",
            note: "",
        };
        self.check_trailer(
            &iea,
            "ISA13",
            control,
            groups,
            counted,
            [
                Problem::InterchangeControlMismatch,
                Problem::GroupCountMismatch,
            ],
        );
        let mut interchange = self.interchange.take().expect("checked above");
        interchange.iea = Some(iea);
        self.doc.interchanges.push(interchange);
    }

    fn gs(&mut self, gs: Segment<'a>) {
        if self.interchange.is_none() {
            self.push(
                Diagnostic::error(
                    Problem::UnexpectedSegment,
                    "GS outside an interchange (no ISA before it)",
                )
                .at(&gs),
            );
            return;
        }
        self.close_group(&gs, "this GS");
        let control = gs.element(6);
        let duplicate = !self.group_controls.insert(control);
        self.set_controls.clear();
        self.group = Some(FunctionalGroup {
            gs,
            sets: Vec::new(),
            ge: None,
        });
        let count = gs.element_count();
        if count < 8 {
            self.push(
                Diagnostic::error(
                    Problem::MandatoryElementMissing,
                    format!("GS has {count} elements; it must have 8"),
                )
                .at(&gs)
                .element(count as u16 + 1),
            );
        }
        if !digits(control, 1, 9) {
            self.push(
                Diagnostic::error(
                    Problem::InvalidNumber,
                    format!("GS06 must be a control number of 1–9 digits, got {control:?}"),
                )
                .at(&gs)
                .element(6)
                .value(control),
            );
        }
        if duplicate {
            self.push(
                Diagnostic::error(
                    Problem::DuplicateGroupControl,
                    format!("group control number {control} appears twice in this interchange"),
                )
                .at(&gs)
                .element(6)
                .value(control),
            );
        }
        let date = gs.element(4);
        if !(digits(date, 8, 8) && valid_date(date)) {
            self.push(
                Diagnostic::error(
                    Problem::InvalidDate,
                    format!("GS04 must be a date CCYYMMDD, got {date:?}"),
                )
                .at(&gs)
                .element(4)
                .value(date),
            );
        }
        let time = gs.element(5);
        if !(digits(time, 4, 8) && valid_time(time)) {
            self.push(
                Diagnostic::error(
                    Problem::InvalidTime,
                    format!("GS05 must be a time HHMM[SS[DD]], got {time:?}"),
                )
                .at(&gs)
                .element(5)
                .value(time),
            );
        }
    }

    fn ge(&mut self, ge: Segment<'a>) {
        if self.group.is_none() {
            self.push(Diagnostic::error(Problem::UnexpectedSegment, "GE without a GS").at(&ge));
            return;
        }
        self.close_set(&ge, "this GE");
        let group = self.group.as_ref().expect("checked above");
        let (control, sets) = (group.control_number(), group.sets.len());
        let counted = Counted {
            what: "transaction sets",
            whole: "the group",
            note: "",
        };
        self.check_trailer(
            &ge,
            "GS06",
            control,
            sets,
            counted,
            [Problem::GroupControlMismatch, Problem::SetCountMismatch],
        );
        let mut group = self.group.take().expect("checked above");
        group.ge = Some(ge);
        if let Some(i) = &mut self.interchange {
            i.groups.push(group);
        }
    }

    fn st(&mut self, st: Segment<'a>) {
        if self.group.is_none() {
            self.push(
                Diagnostic::error(
                    Problem::UnexpectedSegment,
                    "ST outside a functional group (no GS before it): the set is skipped",
                )
                .at(&st),
            );
            self.orphan = Some(st);
            return;
        }
        self.close_set(&st, "this ST");
        let group = self.group.as_ref().expect("checked above");
        let (id, control) = (st.element(1), st.element(2));
        let duplicate = !self.set_controls.insert(control);
        let expected_group = functional_id_for(id);
        let functional_id = group.functional_id();
        let mut segments = Vec::with_capacity(32);
        segments.push(st);
        self.set = Some(TransactionSet {
            segments,
            complete: false,
        });
        if !digits(id, 3, 3) {
            self.push(
                Diagnostic::error(
                    Problem::InvalidCode,
                    format!("ST01 must be a 3-digit transaction set id, got {id:?}"),
                )
                .at(&st)
                .element(1)
                .value(id),
            );
        } else if let Some(expected) = expected_group
            && expected != functional_id
        {
            self.push(
                Diagnostic::error(
                    Problem::SetNotSupported,
                    format!(
                        "a {id} belongs in a functional group {expected}, not {functional_id:?}"
                    ),
                )
                .at(&st)
                .element(1)
                .value(id),
            );
        }
        if !(4..=9).contains(&control.len()) {
            self.push(
                Diagnostic::error(
                    Problem::InvalidNumber,
                    format!("ST02 must be a control number of 4–9 characters, got {control:?}"),
                )
                .at(&st)
                .element(2)
                .value(control),
            );
        }
        if duplicate {
            self.push(
                Diagnostic::error(
                    Problem::DuplicateSetControl,
                    format!("transaction set control number {control} appears twice in this group"),
                )
                .at(&st)
                .element(2)
                .value(control),
            );
        }
    }

    fn se(&mut self, se: Segment<'a>) {
        let Some(set) = &mut self.set else {
            self.push(Diagnostic::error(Problem::UnexpectedSegment, "SE without an ST").at(&se));
            return;
        };
        set.segments.push(se);
        set.complete = true;
        let (control, count) = (set.control_number(), set.segments.len());
        let counted = Counted {
            what: "segments",
            whole: "the set",
            note: " (ST and SE included)",
        };
        self.check_trailer(
            &se,
            "ST02",
            control,
            count,
            counted,
            [Problem::SetControlMismatch, Problem::SegmentCountMismatch],
        );
        let set = self.set.take().expect("checked above");
        if let Some(g) = &mut self.group {
            g.sets.push(set);
        }
    }

    /// A trailer (IEA, GE, SE) against its header: element 2 repeats the header's control
    /// number, element 1 counts what the envelope holds.
    fn check_trailer(
        &mut self,
        trailer: &Segment<'a>,
        header: &str,
        control: &str,
        count: usize,
        counted: Counted,
        [mismatch, miscount]: [Problem; 2],
    ) {
        let id = trailer.id;
        let (said_control, said_count) = (trailer.element(2), trailer.element(1));
        if said_control != control {
            self.push(
                Diagnostic::error(
                    mismatch,
                    format!("{id}02 {said_control:?} does not match {header} {control:?}"),
                )
                .at(trailer)
                .element(2)
                .value(said_control),
            );
        }
        if !says(said_count, count) {
            let Counted { what, whole, note } = counted;
            self.push(
                Diagnostic::error(
                    miscount,
                    format!("{id}01 says {said_count:?} {what}; {whole} has {count}{note}"),
                )
                .at(trailer)
                .element(1)
                .value(said_count),
            );
        }
    }

    /// A set is open when `at` (the next header, or the last segment of the file) shows it has
    /// no SE; `before` says which ("this GE", "the end of the file").
    fn close_set(&mut self, at: &Segment<'a>, before: &str) {
        if let Some(set) = &self.set {
            let st = set.segments[0];
            let reason = format!(
                "transaction set {} {} (segment {}) has no SE before {before}",
                st.element(1),
                st.element(2),
                st.number,
            );
            // Pushed while the set is still open, so the diagnostic belongs to it.
            self.push(Diagnostic::error(Problem::SeMissing, reason).at(at));
            let set = self.set.take().expect("checked above");
            if let Some(g) = &mut self.group {
                g.sets.push(set);
            }
        }
    }

    fn close_group(&mut self, at: &Segment<'a>, before: &str) {
        self.close_set(at, before);
        if let Some(group) = &self.group {
            let reason = format!(
                "functional group {} (segment {}) has no GE before {before}",
                group.control_number(),
                group.gs.number,
            );
            self.push(Diagnostic::error(Problem::GeMissing, reason).at(at));
            let group = self.group.take().expect("checked above");
            if let Some(i) = &mut self.interchange {
                i.groups.push(group);
            }
        }
    }

    fn close_interchange(&mut self, at: &Segment<'a>, before: &str) {
        self.close_group(at, before);
        if let Some(interchange) = &self.interchange {
            let reason = format!(
                "interchange {} (segment {}) has no IEA before {before}",
                interchange.control_number(),
                interchange.isa.number,
            );
            self.push(Diagnostic::error(Problem::IeaMissing, reason).at(at));
            let interchange = self.interchange.take().expect("checked above");
            self.doc.interchanges.push(interchange);
        }
    }

    /// Close whatever is still open, reporting at the last segment read.
    fn end_of_input(&mut self) {
        let last = self
            .set
            .as_ref()
            .and_then(|s| s.segments.last())
            .or(self.group.as_ref().map(|g| &g.gs))
            .or(self.interchange.as_ref().map(|i| &i.isa))
            .copied();
        if let Some(last) = last {
            self.close_interchange(&last, "the end of the file");
        }
        if let Some(st) = self.orphan.take() {
            let d = Diagnostic::error(
                Problem::SeMissing,
                "the file ends inside a transaction set that has no SE",
            )
            .at(&st);
            self.push(d);
        }
    }
}

/// How a trailer's count is described: "IEA01 says 2 functional groups; the interchange has 1".
struct Counted {
    what: &'static str,
    whole: &'static str,
    note: &'static str,
}

/// A CCYYMMDD date, or `None`. By hand: chrono's format parser costs more than the rest of a
/// GS segment.
pub(crate) fn date(ccyymmdd: &str) -> Option<chrono::NaiveDate> {
    let b = ccyymmdd.as_bytes();
    if b.len() != 8 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| {
        b[r].iter()
            .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'))
    };
    chrono::NaiveDate::from_ymd_opt(n(0..4) as i32, n(4..6), n(6..8))
}

pub(crate) fn valid_date(ccyymmdd: &str) -> bool {
    date(ccyymmdd).is_some()
}

pub(crate) fn valid_time(hhmm: &str) -> bool {
    let b = hhmm.as_bytes();
    if b.len() < 4 {
        return false;
    }
    let num = |i: usize| (b[i] - b'0') as u32 * 10 + (b[i + 1] - b'0') as u32;
    num(0) < 24 && num(2) < 60 && (b.len() < 6 || num(4) < 60)
}

// ---- JSON --------------------------------------------------------------------------------------

impl Serialize for Interchange<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Party<'b> {
            qualifier: &'b str,
            id: &'b str,
        }
        let mut st = s.serialize_struct("Interchange", 9)?;
        st.serialize_field("control_number", self.control_number())?;
        st.serialize_field("version", self.version())?;
        st.serialize_field(
            "sender",
            &Party {
                qualifier: self.sender_qualifier(),
                id: self.sender_id(),
            },
        )?;
        st.serialize_field(
            "receiver",
            &Party {
                qualifier: self.receiver_qualifier(),
                id: self.receiver_id(),
            },
        )?;
        st.serialize_field("date", self.isa.element(9))?;
        st.serialize_field("time", self.isa.element(10))?;
        st.serialize_field("usage", self.usage())?;
        st.serialize_field("separators", &self.separators)?;
        st.serialize_field("groups", &self.groups)?;
        st.end()
    }
}

impl Serialize for FunctionalGroup<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("FunctionalGroup", 7)?;
        st.serialize_field("functional_id", self.functional_id())?;
        st.serialize_field("sender", self.sender())?;
        st.serialize_field("receiver", self.receiver())?;
        st.serialize_field("control_number", self.control_number())?;
        st.serialize_field("date", self.gs.element(4))?;
        st.serialize_field("version", self.version())?;
        st.serialize_field("sets", &self.sets)?;
        st.end()
    }
}

impl Serialize for TransactionSet<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("TransactionSet", 4)?;
        st.serialize_field("id", self.id())?;
        st.serialize_field("control_number", self.control_number())?;
        st.serialize_field("complete", &self.complete)?;
        st.serialize_field("segments", &self.segments)?;
        st.end()
    }
}
