//! Writing interchanges for a partner: its ISA/GS ids, version and separators, control numbers
//! given by the caller (the store allocates them so they never repeat per partner), and every
//! count (SE01, GE01, IEA01) computed here so it cannot disagree with what is written.
//!
//! X12 has no escape character: data that contains a separator cannot be sent. That is an error
//! naming the segment and element, never a silent replacement.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Separators;

/// A segment to be written: its id and elements, each element a list of components (a simple
/// element has one). Trailing empty elements are dropped when written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedSegment {
    pub id: String,
    pub elements: Vec<Vec<String>>,
}

impl OwnedSegment {
    pub fn new(id: &str) -> Self {
        Self {
            id: id.to_string(),
            elements: Vec::new(),
        }
    }

    /// Append a simple element.
    pub fn e(mut self, value: impl Into<String>) -> Self {
        self.elements.push(vec![value.into()]);
        self
    }

    /// Append an optional simple element (empty when `None`).
    pub fn opt(self, value: Option<impl Into<String>>) -> Self {
        match value {
            Some(v) => self.e(v),
            None => self.e(""),
        }
    }

    /// Append a composite element.
    pub fn c<S: Into<String>>(mut self, components: impl IntoIterator<Item = S>) -> Self {
        self.elements
            .push(components.into_iter().map(Into::into).collect());
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Version {
    #[serde(rename = "004010")]
    #[default]
    V4010,
    #[serde(rename = "005010")]
    V5010,
}

impl Version {
    /// ISA12.
    pub fn isa(self) -> &'static str {
        match self {
            Self::V4010 => "00401",
            Self::V5010 => "00501",
        }
    }
    /// GS08 (without an implementation guide suffix).
    pub fn gs(self) -> &'static str {
        match self {
            Self::V4010 => "004010",
            Self::V5010 => "005010",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Usage {
    #[default]
    Production,
    Test,
}

/// An interchange sender or receiver id: ISA05/ISA06 or ISA07/ISA08.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartyId {
    /// `ZZ` (mutually defined), `01` (DUNS), `12` (phone), `14` (DUNS+4)…
    pub qualifier: String,
    pub id: String,
}

/// How we write to one partner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub sender: PartyId,
    pub receiver: PartyId,
    /// GS02 and GS03 (application sender and receiver codes).
    pub gs_sender: String,
    pub gs_receiver: String,
    pub version: Version,
    pub separators: Separators,
    pub usage: Usage,
    /// ISA14: ask the partner for an interchange acknowledgement (TA1).
    pub ack_requested: bool,
    /// A line break after each terminator (most partners accept it; it makes files readable).
    pub line_breaks: bool,
}

/// The control numbers of one interchange (ISA13 and GS06); transaction sets are numbered
/// 0001, 0002… inside the group, which keeps ST02 unique where it must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Controls {
    pub interchange: u32,
    pub group: u32,
}

/// One transaction set's body (without ST and SE, which are written here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetBody {
    /// ST01 (`850`).
    pub id: String,
    /// ST03 (005010 implementation convention), if the partner uses one.
    pub implementation_reference: Option<String>,
    pub segments: Vec<OwnedSegment>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    #[error(
        "{segment}{element:02} (segment {position} of set {set}) holds {value:?}, which contains the separator {separator:?}; X12 has no escape, so it cannot be sent"
    )]
    SeparatorInData {
        set: String,
        segment: String,
        position: usize,
        element: usize,
        value: String,
        separator: char,
    },
    #[error("envelope {field}: {reason}")]
    Envelope { field: &'static str, reason: String },
}

