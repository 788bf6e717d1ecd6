//! X12 from trading partners: `POST /v1/inbound/{partner}/x12` (or a file in the partner's
//! drop folder, read by the same path). The interchange is stored raw in the inbox like any
//! message, then:
//!
//! 1. parsed, every set read by its typed reader;
//! 2. a 997 or 999 is queued back for every group that is not itself an acknowledgement (when
//!    the partner expects them), from the parser's and readers' findings — syntax is
//!    acknowledged whether or not the business content is usable;
//! 3. an interchange with any error (envelope or set) is quarantined, each error naming its
//!    segment number, segment id and element;
//! 4. each set becomes one event of the PO it names (997/999 → the PO whose 850 carried that
//!    group control number; 855 → BAK03; 856 → each PRF01; 810 → BIG04), committed per set
//!    under that PO's lock; an 832 catalog is kept as the partner's latest, for reconciliation. A set is known by `ISA13:ST02`, so replaying a quarantined
//!    interchange never applies a set twice.

use chrono::Utc;
use concord_formats::x12::{
    self, Diagnostic,
    ack::{AckKind, FunctionalAck},
    sets::{Parsed, TypedSet},
};
use concord_model::{FieldError, workflow::purchase_order::PoEvent};
use concord_store::{InboxRecord, Write};
use serde_json::{Value, json};

use crate::{
    error::{EngineError, Rejection, Result},
    hub::{Hub, timeline},
    inbound::{InboundAnswer, InboundContext},
    partners::{AckChoice, PartnerConfig},
    purchase_orders::{X12_GROUP, edi},
};

/// The message type of X12 interchanges, inbound and outbound.
pub const X12: &str = "x12";

/// A diagnostic as a field error: the path names segment number, id and element.
fn field_error(d: &Diagnostic) -> FieldError {
    let mut path = format!("segment {}", d.segment);
    if !d.segment_id.is_empty() {
        path.push_str(&format!(" ({})", d.segment_id));
    }
    if let Some(e) = d.element {
        path.push_str(&format!(" element {e:02}"));
    }
    FieldError::new(path, format!("{:?}", d.problem), d.reason.clone())
}

impl Hub {
    pub(crate) async fn receive_x12(
        &self,
        record: &InboxRecord,
        ctx: &InboundContext,
        mut lineage: Vec<Write>,
    ) -> Result<InboundAnswer> {
        let partner_name = record.system.as_str();
        let partner = self
            .config()
            .partners
            .get(partner_name)
            .ok_or_else(|| Rejection::not_found(format!("no partner {partner_name}")))?;
        let doc = x12::parse(&record.body);
        if doc.interchanges.is_empty() {
            let mut errors: Vec<FieldError> = doc.diagnostics.iter().map(field_error).collect();
            if errors.is_empty() {
                errors.push(FieldError::new(
                    "",
                    "no_interchange",
                    "no ISA segment found",
                ));
            }
            return Err(x12_rejection(errors).into());
        }
        for ic in &doc.interchanges {
            if ic.sender_qualifier().trim() != partner.isa_qualifier
                || ic.sender_id().trim() != partner.isa_id
            {
                return Err(Rejection::invalid(vec![FieldError::new(
                    "segment 1 (ISA) element 06",
                    "wrong_sender",
                    format!(
                        "the interchange is from {}:{}, but was posted as partner {partner_name} ({}:{})",
                        ic.sender_qualifier().trim(),
                        ic.sender_id().trim(),
                        partner.isa_qualifier,
                        partner.isa_id
                    ),
                )])
                .into());
            }
        }
        // Read every set once: its findings go into the acknowledgement, its value to the PO.
        let mut errors: Vec<FieldError> = doc
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(field_error)
            .collect();
        let mut typed: Vec<(String, TypedSet)> = Vec::new();
        let mut acks = Vec::new();
        for (i, ic) in doc.interchanges.iter().enumerate() {
            for (g, group) in ic.groups.iter().enumerate() {
                let mut findings = Vec::new();
                for set in &group.sets {
                    let reference =
                        format!("{}:{}", ic.control_number().trim(), set.control_number());
                    match TypedSet::read(set) {
                        Some(Ok(Parsed { value, .. })) => {
                            findings.push(Vec::new());
                            typed.push((reference, value));
                        }
                        Some(Err(diags)) => {
                            errors.extend(diags.iter().filter(|d| d.is_error()).map(field_error));
                            findings.push(diags);
                        }
                        None => {
                            errors.push(FieldError::new(
                                format!("set {reference} ({})", set.id()),
                                "unsupported_set",
                                format!("Concord reads 997, 999, 855, 856, 810 and 832 from partners, not {}", set.id()),
                            ));
                            findings.push(Vec::new());
                        }
                    }
                }
                if group.functional_id() != "FA"
                    && let Some(kind) = ack_kind(partner)
                    && let Some(ack) = FunctionalAck::for_group(&doc, i, g, kind, &findings)
                {
                    acks.push(ack);
                }
            }
        }
        // The acknowledgements go out whatever happens to the content.
        if !acks.is_empty() {
            // Only while the interchange is still ours: a worker that lost it to another
            // (after its lease ended) must not queue a second set of acknowledgements.
            let mut writes = vec![ctx.still_claimed()];
            for ack in &acks {
                writes.push(self.ack_delivery(partner_name, ack, ctx).await?);
            }
            self.commit(writes).await?;
        }
        if !errors.is_empty() {
            return Err(x12_rejection(errors).into());
        }
        let mut applied = Vec::new();
        for (reference, set) in typed {
            let outcome = self.apply_set(partner_name, &reference, set).await?;
            applied.push(json!({"set": reference, "outcome": outcome}));
        }
        let body = json!({
            "receipt_id": ctx.inbox_id,
            "correlation_id": ctx.correlation_id,
            "status": "accepted",
            "sets": applied,
            "acknowledgements": acks.iter().map(|a| json!({"group": a.group_control_number, "status": a.status.code()})).collect::<Vec<_>>(),
        });
        lineage.push(timeline(
            &ctx.correlation_id,
            Utc::now(),
            "x12_applied",
            json!({"partner": partner_name, "sets": applied}),
        ));
        lineage.push(ctx.done(202, &body));
        self.commit(lineage).await?;
        Ok(InboundAnswer {
            status: 202,
            body,
            replayed: false,
        })
    }

