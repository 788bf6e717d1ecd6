//! The supplier onboarding driver: a new supplier (canonical API, or a vendor portal's or
//! purchasing suite's webhook through its mapping) is checked, screened and held or queued for
//! approval; approval stores it in the canonical master and creates it in the ERP; the ERP's
//! vendor number is kept as a crosswalk and the supplier goes on to purchasing and AP.
//!
//! Identifier checks (EIN, NPI Luhn, GLN) are the canonical model's validation: a bad one is a
//! 422 naming the field (and a quarantined message, from a webhook). Screening reads the store
//! (candidates narrowed by index, scored by `concord_model::screening`) and its findings are
//! kept in the workflow state, so the onboarding shows what it was decided on.

use chrono::{DateTime, Utc};
use concord_model::{
    FieldError, Supplier,
    access::Principal,
    events, parse_canonical,
    screening::{self, DUPLICATE_THRESHOLD, DuplicateCandidate, ExclusionHit, SupplierProfile},
    workflow::onboarding::{
        self as wf, OnboardingAction, OnboardingError, OnboardingEvent, OnboardingFlow,
        OnboardingStage,
    },
};
use concord_store::{Crosswalk, DeliveryRecord, NewDelivery, NewException, Write};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{
    error::{EngineError, Rejection, Result},
    hub::{Hub, event, new_id, timeline},
    inbound::{InboundAnswer, InboundContext},
};

pub const WORKFLOW_KIND: &str = "supplier_onboarding";
/// The outbound message type that creates a supplier in a system.
pub const SUPPLIER_MESSAGE: &str = "supplier";
/// How many stored suppliers duplicate detection scores at most.
const CANDIDATES: u32 = 500;

/// What is kept per onboarding (the `workflows` row of kind `supplier_onboarding`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OnboardingRecord {
    pub supplier: Supplier,
    pub flow: OnboardingFlow,
    pub correlation_id: String,
    pub source_system: String,
}

/// A person's decision on an onboarding.
#[derive(Debug, Clone)]
pub enum OnboardingInput {
    Approve,
    Reject { reason: String },
}

pub(crate) fn subject(id: &str) -> String {
    format!("supplier_onboarding:{id}")
}

pub(crate) fn rejection(e: OnboardingError) -> EngineError {
    let (status, code) = match &e {
        OnboardingError::AlreadySubmitted(_) => (409, "onboarding_exists"),
        OnboardingError::Unknown => (404, "not_found"),
        OnboardingError::Stage { .. } | OnboardingError::NoSuchHold(_) => (409, "onboarding_stage"),
        OnboardingError::Submitter(_) => (403, "forbidden"),
    };
    Rejection::new(
        status,
        code,
        "The onboarding cannot take this",
        e.to_string(),
    )
    .into()
}

impl Hub {
    /// Duplicate candidates and exclusion-list hits for a supplier, as of `today`.
    pub async fn screen_supplier(
        &self,
        supplier: &Supplier,
        today: chrono::NaiveDate,
    ) -> Result<(Vec<ExclusionHit>, Vec<DuplicateCandidate>)> {
        let keys = screening::lookup_keys(&supplier.name);
        let npi = supplier.npi.as_ref().map(|n| n.as_str());
        let entries = self.store().exclusion_candidates(npi, &keys).await?;
        let hits = screening::screen(&supplier.name, npi, &entries, today);
        let existing: Vec<SupplierProfile> = self
            .store()
            .supplier_candidates(supplier, CANDIDATES)
            .await?
            .iter()
            .map(profile)
            .collect();
        let duplicates =
            screening::duplicate_candidates(&profile(supplier), &existing, DUPLICATE_THRESHOLD);
        Ok((hits, duplicates))
    }

