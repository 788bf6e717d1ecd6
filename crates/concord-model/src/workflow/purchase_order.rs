//! The life of one purchase order, from the approved requisition to payment:
//! created in the ERP (which gives its own PO number) → 850 sent to the supplier → 997/999
//! expected (missing after a timeout: exception) → 855, each line's answer mapped (backorders
//! and changes update the ERP and open procurement exceptions) → 856 (expected receipts) →
//! goods receipts from the warehouse → 810 → three-way match → payment released in the ERP, or
//! the invoice blocked with one exception per kind until someone resolves it.
//!
//! Pure, like every workflow: `apply(state, event) -> (state, actions)`. The driver persists the
//! state and carries out the actions; the three-way match is run by the driver
//! ([`crate::matching::three_way_match`]) and its outcome arrives as an event.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::matching::{MatchExceptionKind, MatchOutcome, OrderedLine};

/// Where a PO stands, in the words operations use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PoStage {
    /// Approved; being created in the ERP.
    Approved,
    /// The ERP has it (and its number); the 850 is on its way.
    InErp,
    /// The 850 left; no functional acknowledgement yet.
    Transmitted,
    /// The partner's 997/999 accepted it.
    Acknowledged,
    /// The partner's 997/999 rejected it: nothing will come until it is fixed and resent.
    RejectedByPartner,
    /// The supplier answered with an 855 (lines accepted, changed or backordered).
    Confirmed,
    /// The supplier rejected every line.
    RefusedBySupplier,
    /// An 856 announced a shipment.
    Shipped,
    PartiallyReceived,
    Received,
    /// An invoice failed three-way match; see the exceptions.
    InvoiceBlocked,
    /// An invoice matched (or its exceptions were accepted); payment released to the ERP.
    PaymentReleased,
    Paid,
}

impl PoStage {
    /// The status line for operations, as `GET /v1/purchase-orders/{id}` shows it.
    pub fn words(self) -> &'static str {
        match self {
            Self::Approved => "approved, creating in the ERP",
            Self::InErp => "created in the ERP",
            Self::Transmitted => "transmitted",
            Self::Acknowledged => "acknowledged",
            Self::RejectedByPartner => "rejected by the supplier's EDI",
            Self::Confirmed => "confirmed by the supplier",
            Self::RefusedBySupplier => "refused by the supplier",
            Self::Shipped => "shipped",
            Self::PartiallyReceived => "partially received",
            Self::Received => "received",
            Self::InvoiceBlocked => "invoice blocked",
            Self::PaymentReleased => "payment released",
            Self::Paid => "paid",
        }
    }
}