    /// The 997/999 interchange for one group, queued to the partner.
    async fn ack_delivery(
        &self,
        partner: &str,
        ack: &FunctionalAck,
        ctx: &InboundContext,
    ) -> Result<Write> {
        let route = crate::x12_outbound::Route {
            event_id: format!("inbox:{}", ctx.inbox_id),
            // Acknowledgements of different interchanges need no order between them (X12 does
            // not ask partners to receive control numbers in sequence), so each received
            // interchange is its own subject: one slow or failing ack holds back no other, and
            // the outbox never builds a queue of acks waiting on each other.
            subject: format!("x12_ack:{partner}:{}", ctx.inbox_id),
            correlation_id: &ctx.correlation_id,
            payload: json!({"acknowledges": ack.group_control_number, "status": ack.status.code()}),
        };
        match self
            .queue_interchange(partner, "FA", ack.to_set(), route, Utc::now())
            .await?
        {
            Ok((delivery, _)) => Ok(delivery),
            // Acknowledgements hold codes and control numbers only: a separator in one means
            // the partner's separators clash with X12's codes, which `concord check` refuses.
            Err(e) => Err(EngineError::Config(format!(
                "writing a {} for {partner}: {e}",
                ack.kind.set_id()
            ))),
        }
    }

    /// One set to the PO it names, committed under that PO's lock. Answers what happened.
    async fn apply_set(&self, partner: &str, reference: &str, set: TypedSet) -> Result<Value> {
        let unusable = |what: &str, detail: String| {
            Rejection::new(
                422,
                "x12_content",
                format!("The {what} cannot be applied"),
                detail,
            )
        };
        match &set {
            TypedSet::FunctionalAck(a) => {
                let Some(po) = self
                    .store()
                    .crosswalk_to_canonical(partner, X12_GROUP, &a.group_control_number)
                    .await?
                else {
                    // An acknowledgement of an interchange that was not an 850 (one of our own
                    // 997s, say): nothing waits for it.
                    return Ok(
                        json!({"acknowledged_group": a.group_control_number, "po_number": null}),
                    );
                };
                let document = a.kind.set_id();
                let accepted = a.status.accepted();
                let (po, applied) = self
                    .under_po_lock(&po, async |po| {
                        let mut writes = self
                            .po_inbound(po, document, reference, partner, |_| {
                                Ok(PoEvent::FunctionalAck { accepted })
                            })
                            .await?;
                        // The wait for an acknowledgement is over: its timer goes, rather than
                        // firing later into a PO that no longer waits.
                        if !writes.is_empty() {
                            writes.push(Write::DeleteTimer {
                                id: crate::purchase_orders::timer_id(po),
                            });
                        }
                        Ok(writes)
                    })
                    .await?;
                Ok(json!({"document": document, "po_number": po, "applied": applied}))
            }
            TypedSet::PurchaseOrderAck(a) => {
                let (po, applied) = self
                    .under_po_lock(&a.po_number, async |po| {
                        self.po_inbound(po, "855", reference, partner, |r| {
                            edi::line_responses(a, &r.flow)
                                .map(|lines| PoEvent::SupplierAck { lines })
                                .map_err(|e| unusable("855", e))
                        })
                        .await
                    })
                    .await?;
                Ok(json!({"document": "855", "po_number": po, "applied": applied}))
            }
            TypedSet::ShipNotice(n) => {
                let mut outcomes = Vec::new();
                for order in &n.orders {
                    let reference = format!("{reference}:{}", order.po_number);
                    let (po, applied) = self
                        .under_po_lock(&order.po_number, async |po| {
                            self.po_inbound(po, "856", &reference, partner, |r| {
                                edi::shipped_lines(order, &r.flow)
                                    .map(|lines| PoEvent::ShipNotice { lines })
                                    .map_err(|e| unusable("ship notice", e))
                            })
                            .await
                        })
                        .await?;
                    outcomes.push(json!({"po_number": po, "applied": applied}));
                }
                Ok(json!({"ship_notice": n.shipment_id, "orders": outcomes}))
            }
            TypedSet::Invoice(inv) => {
                let Some(quoted) = &inv.po_number else {
                    return Err(unusable(
                        "invoice",
                        format!(
                            "810 {} names no PO (BIG04); the hub matches invoices against POs",
                            inv.invoice_number
                        ),
                    )
                    .into());
                };
                let supplier = self
                    .config()
                    .partners
                    .get(partner)
                    .map(|p| p.supplier.clone())
                    .unwrap_or_default();
                let reference = format!("{}@{reference}", inv.invoice_number);
                let (po, applied) = self
                    .under_po_lock(quoted, async |po| {
                        self.receive_invoice(
                            po,
                            &reference,
                            edi::invoice_to_match(inv, &supplier),
                            partner,
                        )
                        .await
                    })
                    .await?;
                Ok(json!({"invoice": inv.invoice_number, "po_number": po, "applied": applied}))
            }
            TypedSet::Catalog(c) => {
                // The partner's latest catalog, kept whole: reconciliation compares it with the
                // item master (`crate::reconciliation`).
                let supplier = self
                    .config()
                    .partners
                    .get(partner)
                    .map(|p| p.supplier.clone())
                    .unwrap_or_default();
                let now = Utc::now();
                self.commit(vec![Write::Workflow {
                    kind: crate::reconciliation::CATALOG_KIND.into(),
                    id: partner.to_string(),
                    state: json!({"supplier_id": supplier, "reference": reference,
                        "received_at": now, "catalog": c}),
                    at: now,
                }])
                .await?;
                Ok(json!({"document": "832", "catalog": c.number, "items": c.items.len()}))
            }
            TypedSet::PurchaseOrder(p) => Err(unusable(
                "850",
                format!(
                    "an 850 ({}) came from partner {partner}; partners send 855, 856, 810 and 997/999, the hub sends 850s",
                    p.po_number
                ),
            )
            .into()),
        }
    }

