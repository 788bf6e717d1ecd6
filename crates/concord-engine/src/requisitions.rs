//! The requisition driver: a requisition arrives (canonical API or a purchasing suite's webhook
//! through its mapping), is priced against the active contracts, decided by the Rego policy,
//! and — when it needs approval — walks its approval chain; approval hands it to purchasing.
//!
//! The decision is synchronous and is committed with the workflow state, the event, the
//! escalation timer and the inbox's answer in one transaction: a repeat of the message gets the
//! stored answer, never a second decision.

use chrono::{DateTime, Utc};
use concord_model::{
    FieldError,
    access::{Principal, Scope},
    events, parse_canonical,
    requisition::{
        Decision, FactsError, PlannedStep, PolicyInput, Requisition, RequisitionAnswer, line_facts,
    },
    workflow::requisition::{
        self as wf, ApprovalError, RequisitionAction, RequisitionEvent, RequisitionFlow,
    },
};
use concord_store::{NewException, Timer, Write};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{
    error::{EngineError, Rejection, Result},
    hub::{Hub, event, new_id, timeline},
    inbound::{InboundAnswer, InboundContext},
};

pub const WORKFLOW_KIND: &str = "requisition";
pub(crate) const ESCALATION_TIMER: &str = "requisition_escalation";

/// What is kept per requisition (the `workflows` row of kind `requisition`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequisitionRecord {
    pub requisition: Requisition,
    pub answer: RequisitionAnswer,
    pub flow: RequisitionFlow,
    pub correlation_id: String,
    pub source_system: String,
}

/// An approver's decision on the current step.
#[derive(Debug, Clone)]
pub enum ApprovalInput {
    Approve { comment: Option<String> },
    Reject { reason: String },
}

fn subject(id: &str) -> String {
    format!("requisition:{id}")
}

fn timer_id(id: &str) -> String {
    format!("{ESCALATION_TIMER}:{id}")
}

impl Hub {
    /// Prices the requisition against the active contracts on `date`, runs the policy, and
    /// plans the approval chain (empty unless it needs approval). No I/O: the price index is
    /// in memory.
    fn decide_requisition(
        &self,
        requisition: &Requisition,
        date: chrono::NaiveDate,
    ) -> Result<(RequisitionAnswer, Vec<PlannedStep>)> {
        let facts = line_facts(&self.prices(), requisition, date).map_err(|e| match e {
            FactsError::UnknownFacility(gln) => Rejection::invalid(vec![FieldError::new(
                "facility",
                "unknown_facility",
                format!("facility {gln} is not in the facility master"),
            )]),
        })?;
        let rules = &self.config().procurement.approvals;
        let total = requisition.total();
        let input = PolicyInput {
            requisition,
            lines: &facts,
            total,
            approval_levels: rules
                .levels_for(total)
                .into_iter()
                .map(|l| l.name.clone())
                .collect(),
        };
        let verdict = self
            .inner
            .requisition_policy
            .decide(&input)
            .map_err(|e| EngineError::Policy(e.to_string()))?;
        verdict.check(facts.len()).map_err(|reason| {
            EngineError::Policy(format!(
                "{}: {reason}",
                self.inner.requisition_policy.file()
            ))
        })?;
        let chain = match verdict.decision {
            Decision::NeedsApproval => rules.chain(&requisition.cost_center, total),
            _ => vec![],
        };
        let mut approvers: Vec<String> = vec![];
        for user in chain.iter().flat_map(|s| &s.approvers) {
            if !approvers.contains(user) {
                approvers.push(user.clone());
            }
        }
        let answer = RequisitionAnswer::new(requisition, &facts, &verdict, approvers);
        Ok((answer, chain))
    }

    /// A requisition from the inbound pipeline: decide, start the approval workflow, commit.
    pub(crate) async fn submit_requisition(
        &self,
        canonical: &Value,
        ctx: &InboundContext,
        lineage: Vec<Write>,
    ) -> Result<InboundAnswer> {
        let requisition: Requisition = parse_canonical(canonical).map_err(Rejection::invalid)?;
        let now = Utc::now();
        let _guard = self.lock_workflow(&subject(&requisition.id)).await?;
        let (mut writes, body) = self
            .requisition_writes(requisition, ctx, lineage, now)
            .await?;
        writes.push(ctx.done(201, &body));
        self.commit(writes).await?;
        Ok(InboundAnswer {
            status: 201,
            body,
            replayed: false,
        })
    }

