//! The PO driver: carries each purchase order through its life by feeding the pure workflow
//! (`concord_model::workflow::purchase_order`) its events and turning its actions into writes.
//!
//! - An approved requisition becomes one PO per supplier ([`Hub::place_orders`]), created in the
//!   ERP through its `purchase_order` outbound route; the ERP's answer gives its PO number
//!   (kept in the record and in crosswalks).
//! - The 850 goes to the supplier's trading partner with fresh control numbers (the group
//!   control number is remembered, so the partner's 997/999 finds its PO); a timer waits for
//!   the acknowledgement.
//! - The supplier's 855, 856 and 810 arrive as X12 (`x12_inbound`), the warehouse's receipts
//!   as JSON; each is one workflow event. An invoice is matched three ways here, against the
//!   receipts so far, and the outcome is the event.
//! - Payment release, supplier changes and exceptions are carried out; the workbench resolves
//!   exceptions ([`Hub::resolve_exception`]) and that resumes the workflow.
//!
//! Every step commits the workflow state, its `purchase_order.changed` event, its outbox rows,
//! exceptions and lineage in one transaction, under the PO's workflow lock.

pub mod edi;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use chrono::{DateTime, Utc};
use concord_model::{
    access::Principal,
    events,
    matching::{EarlierInvoice, InvoiceToMatch, ReceivedLine, three_way_match},
    purchasing::{GoodsReceipt, WorkbenchAction, plan_orders},
    workflow::purchase_order::{
        self as wf, InvoiceState, PoAction, PoError, PoEvent, PurchaseOrderFlow, Resolution,
    },
};
use concord_store::{Crosswalk, NewDelivery, NewException, Timer, Write};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{
    error::{EngineError, Rejection, Result},
    hub::{Hub, event, new_id, timeline},
    inbound::{InboundAnswer, InboundContext},
    requisitions::RequisitionRecord,
};

pub const WORKFLOW_KIND: &str = "purchase_order";
pub(crate) const ACK_TIMER: &str = "po_ack_check";
/// The crosswalk entity under which a partner's group control number (GS06) of an 850 points
/// at its PO, for the 997/999 that comes back.
pub(crate) const X12_GROUP: &str = "x12_group";

/// Everything kept per PO (the `workflows` row of kind `purchase_order`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PurchaseOrderRecord {
    pub flow: PurchaseOrderFlow,
    /// Ship-to (GLN) and whose budget.
    pub facility: String,
    pub cost_center: String,
    pub requester: String,
    /// The trading partner the 850 went to.
    pub partner: Option<String>,
    pub correlation_id: String,
    pub created_at: DateTime<Utc>,
    /// Every receipt so far (the three-way match reads them).
    pub receipts: Vec<ReceivedLine>,
    /// Receipt numbers already counted: a receipt posted twice counts once.
    pub receipt_ids: BTreeSet<String>,
    /// Each invoice as received, by number (kept so it can be matched again).
    pub invoices: BTreeMap<String, InvoiceToMatch>,
    /// The lineage of every document: what went out and came in, when, under which number.
    pub documents: Vec<PoDocument>,
}

/// One document in a PO's life.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PoDocument {
    /// `erp_purchase_order`, `850`, `997`, `855`, `856`, `goods_receipt`, `810`,
    /// `erp_change`, `payment_release`.
    pub document: String,
    /// `out` (to a system or partner) or `in`.
    pub direction: String,
    /// The document's own number: an interchange control number, a receipt or invoice number.
    pub reference: String,
    pub at: DateTime<Utc>,
    /// The system or partner on the other side.
    pub counterpart: String,
}

/// A PO's subject: its events', exceptions' and workflow lock's key.
pub(crate) fn subject(po: &str) -> String {
    format!("purchase_order:{po}")
}

pub(crate) fn timer_id(po: &str) -> String {
    format!("{ACK_TIMER}:{po}")
}

impl PurchaseOrderRecord {
    fn document(&mut self, document: &str, direction: &str, reference: &str, counterpart: &str) {
        self.documents.push(PoDocument {
            document: document.into(),
            direction: direction.into(),
            reference: reference.into(),
            at: Utc::now(),
            counterpart: counterpart.into(),
        });
    }

    fn applied(&self, document: &str, reference: &str) -> bool {
        self.documents
            .iter()
            .any(|d| d.direction == "in" && d.document == document && d.reference == reference)
    }

    /// The earlier invoices of this PO, as the match reads them (without `except`).
    fn earlier_invoices(&self, except: Option<&str>) -> Vec<EarlierInvoice> {
        self.invoices
            .values()
            .filter(|i| Some(i.invoice_number.as_str()) != except)
            .map(|i| EarlierInvoice {
                invoice_number: i.invoice_number.clone(),
                billed: i
                    .lines
                    .iter()
                    .filter_map(|l| l.po_line.clone().map(|p| (p, l.quantity)))
                    .collect(),
            })
            .collect()
    }
}

/// A workflow error on an inbound document or a workbench action: the caller's problem.
fn po_rejection(e: PoError) -> Rejection {
    let status = match e {
        PoError::NotStarted(_) | PoError::UnknownInvoice(_) => 404,
        PoError::OutOfOrder { .. } => 409,
        PoError::UnknownLine(_) => 422,
    };
    Rejection::new(
        status,
        "purchase_order",
        "The purchase order cannot take this",
        e.to_string(),
    )
}

