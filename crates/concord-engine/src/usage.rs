//! The usage driver (part 6): clinical messages read as usages, each taken through the pure
//! `concord_model::workflow::usage` state machine, and its actions carried out in one commit:
//! the shelf, the replenishment or bill-only requisition (part 3's procure-to-pay from there),
//! the cost allocation to the ERP, exceptions, events and the usage's state.
//!
//! Locking: a usage's step holds the usage's own lock and, once its item and facility resolve,
//! that of the shelf it touches (`stock:{facility}:{location}:{gtin}`), both taken at once in
//! stripe order (`Hub::lock_workflows`), so steps never wait on each other in a cycle. The
//! usage's state and the shelf are read under them: a repeat or a concurrent retry finds the
//! first one's result, and two usages of one shelf take from it in turn.

use chrono::{DateTime, Utc};
use concord_formats::hl7::{self, dft};
use concord_model::{
    FieldError, Gln, Gtin, events,
    price::{PriceAnswer, PriceQuery},
    requisition::{Requisition, RequisitionLine},
    workflow::usage::{
        self as wf, DeviceDetails, ItemReference, RequisitionPurpose, UnitCost, Usage, UsageAction,
        UsageEvent, UsageFacts, UsageFlow, UsageStage,
    },
};
use concord_store::{InboxRecord, NewDelivery, NewException, StockLevel, Write};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{
    error::{EngineError, Rejection, Result},
    hub::{Hub, event, new_id, timeline},
    inbound::{InboundAnswer, InboundContext},
};

pub const WORKFLOW_KIND: &str = "usage";
/// The outbound message type of a cost allocation (to the ERP).
pub const COST_MESSAGE: &str = "cost_allocation";
/// Who raises the requisitions a usage needs (never an approver).
pub const REPLENISHMENT_REQUESTER: &str = "concord:replenishment";

/// What is kept per usage (the `workflows` row of kind `usage`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UsageRecord {
    pub flow: UsageFlow,
    pub correlation_id: String,
    pub source_system: String,
    #[serde(default)]
    pub requisitions: Vec<String>,
}

fn subject(id: &str) -> String {
    format!("usage:{id}")
}

/// The usages of a DFT^P03: one per charge (`CG`) line, `{system}:{MSH-3}.{MSH-4}:{MSH-10}:{n}`
/// with n the FT1's position among the message's FT1s; credits, payments and adjustments are
/// not usages and are counted, not applied.
pub fn usages_of(
    system: &str,
    msg: &dft::DftP03,
    received_at: DateTime<Utc>,
) -> (Vec<Usage>, usize) {
    let mut usages = vec![];
    let mut skipped = 0;
    for (i, charge) in msg.charges.iter().enumerate() {
        if charge.transaction_type != "CG" {
            skipped += 1;
            continue;
        }
        // The charge's position, not FT1-1 (senders repeat set ids); the sender's application
        // and facility, as control ids are unique only per sender.
        let line = i + 1;
        let gtin = charge
            .implant
            .as_ref()
            .and_then(|d| d.gtin.clone())
            .or_else(|| {
                charge
                    .item_number
                    .as_ref()
                    .and_then(|c| Gtin::parse(&c.code).ok())
            });
        let device = charge.implant.as_ref().map(|d| DeviceDetails {
            lot: d.lot.clone(),
            serial: d.serial.clone(),
            expiry: d.expiry,
        });
        let department = charge.department.as_ref().map(|d| d.code.clone());
        usages.push(Usage {
            id: format!(
                "{system}:{}.{}:{}:{line}",
                msg.sending_application, msg.sending_facility, msg.control_id
            ),
            facility_code: charge
                .location_facility
                .clone()
                .or_else(|| msg.visit_facility.clone())
                .unwrap_or_else(|| msg.sending_facility.clone()),
            location: department
                .clone()
                .or_else(|| msg.point_of_care.clone())
                .unwrap_or_else(|| "default".into()),
            item: ItemReference {
                gtin,
                chargemaster: Some(charge.code.code.clone()).filter(|c| !c.is_empty()),
                item_number: charge.item_number.as_ref().map(|c| c.code.clone()),
                description: charge.code.text.clone(),
            },
            quantity: charge.quantity.unwrap_or(Decimal::ONE),
            device,
            procedure_code: charge.procedure_code.as_ref().map(|c| c.code.clone()),
            cost_center: department,
            service_line: msg.hospital_service.clone(),
            patient: msg.patient_id.clone(),
            encounter: msg.account.clone(),
            // HL7 times without an offset are taken as UTC.
            occurred_at: charge
                .transaction_date
                .map(|t| t.and_utc())
                .unwrap_or(received_at),
        });
    }
    (usages, skipped)
}