    /// A new supplier from the inbound pipeline: checked, screened, held or queued for approval.
    pub(crate) async fn submit_onboarding(
        &self,
        canonical: &Value,
        ctx: &InboundContext,
        mut lineage: Vec<Write>,
    ) -> Result<InboundAnswer> {
        let supplier = check_onboarding(canonical).map_err(Rejection::invalid)?;
        let id = supplier.id.clone();
        let now = Utc::now();
        let _guard = self.lock_workflow(&subject(&id)).await?;
        if self
            .store()
            .workflow::<Value>(WORKFLOW_KIND, &id)
            .await?
            .is_some()
        {
            return Err(rejection(OnboardingError::AlreadySubmitted(id)));
        }
        if self.store().supplier(&id).await?.is_some() {
            return Err(Rejection::new(
                409,
                "supplier_exists",
                "This supplier is already in the supplier master",
                format!("supplier {id} exists; submit the new supplier under a new id, or change it with PUT /v1/suppliers/{id}"),
            )
            .into());
        }
        let (hits, duplicates) = self.screen_supplier(&supplier, now.date_naive()).await?;
        let (flow, actions) = wf::apply(
            None,
            OnboardingEvent::Submitted {
                id: id.clone(),
                by: ctx.actor.clone(),
                exclusion_hits: hits,
                duplicates,
                at: now,
            },
        )
        .map_err(rejection)?;
        let record = OnboardingRecord {
            supplier,
            flow,
            correlation_id: ctx.correlation_id.clone(),
            source_system: ctx.source_system.clone(),
        };
        lineage.push(timeline(
            &ctx.correlation_id,
            now,
            "screened",
            json!({"supplier_id": id, "stage": record.flow.stage,
                   "exclusion_hits": record.flow.exclusion_hits.len(),
                   "duplicates": record.flow.duplicates.len()}),
        ));
        let mut writes = lineage;
        writes.push(crate::governance::audit(
            &ctx.actor,
            "supplier.onboarding_submitted",
            subject(&id),
            Some(&ctx.correlation_id),
            None,
            Some(crate::governance::digest_of(&record.supplier)),
            json!({"stage": record.flow.stage, "source": ctx.source_system}),
        ));
        writes.push(Write::SearchKeys {
            correlation_id: ctx.correlation_id.clone(),
            subject: subject(&id),
            keys: vec![("supplier", id.clone())],
            at: now,
        });
        let record = self.onboarding_step(record, actions, "submitted", now, &mut writes)?;
        let body = answer(&record);
        writes.push(ctx.done(201, &body));
        self.commit(writes).await?;
        Ok(InboundAnswer {
            status: 201,
            body,
            replayed: false,
        })
    }

    /// Carries out the workflow's actions and records the state and its event.
    fn onboarding_step(
        &self,
        mut record: OnboardingRecord,
        actions: Vec<OnboardingAction>,
        step: &str,
        now: DateTime<Utc>,
        writes: &mut Vec<Write>,
    ) -> Result<OnboardingRecord> {
        let id = record.supplier.id.clone();
        for action in actions {
            match action {
                OnboardingAction::OpenException { kind, detail } => {
                    writes.push(Write::OpenException(NewException {
                        id: new_id("exc"),
                        kind: kind.into(),
                        subject: subject(&id),
                        correlation_id: record.correlation_id.clone(),
                        detail: json!({"supplier_id": id, "name": record.supplier.name, "detail": detail}),
                        at: now,
                        facility: None,
                        supplier: Some(id.clone()),
                    }))
                }
                OnboardingAction::ResolveException { kind } => {
                    writes.push(Write::ResolveExceptions {
                        kind: kind.into(),
                        subject: subject(&id),
                        at: now,
                    })
                }
                OnboardingAction::CreateInErp => {
                    // The canonical master holds the supplier from approval on; the ERP gets it
                    // first, the other systems once the ERP has answered its vendor number.
                    writes.push(Write::UpsertSupplier(record.supplier.clone(), now));
                    let erp = self.erp_for_suppliers();
                    match erp {
                        Some(target) => writes.push(self.supplier_delivery(&record, &target, None, now)),
                        None => {
                            // No ERP to create it in: it is active as it stands.
                            let (flow, more) = wf::apply(
                                Some(record.flow.clone()),
                                OnboardingEvent::ErpCreated {
                                    vendor_number: id.clone(),
                                    at: now,
                                },
                            )
                            .map_err(rejection)?;
                            record.flow = flow;
                            for a in more {
                                if let OnboardingAction::Propagate { vendor_number } = a {
                                    self.propagate_supplier(&record, &vendor_number, now, writes);
                                }
                            }
                        }
                    }
                }
                OnboardingAction::Propagate { vendor_number } => {
                    if let Some(erp) = self.erp_for_suppliers() {
                        writes.push(Write::Crosswalk(
                            Crosswalk {
                                system: erp,
                                entity_type: "supplier".into(),
                                external_id: vendor_number.clone(),
                                canonical_id: id.clone(),
                            },
                            now,
                        ));
                    }
                    self.propagate_supplier(&record, &vendor_number, now, writes);
                }
            }
        }
        writes.push(Write::Event(event(
            events::SUPPLIER_ONBOARDING_CHANGED,
            subject(&id),
            &record.correlation_id,
            now,
            events::SupplierOnboardingChanged {
                supplier_id: id.clone(),
                stage: record.flow.stage,
                step: step.into(),
                erp_vendor: record.flow.erp_vendor.clone(),
            },
        )));
        writes.push(Write::Workflow {
            kind: WORKFLOW_KIND.into(),
            id: id.clone(),
            state: serde_json::to_value(&record).unwrap_or_default(),
            at: now,
        });
        Ok(record)
    }

