//! One segment, borrowed from the input. Elements are split on demand: the parser only finds
//! segment boundaries, which is what keeps it fast; a reader asks for the elements it needs.

use serde::{Serialize, Serializer, ser::SerializeSeq, ser::SerializeStruct};

use super::Separators;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment<'a> {
    /// The segment's number in the file, from 1.
    pub number: u32,
    /// The segment id (`ISA`, `PO1`).
    pub id: &'a str,
    /// The whole segment without its terminator: id and elements.
    pub raw: &'a str,
    pub separators: Separators,
}

impl<'a> Segment<'a> {
    /// The elements after the id, in order (element 1 first); empty ones included.
    pub fn elements(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.raw.split(self.separators.element as char).skip(1)
    }

    /// How many elements the segment carries (trailing empty ones count: `N1*ST**` has 3).
    pub fn element_count(&self) -> usize {
        if self.raw.len() <= self.id.len() {
            0
        } else {
            memchr::memchr_iter(self.separators.element, self.raw.as_bytes()).count()
        }
    }

    /// Element `position` (1-based, as in `BEG03`), or `""` when absent or empty.
    pub fn element(&self, position: usize) -> &'a str {
        if position == 0 {
            return self.id;
        }
        // Segments are short: a plain scan beats setting up a split iterator or memchr.
        let bytes = self.raw.as_bytes();
        let sep = self.separators.element;
        let mut start = self.id.len();
        for _ in 1..position {
            match bytes
                .get(start + 1..)
                .and_then(|rest| rest.iter().position(|&b| b == sep))
            {
                Some(i) => start += 1 + i,
                None => return "",
            }
        }
        let Some(rest) = bytes.get(start + 1..) else {
            return "";
        };
        let end = rest.iter().position(|&b| b == sep).unwrap_or(rest.len());
        &self.raw[start + 1..start + 1 + end]
    }

    /// Component `component` (1-based) of composite element `position`; a simple element is its
    /// own first component.
    pub fn component(&self, position: usize, component: usize) -> &'a str {
        let element = self.element(position);
        if component == 0 {
            return "";
        }
        element
            .split(self.separators.component as char)
            .nth(component - 1)
            .unwrap_or("")
    }
}

/// One element as JSON: a string, or an array of components for a composite, or an array of
/// repetitions for a repeating element.
struct ElementJson<'a> {
    value: &'a str,
    separators: Separators,
}

impl Serialize for ElementJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let seps = self.separators;
        if let Some(rep) = seps
            .repetition
            .filter(|r| self.value.as_bytes().contains(r))
        {
            let mut seq = s.serialize_seq(None)?;
            for value in self.value.split(rep as char) {
                seq.serialize_element(&ElementJson {
                    value,
                    separators: Separators {
                        repetition: None,
                        ..seps
                    },
                })?;
            }
            return seq.end();
        }
        if self.value.as_bytes().contains(&seps.component) {
            let mut seq = s.serialize_seq(None)?;
            for c in self.value.split(seps.component as char) {
                seq.serialize_element(c)?;
            }
            return seq.end();
        }
        s.serialize_str(self.value)
    }
}

impl Serialize for Segment<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Elements<'b, 'a>(&'b Segment<'a>);
        impl Serialize for Elements<'_, '_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let seg = self.0;
                let mut seq = s.serialize_seq(None)?;
                // ISA16 is the component separator itself: never split it.
                let plain = seg.id == "ISA";
                for value in seg.elements() {
                    if plain {
                        seq.serialize_element(value)?;
                    } else {
                        seq.serialize_element(&ElementJson {
                            value,
                            separators: seg.separators,
                        })?;
                    }
                }
                seq.end()
            }
        }
        let mut st = s.serialize_struct("Segment", 3)?;
        st.serialize_field("segment", &self.number)?;
        st.serialize_field("id", self.id)?;
        st.serialize_field("elements", &Elements(self))?;
        st.end()
    }
}