impl Hub {
    /// Processes one stored (redacted) HL7 v2 message: a DFT^P03's charges become usages;
    /// other message types are kept and marked as not used.
    pub(crate) async fn process_hl7(
        &self,
        record: &InboxRecord,
        ctx: &InboundContext,
        mut lineage: Vec<Write>,
    ) -> Result<InboundAnswer> {
        let batch = hl7::parse(&record.body);
        let Some(message) = batch.messages.first() else {
            return Err(crate::clinical::hl7_rejection(&batch.diagnostics).into());
        };
        let (kind, trigger) = message.message_type();
        let now = Utc::now();
        if (kind.as_str(), trigger.as_str()) != ("DFT", "P03") {
            let body = ctx.accepted(&format!("hl7:{kind}^{trigger}"), "not_used");
            lineage.push(timeline(
                &ctx.correlation_id,
                now,
                "not_used",
                json!({"message_type": format!("{kind}^{trigger}"), "reason": "no workflow reads this message type"}),
            ));
            lineage.push(ctx.done(202, &body));
            self.commit(lineage).await?;
            return Ok(InboundAnswer {
                status: 202,
                body,
                replayed: false,
            });
        }
        let (dft, _warnings) =
            dft::read(message).map_err(|errors| crate::clinical::hl7_rejection(&errors))?;
        let (usages, skipped) = usages_of(&record.system, &dft, record.received_at);
        lineage.push(timeline(
            &ctx.correlation_id,
            now,
            "mapped",
            json!({"usages": usages.iter().map(|u| &u.id).collect::<Vec<_>>(), "not_usages": skipped}),
        ));
        self.record_usages(usages, &format!("hl7:{}", dft.control_id), ctx, lineage)
            .await
    }

    /// Takes each usage of a message through its workflow step, then commits the message's
    /// lineage and answer (202, the usages' outcomes; `not_used` when it had none).
    pub(crate) async fn record_usages(
        &self,
        usages: Vec<Usage>,
        subject: &str,
        ctx: &InboundContext,
        mut lineage: Vec<Write>,
    ) -> Result<InboundAnswer> {
        let mut outcomes = vec![];
        for usage in usages {
            let id = usage.id.clone();
            let record = self.usage_step(Some(usage), &id, ctx).await?;
            outcomes.push(json!({"usage_id": id, "stage": record.flow.stage, "held_by": record.flow.held_by, "requisitions": record.requisitions}));
        }
        let outcome = if outcomes.is_empty() {
            "not_used"
        } else {
            "recorded"
        };
        let mut body = ctx.accepted(subject, outcome);
        body["usages"] = json!(outcomes);
        lineage.push(ctx.done(202, &body));
        self.commit(lineage).await?;
        Ok(InboundAnswer {
            status: 202,
            body,
            replayed: false,
        })
    }

