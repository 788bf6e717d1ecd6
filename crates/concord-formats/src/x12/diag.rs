//! What is wrong with an X12 document, said so a partner's EDI analyst can find it: the segment
//! (its number in the file and, inside a transaction set, its position from `ST` = 1), the element,
//! a machine-readable [`Problem`] and a sentence.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The interchange, group or set cannot be trusted as it is: it is rejected in the 997/999.
    Error,
    /// Accepted, but a partner should hear about it (the set is acknowledged with errors noted).
    Warning,
}

/// The kinds of problem, each mapped to the code an acknowledgement reports for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    // The file and interchange (what a TA1 would report).
    InvalidEncoding,
    DataOutsideInterchange,
    InvalidIsa,
    UnterminatedSegment,
    IeaMissing,
    InterchangeControlMismatch,
    GroupCountMismatch,
    // The functional group (AK9 codes).
    GeMissing,
    GroupControlMismatch,
    SetCountMismatch,
    DuplicateGroupControl,
    // The transaction set (AK5/IK5 codes).
    SetNotSupported,
    SeMissing,
    SetControlMismatch,
    SegmentCountMismatch,
    DuplicateSetControl,
    // A segment (AK3/IK3 codes).
    InvalidSegmentId,
    UnexpectedSegment,
    MandatorySegmentMissing,
    // An element (AK4/IK4 codes).
    MandatoryElementMissing,
    TooManyElements,
    TooShort,
    TooLong,
    InvalidCharacter,
    InvalidCode,
    InvalidDate,
    InvalidTime,
    InvalidNumber,
    InvalidIdentifier,
}

impl Problem {
    /// AK3/IK3 segment syntax error code, for problems found in one segment.
    pub fn segment_code(self) -> Option<&'static str> {
        use Problem::*;
        Some(match self {
            InvalidSegmentId => "1",
            UnexpectedSegment => "2",
            MandatorySegmentMissing => "3",
            MandatoryElementMissing
            | TooManyElements
            | TooShort
            | TooLong
            | InvalidCharacter
            | InvalidCode
            | InvalidDate
            | InvalidTime
            | InvalidNumber
            | InvalidIdentifier => "8",
            _ => return None,
        })
    }

    /// AK4/IK4 element syntax error code.
    pub fn element_code(self) -> Option<&'static str> {
        use Problem::*;
        Some(match self {
            MandatoryElementMissing => "1",
            TooManyElements => "3",
            TooShort => "4",
            TooLong => "5",
            InvalidCharacter | InvalidNumber => "6",
            InvalidCode | InvalidIdentifier => "7",
            InvalidDate => "8",
            InvalidTime => "9",
            _ => return None,
        })
    }

    /// AK5/IK5 transaction set syntax error code.
    pub fn set_code(self) -> Option<&'static str> {
        use Problem::*;
        Some(match self {
            SetNotSupported => "1",
            SeMissing => "2",
            SetControlMismatch => "3",
            SegmentCountMismatch => "4",
            DuplicateSetControl => "23",
            _ => return self.segment_code().map(|_| "5"),
        })
    }

    /// AK9 functional group syntax error code.
    pub fn group_code(self) -> Option<&'static str> {
        use Problem::*;
        Some(match self {
            GeMissing => "3",
            GroupControlMismatch => "4",
            SetCountMismatch => "5",
            DuplicateGroupControl => "19",
            _ => return None,
        })
    }
}

/// Which interchange, group and set (indexes into the [`super::Document`]) a diagnostic is about,
/// so an acknowledgement can pick up the ones for each set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Scope {
    pub interchange: Option<usize>,
    pub group: Option<usize>,
    pub set: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub problem: Problem,
    /// The segment's number in the file, from 1 (0: the file as a whole).
    pub segment: u32,
    /// The segment's id (`PO1`), empty when the diagnostic is about the file.
    pub segment_id: String,
    /// Position inside the transaction set, `ST` = 1, when the segment is in one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set_position: Option<u32>,
    /// Element position, 1-based (`BEG03` → 3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub element: Option<u16>,
    /// The offending value, when there is one (never longer than 35 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    pub reason: String,
    #[serde(skip)]
    pub(crate) scope: Scope,
}

impl Diagnostic {
    pub fn error(problem: Problem, reason: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            problem,
            segment: 0,
            segment_id: String::new(),
            set_position: None,
            element: None,
            value: None,
            reason: reason.into(),
            scope: Scope::default(),
        }
    }

    pub fn warning(problem: Problem, reason: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(problem, reason)
        }
    }

    /// Locate at a segment (its file number and id).
    pub fn at(mut self, segment: &super::Segment<'_>) -> Self {
        self.segment = segment.number;
        self.segment_id = segment.id.to_string();
        self
    }

    pub fn element(mut self, position: u16) -> Self {
        self.element = Some(position);
        self
    }

    pub fn value(mut self, value: &str) -> Self {
        self.value = Some(value.chars().take(35).collect());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        if self.segment == 0 {
            return write!(f, "{severity}: {}", self.reason);
        }
        write!(
            f,
            "{severity}: segment {} {}",
            self.segment, self.segment_id
        )?;
        if let Some(e) = self.element {
            write!(f, "{:02}", e)?;
        }
        if let Some(p) = self.set_position {
            write!(f, " (position {p} in its set)")?;
        }
        write!(f, ": {}", self.reason)
    }
}
