//! The bank-detail change driver: a request (`POST /v1/suppliers/{id}/bank-changes`) waits for
//! two approvals by two different people, neither the requester; only then is the canonical
//! supplier changed and the change sent to the ERP. Every step is audited; answers, events and
//! the audit log show the account masked.

use chrono::Utc;
use concord_model::{
    PaymentDetails,
    access::Principal,
    events, parse_canonical,
    workflow::bank_change::{
        self as wf, BankChangeAction, BankChangeError, BankChangeEvent, BankChangeFlow,
    },
};
use concord_store::{NewDelivery, NewException, Write};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{
    error::{EngineError, Rejection, Result},
    hub::{Hub, event, new_id, timeline},
    onboarding::person,
};

pub const WORKFLOW_KIND: &str = "bank_change";
/// The outbound message type that carries approved payment details.
pub const PAYMENT_MESSAGE: &str = "supplier_payment";

/// What is kept per change (the `workflows` row of kind `bank_change`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BankChangeRecord {
    pub flow: BankChangeFlow,
    pub correlation_id: String,
    /// The credential that asked (the requester's person is `flow.requested_by`).
    pub requested_by_actor: String,
}

/// The body of a change request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BankChangeRequest {
    pub payment: PaymentDetails,
    /// Why (the supplier's letter, the call-back made): kept in the audit log.
    pub reason: String,
}

impl concord_model::error::Validate for BankChangeRequest {
    fn validate(&self) -> Vec<concord_model::FieldError> {
        let mut errors = self.payment.validate_at("payment");
        if self.reason.trim().is_empty() {
            errors.push(concord_model::FieldError::new(
                "reason",
                "required",
                "say why the details change",
            ));
        }
        errors
    }
}

/// A decision on a change.
#[derive(Debug, Clone)]
pub enum BankChangeInput {
    Approve,
    Reject { reason: String },
}

fn subject(id: &str) -> String {
    format!("bank_change:{id}")
}

fn rejection(e: BankChangeError) -> EngineError {
    let (status, code) = match &e {
        BankChangeError::Unknown => (404, "not_found"),
        BankChangeError::Requester(_) | BankChangeError::SameApprover(_) => (403, "forbidden"),
        BankChangeError::NoChange => (422, "no_change"),
        BankChangeError::AlreadyRequested(_) | BankChangeError::NotPending(_) => {
            (409, "bank_change_stage")
        }
    };
    Rejection::new(
        status,
        code,
        "The bank-detail change cannot take this",
        e.to_string(),
    )
    .into()
}

impl Hub {
    /// Records a change request; nothing changes for the supplier yet.
    pub async fn request_bank_change(
        &self,
        supplier_id: &str,
        principal: &Principal,
        body: &Value,
    ) -> Result<Value> {
        let user = person(principal, "bank-detail change requests")?;
        let request: BankChangeRequest = parse_canonical(body).map_err(Rejection::invalid)?;
        let supplier = self
            .store()
            .supplier(supplier_id)
            .await?
            .ok_or_else(|| Rejection::not_found(format!("no supplier {supplier_id}")))?;
        let lock = format!("supplier:{supplier_id}:bank");
        let _guard = self.lock_workflow(&lock).await?;
        let changes = self
            .store()
            .workflows_where::<BankChangeRecord>(
                WORKFLOW_KIND,
                &["flow", "supplier_id"],
                supplier_id,
            )
            .await?;
        for (other, r) in changes {
            if r.flow.stage == wf::BankChangeStage::PendingApproval {
                return Err(Rejection::new(
                    409,
                    "bank_change_pending",
                    "A change is already waiting for approval",
                    format!("change {other} for supplier {supplier_id} is pending; approve or reject it first"),
                )
                .into());
            }
        }
        let now = Utc::now();
        let id = new_id("bc");
        let (flow, _) = wf::apply(
            None,
            BankChangeEvent::Requested {
                id: id.clone(),
                supplier_id: supplier_id.to_string(),
                by: user,
                reason: request.reason.clone(),
                old: supplier.payment.clone(),
                new: request.payment.clone(),
                at: now,
            },
        )
        .map_err(rejection)?;
        let record = BankChangeRecord {
            flow,
            correlation_id: new_id("corr"),
            requested_by_actor: principal.actor(),
        };
        let writes = vec![
            crate::governance::audit(
                &principal.actor(),
                "supplier.bank_change_requested",
                format!("supplier:{supplier_id}"),
                Some(&record.correlation_id),
                None,
                None,
                json!({"change_id": id, "reason": request.reason, "new": request.payment.masked(),
                       "old": supplier.payment.as_ref().map(PaymentDetails::masked)}),
            ),
            timeline(
                &record.correlation_id,
                now,
                "bank_change_requested",
                json!({"change_id": id, "supplier_id": supplier_id}),
            ),
            Write::SearchKeys {
                correlation_id: record.correlation_id.clone(),
                subject: subject(&id),
                keys: vec![("supplier", supplier_id.to_string())],
                at: now,
            },
            workflow_write(&record, now),
        ];
        self.commit(writes).await?;
        Ok(view(&record))
    }