    /// Resolves what the usage names: the item, the facility and the on-contract price.
    async fn usage_facts(&self, usage: &Usage, system: &str) -> Result<UsageFacts> {
        let store = self.store();
        let mut item = usage
            .item
            .gtin
            .clone()
            .filter(|g| self.prices().item(g).is_some());
        for code in [&usage.item.chargemaster, &usage.item.item_number]
            .into_iter()
            .flatten()
        {
            if item.is_some() {
                break;
            }
            if let Some(mapped) = store.crosswalk_to_canonical(system, "item", code).await? {
                item = Gtin::parse(&mapped)
                    .ok()
                    .filter(|g| self.prices().item(g).is_some());
            }
        }
        let facility = match Gln::parse(&usage.facility_code) {
            Ok(gln) => Some(gln),
            Err(_) => store
                .crosswalk_to_canonical(system, "facility", &usage.facility_code)
                .await?
                .and_then(|g| Gln::parse(&g).ok()),
        }
        .filter(|g| self.prices().facility(g).is_some());
        let cost = match (&item, &facility) {
            (Some(item), Some(facility)) => {
                let query = PriceQuery {
                    item: item.clone(),
                    facility: facility.clone(),
                    quantity: 1,
                    date: usage.occurred_at.date_naive(),
                };
                match self.prices().lookup(&query) {
                    Ok(PriceAnswer::OnContract {
                        contract_id,
                        unit_price,
                        ..
                    }) => Some(UnitCost {
                        contract_id,
                        unit_price,
                    }),
                    _ => None,
                }
            }
            _ => None,
        };
        Ok(UsageFacts {
            item,
            facility,
            shelf: None,
            cost,
        })
    }

