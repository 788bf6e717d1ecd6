//! A requisition's approval, as a pure state machine: submitted with the policy's decision and
//! the planned chain → each step approved (or the whole rejected) by one of its approvers, never
//! the requester → approved, which hands over to the purchase order.
//!
//! A step waiting past its due time is escalated once: the escalation approvers join the step
//! (the original approvers keep the right to act) and an `approval_overdue` exception opens,
//! resolved when the step is decided.

use chrono::{DateTime, Duration, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::requisition::{Decision, PlannedStep};

/// The exception a late approval opens.
pub const APPROVAL_OVERDUE: &str = "approval_overdue";

/// Where a requisition stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequisitionStage {
    PendingApproval,
    Approved,
    Rejected,
    /// The policy refused it; nothing more can happen to it.
    Refused,
}

impl RequisitionStage {
    /// The status in the words operations use.
    pub fn words(self) -> &'static str {
        match self {
            Self::PendingApproval => "pending approval",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Refused => "refused by policy",
        }
    }
}

/// One step of the chain as it goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ApprovalStep {
    #[serde(flatten)]
    pub planned: PlannedStep,
    /// When the step is overdue (set when it becomes the current step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<DateTime<Utc>>,
    /// Set when the step was escalated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalated_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided: Option<StepDecision>,
}

/// Who decided a step, when, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StepDecision {
    pub by: String,
    pub at: DateTime<Utc>,
    pub approved: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

impl ApprovalStep {
    /// Who may decide the step now (empty: anyone with the approver role).
    pub fn deciders(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self.planned.approvers.iter().map(String::as_str).collect();
        if self.escalated_at.is_some() {
            out.extend(self.planned.escalate_to.iter().map(String::as_str));
        }
        out
    }
}

/// The state kept per requisition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RequisitionFlow {
    pub id: String,
    pub requester: String,
    pub stage: RequisitionStage,
    pub steps: Vec<ApprovalStep>,
    pub submitted_at: DateTime<Utc>,
    /// How long a step may wait before it is escalated (the SLA it was submitted under).
    pub escalate_after_secs: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<DateTime<Utc>>,
}

impl RequisitionFlow {
    /// The step waiting for a decision, if any.
    pub fn current(&self) -> Option<&ApprovalStep> {
        if self.stage != RequisitionStage::PendingApproval {
            return None;
        }
        self.steps.iter().find(|s| s.decided.is_none())
    }

    fn current_mut(&mut self) -> Option<&mut ApprovalStep> {
        if self.stage != RequisitionStage::PendingApproval {
            return None;
        }
        self.steps.iter_mut().find(|s| s.decided.is_none())
    }
}

/// What happens to a requisition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequisitionEvent {
    /// The policy decided; `chain` is used only when it needs approval.
    Submitted {
        id: String,
        requester: String,
        decision: Decision,
        chain: Vec<PlannedStep>,
        escalate_after: Duration,
        at: DateTime<Utc>,
    },
    Approve {
        user: String,
        comment: Option<String>,
        at: DateTime<Utc>,
    },
    Reject {
        user: String,
        reason: String,
        at: DateTime<Utc>,
    },
    /// The escalation timer of the current step fired.
    EscalationDue { at: DateTime<Utc> },
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequisitionAction {
    /// (Re)arm the one escalation timer of this requisition.
    ScheduleEscalation {
        due_at: DateTime<Utc>,
    },
    CancelEscalation,
    OpenException {
        kind: &'static str,
        detail: serde_json::Value,
    },
    ResolveException {
        kind: &'static str,
    },
    /// Approved: the purchase order's life begins.
    CreatePurchaseOrder,
}

/// Why an event was refused; each maps to a 4xx answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalError {
    #[error("requisition {0} was already submitted")]
    AlreadySubmitted(String),
    #[error("requisition is {}, not pending approval", .0.words())]
    NotPending(RequisitionStage),
    #[error("{0} requested this requisition and may not approve or reject it")]
    Requester(String),
    #[error("{user} is not an approver of the {level} step (approvers: {})", .approvers.join(", "))]
    NotAnApprover {
        user: String,
        level: String,
        approvers: Vec<String>,
    },
    #[error("no requisition to act on")]
    Unknown,
}

