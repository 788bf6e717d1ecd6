//! The PO workflow's documents as X12 and back: the 850 we send, and the supplier's 855, 856
//! and 810 read into the workflow's events. Pure: no store, no clock (dates are passed in).

use chrono::NaiveDate;
use concord_formats::x12::sets::{
    Invoice, ItemId, LineAckStatus, Party, PoLine, PurchaseOrder, PurchaseOrderAck, ShipOrder,
    gtin_of,
};
use concord_model::{
    matching::{InvoiceToMatch, InvoicedLine},
    workflow::purchase_order::{LineResponse, PurchaseOrderFlow},
};
use rust_decimal::Decimal;

/// The 850 for a PO: BEG03 is the hub's PO number (what the supplier quotes back in BAK03,
/// PRF01 and BIG04), the ERP's number rides along as `REF*CO`, the ship-to is the facility's
/// GLN, and each line carries its GTIN (`PO106 = UK`).
pub fn purchase_order_850(
    po: &PurchaseOrderFlow,
    facility_gln: &str,
    facility_name: &str,
    date: NaiveDate,
) -> PurchaseOrder {
    PurchaseOrder {
        purpose: "00".into(),
        order_type: "NE".into(),
        po_number: po.po_number.clone(),
        date,
        currency: Some("USD".into()),
        requested_delivery: None,
        references: po.erp_po.iter().map(|n| ItemId::new("CO", n)).collect(),
        parties: vec![Party::new("ST", facility_name, "UL", facility_gln)],
        lines: po
            .lines
            .iter()
            .map(|l| PoLine {
                line: l.line.clone(),
                quantity: l.quantity,
                uom: l.uom.clone(),
                unit_price: Some(l.unit_price),
                price_basis: Some("PE".into()),
                item_ids: l.gtin.iter().map(|g| ItemId::new("UK", g)).collect(),
                description: None,
            })
            .collect(),
    }
}

/// Each line's answer in an 855, as the workflow reads it. A line may carry several ACKs
/// ("6 accepted, 4 backordered"). An `IC` (accepted with changes) is read by comparing the
/// echoed PO1 with what was ordered.
pub fn line_responses(
    ack: &PurchaseOrderAck,
    po: &PurchaseOrderFlow,
) -> Result<Vec<(String, LineResponse)>, String> {
    let mut out = Vec::new();
    for line in &ack.lines {
        let number = line.po1.line.clone();
        let Some(ordered) = po.lines.iter().find(|l| l.line == number) else {
            return Err(format!(
                "855 for {}: line {number} is not on the PO",
                po.po_number
            ));
        };
        let echoed_price = line.po1.unit_price;
        let echoed_quantity = line.po1.quantity;
        for status in &line.statuses {
            let quantity = status.quantity.unwrap_or(echoed_quantity);
            let response = match status.status {
                LineAckStatus::Accepted | LineAckStatus::Rescheduled | LineAckStatus::Other => {
                    LineResponse::Accepted { quantity }
                }
                LineAckStatus::AcceptedWithChanges => match echoed_price {
                    Some(price) if price != ordered.unit_price => {
                        LineResponse::PriceChanged { unit_price: price }
                    }
                    _ if quantity != ordered.quantity => LineResponse::QuantityChanged { quantity },
                    _ => LineResponse::Accepted { quantity },
                },
                LineAckStatus::Backordered => LineResponse::Backordered {
                    quantity,
                    expected: status
                        .date
                        .and_then(|d| d.and_hms_opt(0, 0, 0))
                        .map(|d| d.and_utc()),
                },
                LineAckStatus::Rejected => LineResponse::Rejected,
                LineAckStatus::QuantityChanged => LineResponse::QuantityChanged { quantity },
                LineAckStatus::PriceChanged => LineResponse::PriceChanged {
                    unit_price: echoed_price.ok_or_else(|| {
                        format!(
                            "855 for {}: line {number} is IP (price changed) but PO104 holds no price",
                            po.po_number
                        )
                    })?,
                },
                LineAckStatus::Substituted => LineResponse::Substituted {
                    gtin: gtin_of(&status.item_ids)
                        .map(|g| g.to_string())
                        .unwrap_or_default(),
                },
            };
            out.push((number.clone(), response));
        }
    }
    Ok(out)
}

/// The PO lines of one order in an 856 (or a receipt), with quantities. An item without a PO
/// line number is found by its GTIN.
pub fn shipped_lines(
    order: &ShipOrder,
    po: &PurchaseOrderFlow,
) -> Result<Vec<(String, Decimal)>, String> {
    order
        .items
        .iter()
        .map(|item| {
            let line = match &item.po_line {
                Some(line) => po.lines.iter().find(|l| &l.line == line),
                None => {
                    let gtin = gtin_of(&item.item_ids).map(|g| g.to_string());
                    po.lines.iter().find(|l| gtin.is_some() && l.gtin == gtin)
                }
            };
            line.map(|l| (l.line.clone(), item.quantity))
                .ok_or_else(|| {
                    format!(
                        "856 for {}: an item ({}) matches no PO line",
                        po.po_number,
                        item.po_line
                            .clone()
                            .or_else(|| gtin_of(&item.item_ids).map(|g| g.to_string()))
                            .unwrap_or_else(|| "no line number, no GTIN".into())
                    )
                })
        })
        .collect()
}

