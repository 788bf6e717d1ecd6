//! A change to how a supplier is paid (method, bank account, remit-to address), as a pure
//! state machine: requested → approved by two different people, neither of them the requester
//! → applied (the canonical supplier changes and the ERP receives it). Until then the old
//! details stay in force; a rejection by any approver ends it.
//!
//! Why so strict: a quietly changed bank account is the classic vendor fraud (a forged letter
//! asks AP to "update our remittance details"). Two people who did not ask for the change
//! must each say yes.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::master::PaymentDetails;
use crate::workflow::onboarding::Decided;

/// How many distinct approvers a change needs.
pub const APPROVALS_NEEDED: usize = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BankChangeStage {
    PendingApproval,
    /// Applied to the canonical supplier and sent to the ERP.
    Approved,
    Rejected,
}

impl BankChangeStage {
    pub fn words(self) -> &'static str {
        match self {
            Self::PendingApproval => "pending approval",
            Self::Approved => "approved and applied",
            Self::Rejected => "rejected",
        }
    }
}

/// The state kept per change request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BankChangeFlow {
    pub id: String,
    pub supplier_id: String,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    pub reason: String,
    /// The details in force when the change was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<PaymentDetails>,
    pub new: PaymentDetails,
    pub stage: BankChangeStage,
    pub approvals: Vec<Decided>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected: Option<Decided>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<DateTime<Utc>>,
}