/// One step of the workflow.
pub fn apply(
    state: Option<RequisitionFlow>,
    event: RequisitionEvent,
) -> Result<(RequisitionFlow, Vec<RequisitionAction>), ApprovalError> {
    use RequisitionAction as A;
    match (state, event) {
        (
            None,
            RequisitionEvent::Submitted {
                id,
                requester,
                decision,
                chain,
                escalate_after,
                at,
            },
        ) => {
            let (stage, steps) = match decision {
                Decision::Approved => (RequisitionStage::Approved, vec![]),
                Decision::Refused => (RequisitionStage::Refused, vec![]),
                Decision::NeedsApproval => (
                    RequisitionStage::PendingApproval,
                    chain
                        .into_iter()
                        .map(|planned| ApprovalStep {
                            planned,
                            due_at: None,
                            escalated_at: None,
                            decided: None,
                        })
                        .collect(),
                ),
            };
            let mut flow = RequisitionFlow {
                id,
                requester,
                stage,
                steps,
                submitted_at: at,
                escalate_after_secs: escalate_after.num_seconds(),
                closed_at: None,
            };
            let mut actions = vec![];
            match flow.stage {
                RequisitionStage::PendingApproval if flow.steps.is_empty() => {
                    // A policy asking for approval with no chain to give it: approve nothing,
                    // wait for any approver (one open step at the lowest level).
                    flow.steps.push(ApprovalStep {
                        planned: PlannedStep {
                            level: "approver".into(),
                            approvers: vec![],
                            found_at: None,
                            escalate_to: vec![],
                        },
                        due_at: None,
                        escalated_at: None,
                        decided: None,
                    });
                    start_step(&mut flow, escalate_after, at, &mut actions);
                }
                RequisitionStage::PendingApproval => {
                    start_step(&mut flow, escalate_after, at, &mut actions)
                }
                RequisitionStage::Approved => {
                    flow.closed_at = Some(at);
                    actions.push(A::CreatePurchaseOrder);
                }
                _ => flow.closed_at = Some(at),
            }
            Ok((flow, actions))
        }
        (Some(flow), RequisitionEvent::Submitted { .. }) => {
            Err(ApprovalError::AlreadySubmitted(flow.id))
        }
        (None, _) => Err(ApprovalError::Unknown),
        (Some(mut flow), RequisitionEvent::Approve { user, comment, at }) => {
            let escalate_after = Duration::seconds(flow.escalate_after_secs);
            let step = decider_step(&mut flow, &user)?;
            let was_escalated = step.escalated_at.is_some();
            step.decided = Some(StepDecision {
                by: user,
                at,
                approved: true,
                comment,
            });
            let mut actions = vec![A::CancelEscalation];
            if was_escalated {
                actions.push(A::ResolveException {
                    kind: APPROVAL_OVERDUE,
                });
            }
            if flow.current().is_some() {
                start_step(&mut flow, escalate_after, at, &mut actions);
            } else {
                flow.stage = RequisitionStage::Approved;
                flow.closed_at = Some(at);
                actions.push(A::CreatePurchaseOrder);
            }
            Ok((flow, actions))
        }
        (Some(mut flow), RequisitionEvent::Reject { user, reason, at }) => {
            let step = decider_step(&mut flow, &user)?;
            let was_escalated = step.escalated_at.is_some();
            step.decided = Some(StepDecision {
                by: user,
                at,
                approved: false,
                comment: Some(reason),
            });
            flow.stage = RequisitionStage::Rejected;
            flow.closed_at = Some(at);
            let mut actions = vec![A::CancelEscalation];
            if was_escalated {
                actions.push(A::ResolveException {
                    kind: APPROVAL_OVERDUE,
                });
            }
            Ok((flow, actions))
        }
        (Some(mut flow), RequisitionEvent::EscalationDue { at }) => {
            let requester = flow.requester.clone();
            let Some(step) = flow.current_mut() else {
                // Decided meanwhile: the timer is stale.
                return Ok((flow, vec![]));
            };
            if step.escalated_at.is_some() || step.due_at.is_some_and(|due| due > at) {
                return Ok((flow, vec![]));
            }
            step.escalated_at = Some(at);
            let detail = serde_json::json!({
                "level": step.planned.level,
                "approvers": step.planned.approvers,
                "escalated_to": step.planned.escalate_to,
                "due_at": step.due_at,
                "requester": requester,
            });
            Ok((
                flow,
                vec![A::OpenException {
                    kind: APPROVAL_OVERDUE,
                    detail,
                }],
            ))
        }
    }
}