    /// One step of one usage: its arrival (`usage` given) or a retry. Commits and returns the
    /// usage's record.
    pub(crate) async fn usage_step(
        &self,
        usage: Option<Usage>,
        id: &str,
        ctx: &InboundContext,
    ) -> Result<UsageRecord> {
        let system = ctx.source_system.clone();
        let known = match &usage {
            Some(u) => u.clone(),
            None => {
                self.store()
                    .workflow::<UsageRecord>(WORKFLOW_KIND, id)
                    .await?
                    .ok_or_else(|| Rejection::not_found(format!("no usage {id}")))?
                    .flow
                    .usage
            }
        };
        let mut facts = self.usage_facts(&known, &system).await?;
        // The usage's own lock (so two steps of one usage never interleave, whatever they
        // resolve to) and its shelf's (so two usages of one shelf never interleave), taken
        // together in stripe order.
        let usage_key = subject(id);
        let shelf_key = match (&facts.item, &facts.facility) {
            (Some(item), Some(facility)) => {
                Some(shelf_key(facility.as_str(), &known.location, item.as_str()))
            }
            _ => None,
        };
        let mut keys = vec![usage_key.as_str()];
        keys.extend(shelf_key.as_deref());
        let _guards = self.lock_workflows(&keys).await?;
        let state = self
            .store()
            .workflow::<UsageRecord>(WORKFLOW_KIND, id)
            .await?;
        if let (Some(item), Some(facility)) = (&facts.item, &facts.facility) {
            facts.shelf = self
                .store()
                .stock_level(facility.as_str(), &known.location, item.as_str())
                .await?
                .map(|s| s.shelf);
        }
        let now = Utc::now();
        let (correlation_id, mut requisitions) = match &state {
            Some(r) => (r.correlation_id.clone(), r.requisitions.clone()),
            None => (ctx.correlation_id.clone(), vec![]),
        };
        let event_in = match usage {
            Some(usage) => UsageEvent::Arrived {
                usage,
                facts,
                at: now,
            },
            None => UsageEvent::Retried { facts, at: now },
        };
        let repeat = state.is_some() && matches!(event_in, UsageEvent::Arrived { .. });
        let (flow, actions) = wf::apply(state.map(|r| r.flow), event_in).map_err(|e| {
            Rejection::new(
                409,
                "usage_not_held",
                "The usage is not waiting for anything",
                e.to_string(),
            )
        })?;
        if repeat {
            return Ok(UsageRecord {
                flow,
                correlation_id,
                source_system: system,
                requisitions,
            });
        }
        let usage_ctx = InboundContext {
            correlation_id: correlation_id.clone(),
            ..ctx.clone()
        };
        let mut writes = vec![];
        let mut raised: Option<String> = None;
        for action in actions {
            match action {
                UsageAction::OpenException { kind, detail } => {
                    writes.push(Write::OpenException(NewException {
                        id: new_id("exc"),
                        kind: kind.into(),
                        subject: subject(id),
                        correlation_id: correlation_id.clone(),
                        detail: json!({"usage_id": id, "detail": detail, "item": flow.usage.item, "facility_code": flow.usage.facility_code, "location": flow.usage.location}),
                        at: now,
                        facility: flow.facility.as_ref().map(|g| g.to_string()),
                        supplier: None,
                    }))
                }
                UsageAction::ResolveException { kind } => writes.push(Write::ResolveExceptions {
                    kind: kind.into(),
                    subject: subject(id),
                    at: now,
                }),
                UsageAction::Requisition {
                    purpose,
                    quantity,
                    cost,
                } => {
                    match self
                        .usage_requisition(&flow, quantity, cost, purpose, &usage_ctx, now)
                        .await?
                    {
                        Ok((req_id, mut req_writes)) => {
                            writes.append(&mut req_writes);
                            requisitions.push(req_id.clone());
                            raised = Some(req_id);
                        }
                        Err(why) => writes.push(Write::OpenException(NewException {
                            id: new_id("exc"),
                            kind: "usage_requisition_not_raised".into(),
                            subject: subject(id),
                            correlation_id: correlation_id.clone(),
                            detail: json!({"usage_id": id, "detail": why}),
                            at: now,
                            facility: flow.facility.as_ref().map(|g| g.to_string()),
                            supplier: None,
                        })),
                    }
                }
                UsageAction::SetShelf(mut shelf) => {
                    if shelf.replenishment.is_none() {
                        shelf.replenishment = raised.take();
                    }
                    let (Some(item), Some(facility)) = (&flow.item, &flow.facility) else {
                        continue;
                    };
                    writes.push(Write::Stock(StockLevel {
                        facility: facility.to_string(),
                        location: flow.usage.location.clone(),
                        gtin: item.to_string(),
                        shelf,
                        updated_at: now,
                    }));
                }
                UsageAction::AllocateCost {
                    quantity,
                    amount,
                    unit,
                } => {
                    writes.extend(self.cost_allocation(&flow, quantity, amount, unit, &correlation_id, now));
                }
            }
        }
        let record = UsageRecord {
            flow,
            correlation_id: correlation_id.clone(),
            source_system: system,
            requisitions,
        };
        writes.push(Write::Event(event(
            events::USAGE_RECORDED,
            subject(id),
            &correlation_id,
            now,
            events::UsageRecorded {
                usage: record.flow.usage.clone(),
                stage: record.flow.stage,
                held_by: record.flow.held_by.clone(),
                on_hand_after: record.flow.on_hand_after,
                requisitions: record.requisitions.clone(),
            },
        )));
        writes.push(timeline(
            &correlation_id,
            now,
            match record.flow.stage {
                UsageStage::Held => "usage_held",
                UsageStage::Consumed => "usage_consumed",
            },
            json!({"usage_id": id, "item": record.flow.item, "facility": record.flow.facility,
                "location": record.flow.usage.location, "on_hand_after": record.flow.on_hand_after,
                "held_by": record.flow.held_by, "requisitions": record.requisitions, "cost": record.flow.cost}),
        ));
        let mut keys = vec![("usage", id.to_string())];
        if let Some(f) = &record.flow.facility {
            keys.push(("facility", f.to_string()));
        }
        writes.push(Write::SearchKeys {
            correlation_id: correlation_id.clone(),
            subject: subject(id),
            keys,
            at: now,
        });
        writes.push(Write::Workflow {
            kind: WORKFLOW_KIND.into(),
            id: id.to_string(),
            state: serde_json::to_value(&record).expect("usage records serialise"),
            at: now,
        });
        self.commit(writes).await?;
        Ok(record)
    }

