//! Functional acknowledgements: the 997 (004010 and later) and the 999 (005010 implementation
//! acknowledgement). [`FunctionalAck::for_group`] builds one for a group we received, from the
//! parser's diagnostics plus whatever the typed readers found in each set; [`FunctionalAck::read`]
//! reads the ones partners send for our interchanges.

use serde::{Deserialize, Serialize};

use super::{
    Diagnostic, Document, Severity, TransactionSet,
    write::{OwnedSegment, SetBody},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AckKind {
    #[serde(rename = "997")]
    Functional997,
    #[serde(rename = "999")]
    Implementation999,
}

impl AckKind {
    pub fn set_id(self) -> &'static str {
        match self {
            Self::Functional997 => "997",
            Self::Implementation999 => "999",
        }
    }
}

/// AK5/IK5 and AK9 acknowledgement codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AckCode {
    /// `A`
    Accepted,
    /// `E`: accepted, but errors were noted.
    AcceptedWithErrors,
    /// `P`: some sets of the group accepted (AK9 only).
    PartiallyAccepted,
    /// `R`
    Rejected,
}

impl AckCode {
    pub fn code(self) -> &'static str {
        match self {
            Self::Accepted => "A",
            Self::AcceptedWithErrors => "E",
            Self::PartiallyAccepted => "P",
            Self::Rejected => "R",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Some(match code {
            "A" => Self::Accepted,
            "E" | "M" | "W" | "X" => Self::AcceptedWithErrors,
            "P" => Self::PartiallyAccepted,
            "R" => Self::Rejected,
            _ => return None,
        })
    }