fn start_step(
    flow: &mut RequisitionFlow,
    escalate_after: Duration,
    at: DateTime<Utc>,
    actions: &mut Vec<RequisitionAction>,
) {
    if let Some(step) = flow.current_mut() {
        let due = at + escalate_after;
        step.due_at = Some(due);
        actions.push(RequisitionAction::ScheduleEscalation { due_at: due });
    }
}

/// The current step, if `user` may decide it.
fn decider_step<'a>(
    flow: &'a mut RequisitionFlow,
    user: &str,
) -> Result<&'a mut ApprovalStep, ApprovalError> {
    if flow.stage != RequisitionStage::PendingApproval {
        return Err(ApprovalError::NotPending(flow.stage));
    }
    if flow.requester == user {
        return Err(ApprovalError::Requester(user.to_string()));
    }
    let step = flow
        .current_mut()
        .ok_or(ApprovalError::NotPending(RequisitionStage::PendingApproval))?;
    let deciders = step.deciders();
    if !deciders.is_empty() && !deciders.contains(&user) {
        return Err(ApprovalError::NotAnApprover {
            user: user.to_string(),
            level: step.planned.level.clone(),
            approvers: deciders.into_iter().map(String::from).collect(),
        });
    }
    Ok(step)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(h: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap() + Duration::hours(h)
    }

    fn step(level: &str, approvers: &[&str], escalate_to: &[&str]) -> PlannedStep {
        PlannedStep {
            level: level.into(),
            approvers: approvers.iter().map(|s| s.to_string()).collect(),
            found_at: Some("CC-1".into()),
            escalate_to: escalate_to.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn submitted(
        decision: Decision,
        chain: Vec<PlannedStep>,
    ) -> (RequisitionFlow, Vec<RequisitionAction>) {
        apply(
            None,
            RequisitionEvent::Submitted {
                id: "R-1".into(),
                requester: "u-17".into(),
                decision,
                chain,
                escalate_after: Duration::hours(8),
                at: at(0),
            },
        )
        .unwrap()
    }

    fn approve(
        flow: RequisitionFlow,
        user: &str,
        h: i64,
    ) -> Result<(RequisitionFlow, Vec<RequisitionAction>), ApprovalError> {
        apply(
            Some(flow),
            RequisitionEvent::Approve {
                user: user.into(),
                comment: None,
                at: at(h),
            },
        )
    }

    #[test]
    fn approved_and_refused_requisitions_close_at_once() {
        let (flow, actions) = submitted(Decision::Approved, vec![step("manager", &["u-50"], &[])]);
        assert_eq!(flow.stage, RequisitionStage::Approved);
        assert!(flow.steps.is_empty());
        assert_eq!(actions, [RequisitionAction::CreatePurchaseOrder]);
        let (flow, actions) = submitted(Decision::Refused, vec![]);
        assert_eq!(flow.stage, RequisitionStage::Refused);
        assert!(actions.is_empty());
        assert_eq!(
            approve(flow, "u-50", 1).unwrap_err(),
            ApprovalError::NotPending(RequisitionStage::Refused)
        );
    }

    #[test]
    fn a_two_step_chain_needs_each_approver_in_order_and_never_the_requester() {
        let chain = vec![
            step("manager", &["u-50"], &["u-40"]),
            step("director", &["u-90"], &[]),
        ];
        let (flow, actions) = submitted(Decision::NeedsApproval, chain);
        assert_eq!(flow.stage, RequisitionStage::PendingApproval);
        assert_eq!(
            actions,
            [RequisitionAction::ScheduleEscalation { due_at: at(8) }]
        );
        // The requester may not, the director may not yet.
        assert_eq!(
            approve(flow.clone(), "u-17", 1).unwrap_err(),
            ApprovalError::Requester("u-17".into())
        );
        assert!(matches!(
            approve(flow.clone(), "u-90", 1).unwrap_err(),
            ApprovalError::NotAnApprover { level, .. } if level == "manager"
        ));
        let (flow, actions) = approve(flow, "u-50", 2).unwrap();
        assert_eq!(flow.stage, RequisitionStage::PendingApproval);
        assert_eq!(
            actions,
            [
                RequisitionAction::CancelEscalation,
                RequisitionAction::ScheduleEscalation { due_at: at(10) }
            ]
        );
        assert_eq!(flow.current().unwrap().planned.level, "director");
        let (flow, actions) = approve(flow, "u-90", 3).unwrap();
        assert_eq!(flow.stage, RequisitionStage::Approved);
        assert_eq!(flow.closed_at, Some(at(3)));
        assert_eq!(
            actions,
            [
                RequisitionAction::CancelEscalation,
                RequisitionAction::CreatePurchaseOrder
            ]
        );
        assert!(
            flow.steps
                .iter()
                .all(|s| s.decided.as_ref().unwrap().approved)
        );
    }

    #[test]
    fn a_rejection_ends_the_chain() {
        let chain = vec![
            step("manager", &["u-50"], &[]),
            step("director", &["u-90"], &[]),
        ];
        let (flow, _) = submitted(Decision::NeedsApproval, chain);
        let (flow, actions) = apply(
            Some(flow),
            RequisitionEvent::Reject {
                user: "u-50".into(),
                reason: "not budgeted".into(),
                at: at(1),
            },
        )
        .unwrap();
        assert_eq!(flow.stage, RequisitionStage::Rejected);
        assert_eq!(actions, [RequisitionAction::CancelEscalation]);
        assert_eq!(
            flow.steps[0].decided.as_ref().unwrap().comment.as_deref(),
            Some("not budgeted")
        );
        assert!(flow.steps[1].decided.is_none());
        assert!(matches!(
            approve(flow, "u-90", 2),
            Err(ApprovalError::NotPending(_))
        ));
    }

    #[test]
    fn an_overdue_step_escalates_once_and_the_escalation_approver_may_act() {
        let (flow, _) = submitted(
            Decision::NeedsApproval,
            vec![step("manager", &["u-50"], &["u-40"])],
        );
        // Early timers (a re-armed one firing late) change nothing.
        let (flow, actions) =
            apply(Some(flow), RequisitionEvent::EscalationDue { at: at(7) }).unwrap();
        assert!(actions.is_empty());
        assert!(approve(flow.clone(), "u-40", 7).is_err());
        let (flow, actions) =
            apply(Some(flow), RequisitionEvent::EscalationDue { at: at(8) }).unwrap();
        assert!(matches!(
            actions.as_slice(),
            [RequisitionAction::OpenException {
                kind: APPROVAL_OVERDUE,
                ..
            }]
        ));
        assert_eq!(flow.current().unwrap().deciders(), ["u-50", "u-40"]);
        let (again, actions) = apply(
            Some(flow.clone()),
            RequisitionEvent::EscalationDue { at: at(9) },
        )
        .unwrap();
        assert!(actions.is_empty());
        assert_eq!(again, flow);
        let (flow, actions) = approve(flow, "u-40", 9).unwrap();
        assert_eq!(flow.stage, RequisitionStage::Approved);
        assert_eq!(
            actions,
            [
                RequisitionAction::CancelEscalation,
                RequisitionAction::ResolveException {
                    kind: APPROVAL_OVERDUE
                },
                RequisitionAction::CreatePurchaseOrder
            ]
        );
    }

    #[test]
    fn with_no_configured_approver_any_approver_but_the_requester_may_act() {
        let (flow, _) = submitted(Decision::NeedsApproval, vec![]);
        assert_eq!(flow.steps.len(), 1);
        assert!(approve(flow.clone(), "u-17", 1).is_err());
        let (flow, _) = approve(flow, "u-77", 1).unwrap();
        assert_eq!(flow.stage, RequisitionStage::Approved);
    }

    #[test]
    fn resubmitting_and_acting_on_nothing_are_refused() {
        let (flow, _) = submitted(Decision::Approved, vec![]);
        let again = apply(
            Some(flow),
            RequisitionEvent::Submitted {
                id: "R-1".into(),
                requester: "u-17".into(),
                decision: Decision::Approved,
                chain: vec![],
                escalate_after: Duration::hours(1),
                at: at(1),
            },
        );
        assert_eq!(
            again.unwrap_err(),
            ApprovalError::AlreadySubmitted("R-1".into())
        );
        assert_eq!(
            apply(None, RequisitionEvent::EscalationDue { at: at(1) }).unwrap_err(),
            ApprovalError::Unknown
        );
    }
}