    /// The system suppliers are created in first: the one with an outbound `supplier` route
    /// that names where its answer holds the vendor number (`reply_id`).
    fn erp_for_suppliers(&self) -> Option<String> {
        self.config()
            .systems
            .iter()
            .find(|(_, s)| {
                s.outbound
                    .get(SUPPLIER_MESSAGE)
                    .is_some_and(|r| r.reply_id.is_some())
            })
            .map(|(id, _)| id.clone())
    }

    fn supplier_delivery(
        &self,
        record: &OnboardingRecord,
        target: &str,
        erp_vendor: Option<&str>,
        now: DateTime<Utc>,
    ) -> Write {
        let id = &record.supplier.id;
        let required = self
            .config()
            .systems
            .get(target)
            .and_then(|s| s.outbound.get(SUPPLIER_MESSAGE))
            .is_none_or(|r| r.required);
        Write::Delivery(NewDelivery {
            id: new_id("dlv"),
            event_id: format!("supplier:{id}"),
            target: target.to_string(),
            message_type: SUPPLIER_MESSAGE.into(),
            subject: subject(id),
            idempotency_key: format!("{target}:supplier:{id}:created"),
            correlation_id: record.correlation_id.clone(),
            required,
            payload: json!({"supplier": record.supplier, "erp_vendor": erp_vendor, "path_id": id}),
            next_attempt_at: now,
        })
    }

    fn propagate_supplier(
        &self,
        record: &OnboardingRecord,
        vendor_number: &str,
        now: DateTime<Utc>,
        writes: &mut Vec<Write>,
    ) {
        let erp = self.erp_for_suppliers();
        for (target, _) in self.config().subscribers(SUPPLIER_MESSAGE) {
            if Some(&target) != erp.as_ref() {
                writes.push(self.supplier_delivery(record, &target, Some(vendor_number), now));
            }
        }
        writes.push(timeline(
            &record.correlation_id,
            now,
            "propagated",
            json!({"supplier_id": record.supplier.id, "erp_vendor": vendor_number}),
        ));
    }

    /// The onboarding, its findings and where it stands.
    pub async fn onboarding_view(&self, id: &str) -> Result<Option<Value>> {
        let record = self
            .store()
            .workflow::<OnboardingRecord>(WORKFLOW_KIND, id)
            .await?;
        Ok(record.as_ref().map(answer))
    }

    /// Approve or reject, in a person's name (never the submitter's approval).
    pub async fn act_on_onboarding(
        &self,
        id: &str,
        principal: &Principal,
        input: OnboardingInput,
    ) -> Result<Value> {
        let user = person(principal, "onboarding decisions")?;
        let now = Utc::now();
        let (event, action, step) = match input {
            OnboardingInput::Approve => (
                OnboardingEvent::Approve {
                    by: user.clone(),
                    at: now,
                },
                "supplier.onboarding_approved",
                "approved",
            ),
            OnboardingInput::Reject { reason } => (
                OnboardingEvent::Reject {
                    by: user.clone(),
                    reason,
                    at: now,
                },
                "supplier.onboarding_rejected",
                "rejected",
            ),
        };
        self.onboarding_event(id, principal, event, action, step, vec![])
            .await?;
        Ok(self.onboarding_view(id).await?.unwrap_or_default())
    }