    pub async fn bank_change(&self, id: &str) -> Result<Option<BankChangeRecord>> {
        Ok(self
            .store()
            .workflow::<BankChangeRecord>(WORKFLOW_KIND, id)
            .await?)
    }

    pub async fn bank_change_view(&self, id: &str) -> Result<Option<Value>> {
        Ok(self.bank_change(id).await?.as_ref().map(view))
    }

    /// An approval or a rejection, in a person's name. The second approval applies the change:
    /// the supplier's details and the ERP delivery commit with it.
    pub async fn act_on_bank_change(
        &self,
        id: &str,
        principal: &Principal,
        input: BankChangeInput,
    ) -> Result<Value> {
        let result = self.decide_bank_change(id, principal, input).await;
        if let Err(EngineError::Rejected(r)) = &result
            && r.status == 403
        {
            self.audit_denied(&principal.actor(), &subject(id), 403, &r.detail)
                .await;
        }
        result
    }

    async fn decide_bank_change(
        &self,
        id: &str,
        principal: &Principal,
        input: BankChangeInput,
    ) -> Result<Value> {
        let user = person(principal, "bank-detail approvals")?;
        let record = self
            .bank_change(id)
            .await?
            .ok_or_else(|| Rejection::not_found(format!("no bank-detail change {id}")))?;
        let supplier_id = record.flow.supplier_id.clone();
        let _guard = self
            .lock_workflow(&format!("supplier:{supplier_id}:bank"))
            .await?;
        // Read again under the lock: a decision that raced this one is seen here.
        let record = self
            .bank_change(id)
            .await?
            .ok_or_else(|| Rejection::not_found(format!("no bank-detail change {id}")))?;
        // The credential that asked may not decide either, whoever it names.
        if principal.actor() == record.requested_by_actor {
            return Err(rejection(BankChangeError::Requester(principal.actor())));
        }
        let now = Utc::now();
        let (step, action) = match input {
            BankChangeInput::Approve => (
                BankChangeEvent::Approve {
                    by: user.clone(),
                    at: now,
                },
                "supplier.bank_change_approved",
            ),
            BankChangeInput::Reject { reason } => (
                BankChangeEvent::Reject {
                    by: user.clone(),
                    reason,
                    at: now,
                },
                "supplier.bank_change_rejected",
            ),
        };
        let (flow, actions) = wf::apply(Some(record.flow.clone()), step).map_err(rejection)?;
        let record = BankChangeRecord { flow, ..record };
        let mut writes = vec![
            crate::governance::audit(
                &principal.actor(),
                action,
                format!("supplier:{supplier_id}"),
                Some(&record.correlation_id),
                None,
                None,
                json!({"change_id": id, "user": user, "stage": record.flow.stage,
                       "approvals": record.flow.approvals.len()}),
            ),
            timeline(
                &record.correlation_id,
                now,
                action.trim_start_matches("supplier."),
                json!({"change_id": id, "user": user, "stage": record.flow.stage}),
            ),
        ];
        for a in actions {
            match a {
                BankChangeAction::Apply => {
                    writes.push(Write::SetSupplierPayment {
                        supplier_id: supplier_id.clone(),
                        payment: record.flow.new.clone(),
                        at: now,
                    });
                    writes.push(Write::Event(event(
                        events::SUPPLIER_PAYMENT_CHANGED,
                        format!("supplier:{supplier_id}"),
                        &record.correlation_id,
                        now,
                        events::SupplierPaymentChanged {
                            supplier_id: supplier_id.clone(),
                            change_id: id.to_string(),
                            payment: record.flow.new.masked(),
                            approvers: record.flow.approvals.iter().map(|a| a.by.clone()).collect(),
                        },
                    )));
                    for (target, required) in self.config().subscribers(PAYMENT_MESSAGE) {
                        let path_id = self
                            .store()
                            .crosswalk_to_external(&target, "supplier", &supplier_id)
                            .await?
                            .unwrap_or_else(|| supplier_id.clone());
                        writes.push(Write::Delivery(NewDelivery {
                            id: new_id("dlv"),
                            event_id: format!("bank_change:{id}"),
                            target: target.clone(),
                            message_type: PAYMENT_MESSAGE.into(),
                            subject: format!("supplier:{supplier_id}"),
                            idempotency_key: format!("{target}:bank_change:{id}"),
                            correlation_id: record.correlation_id.clone(),
                            required,
                            payload: json!({"supplier_id": supplier_id, "change_id": id,
                                "payment": record.flow.new, "path_id": path_id}),
                            next_attempt_at: now,
                        }));
                    }
                }
            }
        }
        writes.push(workflow_write(&record, now));
        self.commit(writes).await?;
        Ok(view(&record))
    }