    /// Whether the partner took the set or group in.
    pub fn accepted(self) -> bool {
        !matches!(self, Self::Rejected)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ElementError {
    /// Position in the segment (AK401 / IK401-1).
    pub position: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<u16>,
    /// AK403 / IK403 syntax error code.
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentError {
    pub segment_id: String,
    /// Position in the transaction set, ST = 1 (AK302).
    pub position: u32,
    /// AK304 / IK304 syntax error code.
    pub code: String,
    #[serde(default)]
    pub elements: Vec<ElementError>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetAck {
    pub set_id: String,
    pub control_number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub implementation_reference: Option<String>,
    pub status: AckCode,
    /// AK502… / IK502… codes.
    #[serde(default)]
    pub set_errors: Vec<String>,
    #[serde(default)]
    pub segment_errors: Vec<SegmentError>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionalAck {
    pub kind: AckKind,
    /// AK101: the acknowledged group's functional id.
    pub functional_id: String,
    /// AK102: the acknowledged group's control number (GS06).
    pub group_control_number: String,
    /// AK103 (999): the acknowledged group's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub status: AckCode,
    pub sets_included: u32,
    pub sets_received: u32,
    pub sets_accepted: u32,
    /// AK905… codes.
    #[serde(default)]
    pub group_errors: Vec<String>,
    pub sets: Vec<SetAck>,
}

impl FunctionalAck {
    /// The acknowledgement of group `group` of interchange `interchange` in `doc`.
    /// `set_findings[i]` holds what the typed reader found in set `i` (empty when none was run);
    /// their `set_position` must be set (the readers do).
    pub fn for_group(
        doc: &Document<'_>,
        interchange: usize,
        group: usize,
        kind: AckKind,
        set_findings: &[Vec<Diagnostic>],
    ) -> Option<Self> {
        let g = doc.interchanges.get(interchange)?.groups.get(group)?;
        let in_group = |d: &&Diagnostic| {
            d.scope.interchange == Some(interchange) && d.scope.group == Some(group)
        };
        let mut group_errors: Vec<String> = Vec::new();
        for d in doc.diagnostics.iter().filter(in_group) {
            if let Some(code) = d
                .problem
                .group_code()
                .filter(|_| d.scope.set.is_none() && d.is_error())
                && !group_errors.iter().any(|c| c == code)
            {
                group_errors.push(code.to_string());
            }
        }
        let sets: Vec<SetAck> = g
            .sets
            .iter()
            .enumerate()
            .map(|(i, set)| {
                let found = doc
                    .diagnostics
                    .iter()
                    .filter(in_group)
                    .filter(|d| d.scope.set == Some(i))
                    .chain(set_findings.get(i).into_iter().flatten());
                set_ack(set, kind, found)
            })
            .collect();
        let accepted = sets.iter().filter(|s| s.status.accepted()).count() as u32;
        let received = sets.len() as u32;
        let status = if !group_errors.is_empty() || (received > 0 && accepted == 0) {
            AckCode::Rejected
        } else if accepted < received {
            AckCode::PartiallyAccepted
        } else if sets.iter().any(|s| s.status == AckCode::AcceptedWithErrors) {
            AckCode::AcceptedWithErrors
        } else {
            AckCode::Accepted
        };
        let included =
            g.ge.and_then(|ge| ge.element(1).parse().ok())
                .unwrap_or(received);
        Some(Self {
            kind,
            functional_id: g.functional_id().to_string(),
            group_control_number: g.control_number().to_string(),
            version: (kind == AckKind::Implementation999).then(|| g.version().to_string()),
            status,
            sets_included: included,
            sets_received: received,
            sets_accepted: if status == AckCode::Rejected {
                0
            } else {
                accepted
            },
            group_errors,
            sets,
        })
    }

    /// The acknowledgement as a transaction set body, ready for [`super::write::interchange`]
    /// (functional group `FA`).
    pub fn to_set(&self) -> SetBody {
        let ik = self.kind == AckKind::Implementation999;
        let mut segments = vec![
            OwnedSegment::new("AK1")
                .e(&self.functional_id)
                .e(&self.group_control_number)
                .opt(self.version.as_deref()),
        ];
        for set in &self.sets {
            segments.push(
                OwnedSegment::new("AK2")
                    .e(&set.set_id)
                    .e(&set.control_number)
                    .opt(set.implementation_reference.as_deref().filter(|_| ik)),
            );
            for seg in &set.segment_errors {
                segments.push(
                    OwnedSegment::new(if ik { "IK3" } else { "AK3" })
                        .e(&seg.segment_id)
                        .e(seg.position.to_string())
                        .e("")
                        .e(&seg.code),
                );
                for el in &seg.elements {
                    let position = match el.component {
                        Some(c) => vec![el.position.to_string(), c.to_string()],
                        None => vec![el.position.to_string()],
                    };
                    segments.push(
                        OwnedSegment::new(if ik { "IK4" } else { "AK4" })
                            .c(position)
                            .e("")
                            .e(&el.code)
                            .opt(el.value.as_deref()),
                    );
                }
            }
            let mut ak5 = OwnedSegment::new(if ik { "IK5" } else { "AK5" }).e(set.status.code());
            for code in set.set_errors.iter().take(5) {
                ak5 = ak5.e(code);
            }
            segments.push(ak5);
        }
        let mut ak9 = OwnedSegment::new("AK9")
            .e(self.status.code())
            .e(self.sets_included.to_string())
            .e(self.sets_received.to_string())
            .e(self.sets_accepted.to_string());
        for code in self.group_errors.iter().take(5) {
            ak9 = ak9.e(code);
        }
        segments.push(ak9);
        SetBody {
            id: self.kind.set_id().to_string(),
            implementation_reference: ik.then(|| "005010X231A1".to_string()),
            segments,
        }
    }

    /// Read a 997 or 999 a partner sent. Each one acknowledges one of our groups.
    pub fn read(set: &TransactionSet<'_>) -> Result<Self, Vec<Diagnostic>> {
        Self::read_one(set).map_err(|d| vec![*d])
    }

    fn read_one(set: &TransactionSet<'_>) -> Result<Self, Box<Diagnostic>> {
        let kind = match set.id() {
            "997" => AckKind::Functional997,
            "999" => AckKind::Implementation999,
            other => {
                return Err(Box::new(
                    Diagnostic::error(
                        super::Problem::SetNotSupported,
                        format!("a {other} is not a functional acknowledgement (997 or 999)"),
                    )
                    .at(&set.segments[0])
                    .element(1),
                ));
            }
        };
        let mut ack: Option<Self> = None;
        let mut saw_ak9 = false;
        let missing = |id: &str| {
            Diagnostic::error(
                super::Problem::MandatorySegmentMissing,
                format!("the {} has no {id} segment", set.id()),
            )
            .at(&set.segments[0])
        };
        for seg in set.body() {
            let bad_code = |pos: usize| {
                Diagnostic::error(
                    super::Problem::InvalidCode,
                    format!(
                        "{}{pos:02} {:?} is not an acknowledgement code (A, E, P, R)",
                        seg.id,
                        seg.element(pos)
                    ),
                )
                .at(seg)
                .element(pos as u16)
                .value(seg.element(pos))
            };
            match seg.id {
                "AK1" => {
                    ack = Some(Self {
                        kind,
                        functional_id: seg.element(1).to_string(),
                        group_control_number: seg.element(2).to_string(),
                        version: Some(seg.element(3))
                            .filter(|v| !v.is_empty())
                            .map(str::to_string),
                        status: AckCode::Accepted,
                        sets_included: 0,
                        sets_received: 0,
                        sets_accepted: 0,
                        group_errors: Vec::new(),
                        sets: Vec::new(),
                    })
                }
                "AK2" => {
                    let ack = ack.as_mut().ok_or_else(|| missing("AK1"))?;
                    ack.sets.push(SetAck {
                        set_id: seg.element(1).to_string(),
                        control_number: seg.element(2).to_string(),
                        implementation_reference: Some(seg.element(3))
                            .filter(|v| !v.is_empty())
                            .map(str::to_string),
                        status: AckCode::Accepted,
                        set_errors: Vec::new(),
                        segment_errors: Vec::new(),
                    });
                }
                "AK3" | "IK3" => {
                    let set_ack = ack
                        .as_mut()
                        .and_then(|a| a.sets.last_mut())
                        .ok_or_else(|| missing("AK2"))?;
                    set_ack.segment_errors.push(SegmentError {
                        segment_id: seg.element(1).to_string(),
                        position: seg.element(2).parse().unwrap_or(0),
                        code: seg.element(4).to_string(),
                        elements: Vec::new(),
                    });
                }
                "AK4" | "IK4" => {
                    let seg_err = ack
                        .as_mut()
                        .and_then(|a| a.sets.last_mut())
                        .and_then(|s| s.segment_errors.last_mut())
                        .ok_or_else(|| missing("AK3"))?;
                    seg_err.elements.push(ElementError {
                        position: seg.component(1, 1).parse().unwrap_or(0),
                        component: seg.component(1, 2).parse().ok(),
                        code: seg.element(3).to_string(),
                        value: Some(seg.element(4))
                            .filter(|v| !v.is_empty())
                            .map(str::to_string),
                    });
                }
                "AK5" | "IK5" => {
                    let set_ack = ack
                        .as_mut()
                        .and_then(|a| a.sets.last_mut())
                        .ok_or_else(|| missing("AK2"))?;
                    set_ack.status =
                        AckCode::from_code(seg.element(1)).ok_or_else(|| bad_code(1))?;
                    set_ack.set_errors = seg
                        .elements()
                        .skip(1)
                        .filter(|c| !c.is_empty())
                        .map(str::to_string)
                        .collect();
                }
                "AK9" => {
                    saw_ak9 = true;
                    let ack = ack.as_mut().ok_or_else(|| missing("AK1"))?;
                    ack.status = AckCode::from_code(seg.element(1)).ok_or_else(|| bad_code(1))?;
                    let count = |pos: usize| {
                        seg.element(pos).parse::<u32>().map_err(|_| {
                            Box::new(
                                Diagnostic::error(
                                    super::Problem::InvalidNumber,
                                    format!(
                                        "AK9{pos:02} must be a count, got {:?}",
                                        seg.element(pos)
                                    ),
                                )
                                .at(seg)
                                .element(pos as u16)
                                .value(seg.element(pos)),
                            )
                        })
                    };
                    ack.sets_included = count(2)?;
                    ack.sets_received = count(3)?;
                    ack.sets_accepted = count(4)?;
                    ack.group_errors = seg
                        .elements()
                        .skip(4)
                        .filter(|c| !c.is_empty())
                        .map(str::to_string)
                        .collect();
                }
                _ => {}
            }
        }
        let ack = ack.ok_or_else(|| missing("AK1"))?;
        if !saw_ak9 {
            return Err(Box::new(missing("AK9")));
        }
        Ok(ack)
    }
}

/// AK404 copies the bad data; it must not carry a separator of ours, so anything that is not a
/// letter, digit, space or common punctuation is left out.
fn clean_copy(value: &str) -> String {
    value
        .chars()
        .filter(|c| {
            c.is_ascii_alphanumeric() || matches!(c, ' ' | '-' | '.' | '/' | '_' | '<' | '>')
        })
        .take(99)
        .collect()
}

fn set_ack<'d>(
    set: &TransactionSet<'_>,
    kind: AckKind,
    found: impl Iterator<Item = &'d Diagnostic>,
) -> SetAck {
    let mut set_errors: Vec<String> = Vec::new();
    let mut segment_errors: Vec<SegmentError> = Vec::new();
    let mut any_error = false;
    let mut any_warning = false;
    for d in found {
        match d.severity {
            Severity::Error => any_error = true,
            Severity::Warning => any_warning = true,
        }
        if let Some(code) = d.problem.set_code()
            && d.is_error()
            && !set_errors.iter().any(|c| c == code)
        {
            set_errors.push(code.to_string());
        }
        let (Some(code), Some(position)) = (d.problem.segment_code(), d.set_position) else {
            continue;
        };
        let index = match segment_errors.iter().position(|s| s.position == position) {
            Some(i) => i,
            None => {
                segment_errors.push(SegmentError {
                    segment_id: d.segment_id.clone(),
                    position,
                    code: code.to_string(),
                    elements: Vec::new(),
                });
                segment_errors.len() - 1
            }
        };
        if let (Some(element), Some(code)) = (d.element, d.problem.element_code()) {
            segment_errors[index].code = "8".into();
            segment_errors[index].elements.push(ElementError {
                position: element,
                component: None,
                code: code.to_string(),
                value: d.value.as_deref().map(clean_copy).filter(|v| !v.is_empty()),
            });
        }
    }
    segment_errors.sort_by_key(|s| s.position);
    SetAck {
        set_id: set.id().to_string(),
        control_number: set.control_number().to_string(),
        implementation_reference: (kind == AckKind::Implementation999)
            .then(|| set.implementation_reference().to_string())
            .filter(|r| !r.is_empty()),
        status: if any_error {
            AckCode::Rejected
        } else if any_warning || !segment_errors.is_empty() {
            AckCode::AcceptedWithErrors
        } else {
            AckCode::Accepted
        },
        set_errors,
        segment_errors,
    }
}