// The request carries both sets of details; events are short-lived values, not stored.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BankChangeEvent {
    Requested {
        id: String,
        supplier_id: String,
        by: String,
        reason: String,
        old: Option<PaymentDetails>,
        new: PaymentDetails,
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
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BankChangeAction {
    /// Apply `new` to the canonical supplier and send it to the ERP.
    Apply,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BankChangeError {
    #[error("change {0} was already requested")]
    AlreadyRequested(String),
    #[error("no change to act on")]
    Unknown,
    #[error("the change is {}, not pending approval", .0.words())]
    NotPending(BankChangeStage),
    #[error("{0} requested this change and may not approve or reject it")]
    Requester(String),
    #[error("{0} already approved this change; a second approval must come from someone else")]
    SameApprover(String),
    #[error("the new payment details are the ones in force")]
    NoChange,
}

/// One step of the workflow.
pub fn apply(
    state: Option<BankChangeFlow>,
    event: BankChangeEvent,
) -> Result<(BankChangeFlow, Vec<BankChangeAction>), BankChangeError> {
    match (state, event) {
        (
            None,
            BankChangeEvent::Requested {
                id,
                supplier_id,
                by,
                reason,
                old,
                new,
                at,
            },
        ) => {
            if old.as_ref() == Some(&new) {
                return Err(BankChangeError::NoChange);
            }
            let flow = BankChangeFlow {
                id,
                supplier_id,
                requested_by: by,
                requested_at: at,
                reason,
                old,
                new,
                stage: BankChangeStage::PendingApproval,
                approvals: vec![],
                rejected: None,
                closed_at: None,
            };
            Ok((flow, vec![]))
        }
        (Some(flow), BankChangeEvent::Requested { .. }) => {
            Err(BankChangeError::AlreadyRequested(flow.id))
        }
        (None, _) => Err(BankChangeError::Unknown),
        (Some(mut flow), BankChangeEvent::Approve { by, at }) => {
            check_decider(&flow, &by)?;
            if flow.approvals.iter().any(|a| a.by == by) {
                return Err(BankChangeError::SameApprover(by));
            }
            flow.approvals.push(Decided {
                by,
                at,
                reason: None,
            });
            if flow.approvals.len() < APPROVALS_NEEDED {
                return Ok((flow, vec![]));
            }
            flow.stage = BankChangeStage::Approved;
            flow.closed_at = Some(at);
            Ok((flow, vec![BankChangeAction::Apply]))
        }
        (Some(mut flow), BankChangeEvent::Reject { by, reason, at }) => {
            check_decider(&flow, &by)?;
            flow.stage = BankChangeStage::Rejected;
            flow.rejected = Some(Decided {
                by,
                at,
                reason: Some(reason),
            });
            flow.closed_at = Some(at);
            Ok((flow, vec![]))
        }
    }
}

fn check_decider(flow: &BankChangeFlow, by: &str) -> Result<(), BankChangeError> {
    if flow.stage != BankChangeStage::PendingApproval {
        return Err(BankChangeError::NotPending(flow.stage));
    }
    if by == flow.requested_by {
        return Err(BankChangeError::Requester(by.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::master::{BankAccount, PaymentMethod};
    use chrono::TimeZone;

    fn t(m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, 9, m, 0).unwrap()
    }

    fn ach(account: &str) -> PaymentDetails {
        PaymentDetails {
            method: PaymentMethod::Ach,
            bank: Some(BankAccount {
                routing_number: "011000015".into(),
                account_number: account.into(),
            }),
            remit_to: None,
        }
    }

    fn requested() -> BankChangeFlow {
        apply(
            None,
            BankChangeEvent::Requested {
                id: "BC-1".into(),
                supplier_id: "S-1".into(),
                by: "u-clerk".into(),
                reason: "letter from the supplier".into(),
                old: Some(ach("12345678")),
                new: ach("87654321"),
                at: t(0),
            },
        )
        .unwrap()
        .0
    }

    fn approve(
        flow: BankChangeFlow,
        by: &str,
    ) -> Result<(BankChangeFlow, Vec<BankChangeAction>), BankChangeError> {
        apply(
            Some(flow),
            BankChangeEvent::Approve {
                by: by.into(),
                at: t(5),
            },
        )
    }

    #[test]
    fn two_different_approvers_neither_the_requester_apply_it() {
        let flow = requested();
        assert_eq!(
            approve(flow.clone(), "u-clerk").unwrap_err(),
            BankChangeError::Requester("u-clerk".into())
        );
        let (flow, actions) = approve(flow, "u-a").unwrap();
        assert!(actions.is_empty(), "one approval changes nothing yet");
        assert_eq!(flow.stage, BankChangeStage::PendingApproval);
        assert_eq!(
            approve(flow.clone(), "u-a").unwrap_err(),
            BankChangeError::SameApprover("u-a".into())
        );
        let (flow, actions) = approve(flow, "u-b").unwrap();
        assert_eq!(flow.stage, BankChangeStage::Approved);
        assert_eq!(actions, vec![BankChangeAction::Apply]);
        assert_eq!(
            approve(flow, "u-c").unwrap_err(),
            BankChangeError::NotPending(BankChangeStage::Approved)
        );
    }

    #[test]
    fn one_rejection_ends_it_and_the_requester_cannot_reject_either() {
        let flow = requested();
        let reject = |flow, by: &str| {
            apply(
                Some(flow),
                BankChangeEvent::Reject {
                    by: by.into(),
                    reason: "call-back failed".into(),
                    at: t(3),
                },
            )
        };
        assert_eq!(
            reject(flow.clone(), "u-clerk").unwrap_err(),
            BankChangeError::Requester("u-clerk".into())
        );
        let (flow, _) = approve(flow, "u-a").unwrap();
        let (flow, actions) = reject(flow, "u-b").unwrap();
        assert_eq!(flow.stage, BankChangeStage::Rejected);
        assert!(actions.is_empty());
        assert!(approve(flow, "u-c").is_err());
    }

    #[test]
    fn asking_for_the_details_in_force_is_no_change() {
        let err = apply(
            None,
            BankChangeEvent::Requested {
                id: "BC-2".into(),
                supplier_id: "S-1".into(),
                by: "u".into(),
                reason: "r".into(),
                old: Some(ach("1234")),
                new: ach("1234"),
                at: t(0),
            },
        )
        .unwrap_err();
        assert_eq!(err, BankChangeError::NoChange);
    }
}
