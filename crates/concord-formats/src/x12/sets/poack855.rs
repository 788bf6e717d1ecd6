//! 855 Purchase Order Acknowledgment: the supplier's answer, line by line (accepted, backordered,
//! rejected, price or quantity changed, substituted).

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{ItemId, Parsed, PoLine, Reader, date, num, opt, with_ids};
use crate::x12::{
    Diagnostic, TransactionSet,
    write::{OwnedSegment, SetBody},
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseOrderAck {
    pub purpose: String,
    /// BAK02: `AC` with detail and change, `AD` with detail no change, `AK` no detail,
    /// `RD` rejected with detail, `RJ` rejected.
    pub ack_type: String,
    /// BAK03: our PO number.
    pub po_number: String,
    /// BAK04.
    pub po_date: NaiveDate,
    /// BAK08: the supplier's own order number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seller_order: Option<String>,
    pub lines: Vec<AckLine>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckLine {
    /// The PO1 as the supplier echoed it: the line acknowledged, the quantity ordered as the
    /// supplier read it, and the price it will charge (PO104).
    #[serde(flatten)]
    pub po1: PoLine,
    /// The line's ACK segments (a partial shipment has one accepted and one backordered).
    pub statuses: Vec<LineStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineStatus {
    pub status: LineAckStatus,
    /// ACK01 as sent.
    pub code: String,
    /// ACK02.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uom: Option<String>,
    /// ACK05 (with ACK04 `068` current schedule ship, `067` current schedule delivery).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<NaiveDate>,
    /// ACK07… the item shipped instead (substitution).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub item_ids: Vec<ItemId>,
}

/// ACK01 line item status codes, grouped as procurement acts on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineAckStatus {
    Accepted,
    AcceptedWithChanges,
    Backordered,
    Rejected,
    QuantityChanged,
    PriceChanged,
    Substituted,
    Rescheduled,
    /// A code we do not act on (kept as sent in `code`).
    Other,
}

impl LineAckStatus {
    pub fn from_code(code: &str) -> Self {
        match code {
            "IA" | "AR" | "AA" => Self::Accepted,
            "AC" | "IC" | "IE" => Self::AcceptedWithChanges,
            "IB" | "BP" | "SP" => Self::Backordered,
            "IR" | "R1" | "R2" | "R3" | "R4" | "ID" => Self::Rejected,
            "IQ" => Self::QuantityChanged,
            "IP" => Self::PriceChanged,
            "IS" => Self::Substituted,
            "DR" => Self::Rescheduled,
            _ => Self::Other,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::Accepted => "IA",
            Self::AcceptedWithChanges => "IC",
            Self::Backordered => "IB",
            Self::Rejected => "IR",
            Self::QuantityChanged => "IQ",
            Self::PriceChanged => "IP",
            Self::Substituted => "IS",
            Self::Rescheduled => "DR",
            Self::Other => "IH",
        }
    }
}

impl PurchaseOrderAck {
    pub fn read(set: &TransactionSet<'_>) -> Result<Parsed<Self>, Vec<Diagnostic>> {
        let mut r = Reader::new(set);
        r.expect_set("855");
        let mut ack = Self {
            purpose: String::new(),
            ack_type: String::new(),
            po_number: String::new(),
            po_date: NaiveDate::MIN,
            seller_order: None,
            lines: Vec::new(),
        };
        let (mut bak, mut ctt) = (false, None);
        for seg in set.body() {
            match seg.id {
                "BAK" => {
                    bak = true;
                    ack.purpose = r.required(seg, 1, "purpose").to_string();
                    ack.ack_type = r.required(seg, 2, "acknowledgment type").to_string();
                    ack.po_number = r.required(seg, 3, "PO number").to_string();
                    ack.po_date = r.date(seg, 4, "PO date", true).unwrap_or(NaiveDate::MIN);
                    ack.seller_order = opt(seg.element(8));
                }
                "PO1" => ack.lines.push(AckLine {
                    po1: PoLine::read(&mut r, seg),
                    statuses: Vec::new(),
                }),
                "PID" => {
                    if let Some(line) = ack.lines.last_mut() {
                        line.po1.description = opt(seg.element(5));
                    }
                }
                "ACK" => {
                    let status = LineStatus {
                        code: r.required(seg, 1, "line item status").to_string(),
                        status: LineAckStatus::from_code(seg.element(1)),
                        quantity: r.decimal(seg, 2, "quantity", false),
                        uom: opt(seg.element(3)),
                        date: r.date(seg, 5, "date", false),
                        item_ids: r.item_ids(seg, 7, 28),
                    };
                    match ack.lines.last_mut() {
                        Some(line) => line.statuses.push(status),
                        None => r.push(
                            Diagnostic::error(
                                crate::x12::Problem::UnexpectedSegment,
                                "ACK before any PO1 line",
                            )
                            .at(seg),
                        ),
                    }
                }
                "CTT" => ctt = Some(*seg),
                _ => {}
            }
        }
        if !bak {
            r.missing_segment("BAK", "beginning segment for purchase order acknowledgment");
        }
        r.line_count(ctt, ack.lines.len());
        r.finish(ack)
    }

    pub fn to_set(&self) -> SetBody {
        let mut s = vec![
            OwnedSegment::new("BAK")
                .e(&self.purpose)
                .e(&self.ack_type)
                .e(&self.po_number)
                .e(date(self.po_date))
                .e("")
                .e("")
                .e("")
                .opt(self.seller_order.as_deref()),
        ];
        for line in &self.lines {
            line.po1.write(&mut s);
            for st in &line.statuses {
                let ack = OwnedSegment::new("ACK")
                    .e(&st.code)
                    .opt(st.quantity.map(num))
                    .opt(st.uom.as_deref())
                    .e(if st.date.is_some() { "068" } else { "" })
                    .opt(st.date.map(date))
                    .e("");
                s.push(with_ids(ack, &st.item_ids));
            }
        }
        s.push(OwnedSegment::new("CTT").e(self.lines.len().to_string()));
        SetBody {
            id: "855".into(),
            implementation_reference: None,
            segments: s,
        }
    }
}