impl Hub {
    /// Reads a PO by the hub's number, or by the ERP's through the crosswalk.
    pub async fn purchase_order(&self, number: &str) -> Result<Option<PurchaseOrderRecord>> {
        let store = self.store();
        if let Some(record) = store.workflow(WORKFLOW_KIND, number).await? {
            return Ok(Some(record));
        }
        if let Some((erp, _)) = self.config().outbound_system("purchase_order")
            && let Some(ours) = store
                .crosswalk_to_canonical(erp, "purchase_order", number)
                .await?
        {
            return Ok(store.workflow(WORKFLOW_KIND, &ours).await?);
        }
        Ok(None)
    }

    /// The POs of an approved requisition: one per supplier, each created (workflow state,
    /// event, and the ERP delivery) in the writes returned, which commit with the approval.
    pub(crate) async fn place_orders(
        &self,
        req: &RequisitionRecord,
        now: DateTime<Utc>,
    ) -> Result<Vec<Write>> {
        let (orders, unplaced) = {
            let prices = self.prices();
            plan_orders(&req.requisition, &req.answer, &prices)
        };
        let mut writes = Vec::new();
        for line in unplaced {
            writes.push(Write::OpenException(NewException {
                id: new_id("exc"),
                kind: "no_supplier".into(),
                subject: format!("requisition:{}:{line}", req.requisition.id),
                correlation_id: req.correlation_id.clone(),
                detail: json!({"requisition_id": req.requisition.id, "line": line,
                    "detail": "no contract prices this line and the item master names no supplier; it was not ordered"}),
                at: now,
                facility: Some(req.requisition.facility.to_string()),
                supplier: None,
            }));
        }
        for order in orders {
            let (flow, actions) = wf::apply(
                None,
                PoEvent::Created {
                    po_number: order.po_number.clone(),
                    requisition: req.requisition.id.clone(),
                    supplier: order.supplier.clone(),
                    lines: order.lines,
                },
            )
            .map_err(po_rejection)?;
            let mut record = PurchaseOrderRecord {
                flow,
                facility: req.requisition.facility.to_string(),
                cost_center: req.requisition.cost_center.clone(),
                requester: req.requisition.requester.clone(),
                partner: None,
                correlation_id: req.correlation_id.clone(),
                created_at: now,
                receipts: Vec::new(),
                receipt_ids: BTreeSet::new(),
                invoices: BTreeMap::new(),
                documents: Vec::new(),
            };
            writes.push(Write::Crosswalk(
                Crosswalk {
                    system: "concord".into(),
                    entity_type: "requisition_po".into(),
                    external_id: order.po_number.clone(),
                    canonical_id: req.requisition.id.clone(),
                },
                now,
            ));
            writes.push(Write::SearchKeys {
                correlation_id: req.correlation_id.clone(),
                subject: subject(&order.po_number),
                keys: vec![
                    ("purchase_order", order.po_number.clone()),
                    ("supplier", order.supplier.clone()),
                    ("facility", record.facility.clone()),
                ],
                at: now,
            });
            let mut step = self.carry_out_po(&mut record, actions, now).await?;
            writes.append(&mut step);
            writes.extend(finish_step(&record, "created", now));
        }
        Ok(writes)
    }