    /// Finds the hub's PO for a number a partner quotes and, under that PO's lock, commits what
    /// `apply` makes of it. Answers the PO's number and whether anything was applied (nothing
    /// is, for a document applied before).
    async fn under_po_lock(
        &self,
        quoted: &str,
        apply: impl AsyncFnOnce(&str) -> Result<Vec<Write>>,
    ) -> Result<(String, bool)> {
        let po = self.po_number_of(quoted).await?;
        let _guard = self
            .lock_workflow(&crate::purchase_orders::subject(&po))
            .await?;
        let writes = apply(&po).await?;
        let applied = !writes.is_empty();
        self.commit(writes).await?;
        Ok((po, applied))
    }

    /// The hub's PO number for a number a partner quotes (ours, or the ERP's).
    async fn po_number_of(&self, quoted: &str) -> Result<String> {
        Ok(self
            .purchase_order(quoted)
            .await?
            .map(|r| r.flow.po_number)
            .unwrap_or_else(|| quoted.to_string()))
    }
}

fn ack_kind(partner: &PartnerConfig) -> Option<AckKind> {
    match partner.acknowledgements.functional {
        AckChoice::Functional997 => Some(AckKind::Functional997),
        AckChoice::Implementation999 => Some(AckKind::Implementation999),
        AckChoice::None => None,
    }
}

fn x12_rejection(errors: Vec<FieldError>) -> Rejection {
    let mut r = Rejection::invalid(errors);
    r.kind = "x12";
    r.title = "The interchange has errors".into();
    r
}