/// Write one interchange with one functional group holding `sets`.
pub fn interchange(
    envelope: &Envelope,
    controls: Controls,
    functional_id: &str,
    sets: &[SetBody],
    at: DateTime<Utc>,
) -> Result<String, WriteError> {
    let env = envelope;
    let seps = env.separators;
    check_envelope(env, controls)?;
    let mut w = Writer {
        out: String::with_capacity(256 + sets.iter().map(|s| s.segments.len() * 40).sum::<usize>()),
        seps,
        line_breaks: env.line_breaks,
    };
    let isa11 = match (env.version, seps.repetition) {
        (Version::V5010, Some(r)) => (r as char).to_string(),
        (Version::V5010, None) => "^".to_string(),
        (Version::V4010, _) => "U".to_string(),
    };
    let isa = [
        "00".to_string(),
        " ".repeat(10),
        "00".to_string(),
        " ".repeat(10),
        env.sender.qualifier.clone(),
        format!("{:<15}", env.sender.id),
        env.receiver.qualifier.clone(),
        format!("{:<15}", env.receiver.id),
        at.format("%y%m%d").to_string(),
        at.format("%H%M").to_string(),
        isa11,
        env.version.isa().to_string(),
        format!("{:09}", controls.interchange),
        if env.ack_requested { "1" } else { "0" }.to_string(),
        match env.usage {
            Usage::Production => "P",
            Usage::Test => "T",
        }
        .to_string(),
        (seps.component as char).to_string(),
    ];
    w.out.push_str("ISA");
    for value in &isa {
        w.out.push(seps.element as char);
        w.out.push_str(value);
    }
    w.end_segment();
    let group = controls.group.to_string();
    let gs = OwnedSegment::new("GS")
        .e(functional_id)
        .e(&env.gs_sender)
        .e(&env.gs_receiver)
        .e(at.format("%Y%m%d").to_string())
        .e(at.format("%H%M").to_string())
        .e(&group)
        .e("X")
        .e(env.version.gs());
    w.segment(&gs, "GS", 0)?;
    for (i, set) in sets.iter().enumerate() {
        let control = format!("{:04}", i + 1);
        let st = OwnedSegment::new("ST")
            .e(&set.id)
            .e(&control)
            .opt(set.implementation_reference.as_deref());
        w.segment(&st, &set.id, 1)?;
        for (j, segment) in set.segments.iter().enumerate() {
            w.segment(segment, &set.id, j + 2)?;
        }
        let se = OwnedSegment::new("SE")
            .e((set.segments.len() + 2).to_string())
            .e(&control);
        w.segment(&se, &set.id, set.segments.len() + 2)?;
    }
    w.segment(
        &OwnedSegment::new("GE").e(sets.len().to_string()).e(&group),
        "GE",
        0,
    )?;
    w.segment(
        &OwnedSegment::new("IEA")
            .e("1")
            .e(format!("{:09}", controls.interchange)),
        "IEA",
        0,
    )?;
    Ok(w.out)
}

fn check_envelope(env: &Envelope, controls: Controls) -> Result<(), WriteError> {
    let bad = |field, reason: String| Err(WriteError::Envelope { field, reason });
    for (field, party) in [("sender", &env.sender), ("receiver", &env.receiver)] {
        if party.qualifier.len() != 2 {
            return bad(
                field,
                format!("qualifier {:?} must be 2 characters", party.qualifier),
            );
        }
        if party.id.is_empty() || party.id.len() > 15 {
            return bad(field, format!("id {:?} must be 1–15 characters", party.id));
        }
        // The ISA is fixed-width and written by hand (not through `Writer::segment`), so its
        // ids are checked here: ASCII (padding counts bytes) and no separator.
        if let Some(c) = party
            .id
            .bytes()
            .chain(party.qualifier.bytes())
            .find(|b| !b.is_ascii() || env.separators.separates(*b))
        {
            return bad(
                field,
                format!(
                    "{:?}:{:?} holds {:?}, which is not ASCII or is a separator",
                    party.qualifier, party.id, c as char
                ),
            );
        }
    }
    for (field, id) in [
        ("gs_sender", &env.gs_sender),
        ("gs_receiver", &env.gs_receiver),
    ] {
        if id.len() < 2 || id.len() > 15 {
            return bad(field, format!("{id:?} must be 2–15 characters"));
        }
    }
    if !(1..=999_999_999).contains(&controls.interchange) {
        return bad(
            "interchange control number",
            format!("{} is outside 1–999999999", controls.interchange),
        );
    }
    if !(1..=999_999_999).contains(&controls.group) {
        return bad(
            "group control number",
            format!("{} is outside 1–999999999", controls.group),
        );
    }
    if let Err(reason) = env.separators.check() {
        return bad("separators", reason);
    }
    Ok(())
}

struct Writer {
    out: String,
    seps: Separators,
    line_breaks: bool,
}

impl Writer {
    fn end_segment(&mut self) {
        self.out.push(self.seps.segment as char);
        if self.line_breaks && self.seps.segment != b'\n' {
            self.out.push('\n');
        }
    }

    fn segment(
        &mut self,
        segment: &OwnedSegment,
        set: &str,
        position: usize,
    ) -> Result<(), WriteError> {
        let seps = self.seps;
        self.out.push_str(&segment.id);
        // Trailing empty elements are not written.
        let used = segment
            .elements
            .iter()
            .rposition(|e| e.iter().any(|c| !c.is_empty()))
            .map_or(0, |i| i + 1);
        for (i, element) in segment.elements[..used].iter().enumerate() {
            self.out.push(seps.element as char);
            let components = element
                .iter()
                .rposition(|c| !c.is_empty())
                .map_or(0, |i| i + 1);
            for (j, component) in element[..components].iter().enumerate() {
                if let Some(bad) = component.bytes().find(|b| seps.separates(*b)) {
                    return Err(WriteError::SeparatorInData {
                        set: set.to_string(),
                        segment: segment.id.clone(),
                        position,
                        element: i + 1,
                        value: component.clone(),
                        separator: bad as char,
                    });
                }
                if j > 0 {
                    self.out.push(seps.component as char);
                }
                self.out.push_str(component);
            }
        }
        self.end_segment();
        Ok(())
    }
}