/// The supplier's answer for one line (from an 855, mapped by the driver).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum LineResponse {
    Accepted {
        quantity: Decimal,
    },
    Backordered {
        quantity: Decimal,
        expected: Option<DateTime<Utc>>,
    },
    Rejected,
    QuantityChanged {
        quantity: Decimal,
    },
    PriceChanged {
        unit_price: Decimal,
    },
    Substituted {
        gtin: String,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LineProgress {
    /// What the supplier confirmed it will ship (ordered until an 855 says otherwise).
    pub confirmed: Decimal,
    pub backordered: Decimal,
    pub rejected: bool,
    /// A price the supplier announced in place of the PO price.
    pub announced_price: Option<Decimal>,
    pub shipped: Decimal,
    pub received: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum InvoiceState {
    Blocked {
        exceptions: Vec<MatchExceptionKind>,
        /// The invoice total, released as is if the variance is accepted.
        amount: Decimal,
    },
    PaymentReleased {
        amount: Decimal,
    },
    Paid {
        amount: Decimal,
    },
    Rejected {
        reason: String,
    },
    CreditMemoRequested,
}

/// The workflow state of one PO.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PurchaseOrderFlow {
    pub po_number: String,
    pub requisition: String,
    pub supplier: String,
    /// The ERP's PO number, once it gave one (kept in crosswalks too).
    pub erp_po: Option<String>,
    pub lines: Vec<OrderedLine>,
    pub progress: BTreeMap<String, LineProgress>,
    pub stage: PoStage,
    /// ISA13 of the 850 sent.
    pub interchange: Option<u32>,
    pub invoices: BTreeMap<String, InvoiceState>,
    /// Open exception kinds on this PO (one per kind, as the store keeps them).
    pub open_exceptions: BTreeSet<String>,
}

/// How someone in the workbench resolved a blocked invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Resolution {
    /// Pay as invoiced; the approver and reason go to the audit log.
    AcceptVariance { reason: String, approver: String },
    /// Ask the supplier for a credit memo; the invoice stays unpaid.
    RequestCreditMemo,
    /// Refuse the invoice.
    RejectInvoice { reason: String },
    /// Match again (after a late receipt, say).
    Retry,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoEvent {
    Created {
        po_number: String,
        requisition: String,
        supplier: String,
        lines: Vec<OrderedLine>,
    },
    ErpCreated {
        erp_po: String,
    },
    Transmitted {
        interchange: u32,
        ack_due: DateTime<Utc>,
    },
    FunctionalAck {
        accepted: bool,
    },
    AckOverdue,
    SupplierAck {
        lines: Vec<(String, LineResponse)>,
    },
    ShipNotice {
        lines: Vec<(String, Decimal)>,
    },
    Received {
        lines: Vec<(String, Decimal)>,
    },
    Invoiced {
        invoice: String,
        outcome: MatchOutcome,
    },
    Resolved {
        invoice: String,
        resolution: Resolution,
    },
    PaymentConfirmed {
        invoice: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoAction {
    CreateInErp,
    Send850,
    ScheduleAckCheck {
        due: DateTime<Utc>,
    },
    /// Tell the ERP what the supplier changed (quantities, prices, backorders, rejections).
    UpdateErp {
        changes: Vec<(String, LineResponse)>,
    },
    OpenException {
        kind: String,
        detail: String,
    },
    ResolveException {
        kind: String,
    },
    /// Match this invoice again against the receipts as they are now.
    Rematch {
        invoice: String,
    },
    ReleasePayment {
        invoice: String,
        amount: Decimal,
    },
    RequestCreditMemo {
        invoice: String,
    },
    RejectInvoice {
        invoice: String,
        reason: String,
    },
}

pub const ACK_MISSING: &str = "edi_ack_missing";
pub const EDI_REJECTED: &str = "edi_rejected";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoError {
    #[error("PO workflow received {0} before the PO was created")]
    NotStarted(&'static str),
    #[error("{event} does not apply to a PO that is {stage}")]
    OutOfOrder {
        event: &'static str,
        stage: &'static str,
    },
    #[error("line {0} is not on the PO")]
    UnknownLine(String),
    #[error("invoice {0} is not blocked on this PO")]
    UnknownInvoice(String),
}

/// The exception kind opened for a supplier's answer on a line, if it needs one.
fn response_exception(r: &LineResponse) -> Option<&'static str> {
    match r {
        LineResponse::Accepted { .. } => None,
        LineResponse::Backordered { .. } => Some("backorder"),
        LineResponse::Rejected => Some("line_rejected"),
        LineResponse::QuantityChanged { .. } => Some("quantity_change"),
        LineResponse::PriceChanged { .. } => Some("price_change"),
        LineResponse::Substituted { .. } => Some("substitution"),
    }
}

/// The exception kind of a three-way match exception on an invoice.
pub fn invoice_exception(kind: MatchExceptionKind) -> String {
    format!("invoice_{}", kind.as_str())
}

impl PurchaseOrderFlow {
    fn open(&mut self, kind: &str, detail: String, actions: &mut Vec<PoAction>) {
        if self.open_exceptions.insert(kind.to_string()) {
            actions.push(PoAction::OpenException {
                kind: kind.to_string(),
                detail,
            });
        }
    }

    fn resolve(&mut self, kind: &str, actions: &mut Vec<PoAction>) {
        if self.open_exceptions.remove(kind) {
            actions.push(PoAction::ResolveException {
                kind: kind.to_string(),
            });
        }
    }

    /// What a line still expects to receive: what the supplier confirmed plus what it
    /// backordered (rejected lines expect nothing).
    fn expected(p: &LineProgress) -> Decimal {
        if p.rejected {
            Decimal::ZERO
        } else {
            p.confirmed + p.backordered
        }
    }

    /// The receiving stage from the goods lines' progress; `None` before anything arrived.
    fn receiving_stage(&self) -> Option<PoStage> {
        let goods = || {
            self.lines
                .iter()
                .filter(|l| !l.service)
                .filter_map(|l| self.progress.get(&l.line))
        };
        if !goods().any(|p| p.received > Decimal::ZERO) {
            return None;
        }
        let all = goods().all(|p| p.received >= Self::expected(p));
        Some(if all {
            PoStage::Received
        } else {
            PoStage::PartiallyReceived
        })
    }

    /// The progress of a line the PO has, or why the document naming it cannot apply.
    fn progress_mut(&mut self, line: &str) -> Result<&mut LineProgress, PoError> {
        self.progress
            .get_mut(line)
            .ok_or_else(|| PoError::UnknownLine(line.to_string()))
    }
}

/// Advances the workflow by one event.
pub fn apply(
    state: Option<PurchaseOrderFlow>,
    event: PoEvent,
) -> Result<(PurchaseOrderFlow, Vec<PoAction>), PoError> {
    let mut actions = Vec::new();
    let po = match (state, event) {
        (
            None,
            PoEvent::Created {
                po_number,
                requisition,
                supplier,
                lines,
            },
        ) => {
            let progress = lines
                .iter()
                .map(|l| {
                    (
                        l.line.clone(),
                        LineProgress {
                            confirmed: l.quantity,
                            ..LineProgress::default()
                        },
                    )
                })
                .collect();
            actions.push(PoAction::CreateInErp);
            return Ok((
                PurchaseOrderFlow {
                    po_number,
                    requisition,
                    supplier,
                    erp_po: None,
                    lines,
                    progress,
                    stage: PoStage::Approved,
                    interchange: None,
                    invoices: BTreeMap::new(),
                    open_exceptions: BTreeSet::new(),
                },
                actions,
            ));
        }
        (None, _) => return Err(PoError::NotStarted("an event")),
        (Some(po), event) => {
            let mut po = po;
            step(&mut po, event, &mut actions)?;
            po
        }
    };
    Ok((po, actions))
}

fn out_of_order(event: &'static str, po: &PurchaseOrderFlow) -> PoError {
    PoError::OutOfOrder {
        event,
        stage: po.stage.words(),
    }
}

fn step(
    po: &mut PurchaseOrderFlow,
    event: PoEvent,
    actions: &mut Vec<PoAction>,
) -> Result<(), PoError> {
    let settles = matches!(
        event,
        PoEvent::Invoiced { .. } | PoEvent::Resolved { .. } | PoEvent::PaymentConfirmed { .. }
    );
    match event {
        // Created twice (a redelivered requisition): nothing new to do.
        PoEvent::Created { .. } => {}
        PoEvent::ErpCreated { erp_po } => {
            if po.stage != PoStage::Approved {
                return Err(out_of_order("the ERP's PO number", po));
            }
            po.erp_po = Some(erp_po);
            po.stage = PoStage::InErp;
            actions.push(PoAction::Send850);
        }
        PoEvent::Transmitted {
            interchange,
            ack_due,
        } => {
            match po.stage {
                PoStage::Approved => return Err(out_of_order("a transmission", po)),
                // Sent (again, when the 850 was resent after a missing or rejecting 997).
                PoStage::InErp | PoStage::Transmitted | PoStage::RejectedByPartner => {
                    po.interchange = Some(interchange);
                    po.stage = PoStage::Transmitted;
                    actions.push(PoAction::ScheduleAckCheck { due: ack_due });
                }
                // The partner answered before the hub recorded that its send succeeded (its
                // 997 or 855 raced the HTTP answer): the 850 evidently arrived.
                _ => po.interchange = Some(interchange),
            }
        }
        PoEvent::FunctionalAck { accepted } => {
            po.resolve(ACK_MISSING, actions);
            // InErp: the 997 raced the answer to our send (see `Transmitted`).
            if matches!(po.stage, PoStage::Transmitted | PoStage::InErp) {
                if accepted {
                    po.stage = PoStage::Acknowledged;
                    po.resolve(EDI_REJECTED, actions);
                } else {
                    po.stage = PoStage::RejectedByPartner;
                    po.open(
                        EDI_REJECTED,
                        format!("the supplier's EDI rejected the 850 for {}", po.po_number),
                        actions,
                    );
                }
            }
        }
        PoEvent::AckOverdue => {
            if po.stage == PoStage::Transmitted {
                po.open(
                    ACK_MISSING,
                    format!(
                        "no 997/999 for the 850 of {} (interchange {:?})",
                        po.po_number, po.interchange
                    ),
                    actions,
                );
            }
        }
        PoEvent::SupplierAck { lines } => {
            if po.stage == PoStage::Approved {
                return Err(out_of_order("an 855", po));
            }
            let mut changes = Vec::new();
            for (line, response) in lines {
                let ordered = po
                    .lines
                    .iter()
                    .find(|l| l.line == line)
                    .map(|l| l.quantity)
                    .unwrap_or_default();
                let p = po.progress_mut(&line)?;
                match &response {
                    LineResponse::Accepted { quantity } => p.confirmed = *quantity,
                    // A line may come as "2 accepted" plus "2 backordered", in either order.
                    LineResponse::Backordered { quantity, .. } => {
                        p.backordered = *quantity;
                        p.confirmed = p.confirmed.min((ordered - *quantity).max(Decimal::ZERO));
                    }
                    LineResponse::Rejected => {
                        p.rejected = true;
                        p.confirmed = Decimal::ZERO;
                    }
                    LineResponse::QuantityChanged { quantity } => p.confirmed = *quantity,
                    LineResponse::PriceChanged { unit_price } => {
                        p.announced_price = Some(*unit_price)
                    }
                    LineResponse::Substituted { .. } => {}
                }
                if let Some(kind) = response_exception(&response) {
                    po.open(
                        kind,
                        format!("PO {} line {line}: {response:?}", po.po_number),
                        actions,
                    );
                    changes.push((line, response));
                }
            }
            if !changes.is_empty() {
                actions.push(PoAction::UpdateErp { changes });
            }
            let all_rejected = po.progress.values().all(|p| p.rejected);
            if matches!(
                po.stage,
                PoStage::InErp
                    | PoStage::Transmitted
                    | PoStage::Acknowledged
                    | PoStage::RejectedByPartner
            ) {
                po.resolve(ACK_MISSING, actions);
                po.stage = if all_rejected {
                    PoStage::RefusedBySupplier
                } else {
                    PoStage::Confirmed
                };
            }
        }
        PoEvent::ShipNotice { lines } => {
            for (line, quantity) in lines {
                po.progress_mut(&line)?.shipped += quantity;
            }
            if matches!(
                po.stage,
                PoStage::InErp | PoStage::Transmitted | PoStage::Acknowledged | PoStage::Confirmed
            ) {
                po.resolve(ACK_MISSING, actions);
                po.stage = PoStage::Shipped;
            }
        }
        PoEvent::Received { lines } => {
            for (line, quantity) in lines {
                po.progress_mut(&line)?.received += quantity;
            }
            // The backorder exception closes when every backordered quantity has arrived.
            if po
                .progress
                .values()
                .filter(|p| p.backordered > Decimal::ZERO)
                .all(|p| p.received >= PurchaseOrderFlow::expected(p))
            {
                po.resolve("backorder", actions);
            }
            if !matches!(
                po.stage,
                PoStage::InvoiceBlocked | PoStage::PaymentReleased | PoStage::Paid
            ) && let Some(stage) = po.receiving_stage()
            {
                po.stage = stage;
            }
            // Invoices waiting on a receipt are matched again.
            for (invoice, state) in &po.invoices {
                if let InvoiceState::Blocked { exceptions, .. } = state
                    && exceptions.iter().any(|k| {
                        matches!(
                            k,
                            MatchExceptionKind::NoReceipt
                                | MatchExceptionKind::QuantityOverReceived
                        )
                    })
                {
                    actions.push(PoAction::Rematch {
                        invoice: invoice.clone(),
                    });
                }
            }
        }
        PoEvent::Invoiced { invoice, outcome } => {
            if po.stage == PoStage::Approved {
                return Err(out_of_order("an invoice", po));
            }
            // A rematch replaces the invoice's earlier exceptions.
            if let Some(InvoiceState::Blocked { exceptions, .. }) = po.invoices.get(&invoice) {
                for kind in exceptions.clone() {
                    po.resolve(&invoice_exception(kind), actions);
                }
            }
            if outcome.matched() {
                po.invoices.insert(
                    invoice.clone(),
                    InvoiceState::PaymentReleased {
                        amount: outcome.invoice_total,
                    },
                );
                actions.push(PoAction::ReleasePayment {
                    invoice,
                    amount: outcome.invoice_total,
                });
            } else {
                for e in &outcome.exceptions {
                    po.open(
                        &invoice_exception(e.kind),
                        format!("invoice {invoice}: {}", e.detail),
                        actions,
                    );
                }
                po.invoices.insert(
                    invoice,
                    InvoiceState::Blocked {
                        exceptions: outcome.kinds(),
                        amount: outcome.invoice_total,
                    },
                );
            }
        }
        PoEvent::Resolved {
            invoice,
            resolution,
        } => {
            let Some(InvoiceState::Blocked { exceptions, amount }) =
                po.invoices.get(&invoice).cloned()
            else {
                return Err(PoError::UnknownInvoice(invoice));
            };
            let (action, state) = match resolution {
                Resolution::Retry => {
                    actions.push(PoAction::Rematch { invoice });
                    return Ok(());
                }
                Resolution::AcceptVariance { .. } => (
                    PoAction::ReleasePayment {
                        invoice: invoice.clone(),
                        amount,
                    },
                    InvoiceState::PaymentReleased { amount },
                ),
                // Handled: the supplier's corrected invoice or credit memo comes as a new
                // invoice and is matched on its own.
                Resolution::RequestCreditMemo => (
                    PoAction::RequestCreditMemo {
                        invoice: invoice.clone(),
                    },
                    InvoiceState::CreditMemoRequested,
                ),
                Resolution::RejectInvoice { reason } => (
                    PoAction::RejectInvoice {
                        invoice: invoice.clone(),
                        reason: reason.clone(),
                    },
                    InvoiceState::Rejected { reason },
                ),
            };
            // Every resolution but a retry settles the invoice's exceptions.
            for kind in &exceptions {
                po.resolve(&invoice_exception(*kind), actions);
            }
            actions.push(action);
            po.invoices.insert(invoice, state);
        }
        PoEvent::PaymentConfirmed { invoice } => match po.invoices.get(&invoice).cloned() {
            Some(InvoiceState::PaymentReleased { amount }) => {
                po.invoices.insert(invoice, InvoiceState::Paid { amount });
            }
            _ => return Err(PoError::UnknownInvoice(invoice)),
        },
    }
    if settles {
        po.settle();
    }
    Ok(())
}

impl PurchaseOrderFlow {
    /// The stage once an invoice moved (the one place invoice events set it): blocked while
    /// any invoice is; payment released while
    /// any release is unconfirmed; paid only when every invoice is settled and every line has
    /// what it expects (a backorder still to come keeps it partially received).
    fn settle(&mut self) {
        let any = |f: fn(&InvoiceState) -> bool| self.invoices.values().any(f);
        self.stage = if any(|i| matches!(i, InvoiceState::Blocked { .. })) {
            PoStage::InvoiceBlocked
        } else if any(|i| matches!(i, InvoiceState::PaymentReleased { .. })) {
            PoStage::PaymentReleased
        } else {
            match self.receiving_stage() {
                Some(PoStage::Received) | None
                    if any(|i| matches!(i, InvoiceState::Paid { .. })) =>
                {
                    PoStage::Paid
                }
                Some(stage) => stage,
                None => self.stage,
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matching::{MatchException, MatchOutcome};
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn lines() -> Vec<OrderedLine> {
        ["10", "4", "25"]
            .iter()
            .enumerate()
            .map(|(i, q)| OrderedLine {
                line: (i + 1).to_string(),
                gtin: None,
                quantity: d(q),
                uom: "EA".into(),
                unit_price: d("10"),
                service: false,
            })
            .collect()
    }

    fn run(state: Option<PurchaseOrderFlow>, event: PoEvent) -> (PurchaseOrderFlow, Vec<PoAction>) {
        apply(state, event).unwrap()
    }

    /// A new PO with [`lines`], as the driver creates it.
    fn created(po_number: &str) -> PurchaseOrderFlow {
        let (po, a) = run(
            None,
            PoEvent::Created {
                po_number: po_number.into(),
                requisition: "R-1".into(),
                supplier: "SUP-001".into(),
                lines: lines(),
            },
        );
        assert_eq!(a, vec![PoAction::CreateInErp]);
        po
    }

    /// A PO through ERP creation, transmission and an accepted 997.
    fn acknowledged() -> PurchaseOrderFlow {
        let po = created("PO-1");
        let (po, a) = run(
            Some(po),
            PoEvent::ErpCreated {
                erp_po: "4500012345".into(),
            },
        );
        assert_eq!(a, vec![PoAction::Send850]);
        let due = Utc.with_ymd_and_hms(2026, 11, 21, 10, 0, 0).unwrap();
        let (po, a) = run(
            Some(po),
            PoEvent::Transmitted {
                interchange: 101,
                ack_due: due,
            },
        );
        assert_eq!(a, vec![PoAction::ScheduleAckCheck { due }]);
        assert_eq!(po.stage.words(), "transmitted");
        let (po, a) = run(Some(po), PoEvent::FunctionalAck { accepted: true });
        assert!(a.is_empty());
        assert_eq!(po.stage, PoStage::Acknowledged);
        po
    }

    fn receive(po: PurchaseOrderFlow, what: &[(&str, &str)]) -> (PurchaseOrderFlow, Vec<PoAction>) {
        run(
            Some(po),
            PoEvent::Received {
                lines: what.iter().map(|(l, q)| (l.to_string(), d(q))).collect(),
            },
        )
    }

    fn outcome(kinds: &[MatchExceptionKind], total: &str) -> MatchOutcome {
        MatchOutcome {
            exceptions: kinds
                .iter()
                .map(|k| MatchException {
                    kind: *k,
                    invoice_line: Some(1),
                    po_line: Some("1".into()),
                    expected: None,
                    actual: None,
                    detail: "test".into(),
                })
                .collect(),
            invoice_total: d(total),
        }
    }

    #[test]
    fn a_po_goes_from_approval_to_paid() {
        let po = acknowledged();
        let accepted = lines()
            .iter()
            .map(|l| {
                (
                    l.line.clone(),
                    LineResponse::Accepted {
                        quantity: l.quantity,
                    },
                )
            })
            .collect();
        let (po, a) = run(Some(po), PoEvent::SupplierAck { lines: accepted });
        assert!(a.is_empty(), "{a:?}");
        assert_eq!(po.stage, PoStage::Confirmed);
        let (po, _) = run(
            Some(po),
            PoEvent::ShipNotice {
                lines: vec![("1".into(), d("10"))],
            },
        );
        assert_eq!(po.stage, PoStage::Shipped);
        let (po, _) = receive(po, &[("1", "10"), ("2", "4")]);
        assert_eq!(po.stage.words(), "partially received");
        let (po, _) = receive(po, &[("3", "25")]);
        assert_eq!(po.stage, PoStage::Received);
        let (po, a) = run(
            Some(po),
            PoEvent::Invoiced {
                invoice: "INV-1".into(),
                outcome: outcome(&[], "390.00"),
            },
        );
        assert_eq!(
            a,
            vec![PoAction::ReleasePayment {
                invoice: "INV-1".into(),
                amount: d("390.00")
            }]
        );
        assert_eq!(po.stage, PoStage::PaymentReleased);
        let (po, _) = run(
            Some(po),
            PoEvent::PaymentConfirmed {
                invoice: "INV-1".into(),
            },
        );
        assert_eq!(po.stage.words(), "paid");
        assert!(po.open_exceptions.is_empty());
    }

    #[test]
    fn a_missing_997_opens_one_exception_that_a_late_one_resolves() {
        let po = created("PO-1");
        let (po, _) = run(
            Some(po),
            PoEvent::ErpCreated {
                erp_po: "45".into(),
            },
        );
        let due = Utc.with_ymd_and_hms(2026, 11, 21, 10, 0, 0).unwrap();
        let (po, _) = run(
            Some(po),
            PoEvent::Transmitted {
                interchange: 7,
                ack_due: due,
            },
        );
        let (po, a) = run(Some(po), PoEvent::AckOverdue);
        assert!(matches!(&a[..], [PoAction::OpenException { kind, .. }] if kind == ACK_MISSING));
        let (po, a) = run(Some(po), PoEvent::AckOverdue);
        assert!(a.is_empty(), "opened once: {a:?}");
        let (po, a) = run(Some(po), PoEvent::FunctionalAck { accepted: true });
        assert_eq!(
            a,
            vec![PoAction::ResolveException {
                kind: ACK_MISSING.into()
            }]
        );
        assert_eq!(po.stage, PoStage::Acknowledged);
    }

    #[test]
    fn backorders_and_price_changes_update_the_erp_and_open_exceptions() {
        let po = acknowledged();
        let (po, a) = run(
            Some(po),
            PoEvent::SupplierAck {
                lines: vec![
                    ("1".into(), LineResponse::Accepted { quantity: d("10") }),
                    ("2".into(), LineResponse::Accepted { quantity: d("2") }),
                    (
                        "2".into(),
                        LineResponse::Backordered {
                            quantity: d("2"),
                            expected: None,
                        },
                    ),
                    (
                        "3".into(),
                        LineResponse::PriceChanged {
                            unit_price: d("10.40"),
                        },
                    ),
                ],
            },
        );
        let kinds: Vec<&str> = a
            .iter()
            .filter_map(|a| match a {
                PoAction::OpenException { kind, .. } => Some(kind.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(kinds, vec!["backorder", "price_change"]);
        assert!(matches!(a.last(), Some(PoAction::UpdateErp { changes }) if changes.len() == 2));
        assert_eq!(po.progress["2"].confirmed, d("2"));
        assert_eq!(po.progress["3"].announced_price, Some(d("10.40")));
        // The first shipment leaves line 2 short; the backorder's arrival closes it.
        let (po, a) = receive(po, &[("1", "10"), ("2", "2"), ("3", "25")]);
        assert_eq!(po.stage, PoStage::PartiallyReceived);
        assert!(a.is_empty(), "{a:?}");
        let (po, a) = receive(po, &[("2", "2")]);
        assert_eq!(po.stage, PoStage::Received);
        assert_eq!(
            a,
            vec![PoAction::ResolveException {
                kind: "backorder".into()
            }]
        );
    }

    #[test]
    fn a_supplier_that_rejects_every_line_refuses_the_po() {
        let po = acknowledged();
        let all = lines()
            .iter()
            .map(|l| (l.line.clone(), LineResponse::Rejected))
            .collect();
        let (po, _) = run(Some(po), PoEvent::SupplierAck { lines: all });
        assert_eq!(po.stage.words(), "refused by the supplier");
    }

    #[test]
    fn a_blocked_invoice_is_paid_once_its_variance_is_accepted() {
        let (po, _) = receive(acknowledged(), &[("1", "10"), ("2", "4"), ("3", "25")]);
        let (po, a) = run(
            Some(po),
            PoEvent::Invoiced {
                invoice: "INV-9".into(),
                outcome: outcome(&[MatchExceptionKind::PriceVariance], "401.00"),
            },
        );
        assert!(
            matches!(&a[..], [PoAction::OpenException { kind, .. }] if kind == "invoice_price_variance")
        );
        assert_eq!(po.stage.words(), "invoice blocked");
        let (po, a) = run(
            Some(po),
            PoEvent::Resolved {
                invoice: "INV-9".into(),
                resolution: Resolution::AcceptVariance {
                    reason: "freight".into(),
                    approver: "u-2".into(),
                },
            },
        );
        assert_eq!(
            a,
            vec![
                PoAction::ResolveException {
                    kind: "invoice_price_variance".into()
                },
                PoAction::ReleasePayment {
                    invoice: "INV-9".into(),
                    amount: d("401.00")
                },
            ]
        );
        assert_eq!(po.stage, PoStage::PaymentReleased);
        assert!(po.open_exceptions.is_empty());
    }

    #[test]
    fn an_invoice_before_its_receipt_is_matched_again_when_the_goods_arrive() {
        let po = acknowledged();
        let (po, _) = run(
            Some(po),
            PoEvent::Invoiced {
                invoice: "INV-2".into(),
                outcome: outcome(&[MatchExceptionKind::NoReceipt], "390.00"),
            },
        );
        let (po, a) = receive(po, &[("1", "10"), ("2", "4"), ("3", "25")]);
        assert_eq!(
            a,
            vec![PoAction::Rematch {
                invoice: "INV-2".into()
            }]
        );
        assert_eq!(
            po.stage,
            PoStage::InvoiceBlocked,
            "receipts do not unblock by themselves"
        );
        let (po, a) = run(
            Some(po),
            PoEvent::Invoiced {
                invoice: "INV-2".into(),
                outcome: outcome(&[], "390.00"),
            },
        );
        assert_eq!(
            a[0],
            PoAction::ResolveException {
                kind: "invoice_no_receipt".into()
            }
        );
        assert!(matches!(a[1], PoAction::ReleasePayment { .. }));
        assert!(po.open_exceptions.is_empty());
    }

    #[test]
    fn a_po_is_paid_only_when_every_invoice_is_settled_and_every_backorder_arrived() {
        let po = acknowledged();
        let (po, _) = run(
            Some(po),
            PoEvent::SupplierAck {
                lines: vec![(
                    "1".into(),
                    LineResponse::Backordered {
                        quantity: d("5"),
                        expected: None,
                    },
                )],
            },
        );
        let (po, _) = receive(po, &[("1", "5"), ("2", "4"), ("3", "25")]);
        let invoice = |po, n: &str, kinds: &[MatchExceptionKind]| {
            run(
                Some(po),
                PoEvent::Invoiced {
                    invoice: n.into(),
                    outcome: outcome(kinds, "340.00"),
                },
            )
            .0
        };
        let paid = |po, n: &str| run(Some(po), PoEvent::PaymentConfirmed { invoice: n.into() }).0;
        let po = invoice(po, "INV-1", &[MatchExceptionKind::PriceVariance]);
        assert_eq!(po.stage, PoStage::InvoiceBlocked);
        // A second invoice matching does not hide the first one's block.
        let po = invoice(po, "INV-0", &[]);
        assert_eq!(po.stage, PoStage::InvoiceBlocked);
        let po = paid(po, "INV-0");
        assert_eq!(po.stage, PoStage::InvoiceBlocked);
        let (po, _) = run(
            Some(po),
            PoEvent::Resolved {
                invoice: "INV-1".into(),
                resolution: Resolution::AcceptVariance {
                    reason: "agreed".into(),
                    approver: "u-1".into(),
                },
            },
        );
        assert_eq!(po.stage, PoStage::PaymentReleased);
        let po = paid(po, "INV-1");
        assert_eq!(
            po.stage.words(),
            "partially received",
            "paid so far, but 5 are still backordered"
        );
        let (po, _) = receive(po, &[("1", "5")]);
        assert_eq!(po.stage, PoStage::Received);
        let po = invoice(po, "INV-2", &[]);
        let po = paid(po, "INV-2");
        assert_eq!(po.stage, PoStage::Paid);
    }

    #[test]
    fn a_partner_answer_that_races_the_send_confirmation_is_kept() {
        let po = created("PO-1");
        let (po, _) = run(
            Some(po),
            PoEvent::ErpCreated {
                erp_po: "45".into(),
            },
        );
        // The 997 and the 855 arrive before the hub recorded that its HTTP send succeeded.
        let (po, _) = run(Some(po), PoEvent::FunctionalAck { accepted: true });
        assert_eq!(po.stage, PoStage::Acknowledged);
        let accept = vec![(
            "1".to_string(),
            LineResponse::Accepted { quantity: d("10") },
        )];
        let (po, _) = run(Some(po), PoEvent::SupplierAck { lines: accept });
        assert_eq!(po.stage, PoStage::Confirmed);
        let due = Utc.with_ymd_and_hms(2026, 11, 21, 10, 0, 0).unwrap();
        let (po, a) = run(
            Some(po),
            PoEvent::Transmitted {
                interchange: 7,
                ack_due: due,
            },
        );
        assert!(
            a.is_empty(),
            "no wait for an acknowledgement that came: {a:?}"
        );
        assert_eq!(po.stage, PoStage::Confirmed);
        assert_eq!(po.interchange, Some(7));
        // Before the ERP has it, nothing from the partner can be right.
        let fresh = created("PO-2");
        let early = apply(Some(fresh), PoEvent::SupplierAck { lines: vec![] }).unwrap_err();
        assert!(matches!(early, PoError::OutOfOrder { .. }), "{early:?}");
    }

    #[test]
    fn events_out_of_place_are_refused_with_a_reason() {
        assert_eq!(
            apply(None, PoEvent::AckOverdue).unwrap_err(),
            PoError::NotStarted("an event")
        );
        let po = acknowledged();
        let err = apply(Some(po.clone()), PoEvent::ErpCreated { erp_po: "x".into() }).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the ERP's PO number does not apply to a PO that is acknowledged"
        );
        let err = apply(
            Some(po.clone()),
            PoEvent::Received {
                lines: vec![("9".into(), d("1"))],
            },
        )
        .unwrap_err();
        assert_eq!(err, PoError::UnknownLine("9".into()));
        let err = apply(
            Some(po),
            PoEvent::Resolved {
                invoice: "nope".into(),
                resolution: Resolution::Retry,
            },
        )
        .unwrap_err();
        assert_eq!(err, PoError::UnknownInvoice("nope".into()));
    }

    proptest! {
        #[test]
        fn received_exactly_when_every_line_has_what_it_expects(deliveries in prop::collection::vec((0usize..3, 1i64..12), 0..12)) {
            let mut po = acknowledged();
            let mut got = [Decimal::ZERO; 3];
            for (line, qty) in deliveries {
                got[line] += Decimal::from(qty);
                po = receive(po, &[(&(line + 1).to_string(), &qty.to_string())]).0;
            }
            let all = lines().iter().zip(got).all(|(l, g)| g >= l.quantity);
            let any = got.iter().any(|g| *g > Decimal::ZERO);
            let expected = if all { PoStage::Received } else if any { PoStage::PartiallyReceived } else { PoStage::Acknowledged };
            prop_assert_eq!(po.stage, expected);
        }
    }
}