    /// A payment-detail delivery that dead-lettered opens an exception for the supplier.
    pub(crate) fn bank_change_delivery_failed(
        &self,
        d: &concord_store::DeliveryRecord,
        error: Option<String>,
    ) -> Write {
        let supplier = d.payload["supplier_id"].as_str().map(str::to_string);
        let change = d.payload["change_id"].as_str().unwrap_or_default();
        Write::OpenException(NewException {
            id: new_id("exc"),
            kind: "supplier_payment_failed".into(),
            subject: subject(change),
            correlation_id: d.correlation_id.clone(),
            detail: json!({"target": d.target, "error": error, "delivery": d.id,
                "change_id": d.payload["change_id"]}),
            at: Utc::now(),
            facility: None,
            supplier,
        })
    }
}

impl Hub {
    /// A payment-detail delivery may be replayed only while its change is the latest applied
    /// for the supplier: replaying an older one would put superseded details back in the ERP
    /// without approvals.
    pub(crate) async fn check_payment_replay(
        &self,
        d: &concord_store::DeliveryRecord,
    ) -> Result<()> {
        let Some(supplier) = d.payload["supplier_id"].as_str() else {
            return Ok(());
        };
        let mut latest: Option<(chrono::DateTime<Utc>, String)> = None;
        for (id, r) in self
            .store()
            .workflows_where::<BankChangeRecord>(WORKFLOW_KIND, &["flow", "supplier_id"], supplier)
            .await?
        {
            if r.flow.stage == wf::BankChangeStage::Approved
                && let Some(at) = r.flow.closed_at
                && latest.as_ref().is_none_or(|(t, _)| at > *t)
            {
                latest = Some((at, id));
            }
        }
        match latest {
            Some((_, id)) if d.payload["change_id"].as_str() != Some(id.as_str()) => Err(Rejection::new(
                409,
                "superseded_payment_details",
                "These payment details were superseded",
                format!("delivery {} carries change {}, but change {id} is the latest approved for supplier {supplier}; replaying it would put old details back", d.id, d.payload["change_id"].as_str().unwrap_or("?")),
            )
            .into()),
            _ => Ok(()),
        }
    }
}

fn workflow_write(record: &BankChangeRecord, at: chrono::DateTime<Utc>) -> Write {
    Write::Workflow {
        kind: WORKFLOW_KIND.into(),
        id: record.flow.id.clone(),
        state: serde_json::to_value(record).unwrap_or_default(),
        at,
    }
}

/// The change as answered: account numbers masked.
fn view(record: &BankChangeRecord) -> Value {
    let f = &record.flow;
    json!({
        "id": f.id,
        "supplier_id": f.supplier_id,
        "stage": f.stage,
        "status": f.stage.words(),
        "requested_by": f.requested_by,
        "requested_at": f.requested_at,
        "reason": f.reason,
        "old": f.old.as_ref().map(PaymentDetails::masked),
        "new": f.new.masked(),
        "approvals": f.approvals,
        "approvals_needed": wf::APPROVALS_NEEDED,
        "rejected": f.rejected,
        "closed_at": f.closed_at,
        "correlation_id": record.correlation_id,
    })
}