    /// One event on a stored onboarding, audited, with `extra` writes in the same commit.
    async fn onboarding_event(
        &self,
        id: &str,
        principal: &Principal,
        event: OnboardingEvent,
        action: &str,
        step: &str,
        extra: Vec<Write>,
    ) -> Result<()> {
        let _guard = self.lock_workflow(&subject(id)).await?;
        let record = self
            .store()
            .workflow::<OnboardingRecord>(WORKFLOW_KIND, id)
            .await?
            .ok_or_else(|| Rejection::not_found(format!("no supplier onboarding {id}")))?;
        let now = Utc::now();
        let detail = match &event {
            OnboardingEvent::Reject { reason, .. } | OnboardingEvent::Clear { reason, .. } => {
                json!({"reason": reason, "user": principal.user})
            }
            _ => json!({"user": principal.user}),
        };
        // The submitter is recorded as the credential that posted it: the same credential may
        // not approve either, whoever it names.
        if matches!(event, OnboardingEvent::Approve { .. }) {
            if principal.actor() == record.flow.submitted_by {
                let refusal = rejection(OnboardingError::Submitter(principal.actor()));
                self.audit_denied(
                    &principal.actor(),
                    &subject(id),
                    403,
                    "the submitter may not approve",
                )
                .await;
                return Err(refusal);
            }
            // Someone may have created the supplier meanwhile (an upsert, an import): approval
            // never overwrites one.
            if self.store().supplier(id).await?.is_some() {
                return Err(Rejection::new(
                    409,
                    "supplier_exists",
                    "This supplier is already in the supplier master",
                    format!("supplier {id} was created after this onboarding was submitted; reject the onboarding, or resolve the duplicate first"),
                )
                .into());
            }
        }
        let (flow, actions) = wf::apply(Some(record.flow.clone()), event).map_err(rejection)?;
        let mut writes = extra;
        writes.push(crate::governance::audit(
            &principal.actor(),
            action,
            subject(id),
            Some(&record.correlation_id),
            None,
            None,
            json!({"stage": flow.stage, "detail": detail}),
        ));
        writes.push(timeline(
            &record.correlation_id,
            now,
            step,
            json!({"supplier_id": id, "stage": flow.stage, "detail": detail}),
        ));
        let record = OnboardingRecord { flow, ..record };
        self.onboarding_step(record, actions, step, now, &mut writes)?;
        self.commit(writes).await?;
        Ok(())
    }

    /// The workbench on an onboarding's exception: `clear` (no reason to stop: a namesake, a
    /// different company) or `reject_supplier`. `writes` are the exception's own resolution
    /// and audit entry, committed with the step.
    pub(crate) async fn resolve_onboarding_exception(
        &self,
        id: &str,
        kind: &str,
        principal: &Principal,
        action: &concord_model::purchasing::WorkbenchAction,
        writes: Vec<Write>,
    ) -> Result<()> {
        use concord_model::purchasing::WorkbenchAction as W;
        let user = person(principal, "clearing a screening finding")?;
        // Clearing or rejecting a new supplier is an onboarding decision: the approver's, and
        // never on one's own submission.
        if !principal
            .role
            .has(concord_model::access::Scope::SuppliersApprove)
        {
            return Err(Rejection::new(
                403,
                "forbidden",
                "Not allowed to decide on a new supplier",
                format!("clearing or rejecting a screening finding needs the scope suppliers:approve; this credential is {}", principal.role),
            )
            .into());
        }
        if let Some(record) = self
            .store()
            .workflow::<OnboardingRecord>(WORKFLOW_KIND, id)
            .await?
            && record.flow.submitted_by == principal.actor()
        {
            return Err(rejection(OnboardingError::Submitter(principal.actor())));
        }
        let now = Utc::now();
        let (event, audit, step) = match action {
            W::Clear { reason } => (
                OnboardingEvent::Clear {
                    kind: kind.into(),
                    by: user,
                    reason: reason.clone(),
                    at: now,
                },
                "supplier.finding_cleared",
                "cleared",
            ),
            W::RejectSupplier { reason } => (
                OnboardingEvent::Reject {
                    by: user,
                    reason: reason.clone(),
                    at: now,
                },
                "supplier.onboarding_rejected",
                "rejected",
            ),
            _ => {
                return Err(Rejection::new(
                    422,
                    "unsupported_action",
                    "This action does not apply to this exception",
                    format!("a {kind} exception takes clear or reject_supplier"),
                )
                .into());
            }
        };
        self.onboarding_event(id, principal, event, audit, step, writes)
            .await
    }