    /// The requisition a usage raises: replenishment up to par (`rep`), or payment of a
    /// bill-only item (`bill`). `Err` says why none can be raised (no price to raise it at).
    async fn usage_requisition(
        &self,
        flow: &UsageFlow,
        quantity: i64,
        cost: Option<UnitCost>,
        purpose: RequisitionPurpose,
        ctx: &InboundContext,
        now: DateTime<Utc>,
    ) -> Result<std::result::Result<(String, Vec<Write>), String>> {
        let (Some(item), Some(facility)) = (flow.item.clone(), flow.facility.clone()) else {
            return Ok(Err("the usage has no item or facility".into()));
        };
        let Some(cost) = cost else {
            return Ok(Err(format!(
                "no active contract prices item {item} at facility {facility}, so no requisition was raised"
            )));
        };
        let Some(uom) = self.prices().item(&item).map(|i| i.uom.clone()) else {
            return Ok(Err(format!("item {item} left the item master")));
        };
        let Ok(quantity) = u32::try_from(quantity) else {
            return Ok(Err(format!("quantity {quantity} is out of range")));
        };
        let requisition = Requisition {
            // One per usage and kind, whatever happens: a usage never raises two.
            id: format!(
                "{}-{}",
                purpose.prefix(),
                crate::hub::sha256_hex(flow.usage.id.as_bytes())[..12].to_uppercase()
            ),
            requester: REPLENISHMENT_REQUESTER.into(),
            facility,
            cost_center: flow
                .usage
                .cost_center
                .clone()
                .unwrap_or_else(|| flow.usage.location.clone()),
            lines: vec![RequisitionLine {
                gtin: item,
                quantity,
                uom,
                unit_price: cost.unit_price,
            }],
        };
        let id = requisition.id.clone();
        let evidence = timeline(
            &ctx.correlation_id,
            now,
            match purpose {
                RequisitionPurpose::BillOnly => "bill_only_requisition",
                RequisitionPurpose::Replenishment => "replenishment_requisition",
            },
            json!({"requisition_id": id, "usage_id": flow.usage.id, "device": flow.usage.device,
                "procedure_code": flow.usage.procedure_code, "location": flow.usage.location}),
        );
        match self
            .requisition_writes(requisition, ctx, vec![evidence], now)
            .await
        {
            Ok((writes, _)) => Ok(Ok((id, writes))),
            Err(EngineError::Rejected(r)) => Ok(Err(format!("{}: {}", r.title, r.detail))),
            Err(other) => Err(other),
        }
    }

    /// The cost allocation's event and its deliveries (to every system subscribed to
    /// `cost_allocation`: the ERP). No patient pseudonym goes to finance.
    fn cost_allocation(
        &self,
        flow: &UsageFlow,
        quantity: i64,
        amount: Decimal,
        unit: UnitCost,
        correlation_id: &str,
        now: DateTime<Utc>,
    ) -> Vec<Write> {
        let (Some(item), Some(facility)) = (flow.item.clone(), flow.facility.clone()) else {
            return vec![];
        };
        let u = &flow.usage;
        let allocation = events::CostAllocation {
            usage_id: u.id.clone(),
            facility,
            cost_center: u.cost_center.clone().unwrap_or_else(|| u.location.clone()),
            service_line: u.service_line.clone(),
            procedure_code: u.procedure_code.clone(),
            gtin: item,
            quantity,
            unit_price: unit.unit_price,
            amount,
            contract_id: unit.contract_id,
            occurred_at: u.occurred_at,
        };
        let payload = serde_json::to_value(&allocation).expect("allocations serialise");
        let mut writes = vec![Write::Event(event(
            events::USAGE_COST_ALLOCATED,
            subject(&u.id),
            correlation_id,
            now,
            &allocation,
        ))];
        for (target, required) in self.config().subscribers(COST_MESSAGE) {
            writes.push(Write::Delivery(NewDelivery {
                id: new_id("dlv"),
                event_id: format!("usage:{}", u.id),
                target: target.clone(),
                message_type: COST_MESSAGE.into(),
                subject: subject(&u.id),
                idempotency_key: format!("{target}:cost_allocation:{}", u.id),
                correlation_id: correlation_id.to_string(),
                required,
                payload: payload.clone(),
                next_attempt_at: now,
            }));
        }
        writes
    }