    /// Everything a new requisition commits: its decision, approval chain, audit entry,
    /// lineage, orders when approved at once, and its state; and the answer. The caller commits
    /// (with its own writes: a replenishment commits with the stock change that raised it) and
    /// makes sure nothing else writes this requisition meanwhile: `submit_requisition` holds its
    /// lock; a usage's requisition id is derived from the usage, whose lock the step holds. A
    /// requisition id already used is refused.
    pub(crate) async fn requisition_writes(
        &self,
        requisition: Requisition,
        ctx: &InboundContext,
        mut lineage: Vec<Write>,
        now: chrono::DateTime<Utc>,
    ) -> Result<(Vec<Write>, Value)> {
        let (answer, chain) = self.decide_requisition(&requisition, now.date_naive())?;
        if self
            .store()
            .workflow::<Value>(WORKFLOW_KIND, &requisition.id)
            .await?
            .is_some()
        {
            return Err(Rejection::new(
                409,
                "requisition_exists",
                "This requisition was already submitted",
                format!(
                    "requisition {} exists; see GET /v1/requisitions/{}, or submit under a new id",
                    requisition.id, requisition.id
                ),
            )
            .into());
        }
        let (flow, actions) = wf::apply(
            None,
            RequisitionEvent::Submitted {
                id: requisition.id.clone(),
                requester: requisition.requester.clone(),
                decision: answer.decision,
                chain,
                escalate_after: self.config().procurement.approvals.escalation_delay(),
                at: now,
            },
        )
        .map_err(approval_rejection)?;
        let record = RequisitionRecord {
            requisition,
            answer,
            flow,
            correlation_id: ctx.correlation_id.clone(),
            source_system: ctx.source_system.clone(),
        };
        let id = record.requisition.id.clone();
        let mut writes = vec![Write::Event(event(
            events::REQUISITION_DECIDED,
            subject(&id),
            &ctx.correlation_id,
            now,
            events::RequisitionDecided {
                requisition: record.requisition.clone(),
                answer: record.answer.clone(),
                source_system: ctx.source_system.clone(),
            },
        ))];
        writes.push(crate::governance::audit(
            &ctx.actor,
            "requisition.submitted",
            subject(&id),
            Some(&ctx.correlation_id),
            None,
            Some(crate::governance::digest_of(&record.requisition)),
            json!({"decision": record.answer.decision, "total": record.answer.total.to_string(), "policy": self.inner.requisition_policy.file()}),
        ));
        lineage.push(timeline(
            &ctx.correlation_id,
            now,
            "decided",
            json!({"requisition_id": id, "decision": record.answer.decision, "approvers": record.answer.approvers, "reasons": record.answer.reasons}),
        ));
        writes.append(&mut lineage);
        let body = answer_body(&record);
        if carry_out(&record, actions, now, &mut writes) {
            writes.append(&mut self.place_orders(&record, now).await?);
        }
        writes.push(workflow_write(&record, now));
        writes.push(Write::SearchKeys {
            correlation_id: ctx.correlation_id.clone(),
            subject: subject(&id),
            keys: vec![
                ("requisition", id.clone()),
                ("facility", record.requisition.facility.to_string()),
            ],
            at: now,
        });
        Ok((writes, body))
    }

    /// The requisition, its decision and where its approval stands.
    pub async fn requisition_view(&self, id: &str) -> Result<Option<Value>> {
        let record = self
            .store()
            .workflow::<RequisitionRecord>(WORKFLOW_KIND, id)
            .await?;
        Ok(record.map(|r| {
            let mut view = answer_body(&r);
            view["requisition"] = serde_json::to_value(&r.requisition).unwrap_or_default();
            view["approval"] = json!({
                "steps": r.flow.steps,
                "current_step": r.flow.current().map(|s| s.planned.level.clone()),
                "may_decide_now": r.flow.current().map(|s| s.deciders()),
            });
            view["submitted_at"] = json!(r.flow.submitted_at);
            view["closed_at"] = json!(r.flow.closed_at);
            view
        }))
    }