    /// The ERP's answer to a supplier creation, or its dead letter.
    pub(crate) async fn onboarding_delivery_outcome(
        &self,
        d: &DeliveryRecord,
        delivered: bool,
        reply: Option<&Value>,
        error: Option<String>,
        writes: &mut Vec<Write>,
    ) -> Result<()> {
        let Some(id) = d.subject.strip_prefix("supplier_onboarding:") else {
            // A repair re-published the supplier: when the ERP numbered it, keep the number.
            if let Some(id) = d.subject.strip_prefix("supplier:")
                && delivered
                && let (_, Some(vendor)) = self.reply_id(&d.target, SUPPLIER_MESSAGE, reply)
            {
                writes.push(Write::Crosswalk(
                    Crosswalk {
                        system: d.target.clone(),
                        entity_type: "supplier".into(),
                        external_id: vendor,
                        canonical_id: id.to_string(),
                    },
                    Utc::now(),
                ));
            }
            return Ok(());
        };
        if Some(&d.target) != self.erp_for_suppliers().as_ref() {
            if !delivered {
                writes.push(Write::OpenException(NewException {
                    id: new_id("exc"),
                    kind: "supplier_propagation_failed".into(),
                    subject: d.subject.clone(),
                    correlation_id: d.correlation_id.clone(),
                    detail: json!({"supplier_id": id, "target": d.target, "error": error, "delivery": d.id}),
                    at: Utc::now(),
                    facility: None,
                    supplier: Some(id.to_string()),
                }));
            }
            return Ok(());
        }
        let _guard = self.lock_workflow(&d.subject).await?;
        let Some(record) = self
            .store()
            .workflow::<OnboardingRecord>(WORKFLOW_KIND, id)
            .await?
        else {
            return Ok(());
        };
        let now = Utc::now();
        let (pointer, vendor) = self.reply_id(&d.target, SUPPLIER_MESSAGE, reply);
        let (event, step) = match (delivered, vendor) {
            (true, Some(vendor_number)) => (
                OnboardingEvent::ErpCreated {
                    vendor_number,
                    at: now,
                },
                "erp_created",
            ),
            (true, None) => (
                OnboardingEvent::ErpFailed {
                    error: format!(
                        "{} accepted the supplier but its answer holds no vendor number at {pointer}",
                        d.target
                    ),
                    at: now,
                },
                "erp_answer_unreadable",
            ),
            (false, _) => (
                OnboardingEvent::ErpFailed {
                    error: format!(
                        "{}; replay the delivery {} once fixed",
                        error.unwrap_or_default(),
                        d.id
                    ),
                    at: now,
                },
                "erp_failed",
            ),
        };
        let (flow, actions) = wf::apply(Some(record.flow.clone()), event).map_err(rejection)?;
        let record = OnboardingRecord { flow, ..record };
        self.onboarding_step(record, actions, step, now, writes)?;
        Ok(())
    }
}

/// The canonical supplier of an onboarding: the model's checks (EIN, NPI Luhn, GLN, address)
/// plus what onboarding needs on top (an address to screen and pay against, a TIN).
pub fn check_onboarding(canonical: &Value) -> std::result::Result<Supplier, Vec<FieldError>> {
    let supplier: Supplier = parse_canonical(canonical)?;
    let mut errors = vec![];
    if supplier.address.is_none() {
        errors.push(FieldError::new(
            "address",
            "required",
            "a new supplier needs its address (line1, city, state, zip)",
        ));
    }
    if supplier.tin.is_none() {
        errors.push(FieldError::new(
            "tin",
            "required",
            "a new supplier needs its TIN (EIN 12-3456789)",
        ));
    }
    if errors.is_empty() {
        Ok(supplier)
    } else {
        Err(errors)
    }
}

fn profile(s: &Supplier) -> SupplierProfile {
    SupplierProfile {
        id: s.id.clone(),
        name: s.name.clone(),
        tin: s.tin.clone(),
        address: s.address.clone(),
    }
}

/// The person acting: decisions on suppliers are made in a person's name.
pub(crate) fn person(principal: &Principal, what: &str) -> Result<String> {
    principal.user.clone().ok_or_else(|| {
        Rejection::new(
            403,
            "forbidden",
            "A person must make this decision",
            format!("{what} are made in a person's name: use a credential that names a user"),
        )
        .into()
    })
}

fn answer(record: &OnboardingRecord) -> Value {
    let flow = &record.flow;
    let mut supplier = serde_json::to_value(&record.supplier).unwrap_or_default();
    if let Some(p) = &record.supplier.payment {
        supplier["payment"] = p.masked();
    }
    json!({
        "id": record.supplier.id,
        "stage": flow.stage,
        "status": flow.stage.words(),
        "supplier": supplier,
        "findings": {
            "exclusion_hits": flow.exclusion_hits,
            "duplicates": flow.duplicates,
        },
        "holds": flow.holds,
        "submitted_by": flow.submitted_by,
        "submitted_at": flow.submitted_at,
        "approved": flow.approved,
        "rejected": flow.rejected,
        "erp_vendor": flow.erp_vendor,
        "correlation_id": record.correlation_id,
        "source_system": record.source_system,
        "closed_at": flow.closed_at,
        "may_approve": flow.stage == OnboardingStage::PendingApproval,
    })
}