    /// A person retries a held usage (after mapping its item or facility).
    pub async fn retry_usage(&self, id: &str, actor: &str) -> Result<Value> {
        let state = self
            .store()
            .workflow::<UsageRecord>(WORKFLOW_KIND, id)
            .await?
            .ok_or_else(|| Rejection::not_found(format!("no usage {id}")))?;
        let ctx = InboundContext {
            inbox_id: String::new(),
            correlation_id: state.correlation_id.clone(),
            source_system: state.source_system.clone(),
            actor: actor.to_string(),
            claim: None,
        };
        let record = self.usage_step(None, id, &ctx).await?;
        Ok(usage_view(&record))
    }

    pub async fn usage(&self, id: &str) -> Result<Option<Value>> {
        Ok(self
            .store()
            .workflow::<UsageRecord>(WORKFLOW_KIND, id)
            .await?
            .map(|r| usage_view(&r)))
    }
}

/// A usage as the API shows it.
pub fn usage_view(r: &UsageRecord) -> Value {
    json!({
        "usage": r.flow.usage,
        "stage": r.flow.stage,
        "held_by": r.flow.held_by,
        "item": r.flow.item,
        "facility": r.flow.facility,
        "on_hand_after": r.flow.on_hand_after,
        "cost": r.flow.cost.map(|c| c.to_string()),
        "requisitions": r.requisitions,
        "correlation_id": r.correlation_id,
        "updated_at": r.flow.updated_at,
    })
}

/// A shelf's levels as a person sets them (`PUT /v1/stock/{facility}/{location}/{gtin}`): a
/// count, a new par level or reorder point, bill-only or not.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StockInput {
    pub on_hand: i64,
    pub par_level: i64,
    pub reorder_point: i64,
    #[serde(default)]
    pub bill_only: bool,
}

impl Hub {
    /// Sets a shelf (audited with the levels before). The item and facility must be in the
    /// master; 0 ≤ reorder point ≤ par level; on hand ≥ 0. An open replenishment is kept until
    /// the count is above the reorder point again (the order arrived).
    pub async fn set_stock(
        &self,
        facility: &Gln,
        location: &str,
        gtin: &Gtin,
        input: StockInput,
        actor: &str,
    ) -> Result<StockLevel> {
        let mut errors = vec![];
        concord_model::master::check_id("location", location, &mut errors);
        if self.prices().item(gtin).is_none() {
            errors.push(FieldError::new(
                "gtin",
                "unknown_item",
                format!("item {gtin} is not in the item master"),
            ));
        }
        if self.prices().facility(facility).is_none() {
            errors.push(FieldError::new(
                "facility",
                "unknown_facility",
                format!("facility {facility} is not in the facility master"),
            ));
        }
        for (field, value) in [
            ("on_hand", input.on_hand),
            ("reorder_point", input.reorder_point),
        ] {
            if value < 0 {
                errors.push(FieldError::new(
                    field,
                    "minimum",
                    format!("{field} must not be negative"),
                ));
            }
        }
        if input.par_level < input.reorder_point {
            errors.push(FieldError::new(
                "par_level",
                "par_below_reorder_point",
                format!(
                    "par level {} is below the reorder point {}: replenishment fills up to par",
                    input.par_level, input.reorder_point
                ),
            ));
        }
        if !errors.is_empty() {
            return Err(Rejection::invalid(errors).into());
        }
        let key = shelf_key(facility.as_str(), location, gtin.as_str());
        let _guard = self.lock_workflow(&key).await?;
        let before = self
            .store()
            .stock_level(facility.as_str(), location, gtin.as_str())
            .await?;
        let replenishment = before
            .as_ref()
            .and_then(|b| b.shelf.replenishment.clone())
            .filter(|_| input.on_hand <= input.reorder_point);
        let now = Utc::now();
        let level = StockLevel {
            facility: facility.to_string(),
            location: location.to_string(),
            gtin: gtin.to_string(),
            shelf: wf::Shelf {
                on_hand: input.on_hand,
                par_level: input.par_level,
                reorder_point: input.reorder_point,
                bill_only: input.bill_only,
                replenishment,
            },
            updated_at: now,
        };
        self.commit(vec![
            Write::Stock(level.clone()),
            crate::governance::audit(
                actor,
                "stock.set",
                key.clone(),
                None,
                None,
                None,
                json!({"before": before.map(|b| b.shelf), "after": level.shelf}),
            ),
        ])
        .await?;
        Ok(level)
    }
}