/// An 810 as the three-way match reads it.
pub fn invoice_to_match(invoice: &Invoice, supplier: &str) -> InvoiceToMatch {
    InvoiceToMatch {
        supplier: supplier.to_string(),
        invoice_number: invoice.invoice_number.clone(),
        lines: invoice
            .lines
            .iter()
            .map(|l| InvoicedLine {
                po_line: l.line.clone(),
                gtin: l.gtin().map(|g| g.to_string()),
                quantity: l.quantity,
                uom: l.uom.clone(),
                unit_price: l.unit_price,
            })
            .collect(),
        charges: invoice
            .charges
            .iter()
            .map(|c| if c.is_charge { c.amount } else { -c.amount })
            .sum(),
        total: invoice.total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use concord_formats::x12::sets::{AckLine, LineStatus, ShipItem};
    use concord_model::{
        matching::OrderedLine,
        workflow::purchase_order::{PoEvent, apply},
    };

    const G1: &str = "00614141000012";
    const G2: &str = "00614141000029";

    fn flow() -> PurchaseOrderFlow {
        let line = |n: &str, gtin: &str| OrderedLine {
            line: n.into(),
            gtin: Some(gtin.into()),
            quantity: Decimal::from(10),
            uom: "EA".into(),
            unit_price: Decimal::new(1250, 2),
            service: false,
        };
        let (flow, _) = apply(
            None,
            PoEvent::Created {
                po_number: "PO-R-1-1".into(),
                requisition: "R-1".into(),
                supplier: "S-1".into(),
                lines: vec![line("1", G1), line("2", G2)],
            },
        )
        .unwrap();
        flow
    }

    fn ack_line(line: &str, price: &str, statuses: Vec<(&str, Option<i64>)>) -> AckLine {
        AckLine {
            po1: PoLine {
                line: line.into(),
                quantity: Decimal::from(10),
                uom: "EA".into(),
                unit_price: Some(price.parse().unwrap()),
                price_basis: None,
                item_ids: vec![],
                description: None,
            },
            statuses: statuses
                .into_iter()
                .map(|(code, q)| LineStatus {
                    status: LineAckStatus::from_code(code),
                    code: code.into(),
                    quantity: q.map(Decimal::from),
                    uom: None,
                    date: None,
                    item_ids: vec![],
                })
                .collect(),
        }
    }

    fn ack(lines: Vec<AckLine>) -> PurchaseOrderAck {
        PurchaseOrderAck {
            purpose: "00".into(),
            ack_type: "AC".into(),
            po_number: "PO-R-1-1".into(),
            po_date: "2026-11-21".parse().unwrap(),
            seller_order: None,
            lines,
        }
    }

    #[test]
    fn the_850_carries_our_number_the_erp_number_the_ship_to_and_gtins() {
        let mut po = flow();
        po.erp_po = Some("4500000017".into());
        let x = purchase_order_850(&po, "0614141000005", "East", "2026-11-21".parse().unwrap());
        assert_eq!(x.po_number, "PO-R-1-1");
        assert_eq!(x.references, [ItemId::new("CO", "4500000017")]);
        assert_eq!(x.parties[0].id.as_deref(), Some("0614141000005"));
        assert_eq!(x.lines.len(), 2);
        assert_eq!(x.lines[1].gtin().unwrap().to_string(), G2);
        assert_eq!(x.total(), Decimal::from(250));
    }

    #[test]
    fn an_855_maps_each_ack_to_a_line_response() {
        let po = flow();
        let a = ack(vec![
            ack_line("1", "12.50", vec![("IA", Some(6)), ("IB", Some(4))]),
            ack_line("2", "13.10", vec![("IC", None)]),
        ]);
        let responses = line_responses(&a, &po).unwrap();
        assert_eq!(
            responses,
            [
                (
                    "1".into(),
                    LineResponse::Accepted {
                        quantity: Decimal::from(6)
                    }
                ),
                (
                    "1".into(),
                    LineResponse::Backordered {
                        quantity: Decimal::from(4),
                        expected: None
                    }
                ),
                (
                    "2".into(),
                    LineResponse::PriceChanged {
                        unit_price: Decimal::new(1310, 2)
                    }
                ),
            ]
        );
        let unknown = ack(vec![ack_line("9", "1.00", vec![("IA", None)])]);
        assert!(
            line_responses(&unknown, &po)
                .unwrap_err()
                .contains("line 9")
        );
        let same = ack(vec![ack_line("2", "12.50", vec![("IC", None)])]);
        assert_eq!(
            line_responses(&same, &po).unwrap()[0].1,
            LineResponse::Accepted {
                quantity: Decimal::from(10)
            },
            "IC with nothing changed is an acceptance"
        );
    }

    #[test]
    fn ship_notice_items_are_found_by_line_or_gtin() {
        let po = flow();
        let item = |line: Option<&str>, gtin: &str| ShipItem {
            po_line: line.map(str::to_string),
            item_ids: vec![ItemId::new("UK", gtin)],
            quantity: Decimal::from(3),
            uom: "EA".into(),
            lot: None,
            expiry: None,
        };
        let order = ShipOrder {
            po_number: "PO-R-1-1".into(),
            items: vec![item(Some("1"), G1), item(None, G2)],
        };
        assert_eq!(
            shipped_lines(&order, &po).unwrap(),
            [
                ("1".into(), Decimal::from(3)),
                ("2".into(), Decimal::from(3))
            ]
        );
        let stranger = ShipOrder {
            po_number: "PO-R-1-1".into(),
            items: vec![item(None, "00614141000036")],
        };
        assert!(
            shipped_lines(&stranger, &po)
                .unwrap_err()
                .contains("00614141000036")
        );
    }
}
