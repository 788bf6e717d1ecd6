//! A new supplier's way in, as a pure state machine: submitted with the screening's findings →
//! held while a finding is open (an `exclusion_match` or a `duplicate_supplier` exception that a
//! person clears or turns into a rejection) → approved by someone other than the submitter →
//! created in the ERP (its vendor number kept as a crosswalk) → propagated to the other
//! systems → active.
//!
//! The screening itself (identifier checks, duplicates, exclusion lists) happens before: it
//! needs the store, and its findings come in with `Submitted`. Keeping them in the state makes
//! `GET /v1/supplier-onboardings/{id}` show exactly what the decision was made on.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::screening::{DuplicateCandidate, ExclusionHit};

/// The exception a hit on an exclusion list opens.
pub const EXCLUSION_MATCH: &str = "exclusion_match";
/// The exception a likely duplicate opens.
pub const DUPLICATE_SUPPLIER: &str = "duplicate_supplier";
/// The exception a dead-lettered creation in the ERP opens.
pub const SUPPLIER_CREATION_FAILED: &str = "supplier_creation_failed";

/// Where an onboarding stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnboardingStage {
    /// A finding waits for a person.
    OnHold,
    PendingApproval,
    /// Approved; being created in the ERP.
    Approved,
    /// In the ERP and sent on to the other systems.
    Active,
    Rejected,
}

impl OnboardingStage {
    pub fn words(self) -> &'static str {
        match self {
            Self::OnHold => "on hold",
            Self::PendingApproval => "pending approval",
            Self::Approved => "approved, being created in the ERP",
            Self::Active => "active",
            Self::Rejected => "rejected",
        }
    }
}

/// A finding that stops the onboarding until a person decides on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Hold {
    /// [`EXCLUSION_MATCH`] or [`DUPLICATE_SUPPLIER`].
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleared: Option<Decided>,
}

/// Who did something, when, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Decided {
    pub by: String,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The state kept per onboarding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OnboardingFlow {
    pub id: String,
    pub submitted_by: String,
    pub submitted_at: DateTime<Utc>,
    pub stage: OnboardingStage,
    pub exclusion_hits: Vec<ExclusionHit>,
    pub duplicates: Vec<DuplicateCandidate>,
    pub holds: Vec<Hold>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved: Option<Decided>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected: Option<Decided>,
    /// The ERP's vendor number, once created there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erp_vendor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<DateTime<Utc>>,
}

