//! From an approved requisition to purchase orders, and the warehouse's goods receipt.
//!
//! An approved requisition becomes one PO per supplier: each line goes to the supplier of the
//! contract that priced it, else to the item's own supplier in the item master. A line with
//! neither cannot be ordered and is reported, never dropped.

use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{
    FieldError, Gln, Gtin, PriceCatalog, Uom,
    error::Validate,
    master::check_id,
    matching::OrderedLine,
    requisition::{Requisition, RequisitionAnswer},
};

/// One PO to place: the lines of one supplier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedOrder {
    /// Ours, `PO-{requisition}-{n}` (BEG03, which allows 22 characters, carries the ERP's
    /// number in most set-ups; this one is the hub's key).
    pub po_number: String,
    pub supplier: String,
    pub lines: Vec<OrderedLine>,
}

/// The POs for an approved requisition, numbered in supplier order, and the requisition lines
/// (1-based) no supplier could be found for.
pub fn plan_orders(
    requisition: &Requisition,
    answer: &RequisitionAnswer,
    catalog: &PriceCatalog,
) -> (Vec<PlannedOrder>, Vec<u32>) {
    let mut by_supplier: std::collections::BTreeMap<String, Vec<OrderedLine>> = Default::default();
    let mut unplaced = Vec::new();
    for (i, line) in requisition.lines.iter().enumerate() {
        let number = i as u32 + 1;
        let contract_supplier = answer
            .lines
            .iter()
            .find(|a| a.line == number)
            .and_then(|a| a.contract_id.as_deref())
            .and_then(|id| catalog.contract(id))
            .map(|c| c.supplier_id.clone());
        let supplier = contract_supplier
            .or_else(|| catalog.item(&line.gtin).and_then(|i| i.supplier_id.clone()));
        let Some(supplier) = supplier else {
            unplaced.push(number);
            continue;
        };
        by_supplier.entry(supplier).or_default().push(OrderedLine {
            line: number.to_string(),
            gtin: Some(line.gtin.to_string()),
            quantity: Decimal::from(line.quantity),
            uom: line.uom.to_string(),
            unit_price: line.unit_price,
            service: false,
        });
    }
    let orders = by_supplier
        .into_iter()
        .enumerate()
        .map(|(n, (supplier, lines))| PlannedOrder {
            po_number: format!("PO-{}-{}", requisition.id, n + 1),
            supplier,
            lines,
        })
        .collect();
    (orders, unplaced)
}

/// A goods receipt from the warehouse: what arrived against which PO lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GoodsReceipt {
    /// The warehouse's receipt number; a receipt is counted once however often it is posted.
    pub receipt_id: String,
    /// The hub's PO number (or the ERP's, which the hub finds through its crosswalk).
    pub po_number: String,
    /// Where it was received.
    pub facility: Gln,
    pub lines: Vec<ReceiptLine>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiptLine {
    /// The PO line number.
    pub po_line: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gtin: Option<Gtin>,
    #[serde(with = "rust_decimal::serde::str")]
    #[schemars(with = "String")]
    pub quantity: Decimal,
    pub uom: Uom,
}

impl Validate for GoodsReceipt {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        check_id("receipt_id", &self.receipt_id, &mut errors);
        check_id("po_number", &self.po_number, &mut errors);
        if self.lines.is_empty() {
            errors.push(FieldError::new(
                "lines",
                "required",
                "a receipt needs at least one line",
            ));
        }
        for (i, line) in self.lines.iter().enumerate() {
            check_id(&format!("lines[{i}].po_line"), &line.po_line, &mut errors);
            if line.quantity <= Decimal::ZERO {
                errors.push(FieldError::new(
                    format!("lines[{i}].quantity"),
                    "quantity_min",
                    format!("quantity {} must be more than 0", line.quantity),
                ));
            }
        }
        errors
    }
}

/// What someone in the workbench does with an exception.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum WorkbenchAction {
    /// Pay the invoice as invoiced (invoice exceptions); approved in the resolver's name.
    AcceptVariance { reason: String },
    /// Ask the supplier for a credit memo (invoice exceptions).
    RequestCreditMemo {
        #[serde(default)]
        reason: Option<String>,
    },
    /// Refuse the invoice (invoice exceptions).
    RejectInvoice { reason: String },
    /// Match the invoice again, resend the 850 (EDI exceptions), or replay the dead ERP
    /// delivery that opened the exception.
    Retry {
        #[serde(default)]
        reason: Option<String>,
    },
    /// Noted and handled outside the hub (backorders, supplier changes, anything else).
    Acknowledge { reason: String },
    /// A screening finding on a new supplier is no reason to stop (a namesake, a different
    /// company): the onboarding goes on to approval.
    Clear { reason: String },
    /// A screening finding stands: the new supplier is rejected.
    RejectSupplier { reason: String },
}