    /// An approver approves or rejects the current step. Only a principal with the approver
    /// role (or an admin) that names its user may, only an approver of the step, and never the
    /// requester.
    /// A refusal (403) is written to the audit log, like the gate's.
    pub async fn act_on_requisition(
        &self,
        id: &str,
        principal: &Principal,
        input: ApprovalInput,
    ) -> Result<Value> {
        let result = self.decide_step(id, principal, input).await;
        if let Err(EngineError::Rejected(r)) = &result
            && r.status == 403
        {
            self.audit_denied(&principal.actor(), &subject(id), 403, &r.detail)
                .await;
        }
        result
    }

    async fn decide_step(
        &self,
        id: &str,
        principal: &Principal,
        input: ApprovalInput,
    ) -> Result<Value> {
        // The API's gate checks the same scope; callers inside the process get the same rule.
        if !principal.role.has(Scope::RequisitionsApprove) {
            return Err(forbidden(format!(
                "only users with the approver role decide requisitions; this credential is {}",
                principal.role
            )));
        }
        let Some(user) = principal.user.clone() else {
            return Err(forbidden(
                "this credential names no user; approvals are made in a person's name (create the key with a user)".into(),
            ));
        };
        let _guard = self.lock_workflow(&subject(id)).await?;
        let record = self
            .store()
            .workflow::<RequisitionRecord>(WORKFLOW_KIND, id)
            .await?
            .ok_or_else(|| Rejection::not_found(format!("no requisition {id}")))?;
        let now = Utc::now();
        let (action, event) = match input {
            ApprovalInput::Approve { comment } => (
                "requisition.approved_step",
                RequisitionEvent::Approve {
                    user: user.clone(),
                    comment,
                    at: now,
                },
            ),
            ApprovalInput::Reject { reason } => (
                "requisition.rejected",
                RequisitionEvent::Reject {
                    user: user.clone(),
                    reason,
                    at: now,
                },
            ),
        };
        let level = record.flow.current().map(|s| s.planned.level.clone());
        let (flow, actions) =
            wf::apply(Some(record.flow.clone()), event).map_err(approval_rejection)?;
        let mut writes = vec![
            crate::governance::audit(
                &principal.actor(),
                action,
                subject(id),
                Some(&record.correlation_id),
                None,
                None,
                json!({"user": user, "level": level, "stage": flow.stage}),
            ),
            timeline(
                &record.correlation_id,
                now,
                action.trim_start_matches("requisition."),
                json!({"requisition_id": id, "user": user, "level": level, "stage": flow.stage}),
            ),
        ];
        if flow.stage == wf::RequisitionStage::Rejected {
            writes.push(closed_event(
                &record,
                &flow,
                events::REQUISITION_REJECTED,
                now,
            ));
        }
        let record = RequisitionRecord { flow, ..record };
        if carry_out(&record, actions, now, &mut writes) {
            writes.append(&mut self.place_orders(&record, now).await?);
        }
        writes.push(workflow_write(&record, now));
        self.commit(writes).await?;
        Ok(self.requisition_view(id).await?.unwrap_or_default())
    }

    /// Fires one requisition's escalation timer.
    pub(crate) async fn fire_requisition_timer(&self, timer: &Timer) -> Result<()> {
        let id = &timer.subject;
        let _guard = self.lock_workflow(&subject(id)).await?;
        let mut writes = vec![Write::DeleteTimer {
            id: timer.id.clone(),
        }];
        if let Some(record) = self
            .store()
            .workflow::<RequisitionRecord>(WORKFLOW_KIND, id)
            .await?
        {
            let now = Utc::now();
            let (flow, actions) = wf::apply(
                Some(record.flow.clone()),
                RequisitionEvent::EscalationDue { at: now },
            )
            .map_err(approval_rejection)?;
            if !actions.is_empty() {
                writes.push(timeline(
                    &record.correlation_id,
                    now,
                    "escalated",
                    json!({"requisition_id": id, "to": flow.current().map(|s| s.planned.escalate_to.clone())}),
                ));
            }
            let record = RequisitionRecord { flow, ..record };
            // An escalation never approves.
            carry_out(&record, actions, now, &mut writes);
            writes.push(workflow_write(&record, now));
        }
        self.commit(writes).await?;
        Ok(())
    }
}

