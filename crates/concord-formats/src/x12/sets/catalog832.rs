//! 832 Price/Sales Catalog: a supplier's items as it sells them (LIN ids, PID description,
//! PO4 packaging, CTP price). The hub reads it to reconcile the supplier's view of each item
//! with the canonical item master.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{ItemId, Parsed, Reader, gtin_of, num, opt, with_ids};
use crate::x12::{
    Diagnostic, Problem, TransactionSet,
    write::{OwnedSegment, SetBody},
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog {
    /// BCT01: `PC` price catalog, `SC` sales catalog…
    pub purpose: String,
    /// BCT02: the catalog's number, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    pub items: Vec<CatalogItem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogItem {
    /// LIN01, the line's number in the catalog.
    pub line: String,
    /// LIN02… qualifier/id pairs (`UK` GTIN-14, `VN` vendor part, `MG` manufacturer part…).
    pub ids: Vec<ItemId>,
    /// PID05.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// PO4: how many inner units a pack holds (PO401), and the pack's unit (PO403).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pack: Option<Pack>,
    /// CTP03 unit price, CTP05 its unit (CTP05-01).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uom: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pack {
    pub inner_units: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uom: Option<String>,
}

impl CatalogItem {
    /// The item's GTIN (from a `UK`/`EN`/`UP` id), normalised to 14 digits.
    pub fn gtin(&self) -> Option<concord_model::Gtin> {
        gtin_of(&self.ids)
    }

    /// The id with `qualifier`, e.g. `VN` for the vendor's part number.
    pub fn id(&self, qualifier: &str) -> Option<&str> {
        self.ids
            .iter()
            .find(|i| i.qualifier == qualifier)
            .map(|i| i.id.as_str())
    }
}

impl Catalog {
    pub fn read(set: &TransactionSet<'_>) -> Result<Parsed<Self>, Vec<Diagnostic>> {
        let mut r = Reader::new(set);
        r.expect_set("832");
        let mut catalog = Catalog {
            purpose: String::new(),
            number: None,
            items: Vec::new(),
        };
        let (mut bct, mut ctt) = (false, None);
        for seg in set.body() {
            match seg.id {
                "BCT" => {
                    bct = true;
                    catalog.purpose = r.required(seg, 1, "catalog purpose").to_string();
                    catalog.number = opt(seg.element(2));
                }
                "LIN" => {
                    let ids = r.item_ids(seg, 2, 31);
                    if ids.is_empty() {
                        r.push(
                            Diagnostic::error(
                                Problem::MandatoryElementMissing,
                                "LIN02/LIN03: a catalog line names its item (UK, VN…)",
                            )
                            .at(seg),
                        );
                    }
                    catalog.items.push(CatalogItem {
                        line: seg.element(1).to_string(),
                        ids,
                        description: None,
                        pack: None,
                        price: None,
                        uom: None,
                    });
                }
                "PID" | "PO4" | "CTP" => {
                    let Some(item) = catalog.items.last_mut() else {
                        r.push(
                            Diagnostic::error(
                                Problem::UnexpectedSegment,
                                format!("{} before any LIN line", seg.id),
                            )
                            .at(seg),
                        );
                        continue;
                    };
                    match seg.id {
                        "PID" => item.description = opt(seg.element(5)),
                        "PO4" => {
                            let inner = r.decimal(seg, 1, "pack", false);
                            item.pack = inner.map(|n| Pack {
                                inner_units: u32::try_from(n.trunc().mantissa()).unwrap_or(0),
                                uom: opt(seg.element(3)),
                            });
                        }
                        _ => {
                            item.price = r.decimal(seg, 3, "unit price", true);
                            item.uom = opt(seg.element(5).split(':').next().unwrap_or(""));
                        }
                    }
                }
                "CTT" => ctt = Some(*seg),
                _ => {}
            }
        }
        if !bct {
            r.missing_segment("BCT", "beginning segment for price/sales catalog");
        }
        r.line_count(ctt, catalog.items.len());
        r.finish(catalog)
    }

    pub fn to_set(&self) -> SetBody {
        let mut s = vec![
            OwnedSegment::new("BCT")
                .e(&self.purpose)
                .opt(self.number.as_deref()),
        ];
        for item in &self.items {
            s.push(with_ids(OwnedSegment::new("LIN").e(&item.line), &item.ids));
            if let Some(d) = &item.description {
                s.push(OwnedSegment::new("PID").e("F").e("").e("").e("").e(d));
            }
            if let Some(p) = &item.pack {
                s.push(
                    OwnedSegment::new("PO4")
                        .e(p.inner_units.to_string())
                        .e("")
                        .opt(p.uom.as_deref()),
                );
            }
            if let Some(price) = item.price {
                s.push(
                    OwnedSegment::new("CTP")
                        .e("")
                        .e("")
                        .e(num(price))
                        .e("")
                        .opt(item.uom.as_deref()),
                );
            }
        }
        s.push(OwnedSegment::new("CTT").e(self.items.len().to_string()));
        SetBody {
            id: "832".into(),
            implementation_reference: None,
            segments: s,
        }
    }
}
