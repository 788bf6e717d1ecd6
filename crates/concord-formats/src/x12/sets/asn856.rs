//! 856 Ship Notice/Manifest: what is on its way, per PO and line, with lot and expiry (what a
//! hospital's receiving dock and UDI tracking need). Hierarchical structure 0001 read loosely:
//! shipment (S) → order (O) → [pack (P)/tare (T)] → item (I).

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{ItemId, Parsed, Reader, date, num, opt, with_ids};
use crate::x12::{
    Diagnostic, Problem, TransactionSet,
    write::{OwnedSegment, SetBody},
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipNotice {
    pub purpose: String,
    /// BSN02: the supplier's shipment id.
    pub shipment_id: String,
    /// BSN03.
    pub date: NaiveDate,
    /// DTM*011.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipped: Option<NaiveDate>,
    /// DTM*017 (estimated delivery).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_delivery: Option<NaiveDate>,
    /// REF*BM (bill of lading) or REF*CN (carrier's tracking number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking: Option<String>,
    pub orders: Vec<ShipOrder>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipOrder {
    /// PRF01.
    pub po_number: String,
    pub items: Vec<ShipItem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipItem {
    /// LIN01: the PO line shipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub po_line: Option<String>,
    pub item_ids: Vec<ItemId>,
    /// SN102.
    pub quantity: Decimal,
    pub uom: String,
    /// LIN `LT` pair.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lot: Option<String>,
    /// DTM*036.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry: Option<NaiveDate>,
}

impl ShipNotice {
    pub fn read(set: &TransactionSet<'_>) -> Result<Parsed<Self>, Vec<Diagnostic>> {
        let mut r = Reader::new(set);
        r.expect_set("856");
        let mut asn = Self {
            purpose: String::new(),
            shipment_id: String::new(),
            date: NaiveDate::MIN,
            shipped: None,
            expected_delivery: None,
            tracking: None,
            orders: Vec::new(),
        };
        let mut bsn = false;
        let mut level = "";
        for seg in set.body() {
            match seg.id {
                "BSN" => {
                    bsn = true;
                    asn.purpose = r.required(seg, 1, "purpose").to_string();
                    asn.shipment_id = r.required(seg, 2, "shipment id").to_string();
                    asn.date = r.date(seg, 3, "date", true).unwrap_or(NaiveDate::MIN);
                }
                "HL" => {
                    level = r.required(seg, 3, "hierarchical level code");
                    if level == "I" && asn.orders.is_empty() {
                        r.push(
                            Diagnostic::error(
                                Problem::UnexpectedSegment,
                                "item level (HL03 = I) before any order level (HL03 = O)",
                            )
                            .at(seg)
                            .element(3),
                        );
                    }
                }
                "PRF" if level == "O" => asn.orders.push(ShipOrder {
                    po_number: r.required(seg, 1, "PO number").to_string(),
                    items: Vec::new(),
                }),
                "DTM" => match (level, seg.element(1)) {
                    ("S", "011") => asn.shipped = r.date(seg, 2, "shipped", true),
                    ("S", "017") => {
                        asn.expected_delivery = r.date(seg, 2, "estimated delivery", true)
                    }
                    ("I", "036") => {
                        let expiry = r.date(seg, 2, "expiration", true);
                        if let Some(item) = asn.orders.last_mut().and_then(|o| o.items.last_mut()) {
                            item.expiry = expiry;
                        }
                    }
                    _ => {}
                },
                "REF" if level == "S" && matches!(seg.element(1), "BM" | "CN") => {
                    asn.tracking = opt(seg.element(2))
                }
                "LIN" => {
                    let mut ids = r.item_ids(seg, 2, 31);
                    let lot = ids
                        .iter()
                        .position(|i| i.qualifier == "LT")
                        .map(|i| ids.remove(i).id);
                    let item = ShipItem {
                        po_line: opt(seg.element(1)),
                        item_ids: ids,
                        quantity: Decimal::ZERO,
                        uom: String::new(),
                        lot,
                        expiry: None,
                    };
                    if let Some(order) = asn.orders.last_mut() {
                        order.items.push(item);
                    }
                }
                "SN1" => {
                    let quantity = r.decimal(seg, 2, "units shipped", true).unwrap_or_default();
                    let uom = r.required(seg, 3, "unit of measure").to_string();
                    match asn.orders.last_mut().and_then(|o| o.items.last_mut()) {
                        Some(item) => {
                            item.quantity = quantity;
                            item.uom = uom;
                        }
                        None => r.push(
                            Diagnostic::error(
                                Problem::UnexpectedSegment,
                                "SN1 without a LIN item before it",
                            )
                            .at(seg),
                        ),
                    }
                }
                _ => {}
            }
        }
        if !bsn {
            r.missing_segment("BSN", "beginning segment for ship notice");
        }
        if asn.orders.is_empty() {
            r.missing_segment("PRF", "at least one order level with its PO number");
        }
        r.finish(asn)
    }

    pub fn to_set(&self) -> SetBody {
        let mut s = vec![
            OwnedSegment::new("BSN")
                .e(&self.purpose)
                .e(&self.shipment_id)
                .e(date(self.date))
                .e("0000")
                .e("0001"),
        ];
        let mut hl = 1;
        s.push(OwnedSegment::new("HL").e("1").e("").e("S"));
        if let Some(t) = &self.tracking {
            s.push(OwnedSegment::new("REF").e("BM").e(t));
        }
        if let Some(d) = self.shipped {
            s.push(OwnedSegment::new("DTM").e("011").e(date(d)));
        }
        if let Some(d) = self.expected_delivery {
            s.push(OwnedSegment::new("DTM").e("017").e(date(d)));
        }
        for order in &self.orders {
            hl += 1;
            let order_hl = hl;
            s.push(
                OwnedSegment::new("HL")
                    .e(order_hl.to_string())
                    .e("1")
                    .e("O"),
            );
            s.push(OwnedSegment::new("PRF").e(&order.po_number));
            for item in &order.items {
                hl += 1;
                s.push(
                    OwnedSegment::new("HL")
                        .e(hl.to_string())
                        .e(order_hl.to_string())
                        .e("I"),
                );
                let mut lin = with_ids(
                    OwnedSegment::new("LIN").opt(item.po_line.as_deref()),
                    &item.item_ids,
                );
                if let Some(lot) = &item.lot {
                    lin = lin.e("LT").e(lot);
                }
                s.push(lin);
                s.push(
                    OwnedSegment::new("SN1")
                        .e("")
                        .e(num(item.quantity))
                        .e(&item.uom),
                );
                if let Some(d) = item.expiry {
                    s.push(OwnedSegment::new("DTM").e("036").e(date(d)));
                }
            }
        }
        s.push(OwnedSegment::new("CTT").e(hl.to_string()));
        SetBody {
            id: "856".into(),
            implementation_reference: None,
            segments: s,
        }
    }
}