    /// Applies `event` to the PO and carries out what follows (a rematch feeds the workflow
    /// again); the writes include the new state, the event and the lineage entry.
    pub(crate) async fn po_step(
        &self,
        record: &mut PurchaseOrderRecord,
        event: PoEvent,
        step: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Write>> {
        let mut writes = Vec::new();
        let mut queue = VecDeque::from([event]);
        while let Some(event) = queue.pop_front() {
            let (flow, actions) =
                wf::apply(Some(record.flow.clone()), event).map_err(po_rejection)?;
            record.flow = flow;
            let mut rest = Vec::new();
            for action in actions {
                match action {
                    PoAction::Rematch { invoice } => {
                        if let Some(inv) = record.invoices.get(&invoice) {
                            let outcome = self.match_invoice(record, inv, Some(&invoice));
                            queue.push_back(PoEvent::Invoiced { invoice, outcome });
                        }
                    }
                    other => rest.push(other),
                }
            }
            writes.append(&mut self.carry_out_po(record, rest, now).await?);
        }
        writes.extend(finish_step(record, step, now));
        Ok(writes)
    }

    /// Three-way match of `invoice` against this PO's lines, receipts and other invoices, with
    /// the supplier's tolerances.
    fn match_invoice(
        &self,
        record: &PurchaseOrderRecord,
        invoice: &InvoiceToMatch,
        rematch_of: Option<&str>,
    ) -> concord_model::matching::MatchOutcome {
        let config = self.config();
        let tolerances = config
            .partner_for(&record.flow.supplier)
            .map(|(_, p)| p.tolerances(&config.procurement))
            .unwrap_or(&config.procurement.tolerances);
        three_way_match(
            Some(&record.flow.lines),
            &record.receipts,
            invoice,
            &record.earlier_invoices(rematch_of),
            tolerances,
        )
    }

    /// Turns workflow actions into writes (and, for the 850, control numbers).
    async fn carry_out_po(
        &self,
        record: &mut PurchaseOrderRecord,
        actions: Vec<PoAction>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Write>> {
        let mut writes = Vec::new();
        let po = record.flow.po_number.clone();
        for action in actions {
            match action {
                PoAction::CreateInErp => {
                    let Some((erp, _)) = self.config().outbound_system("purchase_order") else {
                        writes.push(self.po_exception(record, "erp_not_configured",
                            "no system has an outbound purchase_order route; the PO cannot be created in the ERP".into(), now));
                        continue;
                    };
                    let erp = erp.to_string();
                    writes.push(self.po_delivery(
                        record,
                        &erp,
                        "purchase_order",
                        format!("concord-{erp}-po-{po}-create"),
                        json!({}),
                        now,
                    ));
                    record.document("erp_purchase_order", "out", &po, &erp);
                }
                PoAction::Send850 => writes.append(&mut self.send_850(record, now).await?),
                PoAction::ScheduleAckCheck { due } => writes.push(Write::Timer(Timer {
                    id: timer_id(&po),
                    due_at: due,
                    kind: ACK_TIMER.into(),
                    subject: po.clone(),
                    correlation_id: record.correlation_id.clone(),
                })),
                PoAction::UpdateErp { changes } => {
                    let Some((erp, _)) = self.config().outbound_system("purchase_order_change")
                    else {
                        writes.push(timeline(&record.correlation_id, now, "erp_change_not_sent",
                            json!({"po_number": po, "reason": "no system has an outbound purchase_order_change route"})));
                        continue;
                    };
                    let erp = erp.to_string();
                    let n = record.documents.len();
                    let changes: Vec<Value> = changes
                        .iter()
                        .map(|(line, response)| {
                            let mut v = serde_json::to_value(response).unwrap_or_default();
                            v["line"] = json!(line);
                            v
                        })
                        .collect();
                    writes.push(self.po_delivery(
                        record,
                        &erp,
                        "purchase_order_change",
                        format!("concord-{erp}-po-{po}-change-{n}"),
                        json!({"changes": changes}),
                        now,
                    ));
                    record.document("erp_change", "out", &format!("{po}#{n}"), &erp);
                }
                PoAction::OpenException { kind, detail } => {
                    writes.push(self.po_exception(record, &kind, detail, now))
                }
                PoAction::ResolveException { kind } => writes.push(Write::ResolveExceptions {
                    kind,
                    subject: subject(&po),
                    at: now,
                }),
                PoAction::ReleasePayment { invoice, amount } => {
                    let Some((erp, _)) = self.config().outbound_system("payment_release") else {
                        writes.push(self.po_exception(record, "erp_not_configured",
                            format!("invoice {invoice} matched, but no system has an outbound payment_release route"), now));
                        continue;
                    };
                    let erp = erp.to_string();
                    writes.push(self.po_delivery(
                        record,
                        &erp,
                        "payment_release",
                        format!("concord-{erp}-po-{po}-pay-{invoice}"),
                        json!({"invoice": {"number": invoice, "amount": amount.to_string()}}),
                        now,
                    ));
                    record.document("payment_release", "out", &invoice, &erp);
                }
                PoAction::RequestCreditMemo { invoice } => writes.push(timeline(
                    &record.correlation_id,
                    now,
                    "credit_memo_requested",
                    json!({"po_number": po, "invoice": invoice}),
                )),
                PoAction::RejectInvoice { invoice, reason } => writes.push(timeline(
                    &record.correlation_id,
                    now,
                    "invoice_rejected",
                    json!({"po_number": po, "invoice": invoice, "reason": reason}),
                )),
                PoAction::Rematch { invoice } => {
                    // `po_step` handles rematches; one arriving here has nothing to match yet.
                    tracing::debug!(po = %po, invoice = %invoice, "rematch outside a step");
                }
            }
        }
        Ok(writes)
    }

    /// An outbox row for the PO to a system: the payload holds the PO as the outbound mapping
    /// sees it, plus `extra` (changes, the invoice released).
    fn po_delivery(
        &self,
        record: &PurchaseOrderRecord,
        target: &str,
        message_type: &str,
        idempotency_key: String,
        extra: Value,
        now: DateTime<Utc>,
    ) -> Write {
        let flow = &record.flow;
        let mut payload = json!({
            "purchase_order": {
                "po_number": flow.po_number,
                "erp_po": flow.erp_po,
                "requisition_id": flow.requisition,
                "supplier_id": flow.supplier,
                "facility": record.facility,
                "cost_center": record.cost_center,
                "requester": record.requester,
                "lines": flow.lines,
            },
            "supplier_id": flow.supplier,
            "path_id": flow.erp_po.clone().unwrap_or_else(|| flow.po_number.clone()),
        });
        if let (Some(p), Value::Object(extra)) = (payload.as_object_mut(), extra) {
            p.extend(extra);
        }
        Write::Delivery(NewDelivery {
            id: new_id("dlv"),
            event_id: format!("po:{}", flow.po_number),
            target: target.to_string(),
            message_type: message_type.to_string(),
            subject: subject(&flow.po_number),
            idempotency_key,
            correlation_id: record.correlation_id.clone(),
            required: true,
            payload,
            next_attempt_at: now,
        })
    }

    fn po_exception(
        &self,
        record: &PurchaseOrderRecord,
        kind: &str,
        detail: String,
        now: DateTime<Utc>,
    ) -> Write {
        // An invoice exception names its invoice, so the workbench can act on it.
        let invoice = record
            .flow
            .invoices
            .iter()
            .find_map(|(number, state)| match state {
                InvoiceState::Blocked { exceptions, .. }
                    if exceptions.iter().any(|k| wf::invoice_exception(*k) == kind) =>
                {
                    Some(number.clone())
                }
                _ => None,
            });
        Write::OpenException(NewException {
            id: new_id("exc"),
            kind: kind.to_string(),
            subject: subject(&record.flow.po_number),
            correlation_id: record.correlation_id.clone(),
            detail: json!({"po_number": record.flow.po_number, "erp_po": record.flow.erp_po,
                "invoice": invoice, "detail": detail}),
            at: now,
            facility: Some(record.facility.clone()),
            supplier: Some(record.flow.supplier.clone()),
        })
    }

    /// Writes the 850 for the supplier's trading partner and queues it; the group control
    /// number is remembered so the partner's 997/999 finds this PO.
    async fn send_850(
        &self,
        record: &mut PurchaseOrderRecord,
        now: DateTime<Utc>,
    ) -> Result<Vec<Write>> {
        let po = record.flow.po_number.clone();
        let Some((partner_name, _)) = self.config().partner_for(&record.flow.supplier) else {
            return Ok(vec![self.po_exception(
                record,
                "no_edi_partner",
                format!(
                    "supplier {} has no trading partner in config ([partners.*] supplier = ...); the PO is in the ERP but no 850 was sent",
                    record.flow.supplier
                ),
                now,
            )]);
        };
        let facility_name = self
            .prices()
            .facility(&record.facility.parse().map_err(|e| {
                EngineError::Config(format!("PO {po}: facility {}: {e}", record.facility))
            })?)
            .map(|f| f.name.clone())
            .unwrap_or_default();
        let set = edi::purchase_order_850(
            &record.flow,
            &record.facility,
            &facility_name,
            now.date_naive(),
        )
        .to_set();
        let route = crate::x12_outbound::Route {
            event_id: format!("po:{po}"),
            subject: subject(&po),
            correlation_id: &record.correlation_id,
            payload: json!({"po_number": po}),
        };
        let (delivery, controls) = match self
            .queue_interchange(partner_name, "PO", set, route, now)
            .await?
        {
            Ok(queued) => queued,
            Err(e) => {
                return Ok(vec![self.po_exception(
                    record,
                    "edi_write_failed",
                    format!("the 850 for {po} cannot be written: {e}"),
                    now,
                )]);
            }
        };
        record.partner = Some(partner_name.to_string());
        record.document(
            "850",
            "out",
            &format!("{:09}", controls.interchange),
            partner_name,
        );
        Ok(vec![
            Write::Crosswalk(
                Crosswalk {
                    system: partner_name.to_string(),
                    entity_type: X12_GROUP.into(),
                    external_id: controls.group.to_string(),
                    canonical_id: po.clone(),
                },
                now,
            ),
            delivery,
        ])
    }

    /// A PO delivery reached its final outcome: the ERP's PO number, the 850 transmitted, the
    /// payment released — or an exception when it dead-lettered (settled when a replay of it
    /// gets through). Runs under the PO's lock; the writes commit with the delivery's result.
    pub(crate) async fn po_delivery_outcome(
        &self,
        po: &str,
        d: &concord_store::DeliveryRecord,
        delivered: bool,
        reply: Option<&Value>,
        error: Option<String>,
    ) -> Result<Vec<Write>> {
        let Some(mut record) = self
            .store()
            .workflow::<PurchaseOrderRecord>(WORKFLOW_KIND, po)
            .await?
        else {
            return Ok(vec![]);
        };
        let now = Utc::now();
        let failed = failure_kind(&d.message_type);
        if !delivered {
            let detail = format!(
                "{} to {} dead-lettered: {}; replay the delivery {} once fixed",
                d.message_type,
                d.target,
                error.unwrap_or_default(),
                d.id
            );
            let mut exception = self.po_exception(&record, failed, detail, now);
            // The workbench's `retry` replays this very delivery.
            if let Write::OpenException(e) = &mut exception {
                e.detail["delivery"] = json!(d.id);
            }
            let mut writes = vec![exception];
            writes.extend(finish_step(&record, "delivery_failed", now));
            return Ok(writes);
        }
        let mut writes = vec![Write::ResolveExceptions {
            kind: failed.into(),
            subject: subject(po),
            at: now,
        }];
        let (event, step) = match d.message_type.as_str() {
            "purchase_order" => {
                let (pointer, erp_po) = self.reply_id(&d.target, "purchase_order", reply);
                let Some(erp_po) = erp_po else {
                    let detail = format!(
                        "{} accepted the PO but its answer holds no PO number at {pointer}",
                        d.target
                    );
                    writes.push(self.po_exception(&record, "erp_po_number_missing", detail, now));
                    writes.extend(finish_step(&record, "erp_answer_unreadable", now));
                    return Ok(writes);
                };
                record.document("erp_purchase_order", "in", &erp_po, &d.target);
                writes.push(Write::Crosswalk(
                    Crosswalk {
                        system: d.target.clone(),
                        entity_type: "purchase_order".into(),
                        external_id: erp_po.clone(),
                        canonical_id: po.to_string(),
                    },
                    now,
                ));
                (PoEvent::ErpCreated { erp_po }, "erp_created")
            }
            "payment_release" => {
                let invoice = d
                    .payload
                    .pointer("/invoice/number")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                (PoEvent::PaymentConfirmed { invoice }, "paid")
            }
            crate::x12_inbound::X12 if d.payload["set"] == "850" => {
                let minutes = self
                    .config()
                    .partners
                    .get(&d.target)
                    .map(|p| p.acknowledgements.expect_within_minutes)
                    .unwrap_or(60);
                let interchange = d.payload["interchange"].as_u64().unwrap_or_default() as u32;
                (
                    PoEvent::Transmitted {
                        interchange,
                        ack_due: now + chrono::Duration::minutes(i64::from(minutes)),
                    },
                    "transmitted",
                )
            }
            // A change the ERP took: nothing in the workflow waits for it.
            _ => return Ok(writes),
        };
        match self.po_step(&mut record, event, step, now).await {
            Ok(mut step) => writes.append(&mut step),
            // The PO has moved past this answer: a delivery replayed after it had got through.
            // The attempt is recorded and the PO left as it is; failing here would leave the
            // delivery in flight, to be sent again and again.
            Err(EngineError::Rejected(refused)) => {
                tracing::warn!(po, delivery = %d.id, reason = %refused.detail,
                    "a delivery's answer no longer fits its PO; the PO is left as it is");
                writes = vec![timeline(
                    &record.correlation_id,
                    now,
                    "po_answer_ignored",
                    json!({"delivery_id": d.id, "target": d.target, "reason": refused.detail}),
                )];
            }
            Err(e) => return Err(e),
        }
        Ok(writes)
    }

    /// The acknowledgement timer: no 997/999 came in time.
    pub(crate) async fn fire_ack_timer(&self, timer: &Timer) -> Result<()> {
        let po = &timer.subject;
        let _guard = self.lock_workflow(&subject(po)).await?;
        let mut writes = vec![Write::DeleteTimer {
            id: timer.id.clone(),
        }];
        if let Some(mut record) = self
            .store()
            .workflow::<PurchaseOrderRecord>(WORKFLOW_KIND, po)
            .await?
        {
            writes.append(
                &mut self
                    .po_step(&mut record, PoEvent::AckOverdue, "ack_overdue", Utc::now())
                    .await?,
            );
        }
        self.commit(writes).await?;
        Ok(())
    }

    /// Applies one event from an inbound document to the PO it names; the writes are
    /// returned for the caller's commit. A document already applied (same kind and reference:
    /// a replayed interchange) gives no writes.
    pub(crate) async fn po_inbound(
        &self,
        po_number: &str,
        document: &str,
        reference: &str,
        counterpart: &str,
        event: impl FnOnce(&PurchaseOrderRecord) -> Result<PoEvent, Rejection>,
    ) -> Result<Vec<Write>> {
        let mut record = self.purchase_order(po_number).await?.ok_or_else(|| {
            Rejection::new(
                422,
                "unknown_po",
                "The document names a PO the hub does not know",
                format!("{document} {reference} names PO {po_number}, which the hub never sent"),
            )
        })?;
        if record.applied(document, reference) {
            return Ok(vec![]);
        }
        let event = event(&record)?;
        record.document(document, "in", reference, counterpart);
        self.po_step(&mut record, event, document, Utc::now()).await
    }

    /// A goods receipt from the warehouse (the inbound pipeline's `goods_receipt`). The
    /// receipt is recorded before the workflow hears of it, so an invoice waiting for it is
    /// matched against it.
    pub(crate) async fn receive_goods(
        &self,
        canonical: &Value,
        ctx: &InboundContext,
        mut lineage: Vec<Write>,
    ) -> Result<InboundAnswer> {
        let receipt: GoodsReceipt =
            concord_model::parse_canonical(canonical).map_err(Rejection::invalid)?;
        let unknown = || {
            Rejection::new(
                422,
                "unknown_po",
                "The receipt names a PO the hub does not know",
                format!(
                    "receipt {} names PO {}, which the hub never placed",
                    receipt.receipt_id, receipt.po_number
                ),
            )
        };
        let first_read = self
            .purchase_order(&receipt.po_number)
            .await?
            .ok_or_else(unknown)?;
        let po = first_read.flow.po_number.clone();
        // A replenishment's receipt fills its shelf: the shelves' locks are taken with the
        // PO's, all at once (a PO's facility, cost center and lines never change).
        let shelves = crate::usage::replenished_lines(&first_read);
        let mut keys = vec![subject(&po)];
        keys.extend(shelves.iter().map(|(_, gtin)| {
            crate::usage::shelf_key(&first_read.facility, &first_read.cost_center, gtin)
        }));
        let _guards = self
            .lock_workflows(&keys.iter().map(String::as_str).collect::<Vec<_>>())
            .await?;
        let mut record = self.purchase_order(&po).await?.ok_or_else(unknown)?;
        let now = Utc::now();
        let mut writes = Vec::new();
        let outcome = if record.receipt_ids.contains(&receipt.receipt_id) {
            "already_counted"
        } else {
            for (i, line) in receipt.lines.iter().enumerate() {
                if !record.flow.lines.iter().any(|l| l.line == line.po_line) {
                    return Err(Rejection::invalid(vec![concord_model::FieldError::new(
                        format!("lines[{i}].po_line"),
                        "unknown_line",
                        format!("PO {po} has no line {}", line.po_line),
                    )])
                    .into());
                }
            }
            record.receipt_ids.insert(receipt.receipt_id.clone());
            record
                .receipts
                .extend(receipt.lines.iter().map(|l| ReceivedLine {
                    po_line: l.po_line.clone(),
                    quantity: l.quantity,
                    uom: l.uom.to_string(),
                }));
            record.document(
                "goods_receipt",
                "in",
                &receipt.receipt_id,
                &ctx.source_system,
            );
            let lines = receipt
                .lines
                .iter()
                .map(|l| (l.po_line.clone(), l.quantity))
                .collect();
            writes = self
                .po_step(
                    &mut record,
                    PoEvent::Received { lines },
                    "goods_receipt",
                    now,
                )
                .await?;
            writes.extend(
                self.restock(&record, &receipt, &shelves, &ctx.correlation_id, now)
                    .await?,
            );
            record.flow.stage.words()
        };
        let body = ctx.accepted(&subject(&po), outcome);
        writes.append(&mut lineage);
        writes.push(ctx.done(202, &body));
        self.commit(writes).await?;
        Ok(InboundAnswer {
            status: 202,
            body,
            replayed: false,
        })
    }

    /// An 810: matched three ways against the PO, its receipts and earlier invoices.
    /// `reference` tells this document from a replay of it (`number@ISA13:ST02`).
    pub(crate) async fn receive_invoice(
        &self,
        po_number: &str,
        reference: &str,
        invoice: InvoiceToMatch,
        counterpart: &str,
    ) -> Result<Vec<Write>> {
        let Some(mut record) = self.purchase_order(po_number).await? else {
            // The invoice names no PO we know: it is still somebody's work, not a lost document.
            let outcome = three_way_match(None, &[], &invoice, &[], &Default::default());
            let now = Utc::now();
            return Ok(vec![Write::OpenException(NewException {
                id: new_id("exc"),
                kind: wf::invoice_exception(concord_model::matching::MatchExceptionKind::UnknownPo),
                subject: format!("invoice:{}:{}", counterpart, invoice.invoice_number),
                correlation_id: new_id("corr"),
                detail: json!({"po_number": po_number, "invoice": invoice.invoice_number,
                    "total": invoice.total.to_string(), "exceptions": outcome.exceptions}),
                at: now,
                facility: None,
                supplier: Some(invoice.supplier.clone()),
            })]);
        };
        if record.applied("810", reference) {
            return Ok(vec![]);
        }
        let number = invoice.invoice_number.clone();
        let now = Utc::now();
        record.document("810", "in", reference, counterpart);
        if record.invoices.contains_key(&number) {
            // The same invoice number again, in a new interchange: the first one stands (it may
            // be paid already); the copy is somebody's to look at, never paid twice.
            let mut writes = vec![self.po_exception(
                &record,
                "duplicate_invoice",
                format!(
                    "invoice {number} from {} came again ({reference}); the first one stands",
                    invoice.supplier
                ),
                now,
            )];
            writes.extend(finish_step(&record, "duplicate_invoice", now));
            return Ok(writes);
        }
        let outcome = self.match_invoice(&record, &invoice, None);
        record.invoices.insert(number.clone(), invoice);
        let mut writes = vec![
            timeline(
                &record.correlation_id,
                now,
                "matched",
                json!({"po_number": record.flow.po_number, "invoice": number, "outcome": outcome}),
            ),
            Write::SearchKeys {
                correlation_id: record.correlation_id.clone(),
                subject: subject(&record.flow.po_number),
                keys: vec![("invoice", number.clone())],
                at: now,
            },
        ];
        writes.append(
            &mut self
                .po_step(
                    &mut record,
                    PoEvent::Invoiced {
                        invoice: number,
                        outcome,
                    },
                    "810",
                    now,
                )
                .await?,
        );
        Ok(writes)
    }

    /// The PO in the words operations use, with the lineage of every document.
    pub async fn purchase_order_view(&self, number: &str) -> Result<Option<Value>> {
        let Some(r) = self.purchase_order(number).await? else {
            return Ok(None);
        };
        let exceptions = self
            .store()
            .list_exceptions(&concord_store::ExceptionFilter {
                status: "open".into(),
                subject: Some(subject(&r.flow.po_number)),
                limit: 100,
                ..Default::default()
            })
            .await?;
        let lines: Vec<Value> = r
            .flow
            .lines
            .iter()
            .map(|l| {
                let p = r.flow.progress.get(&l.line).cloned().unwrap_or_default();
                json!({"line": l.line, "gtin": l.gtin, "ordered": l.quantity, "uom": l.uom,
                    "unit_price": l.unit_price, "confirmed": p.confirmed, "backordered": p.backordered,
                    "rejected": p.rejected, "announced_price": p.announced_price,
                    "shipped": p.shipped, "received": p.received})
            })
            .collect();
        let total: Decimal = r.flow.lines.iter().map(|l| l.quantity * l.unit_price).sum();
        Ok(Some(json!({
            "po_number": r.flow.po_number,
            "erp_po": r.flow.erp_po,
            "status": r.flow.stage.words(),
            "stage": r.flow.stage,
            "requisition_id": r.flow.requisition,
            "supplier": r.flow.supplier,
            "partner": r.partner,
            "facility": r.facility,
            "cost_center": r.cost_center,
            "total": total.to_string(),
            "lines": lines,
            "invoices": r.flow.invoices,
            "open_exceptions": exceptions,
            "documents": r.documents,
            "correlation_id": r.correlation_id,
            "created_at": r.created_at,
        })))
    }

    /// Resolves an exception from the workbench. An invoice exception takes an action that
    /// the PO workflow carries out (accept the variance — in the resolver's name, with a
    /// reason —, request a credit memo, reject the invoice, match again); an EDI exception may
    /// `retry` (resend the 850; replay a dead ERP delivery); any other is `acknowledge`d with
    /// a reason. The resolution, who and why go to the exception and to the audit log in the
    /// same commit. `action` comes validated from the edge (`parse_canonical`: reasons given).
    pub async fn resolve_exception(
        &self,
        id: &str,
        principal: &Principal,
        action: WorkbenchAction,
    ) -> Result<Value> {
        let read = async || {
            self.store().exception(id).await?.ok_or_else(|| {
                EngineError::from(Rejection::not_found(format!("no exception {id}")))
            })
        };
        let exception = read().await?;
        let po = exception
            .subject
            .strip_prefix("purchase_order:")
            .map(str::to_string);
        let _guard = match &po {
            Some(po) => Some(self.lock_workflow(&subject(po)).await?),
            None => None,
        };
        // Read again under the PO's lock: a resolution that raced this one is seen here.
        let exception = if po.is_some() {
            read().await?
        } else {
            exception
        };
        if exception.status != "open" {
            return Err(conflict(format!("exception {id} is already {}", exception.status)).into());
        }
        let now = Utc::now();
        let by = principal.actor();
        let resolution = json!({"action": action.name(), "reason": action.reason(),
            "by": by, "user": principal.user, "at": now});
        let mut writes = vec![
            Write::ResolveException {
                id: id.to_string(),
                resolution: resolution.clone(),
                at: now,
            },
            crate::governance::audit(
                &by,
                "exception.resolved",
                format!("exception:{id}"),
                Some(&exception.correlation_id),
                None,
                None,
                json!({"kind": exception.kind, "subject": exception.subject, "resolution": resolution}),
            ),
            timeline(
                &exception.correlation_id,
                now,
                "exception_resolved",
                json!({"exception_id": id, "kind": exception.kind, "resolution": resolution}),
            ),
        ];
        if let Some(onboarding) = exception.subject.strip_prefix("supplier_onboarding:")
            && [
                concord_model::workflow::onboarding::EXCLUSION_MATCH,
                concord_model::workflow::onboarding::DUPLICATE_SUPPLIER,
            ]
            .contains(&exception.kind.as_str())
        {
            self.resolve_onboarding_exception(
                onboarding,
                &exception.kind,
                principal,
                &action,
                writes,
            )
            .await?;
            return Ok(json!({"exception": self.store().exception(id).await?,
                "onboarding": self.onboarding_view(onboarding).await?}));
        }
        // A held clinical usage: the person's retry is recorded, then the usage goes again
        // (still unresolved, it opens a fresh exception and says so).
        if let (Some(usage), WorkbenchAction::Retry { .. }) =
            (exception.subject.strip_prefix("usage:"), &action)
        {
            self.commit(writes).await?;
            let usage = self.retry_usage(usage, &by).await?;
            return Ok(json!({"exception": self.store().exception(id).await?, "usage": usage}));
        }
        let record = match &po {
            Some(po) => self.purchase_order(po).await?,
            None => None,
        };
        match (record, &action) {
            (Some(mut record), _) if exception.kind.starts_with("invoice_") => {
                let invoice = exception.detail["invoice"]
                    .as_str()
                    .map(str::to_string)
                    .ok_or_else(|| conflict(format!("exception {id} names no invoice")))?;
                let resolution = match action {
                    WorkbenchAction::AcceptVariance { reason } => {
                        let approver = principal.user.clone().ok_or_else(|| {
                            Rejection::new(403, "forbidden", "Not allowed to accept a variance",
                                "accepting a variance is done in a person's name: use a credential that names a user")
                        })?;
                        Resolution::AcceptVariance { reason, approver }
                    }
                    WorkbenchAction::RequestCreditMemo { .. } => Resolution::RequestCreditMemo,
                    WorkbenchAction::RejectInvoice { reason } => {
                        Resolution::RejectInvoice { reason }
                    }
                    WorkbenchAction::Retry { .. } => Resolution::Retry,
                    WorkbenchAction::Acknowledge { .. }
                    | WorkbenchAction::Clear { .. }
                    | WorkbenchAction::RejectSupplier { .. } => {
                        return Err(unsupported(&exception.kind, &action).into());
                    }
                };
                writes.append(
                    &mut self
                        .po_step(
                            &mut record,
                            PoEvent::Resolved {
                                invoice,
                                resolution,
                            },
                            "resolved",
                            now,
                        )
                        .await?,
                );
            }
            (Some(mut record), WorkbenchAction::Retry { .. })
                if exception.kind.starts_with("edi_") =>
            {
                writes.append(&mut self.send_850(&mut record, now).await?);
                writes.extend(finish_step(&record, "resent_850", now));
            }
            (Some(_), WorkbenchAction::Retry { .. }) if replayable(&exception.kind) => {
                let delivery = exception.detail["delivery"].as_str().ok_or_else(|| {
                    conflict(format!(
                        "exception {id} names no delivery: replay it from /v1/deliveries"
                    ))
                })?;
                let d = self.store().delivery(delivery).await?.ok_or_else(|| {
                    conflict(format!("delivery {delivery} of exception {id} is gone"))
                })?;
                if d.status != concord_store::DeliveryStatus::Dead {
                    return Err(conflict(format!(
                        "delivery {delivery} is {}, not dead: there is nothing to retry",
                        d.status.as_str()
                    ))
                    .into());
                }
                writes.extend(crate::delivery::replay_writes(&d, &by, now));
            }
            (_, WorkbenchAction::Acknowledge { .. }) if !exception.kind.starts_with("invoice_") => {
            }
            _ => return Err(unsupported(&exception.kind, &action).into()),
        }
        self.commit(writes).await?;
        Ok(json!({"exception": self.store().exception(id).await?,
            "purchase_order": match &po { Some(po) => self.purchase_order_view(po).await?, None => None }}))
    }
}

/// Deliveries whose outcome the PO workflow waits for, and the exception each opens when it
/// dead-letters.
const PO_DELIVERIES: &[(&str, &str)] = &[
    ("purchase_order", "erp_po_failed"),
    ("purchase_order_change", "erp_change_failed"),
    ("payment_release", "payment_release_failed"),
    (crate::x12_inbound::X12, "edi_send_failed"),
];

/// An exception a dead ERP delivery opened: `retry` in the workbench replays that delivery
/// (an 850 that failed is written afresh instead, with new control numbers).
fn replayable(kind: &str) -> bool {
    PO_DELIVERIES
        .iter()
        .any(|(t, k)| *k == kind && *t != crate::x12_inbound::X12)
}

fn failure_kind(message_type: &str) -> &'static str {
    PO_DELIVERIES
        .iter()
        .find(|(t, _)| *t == message_type)
        .map_or("edi_send_failed", |(_, kind)| kind)
}

/// The PO a delivery is about, when the PO workflow waits for its outcome (an acknowledgement
/// of a partner's interchange names none).
pub(crate) fn po_of_delivery(d: &concord_store::DeliveryRecord) -> Option<&str> {
    if !PO_DELIVERIES.iter().any(|(t, _)| *t == d.message_type) {
        return None;
    }
    d.payload
        .pointer("/purchase_order/po_number")
        .or_else(|| d.payload.get("po_number"))
        .and_then(Value::as_str)
}

fn conflict(detail: String) -> Rejection {
    Rejection::new(
        409,
        "exception_not_open",
        "The exception cannot take this",
        detail,
    )
}

fn unsupported(kind: &str, action: &WorkbenchAction) -> Rejection {
    let allowed = if kind.starts_with("invoice_") {
        "accept_variance, request_credit_memo, reject_invoice, retry"
    } else if kind.starts_with("edi_") || replayable(kind) {
        "retry, acknowledge"
    } else {
        "acknowledge"
    };
    Rejection::new(
        422,
        "unsupported_action",
        "This action does not apply to this exception",
        format!(
            "{} does not resolve a {kind} exception; use one of: {allowed}",
            action.name()
        ),
    )
}

/// The writes every step ends with: the state, its event, its lineage entry.
fn finish_step(record: &PurchaseOrderRecord, step: &str, now: DateTime<Utc>) -> Vec<Write> {
    let flow = &record.flow;
    vec![
        Write::Event(event(
            events::PURCHASE_ORDER_CHANGED,
            subject(&flow.po_number),
            &record.correlation_id,
            now,
            events::PurchaseOrderChanged {
                po_number: flow.po_number.clone(),
                requisition_id: flow.requisition.clone(),
                supplier: flow.supplier.clone(),
                erp_po: flow.erp_po.clone(),
                step: step.to_string(),
                stage: flow.stage,
            },
        )),
        timeline(
            &record.correlation_id,
            now,
            &format!("po_{step}"),
            json!({"po_number": flow.po_number, "status": flow.stage.words(),
                "open_exceptions": flow.open_exceptions}),
        ),
        workflow_write(record, now),
    ]
}

fn workflow_write(record: &PurchaseOrderRecord, now: DateTime<Utc>) -> Write {
    Write::Workflow {
        kind: WORKFLOW_KIND.into(),
        id: record.flow.po_number.clone(),
        state: serde_json::to_value(record).expect("PO records serialise"),
        at: now,
    }
}
