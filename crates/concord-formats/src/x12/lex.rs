//! Finding segments. The separators come from each ISA (element separator at byte 3, component
//! separator at byte 104, segment terminator at byte 105, repetition separator from ISA11 in
//! 00402 and later), so one file may hold interchanges with different separators. Line breaks
//! (and other whitespace) after a terminator are skipped, which is how most partners' files
//! arrive.

use serde::{Serialize, Serializer, ser::SerializeStruct};

use super::{Diagnostic, Problem, Segment};

/// The delimiters of one interchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Separators {
    pub element: u8,
    pub component: u8,
    pub segment: u8,
    /// 00402 and later only (ISA11); 004010 uses ISA11 for the standards id `U`.
    pub repetition: Option<u8>,
}

/// Byte offsets of the element separators in a fixed-width (106 byte) ISA.
const ISA_SEPARATOR_OFFSETS: [usize; 16] = [
    3, 6, 17, 20, 31, 34, 50, 53, 69, 76, 81, 83, 89, 99, 101, 103,
];

impl Separators {
    /// Whether `byte` is one of these separators: data may not hold it.
    pub fn separates(&self, byte: u8) -> bool {
        [self.element, self.component, self.segment].contains(&byte)
            || self.repetition == Some(byte)
    }

    /// `*`, `:`, `~` and (for 005010) `^`: what most partners use and our default.
    pub const fn common(repetition: bool) -> Self {
        Self {
            element: b'*',
            component: b':',
            segment: b'~',
            repetition: if repetition { Some(b'^') } else { None },
        }
    }

    /// Reads the separators from the ISA at the start of `isa`. Returns them and whether the ISA
    /// has the standard fixed layout; an ISA with trimmed or padded fields is still read by
    /// counting its 16 element separators.
    pub fn from_isa(isa: &[u8]) -> Result<(Self, bool), String> {
        if isa.len() < 4 || !isa.starts_with(b"ISA") {
            return Err("an interchange must start with ISA".into());
        }
        let element = isa[3];
        let fixed = isa.len() >= 106 && ISA_SEPARATOR_OFFSETS.iter().all(|&i| isa[i] == element);
        let last_separator = if fixed {
            103
        } else {
            memchr::memchr_iter(element, isa)
                .nth(15)
                .ok_or("the ISA ends before its 16 elements")?
        };
        let (Some(&component), Some(&segment)) =
            (isa.get(last_separator + 1), isa.get(last_separator + 2))
        else {
            return Err(
                "the ISA ends before its component separator (ISA16) and terminator".into(),
            );
        };
        let mut seps = Self {
            element,
            component,
            segment,
            repetition: None,
        };
        seps.check()?;
        // ISA11 is the repetition separator from 00402 on.
        let mut fields = isa[..last_separator].split(|&b| b == element);
        let isa11 = fields.nth(11).unwrap_or_default();
        let isa12 = fields.next().unwrap_or_default();
        if isa12 >= b"00402".as_slice()
            && let [rep] = isa11
            && !rep.is_ascii_alphanumeric()
            && rep.is_ascii()
            && ![element, component, segment].contains(rep)
        {
            seps.repetition = Some(*rep);
        }
        Ok((seps, fixed))
    }

    /// Separators a partner can use: ASCII, neither letters, digits nor spaces, all different.
    pub fn check(&self) -> Result<(), String> {
        let named = [
            ("element", Some(self.element)),
            ("component", Some(self.component)),
            ("segment", Some(self.segment)),
            ("repetition", self.repetition),
        ];
        for (name, b) in named {
            let Some(b) = b else { continue };
            if b.is_ascii_alphanumeric() || !b.is_ascii() || b == b' ' {
                return Err(format!(
                    "the {name} separator {:?} must be an ASCII character that is neither a letter, a digit nor a space",
                    b as char
                ));
            }
        }
        for (i, (a, x)) in named.iter().enumerate() {
            for (b, y) in &named[i + 1..] {
                if x.is_some() && x == y {
                    return Err(format!(
                        "the {a} and {b} separators are both {:?}; they must differ",
                        x.map(char::from).unwrap_or_default()
                    ));
                }
            }
        }
        Ok(())
    }