/// The lock key of a shelf: a usage's step and a replenishment's receipt take it.
pub(crate) fn shelf_key(facility: &str, location: &str, gtin: &str) -> String {
    format!("stock:{facility}:{location}:{gtin}")
}

/// The lines of a replenishment PO (`PO-REP-…`, raised by a usage), as (PO line, GTIN): each
/// fills the shelf of its GTIN at the PO's facility and location (the requisition's cost
/// center is the usage's location). Empty for any other PO (a bill-only item is the
/// supplier's stock).
pub(crate) fn replenished_lines(
    po: &crate::purchase_orders::PurchaseOrderRecord,
) -> Vec<(String, String)> {
    if !po.flow.po_number.starts_with("PO-REP-") || po.requester != REPLENISHMENT_REQUESTER {
        return vec![];
    }
    po.flow
        .lines
        .iter()
        .filter_map(|l| Some((l.line.clone(), l.gtin.clone()?)))
        .collect()
}

impl Hub {
    /// What a replenishment's goods receipt does to its shelves (under their locks): on hand
    /// goes up by what arrived, and once above the reorder point the replenishment is no longer
    /// open, so the next usage at the reorder point raises a new one.
    pub(crate) async fn restock(
        &self,
        po: &crate::purchase_orders::PurchaseOrderRecord,
        receipt: &concord_model::purchasing::GoodsReceipt,
        lines: &[(String, String)],
        correlation_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Write>> {
        use rust_decimal::prelude::ToPrimitive;
        let (facility, location) = (&po.facility, &po.cost_center);
        let mut writes = vec![];
        for (line, gtin) in lines {
            let arrived: i64 = receipt
                .lines
                .iter()
                .filter(|l| &l.po_line == line)
                .filter_map(|l| l.quantity.trunc().to_i64())
                .sum();
            if arrived == 0 {
                continue;
            }
            let Some(mut level) = self.store().stock_level(facility, location, gtin).await? else {
                continue;
            };
            let before = level.shelf.on_hand;
            level.shelf.on_hand += arrived;
            if level.shelf.on_hand > level.shelf.reorder_point {
                level.shelf.replenishment = None;
            }
            level.updated_at = now;
            writes.push(timeline(
                correlation_id,
                now,
                "restocked",
                json!({"po_number": po.flow.po_number, "receipt_id": receipt.receipt_id, "facility": facility,
                    "location": location, "gtin": gtin, "on_hand_before": before, "on_hand_after": level.shelf.on_hand}),
            ));
            writes.push(Write::Stock(level));
        }
        Ok(writes)
    }
}