impl OnboardingFlow {
    fn open_holds(&self) -> impl Iterator<Item = &Hold> {
        self.holds.iter().filter(|h| h.cleared.is_none())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum OnboardingEvent {
    Submitted {
        id: String,
        by: String,
        exclusion_hits: Vec<ExclusionHit>,
        duplicates: Vec<DuplicateCandidate>,
        at: DateTime<Utc>,
    },
    /// A person found the finding of `kind` to be no reason to stop (a namesake, a
    /// different branch of the same company).
    Clear {
        kind: String,
        by: String,
        reason: String,
        at: DateTime<Utc>,
    },
    Approve {
        by: String,
        at: DateTime<Utc>,
    },
    Reject {
        by: String,
        reason: String,
        at: DateTime<Utc>,
    },
    /// The ERP acknowledged the creation and answered its vendor number.
    ErpCreated {
        vendor_number: String,
        at: DateTime<Utc>,
    },
    /// The creation dead-lettered.
    ErpFailed {
        error: String,
        at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum OnboardingAction {
    OpenException {
        kind: &'static str,
        detail: serde_json::Value,
    },
    ResolveException {
        kind: &'static str,
    },
    /// Store the supplier in the canonical master and send it to the ERP.
    CreateInErp,
    /// Keep the ERP's vendor number and send the supplier to every other subscribed system.
    Propagate {
        vendor_number: String,
    },
}

/// Why an event was refused; each maps to a 4xx answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OnboardingError {
    #[error("onboarding {0} was already submitted")]
    AlreadySubmitted(String),
    #[error("no onboarding to act on")]
    Unknown,
    #[error("the onboarding is {}, so it cannot be {what}", .stage.words())]
    Stage {
        stage: OnboardingStage,
        what: &'static str,
    },
    #[error("{0} submitted this supplier and may not approve it")]
    Submitter(String),
    #[error("there is no open {0} finding on this onboarding")]
    NoSuchHold(String),
}

fn kind_of(kind: &str) -> Option<&'static str> {
    [EXCLUSION_MATCH, DUPLICATE_SUPPLIER]
        .into_iter()
        .find(|k| *k == kind)
}

/// One step of the workflow.
pub fn apply(
    state: Option<OnboardingFlow>,
    event: OnboardingEvent,
) -> Result<(OnboardingFlow, Vec<OnboardingAction>), OnboardingError> {
    use OnboardingAction as A;
    use OnboardingStage as S;
    match (state, event) {
        (
            None,
            OnboardingEvent::Submitted {
                id,
                by,
                exclusion_hits,
                duplicates,
                at,
            },
        ) => {
            let mut actions = vec![];
            let mut holds = vec![];
            if !exclusion_hits.is_empty() {
                holds.push(Hold {
                    kind: EXCLUSION_MATCH.into(),
                    cleared: None,
                });
                actions.push(A::OpenException {
                    kind: EXCLUSION_MATCH,
                    detail: serde_json::json!({"onboarding": id, "hits": exclusion_hits}),
                });
            }
            if !duplicates.is_empty() {
                holds.push(Hold {
                    kind: DUPLICATE_SUPPLIER.into(),
                    cleared: None,
                });
                actions.push(A::OpenException {
                    kind: DUPLICATE_SUPPLIER,
                    detail: serde_json::json!({"onboarding": id, "candidates": duplicates}),
                });
            }
            let stage = if holds.is_empty() {
                S::PendingApproval
            } else {
                S::OnHold
            };
            let flow = OnboardingFlow {
                id,
                submitted_by: by,
                submitted_at: at,
                stage,
                exclusion_hits,
                duplicates,
                holds,
                approved: None,
                rejected: None,
                erp_vendor: None,
                closed_at: None,
            };
            Ok((flow, actions))
        }
        (Some(flow), OnboardingEvent::Submitted { .. }) => {
            Err(OnboardingError::AlreadySubmitted(flow.id))
        }
        (None, _) => Err(OnboardingError::Unknown),
        (
            Some(mut flow),
            OnboardingEvent::Clear {
                kind,
                by,
                reason,
                at,
            },
        ) => {
            if flow.stage != S::OnHold {
                return Err(OnboardingError::Stage {
                    stage: flow.stage,
                    what: "cleared",
                });
            }
            let known = kind_of(&kind).ok_or_else(|| OnboardingError::NoSuchHold(kind.clone()))?;
            let hold = flow
                .holds
                .iter_mut()
                .find(|h| h.kind == kind && h.cleared.is_none())
                .ok_or(OnboardingError::NoSuchHold(kind))?;
            hold.cleared = Some(Decided {
                by,
                at,
                reason: Some(reason),
            });
            if flow.open_holds().next().is_none() {
                flow.stage = S::PendingApproval;
            }
            Ok((flow, vec![A::ResolveException { kind: known }]))
        }
        (Some(mut flow), OnboardingEvent::Approve { by, at }) => {
            if flow.stage != S::PendingApproval {
                return Err(OnboardingError::Stage {
                    stage: flow.stage,
                    what: "approved",
                });
            }
            if by == flow.submitted_by {
                return Err(OnboardingError::Submitter(by));
            }
            flow.stage = S::Approved;
            flow.approved = Some(Decided {
                by,
                at,
                reason: None,
            });
            Ok((flow, vec![A::CreateInErp]))
        }
        (Some(mut flow), OnboardingEvent::Reject { by, reason, at }) => {
            if !matches!(flow.stage, S::OnHold | S::PendingApproval) {
                return Err(OnboardingError::Stage {
                    stage: flow.stage,
                    what: "rejected",
                });
            }
            let actions = flow
                .open_holds()
                .filter_map(|h| kind_of(&h.kind))
                .map(|kind| A::ResolveException { kind })
                .collect();
            flow.stage = S::Rejected;
            flow.rejected = Some(Decided {
                by,
                at,
                reason: Some(reason),
            });
            flow.closed_at = Some(at);
            Ok((flow, actions))
        }
        (Some(mut flow), OnboardingEvent::ErpCreated { vendor_number, at }) => {
            if flow.stage != S::Approved {
                // A replayed acknowledgement after the fact changes nothing.
                return Ok((flow, vec![]));
            }
            flow.stage = S::Active;
            flow.erp_vendor = Some(vendor_number.clone());
            flow.closed_at = Some(at);
            Ok((
                flow,
                vec![
                    A::ResolveException {
                        kind: SUPPLIER_CREATION_FAILED,
                    },
                    A::Propagate { vendor_number },
                ],
            ))
        }
        (Some(flow), OnboardingEvent::ErpFailed { error, at }) => {
            if flow.stage != S::Approved {
                return Ok((flow, vec![]));
            }
            let detail = serde_json::json!({"onboarding": flow.id, "error": error, "at": at});
            Ok((
                flow,
                vec![A::OpenException {
                    kind: SUPPLIER_CREATION_FAILED,
                    detail,
                }],
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::screening::ExclusionList;
    use chrono::TimeZone;

    fn t(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, h, 0, 0).unwrap()
    }

    fn hit() -> ExclusionHit {
        ExclusionHit {
            list: ExclusionList::Leie,
            key: "h0011223344556677".into(),
            matched_on: "business_name".into(),
            name: "SHADY MEDICAL".into(),
            exclusion_type: Some("1128a1".into()),
            excluded_on: None,
        }
    }

    fn dup() -> DuplicateCandidate {
        DuplicateCandidate {
            supplier_id: "S-1".into(),
            name: "Acme Medical".into(),
            score: 1.0,
            reasons: vec!["same_tin".into()],
        }
    }

    fn submit(
        hits: Vec<ExclusionHit>,
        dups: Vec<DuplicateCandidate>,
    ) -> (OnboardingFlow, Vec<OnboardingAction>) {
        apply(
            None,
            OnboardingEvent::Submitted {
                id: "S-9".into(),
                by: "u-1".into(),
                exclusion_hits: hits,
                duplicates: dups,
                at: t(1),
            },
        )
        .unwrap()
    }

    #[test]
    fn a_clean_supplier_waits_for_approval_then_is_created_and_propagated() {
        let (flow, actions) = submit(vec![], vec![]);
        assert_eq!(flow.stage, OnboardingStage::PendingApproval);
        assert!(actions.is_empty());
        let err = apply(
            Some(flow.clone()),
            OnboardingEvent::Approve {
                by: "u-1".into(),
                at: t(2),
            },
        )
        .unwrap_err();
        assert_eq!(err, OnboardingError::Submitter("u-1".into()));
        let (flow, actions) = apply(
            Some(flow),
            OnboardingEvent::Approve {
                by: "u-2".into(),
                at: t(2),
            },
        )
        .unwrap();
        assert_eq!(flow.stage, OnboardingStage::Approved);
        assert_eq!(actions, vec![OnboardingAction::CreateInErp]);
        let (flow, actions) = apply(
            Some(flow),
            OnboardingEvent::ErpFailed {
                error: "503".into(),
                at: t(3),
            },
        )
        .unwrap();
        assert_eq!(flow.stage, OnboardingStage::Approved);
        assert!(
            matches!(&actions[0], OnboardingAction::OpenException { kind, .. } if *kind == SUPPLIER_CREATION_FAILED)
        );
        let (flow, actions) = apply(
            Some(flow),
            OnboardingEvent::ErpCreated {
                vendor_number: "V-77".into(),
                at: t(4),
            },
        )
        .unwrap();
        assert_eq!(flow.stage, OnboardingStage::Active);
        assert_eq!(flow.erp_vendor.as_deref(), Some("V-77"));
        assert!(actions.contains(&OnboardingAction::Propagate {
            vendor_number: "V-77".into()
        }));
        // A second acknowledgement (a replay) does nothing more.
        let (_, again) = apply(
            Some(flow),
            OnboardingEvent::ErpCreated {
                vendor_number: "V-77".into(),
                at: t(5),
            },
        )
        .unwrap();
        assert!(again.is_empty());
    }

    #[test]
    fn findings_hold_it_until_each_is_cleared() {
        let (flow, actions) = submit(vec![hit()], vec![dup()]);
        assert_eq!(flow.stage, OnboardingStage::OnHold);
        assert_eq!(actions.len(), 2);
        let err = apply(
            Some(flow.clone()),
            OnboardingEvent::Approve {
                by: "u-2".into(),
                at: t(2),
            },
        )
        .unwrap_err();
        assert!(matches!(
            err,
            OnboardingError::Stage {
                stage: OnboardingStage::OnHold,
                ..
            }
        ));
        let clear = |flow, kind: &str| {
            apply(
                Some(flow),
                OnboardingEvent::Clear {
                    kind: kind.into(),
                    by: "u-3".into(),
                    reason: "a namesake in another state".into(),
                    at: t(2),
                },
            )
        };
        let (flow, actions) = clear(flow, EXCLUSION_MATCH).unwrap();
        assert_eq!(
            flow.stage,
            OnboardingStage::OnHold,
            "one finding still open"
        );
        assert_eq!(
            actions,
            vec![OnboardingAction::ResolveException {
                kind: EXCLUSION_MATCH
            }]
        );
        assert_eq!(
            clear(flow.clone(), EXCLUSION_MATCH).unwrap_err(),
            OnboardingError::NoSuchHold(EXCLUSION_MATCH.into())
        );
        let (flow, _) = clear(flow, DUPLICATE_SUPPLIER).unwrap();
        assert_eq!(flow.stage, OnboardingStage::PendingApproval);
    }

    #[test]
    fn a_rejection_closes_it_and_resolves_what_is_open() {
        let (flow, _) = submit(vec![hit()], vec![]);
        let (flow, actions) = apply(
            Some(flow),
            OnboardingEvent::Reject {
                by: "u-3".into(),
                reason: "excluded by OIG".into(),
                at: t(2),
            },
        )
        .unwrap();
        assert_eq!(flow.stage, OnboardingStage::Rejected);
        assert_eq!(
            actions,
            vec![OnboardingAction::ResolveException {
                kind: EXCLUSION_MATCH
            }]
        );
        for event in [
            OnboardingEvent::Approve {
                by: "u-2".into(),
                at: t(3),
            },
            OnboardingEvent::Reject {
                by: "u-2".into(),
                reason: "x".into(),
                at: t(3),
            },
        ] {
            assert!(matches!(
                apply(Some(flow.clone()), event).unwrap_err(),
                OnboardingError::Stage {
                    stage: OnboardingStage::Rejected,
                    ..
                }
            ));
        }
    }

    #[test]
    fn a_second_submission_and_an_unknown_one_are_refused() {
        let (flow, _) = submit(vec![], vec![]);
        let again = OnboardingEvent::Submitted {
            id: "S-9".into(),
            by: "u-1".into(),
            exclusion_hits: vec![],
            duplicates: vec![],
            at: t(2),
        };
        assert_eq!(
            apply(Some(flow), again).unwrap_err(),
            OnboardingError::AlreadySubmitted("S-9".into())
        );
        assert_eq!(
            apply(
                None,
                OnboardingEvent::Approve {
                    by: "u".into(),
                    at: t(1)
                }
            )
            .unwrap_err(),
            OnboardingError::Unknown
        );
    }
}