    fn ch(b: u8) -> String {
        (b as char).to_string()
    }
}

impl Serialize for Separators {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Separators", 4)?;
        st.serialize_field("element", &Self::ch(self.element))?;
        st.serialize_field("component", &Self::ch(self.component))?;
        st.serialize_field("segment", &Self::ch(self.segment))?;
        st.serialize_field("repetition", &self.repetition.map(Self::ch))?;
        st.end()
    }
}

/// A single forward pass over the input yielding segments; problems found on the way (data
/// before an ISA, an unreadable ISA, a last segment without terminator) are collected in
/// [`Lexer::diagnostics`].
pub struct Lexer<'a> {
    input: &'a str,
    pos: usize,
    separators: Option<Separators>,
    number: u32,
    pub diagnostics: Vec<Diagnostic>,
}

impl<'a> Lexer<'a> {
    pub fn new(input: &'a str) -> Self {
        Self {
            input: input.strip_prefix('\u{feff}').unwrap_or(input),
            pos: 0,
            separators: None,
            number: 0,
            diagnostics: Vec::new(),
        }
    }

    /// Offset of the next `ISA` at or after `from`.
    fn find_isa(&self, from: usize) -> Option<usize> {
        self.input.get(from..)?.find("ISA").map(|i| from + i)
    }
}

impl<'a> Iterator for Lexer<'a> {
    type Item = Segment<'a>;

    fn next(&mut self) -> Option<Segment<'a>> {
        let bytes = self.input.as_bytes();
        loop {
            while self.pos < bytes.len() && bytes[self.pos].is_ascii_whitespace() {
                self.pos += 1;
            }
            if self.pos >= bytes.len() {
                return None;
            }
            let rest = &bytes[self.pos..];
            let mut isa_not_fixed = false;
            if let [b'I', b'S', b'A', ..] = rest {
                match Separators::from_isa(rest) {
                    Ok((seps, fixed)) => {
                        self.separators = Some(seps);
                        isa_not_fixed = !fixed;
                    }
                    Err(reason) => {
                        let mut d = Diagnostic::error(Problem::InvalidIsa, reason);
                        d.segment = self.number + 1;
                        d.segment_id = "ISA".into();
                        self.diagnostics.push(d);
                        self.separators = None;
                        self.pos = self.find_isa(self.pos + 3).unwrap_or(bytes.len());
                        continue;
                    }
                }
            }
            let Some(seps) = self.separators else {
                let start = self.pos;
                let next_isa = self.find_isa(start);
                self.pos = next_isa.unwrap_or(bytes.len());
                let d = Diagnostic::error(
                    Problem::DataOutsideInterchange,
                    format!(
                        "{} bytes at offset {start} are not inside an interchange (no ISA before them)",
                        self.pos - start
                    ),
                )
                .value(&self.input[start..]);
                self.diagnostics.push(d);
                continue;
            };
            let start = self.pos;
            let (end, next) = match memchr::memchr(seps.segment, &bytes[start..]) {
                Some(i) => (start + i, start + i + 1),
                None => (bytes.len(), bytes.len()),
            };
            self.pos = next;
            self.number += 1;
            let mut raw = &self.input[start..end];
            if seps.segment != b'\r' && seps.segment != b'\n' {
                raw = raw.trim_end_matches(['\r', '\n']);
            } else {
                raw = raw.trim_end_matches('\r');
            }
            let id_len = memchr::memchr(seps.element, raw.as_bytes()).unwrap_or(raw.len());
            let segment = Segment {
                number: self.number,
                id: &raw[..id_len],
                raw,
                separators: seps,
            };
            if isa_not_fixed {
                self.diagnostics.push(
                    Diagnostic::warning(
                        Problem::InvalidIsa,
                        "the ISA does not have the fixed 106-character layout (fields trimmed or padded); read by counting separators",
                    )
                    .at(&segment),
                );
            }
            if end == bytes.len() {
                self.diagnostics.push(
                    Diagnostic::error(
                        Problem::UnterminatedSegment,
                        format!(
                            "the file ends inside this segment: no segment terminator {:?}",
                            seps.segment as char
                        ),
                    )
                    .at(&segment),
                );
            }
            return Some(segment);
        }
    }
}
