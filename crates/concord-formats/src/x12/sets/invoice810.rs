//! 810 Invoice: what the supplier bills, line by line, with its total (TDS01, two implied
//! decimals) that three-way match checks against the lines.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{ItemId, Parsed, Party, Reader, date, num, opt, with_ids};
use crate::x12::{
    Diagnostic, TransactionSet,
    write::{OwnedSegment, SetBody},
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invoice {
    /// BIG02.
    pub invoice_number: String,
    /// BIG01.
    pub date: NaiveDate,
    /// BIG04: the PO billed (absent on a non-PO invoice, which the hub refuses as `unknown_po`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub po_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub po_date: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parties: Vec<Party>,
    pub lines: Vec<InvoiceLine>,
    /// SAC allowances and charges (freight, fuel surcharge, discount).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub charges: Vec<Charge>,
    /// TDS01: the invoice total.
    pub total: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceLine {
    /// IT101: the PO line billed, when the supplier sends it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<String>,
    pub quantity: Decimal,
    pub uom: String,
    pub unit_price: Decimal,
    pub item_ids: Vec<ItemId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Charge {
    /// SAC01 `C`: a charge added to the total.
    pub is_charge: bool,
    /// SAC02: `D240` freight, `C310` discount…
    pub code: String,
    /// SAC05, positive.
    pub amount: Decimal,
}

impl Invoice {
    pub fn read(set: &TransactionSet<'_>) -> Result<Parsed<Self>, Vec<Diagnostic>> {
        let mut r = Reader::new(set);
        r.expect_set("810");
        let mut inv = Self {
            invoice_number: String::new(),
            date: NaiveDate::MIN,
            po_number: None,
            po_date: None,
            currency: None,
            parties: Vec::new(),
            lines: Vec::new(),
            charges: Vec::new(),
            total: Decimal::ZERO,
        };
        let (mut big, mut tds, mut ctt) = (false, false, None);
        for seg in set.body() {
            match seg.id {
                "BIG" => {
                    big = true;
                    inv.date = r
                        .date(seg, 1, "invoice date", true)
                        .unwrap_or(NaiveDate::MIN);
                    inv.invoice_number = r.required(seg, 2, "invoice number").to_string();
                    inv.po_date = r.date(seg, 3, "PO date", false);
                    inv.po_number = opt(seg.element(4));
                }
                "CUR" => inv.currency = opt(seg.element(2)),
                "N1" | "N3" | "N4" => r.party(seg, &mut inv.parties),
                "IT1" => inv.lines.push(InvoiceLine {
                    line: opt(seg.element(1)),
                    quantity: r
                        .decimal(seg, 2, "quantity invoiced", true)
                        .unwrap_or_default(),
                    uom: r.required(seg, 3, "unit of measure").to_string(),
                    unit_price: r.decimal(seg, 4, "unit price", true).unwrap_or_default(),
                    item_ids: r.item_ids(seg, 6, 25),
                    description: None,
                }),
                "PID" => {
                    if let Some(line) = inv.lines.last_mut() {
                        line.description = opt(seg.element(5));
                    }
                }
                "TDS" => {
                    tds = true;
                    inv.total = r
                        .implied2(seg, 1, "total invoice amount")
                        .unwrap_or_default();
                }
                "SAC" if tds || !inv.lines.is_empty() => {
                    if let Some(amount) = r.implied2(seg, 5, "amount") {
                        inv.charges.push(Charge {
                            is_charge: seg.element(1) == "C",
                            code: seg.element(2).to_string(),
                            amount: amount.abs(),
                        });
                    }
                }
                "CTT" => ctt = Some(*seg),
                _ => {}
            }
        }
        if !big {
            r.missing_segment("BIG", "beginning segment for invoice");
        }
        if !tds {
            r.missing_segment("TDS", "total monetary value summary");
        }
        r.line_count(ctt, inv.lines.len());
        r.finish(inv)
    }

    pub fn to_set(&self) -> SetBody {
        let mut s = vec![
            OwnedSegment::new("BIG")
                .e(date(self.date))
                .e(&self.invoice_number)
                .opt(self.po_date.map(date))
                .opt(self.po_number.as_deref()),
        ];
        if let Some(c) = &self.currency {
            s.push(OwnedSegment::new("CUR").e("SE").e(c));
        }
        for p in &self.parties {
            p.segments(&mut s);
        }
        for line in &self.lines {
            let it1 = OwnedSegment::new("IT1")
                .opt(line.line.as_deref())
                .e(num(line.quantity))
                .e(&line.uom)
                .e(num(line.unit_price))
                .e("PE");
            s.push(with_ids(it1, &line.item_ids));
            if let Some(d) = &line.description {
                s.push(OwnedSegment::new("PID").e("F").e("").e("").e("").e(d));
            }
        }
        s.push(OwnedSegment::new("TDS").e(cents(self.total)));
        for c in &self.charges {
            s.push(
                OwnedSegment::new("SAC")
                    .e(if c.is_charge { "C" } else { "A" })
                    .e(&c.code)
                    .e("")
                    .e("")
                    .e(cents(c.amount)),
            );
        }
        s.push(OwnedSegment::new("CTT").e(self.lines.len().to_string()));
        SetBody {
            id: "810".into(),
            implementation_reference: None,
            segments: s,
        }
    }

    /// What the lines and charges add up to: Σ quantity × unit price, plus charges, minus
    /// allowances, rounded to the cent. Three-way match compares it with [`Invoice::total`].
    pub fn computed_total(&self) -> Decimal {
        let lines: Decimal = self.lines.iter().map(|l| l.quantity * l.unit_price).sum();
        let charges: Decimal = self
            .charges
            .iter()
            .map(|c| if c.is_charge { c.amount } else { -c.amount })
            .sum();
        (lines + charges).round_dp(2)
    }
}

impl InvoiceLine {
    pub fn gtin(&self) -> Option<concord_model::Gtin> {
        super::gtin_of(&self.item_ids)
    }
}

/// An amount as N2: cents, no decimal point.
fn cents(amount: Decimal) -> String {
    (amount.round_dp(2) * Decimal::ONE_HUNDRED)
        .trunc()
        .normalize()
        .to_string()
}