/// Turns workflow actions into writes; true when the requisition was approved (its purchase
/// orders are placed by the caller, in the same commit).
fn carry_out(
    record: &RequisitionRecord,
    actions: Vec<RequisitionAction>,
    now: DateTime<Utc>,
    writes: &mut Vec<Write>,
) -> bool {
    let id = &record.requisition.id;
    let mut approved = false;
    for action in actions {
        match action {
            RequisitionAction::ScheduleEscalation { due_at } => {
                writes.push(Write::Timer(Timer {
                    id: timer_id(id),
                    due_at,
                    kind: ESCALATION_TIMER.into(),
                    subject: id.clone(),
                    correlation_id: record.correlation_id.clone(),
                }))
            }
            RequisitionAction::CancelEscalation => {
                writes.push(Write::DeleteTimer { id: timer_id(id) })
            }
            RequisitionAction::OpenException { kind, detail } => {
                writes.push(Write::OpenException(NewException {
                    id: new_id("exc"),
                    kind: kind.into(),
                    subject: subject(id),
                    correlation_id: record.correlation_id.clone(),
                    detail: json!({"requisition_id": id, "facility": record.requisition.facility, "cost_center": record.requisition.cost_center, "detail": detail}),
                    at: now,
                    facility: Some(record.requisition.facility.to_string()),
                    supplier: None,
                }))
            }
            RequisitionAction::ResolveException { kind } => {
                writes.push(Write::ResolveExceptions {
                    kind: kind.into(),
                    subject: subject(id),
                    at: now,
                })
            }
            RequisitionAction::CreatePurchaseOrder => {
                approved = true;
                writes.push(closed_event(
                    record,
                    &record.flow,
                    events::REQUISITION_APPROVED,
                    now,
                ));
                writes.push(timeline(
                    &record.correlation_id,
                    now,
                    "approved",
                    json!({"requisition_id": id, "next": "purchase order"}),
                ));
            }
        }
    }
    approved
}

fn closed_event(
    record: &RequisitionRecord,
    flow: &RequisitionFlow,
    event_type: &str,
    now: DateTime<Utc>,
) -> Write {
    Write::Event(event(
        event_type,
        subject(&record.requisition.id),
        &record.correlation_id,
        now,
        events::RequisitionClosed {
            requisition_id: record.requisition.id.clone(),
            decisions: flow
                .steps
                .iter()
                .filter_map(|s| s.decided.clone())
                .collect(),
        },
    ))
}

fn workflow_write(record: &RequisitionRecord, now: DateTime<Utc>) -> Write {
    Write::Workflow {
        kind: WORKFLOW_KIND.into(),
        id: record.requisition.id.clone(),
        state: serde_json::to_value(record).expect("requisition records serialise"),
        at: now,
    }
}

/// The answer to a submission: the decision, plus where it stands and how to follow it.
fn answer_body(record: &RequisitionRecord) -> Value {
    let mut body = serde_json::to_value(&record.answer).expect("answers serialise");
    body["status"] = json!(record.flow.stage.words());
    body["correlation_id"] = json!(record.correlation_id);
    body
}

fn forbidden(detail: String) -> EngineError {
    Rejection::new(
        403,
        "forbidden",
        "Not allowed to decide this requisition",
        detail,
    )
    .into()
}

fn approval_rejection(e: ApprovalError) -> Rejection {
    let (status, kind) = match &e {
        ApprovalError::Requester(_) | ApprovalError::NotAnApprover { .. } => (403, "forbidden"),
        ApprovalError::NotPending(_) | ApprovalError::AlreadySubmitted(_) => {
            (409, "requisition_not_pending")
        }
        ApprovalError::Unknown => (404, "not_found"),
    };
    Rejection::new(
        status,
        kind,
        "The requisition cannot take this decision",
        e.to_string(),
    )
}
