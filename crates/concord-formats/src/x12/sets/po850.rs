//! 850 Purchase Order: what the hub sends a supplier once the ERP has the PO.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{ItemId, Parsed, Party, Reader, date, num, opt, with_ids};
use crate::x12::{
    Diagnostic, Segment, TransactionSet,
    write::{OwnedSegment, SetBody},
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseOrder {
    /// BEG01: `00` original, `01` cancellation, `05` replace.
    pub purpose: String,
    /// BEG02: `NE` new order, `SA` stand-alone, `RL` release.
    pub order_type: String,
    /// BEG03.
    pub po_number: String,
    /// BEG05.
    pub date: NaiveDate,
    /// CUR02 (with CUR01 `BY`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// DTM*002: delivery requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_delivery: Option<NaiveDate>,
    /// REF pairs (qualifier, value): `DP` department, `CR` cost center…
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<ItemId>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parties: Vec<Party>,
    pub lines: Vec<PoLine>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoLine {
    /// PO101: the line number the 855, 856 and 810 refer back to.
    pub line: String,
    pub quantity: Decimal,
    /// PO103: `EA`, `BX`, `CA`…
    pub uom: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_price: Option<Decimal>,
    /// PO105: `PE` price per each, `CT` contract…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_basis: Option<String>,
    pub item_ids: Vec<ItemId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl PurchaseOrder {
    pub fn read(set: &TransactionSet<'_>) -> Result<Parsed<Self>, Vec<Diagnostic>> {
        let mut r = Reader::new(set);
        r.expect_set("850");
        let mut po = Self {
            purpose: String::new(),
            order_type: String::new(),
            po_number: String::new(),
            date: NaiveDate::MIN,
            currency: None,
            requested_delivery: None,
            references: Vec::new(),
            parties: Vec::new(),
            lines: Vec::new(),
        };
        let (mut beg, mut ctt) = (false, None);
        for seg in set.body() {
            match seg.id {
                "BEG" => {
                    beg = true;
                    po.purpose = r.required(seg, 1, "purpose").to_string();
                    po.order_type = r.required(seg, 2, "order type").to_string();
                    po.po_number = r.required(seg, 3, "PO number").to_string();
                    po.date = r.date(seg, 5, "PO date", true).unwrap_or(NaiveDate::MIN);
                }
                "CUR" => po.currency = opt(seg.element(2)),
                "REF" => po
                    .references
                    .push(ItemId::new(seg.element(1), seg.element(2))),
                "DTM" if seg.element(1) == "002" => {
                    po.requested_delivery = r.date(seg, 2, "delivery requested", true)
                }
                "N1" | "N3" | "N4" => r.party(seg, &mut po.parties),
                "PO1" => po.lines.push(PoLine::read(&mut r, seg)),
                "PID" => {
                    if let Some(line) = po.lines.last_mut() {
                        line.description = opt(seg.element(5));
                    }
                }
                "CTT" => ctt = Some(*seg),
                _ => {}
            }
        }
        if !beg {
            r.missing_segment("BEG", "beginning segment for purchase order");
        }
        if po.lines.is_empty() {
            r.missing_segment("PO1", "at least one line item");
        }
        r.line_count(ctt, po.lines.len());
        r.finish(po)
    }

    pub fn to_set(&self) -> SetBody {
        let mut s = vec![
            OwnedSegment::new("BEG")
                .e(&self.purpose)
                .e(&self.order_type)
                .e(&self.po_number)
                .e("")
                .e(date(self.date)),
        ];
        if let Some(c) = &self.currency {
            s.push(OwnedSegment::new("CUR").e("BY").e(c));
        }
        for r in &self.references {
            s.push(OwnedSegment::new("REF").e(&r.qualifier).e(&r.id));
        }
        if let Some(d) = self.requested_delivery {
            s.push(OwnedSegment::new("DTM").e("002").e(date(d)));
        }
        for p in &self.parties {
            p.segments(&mut s);
        }
        for line in &self.lines {
            line.write(&mut s);
        }
        s.push(OwnedSegment::new("CTT").e(self.lines.len().to_string()));
        SetBody {
            id: "850".into(),
            implementation_reference: None,
            segments: s,
        }
    }

    /// Σ quantity × unit price over the lines that carry a price.
    pub fn total(&self) -> Decimal {
        self.lines
            .iter()
            .filter_map(|l| l.unit_price.map(|p| p * l.quantity))
            .sum()
    }
}

impl PoLine {
    pub fn gtin(&self) -> Option<concord_model::Gtin> {
        super::gtin_of(&self.item_ids)
    }

    /// A `PO1`: the 850's line, and the 855's echo of it (the description comes from the `PID`
    /// after it).
    pub(super) fn read<'a>(r: &mut Reader<'_, 'a>, seg: &Segment<'a>) -> Self {
        Self {
            line: r.required(seg, 1, "line number").to_string(),
            quantity: r
                .decimal(seg, 2, "quantity ordered", true)
                .unwrap_or_default(),
            uom: r.required(seg, 3, "unit of measure").to_string(),
            unit_price: r.decimal(seg, 4, "unit price", false),
            price_basis: opt(seg.element(5)),
            item_ids: r.item_ids(seg, 6, 25),
            description: None,
        }
    }

    /// The `PO1` and, with a description, its `PID`.
    pub(super) fn write(&self, out: &mut Vec<OwnedSegment>) {
        let po1 = OwnedSegment::new("PO1")
            .e(&self.line)
            .e(num(self.quantity))
            .e(&self.uom)
            .opt(self.unit_price.map(num))
            .opt(self.price_basis.as_deref());
        out.push(with_ids(po1, &self.item_ids));
        if let Some(d) = &self.description {
            out.push(OwnedSegment::new("PID").e("F").e("").e("").e("").e(d));
        }
    }
}