impl WorkbenchAction {
    pub fn name(&self) -> &'static str {
        match self {
            Self::AcceptVariance { .. } => "accept_variance",
            Self::RequestCreditMemo { .. } => "request_credit_memo",
            Self::RejectInvoice { .. } => "reject_invoice",
            Self::Retry { .. } => "retry",
            Self::Acknowledge { .. } => "acknowledge",
            Self::Clear { .. } => "clear",
            Self::RejectSupplier { .. } => "reject_supplier",
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::AcceptVariance { reason }
            | Self::RejectInvoice { reason }
            | Self::Acknowledge { reason }
            | Self::Clear { reason }
            | Self::RejectSupplier { reason } => Some(reason),
            Self::RequestCreditMemo { reason } | Self::Retry { reason } => reason.as_deref(),
        }
    }

    /// A reason is required where one is asked for, and must say something.
    pub fn check(&self) -> Result<(), FieldError> {
        match self.reason() {
            Some(r) if r.trim().is_empty() => {
                Err(FieldError::new("reason", "required", "the reason is empty"))
            }
            Some(r) if r.len() > 2000 => Err(FieldError::new(
                "reason",
                "max_length",
                "the reason is longer than 2000 characters",
            )),
            _ => Ok(()),
        }
    }
}

impl Validate for WorkbenchAction {
    fn validate(&self) -> Vec<FieldError> {
        self.check().err().into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        Item, Unspsc,
        price::fixtures::{G1, G2, G3, H1, catalog as base_catalog, contract},
        requisition::{Decision, LineAnswer, LineDecision, RequisitionLine},
    };

    fn requisition(lines: &[&str]) -> Requisition {
        Requisition {
            id: "R-1".into(),
            requester: "u-1".into(),
            facility: Gln::parse(H1).unwrap(),
            cost_center: "CC-1".into(),
            lines: lines
                .iter()
                .map(|g| RequisitionLine {
                    gtin: Gtin::parse(g).unwrap(),
                    quantity: 4,
                    uom: Uom::parse("EA").unwrap(),
                    unit_price: Decimal::new(1250, 2),
                })
                .collect(),
        }
    }

    fn answer(contracts: &[Option<&str>]) -> RequisitionAnswer {
        RequisitionAnswer {
            id: "R-1".into(),
            decision: Decision::Approved,
            approvers: vec![],
            lines: contracts
                .iter()
                .enumerate()
                .map(|(i, c)| LineAnswer {
                    line: i as u32 + 1,
                    decision: if c.is_some() {
                        LineDecision::OnContract
                    } else {
                        LineDecision::OffContract
                    },
                    contract_id: c.map(str::to_string),
                    contract_price: None,
                    alternatives: vec![],
                })
                .collect(),
            reasons: vec![],
            total: Decimal::ZERO,
        }
    }

    fn catalog() -> PriceCatalog {
        let mut catalog = base_catalog();
        // The fixture contract's supplier is S-1. Its price (12.00) differs from the one
        // requisitioned (12.50), so the tests see which one a PO line carries.
        catalog.activate(contract("C-1", G1, &[(1, 1200)], &[], "2026-01-01"));
        catalog.upsert_item(Item {
            gtin: Gtin::parse(G2).unwrap(),
            description: "stent".into(),
            unspsc: Unspsc::parse("42140000").unwrap(),
            uom: Uom::parse("EA").unwrap(),
            vendor_part: None,
            supplier_id: Some("S-0".into()),
            udi_di: None,
            manufacturer: None,
            manufacturer_part: None,
            packaging: vec![],
        });
        catalog
    }

    #[test]
    fn lines_go_to_their_contracts_supplier_else_the_items_and_unknown_ones_are_reported() {
        let r = requisition(&[G1, G2, G3, G1]);
        let a = answer(&[Some("C-1"), None, None, Some("C-1")]);
        let (orders, unplaced) = plan_orders(&r, &a, &catalog());
        assert_eq!(
            unplaced,
            [3],
            "line 3 has neither a contract nor an item supplier"
        );
        let summary: Vec<(&str, &str, Vec<&str>)> = orders
            .iter()
            .map(|o| {
                (
                    o.po_number.as_str(),
                    o.supplier.as_str(),
                    o.lines.iter().map(|l| l.line.as_str()).collect(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("PO-R-1-1", "S-0", vec!["2"]),
                ("PO-R-1-2", "S-1", vec!["1", "4"])
            ]
        );
        assert_eq!(orders[1].lines[0].quantity, Decimal::from(4));
        assert_eq!(orders[1].lines[0].unit_price, Decimal::new(1250, 2));
        assert_eq!(orders[1].lines[0].gtin.as_deref(), Some(G1));
    }

    #[test]
    fn a_receipt_names_every_bad_field() {
        let bad = serde_json::json!({
            "receipt_id": "", "po_number": "PO 1", "facility": H1,
            "lines": [{"po_line": "1", "quantity": "0", "uom": "EA"}]
        });
        let errors = crate::parse_canonical::<GoodsReceipt>(&bad).unwrap_err();
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["receipt_id", "po_number", "lines[0].quantity"]);
        let bad_gln = serde_json::json!({
            "receipt_id": "G-1", "po_number": "PO-1", "facility": "0614141000013", "lines": []
        });
        let errors = crate::parse_canonical::<GoodsReceipt>(&bad_gln).unwrap_err();
        assert_eq!(errors[0].path, "facility");
    }
}
