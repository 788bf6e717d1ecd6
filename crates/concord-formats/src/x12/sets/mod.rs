//! Typed transaction sets of procure-to-pay: what the hub sends (850) and what suppliers send
//! back (855, 856, 810) or publish (832 catalogs), as plain structs with a reader and a writer
//! each.
//!
//! A reader never panics and never guesses: a missing mandatory segment or element, a number or
//! date that does not parse, or a GTIN whose check digit fails is a [`Diagnostic`] naming the
//! segment (with its position in the set) and the element. [`Parsed`] comes back only when there
//! is no error; otherwise every error found is returned at once.

mod asn856;
mod catalog832;
mod invoice810;
mod po850;
mod poack855;

pub use asn856::{ShipItem, ShipNotice, ShipOrder};
pub use catalog832::{Catalog, CatalogItem, Pack};
pub use invoice810::{Charge, Invoice, InvoiceLine};
pub use po850::{PoLine, PurchaseOrder};
pub use poack855::{AckLine, LineAckStatus, LineStatus, PurchaseOrderAck};

use chrono::NaiveDate;
use concord_model::Gtin;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{Diagnostic, Problem, Segment, TransactionSet, write::OwnedSegment};

/// A typed set read without errors, with the warnings found on the way.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed<T> {
    pub value: T,
    pub warnings: Vec<Diagnostic>,
}

/// A product/service id pair (`PO106`/`PO107`…): qualifier and value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemId {
    /// `UK` GTIN-14, `EN` GTIN-13, `UP` UPC (GTIN-12), `VN` vendor item, `BP` buyer item, `LT` lot.
    pub qualifier: String,
    pub id: String,
}

impl ItemId {
    pub fn new(qualifier: &str, id: &str) -> Self {
        Self {
            qualifier: qualifier.into(),
            id: id.into(),
        }
    }
}

/// The qualifiers whose values are GS1 GTINs (checked on read).
const GTIN_QUALIFIERS: [&str; 3] = ["UK", "EN", "UP"];

/// The GTIN among `ids`, normalised to 14 digits.
pub fn gtin_of(ids: &[ItemId]) -> Option<Gtin> {
    ids.iter()
        .filter(|i| GTIN_QUALIFIERS.contains(&i.qualifier.as_str()))
        .find_map(|i| Gtin::parse(&i.id).ok())
}

/// An `N1` loop: a party with its role and optional address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Party {
    /// N101: `ST` ship-to, `BT` bill-to, `BY` buyer, `SU`/`SE` supplier, `RE` remit-to.
    pub role: String,
    pub name: String,
    /// N103: `UL` GLN, `92` assigned by buyer, `9` DUNS+4, `1` DUNS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_qualifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub address: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
}

impl Party {
    pub fn new(role: &str, name: &str, id_qualifier: &str, id: &str) -> Self {
        Self {
            role: role.into(),
            name: name.into(),
            id_qualifier: Some(id_qualifier.into()),
            id: Some(id.into()),
            address: Vec::new(),
            city: None,
            state: None,
            postal_code: None,
        }
    }

    fn segments(&self, out: &mut Vec<OwnedSegment>) {
        out.push(
            OwnedSegment::new("N1")
                .e(&self.role)
                .e(&self.name)
                .opt(self.id_qualifier.as_deref())
                .opt(self.id.as_deref()),
        );
        if !self.address.is_empty() {
            let mut n3 = OwnedSegment::new("N3");
            for line in self.address.iter().take(2) {
                n3 = n3.e(line);
            }
            out.push(n3);
        }
        if self.city.is_some() || self.state.is_some() || self.postal_code.is_some() {
            out.push(
                OwnedSegment::new("N4")
                    .opt(self.city.as_deref())
                    .opt(self.state.as_deref())
                    .opt(self.postal_code.as_deref()),
            );
        }
    }
}

/// Reads elements of one set, collecting diagnostics located at their segment and element.
pub(crate) struct Reader<'s, 'a> {
    set: &'s TransactionSet<'a>,
    diagnostics: Vec<Diagnostic>,
}

fn opt(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

impl<'s, 'a> Reader<'s, 'a> {
    pub fn new(set: &'s TransactionSet<'a>) -> Self {
        Self {
            set,
            diagnostics: Vec::new(),
        }
    }

    pub fn push(&mut self, mut d: Diagnostic) {
        if d.segment >= self.set.segments[0].number {
            d.set_position = Some(self.set.position(d.segment));
        }
        self.diagnostics.push(d);
    }

    fn element_error(&mut self, seg: &Segment<'a>, pos: usize, problem: Problem, reason: String) {
        let value = seg.element(pos);
        let mut d = Diagnostic::error(problem, reason)
            .at(seg)
            .element(pos as u16);
        if !value.is_empty() {
            d = d.value(value);
        }
        self.push(d);
    }

    /// A mandatory element (`what` names it in the reason).
    pub fn required(&mut self, seg: &Segment<'a>, pos: usize, what: &str) -> &'a str {
        let v = seg.element(pos);
        if v.is_empty() {
            self.element_error(
                seg,
                pos,
                Problem::MandatoryElementMissing,
                format!("{}{pos:02} ({what}) is required", seg.id),
            );
        }
        v
    }

    /// A present element, or `None` (an error first when it is `required`).
    fn value(
        &mut self,
        seg: &Segment<'a>,
        pos: usize,
        what: &str,
        required: bool,
    ) -> Option<&'a str> {
        let v = if required {
            self.required(seg, pos, what)
        } else {
            seg.element(pos)
        };
        (!v.is_empty()).then_some(v)
    }

    /// A decimal (X12 type R); `None` when absent (an error if `required`) or invalid (an error).
    pub fn decimal(
        &mut self,
        seg: &Segment<'a>,
        pos: usize,
        what: &str,
        required: bool,
    ) -> Option<Decimal> {
        let v = self.value(seg, pos, what, required)?;
        let ok = v
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
            && v.bytes().any(|b| b.is_ascii_digit());
        match v.parse::<Decimal>() {
            Ok(d) if ok => Some(d),
            _ => {
                self.element_error(
                    seg,
                    pos,
                    Problem::InvalidNumber,
                    format!(
                        "{}{pos:02} ({what}) must be a decimal number, got {v:?}",
                        seg.id
                    ),
                );
                None
            }
        }
    }

    /// An amount with two implied decimals (X12 type N2: `12345` is 123.45).
    pub fn implied2(&mut self, seg: &Segment<'a>, pos: usize, what: &str) -> Option<Decimal> {
        let v = self.required(seg, pos, what);
        if v.is_empty() {
            return None;
        }
        let digits = v.strip_prefix('-').unwrap_or(v);
        match v.parse::<i64>() {
            Ok(n) if digits.bytes().all(|b| b.is_ascii_digit()) => Some(Decimal::new(n, 2)),
            _ => {
                self.element_error(
                    seg,
                    pos,
                    Problem::InvalidNumber,
                    format!("{}{pos:02} ({what}) must be an amount with two implied decimals (N2, digits only), got {v:?}", seg.id),
                );
                None
            }
        }
    }

    /// A date CCYYMMDD.
    pub fn date(
        &mut self,
        seg: &Segment<'a>,
        pos: usize,
        what: &str,
        required: bool,
    ) -> Option<NaiveDate> {
        let v = self.value(seg, pos, what, required)?;
        match crate::x12::envelope::date(v) {
            Some(d) => Some(d),
            None => {
                self.element_error(
                    seg,
                    pos,
                    Problem::InvalidDate,
                    format!(
                        "{}{pos:02} ({what}) must be a date CCYYMMDD, got {v:?}",
                        seg.id
                    ),
                );
                None
            }
        }
    }

    /// Qualifier/id pairs from element `from` on (`PO106`/`PO107`, `PO108`/`PO109`…), up to
    /// element `last`. GTIN-bearing qualifiers are checked.
    pub fn item_ids(&mut self, seg: &Segment<'a>, from: usize, last: usize) -> Vec<ItemId> {
        let mut ids = Vec::new();
        // One pass over the elements, in pairs, stopping where the segment ends.
        let pairs = (last + 1).saturating_sub(from) / 2;
        let mut elements = seg.elements().skip(from - 1).take(2 * pairs);
        let mut pos = from;
        while let Some(q) = elements.next() {
            let id = elements.next().unwrap_or("");
            match (q.is_empty(), id.is_empty()) {
                (true, true) => {}
                (false, true) => self.element_error(
                    seg,
                    pos + 1,
                    Problem::MandatoryElementMissing,
                    format!("{}{:02} has qualifier {q:?} but no id", seg.id, pos + 1),
                ),
                (true, false) => self.element_error(
                    seg,
                    pos,
                    Problem::MandatoryElementMissing,
                    format!(
                        "{}{:02} {id:?} has no qualifier in {}{pos:02}",
                        seg.id,
                        pos + 1,
                        seg.id
                    ),
                ),
                (false, false) => {
                    if GTIN_QUALIFIERS.contains(&q)
                        && let Err(e) = Gtin::parse(id)
                    {
                        self.element_error(
                            seg,
                            pos + 1,
                            Problem::InvalidIdentifier,
                            format!("{}{:02}: {e}", seg.id, pos + 1),
                        );
                    }
                    ids.push(ItemId::new(q, id));
                }
            }
            pos += 2;
        }
        ids
    }

    pub fn missing_segment(&mut self, id: &str, what: &str) {
        let st = self.set.segments[0];
        self.push(
            Diagnostic::error(
                Problem::MandatorySegmentMissing,
                format!(
                    "the {} {} has no {id} segment ({what})",
                    st.element(1),
                    st.element(2)
                ),
            )
            .at(&st),
        );
    }

    /// Read an `N1` and its `N3`/`N4` into `parties`.
    pub fn party(&mut self, seg: &Segment<'a>, parties: &mut Vec<Party>) {
        match seg.id {
            "N1" => parties.push(Party {
                role: self.required(seg, 1, "entity identifier code").to_string(),
                name: seg.element(2).to_string(),
                id_qualifier: opt(seg.element(3)),
                id: opt(seg.element(4)),
                address: Vec::new(),
                city: None,
                state: None,
                postal_code: None,
            }),
            "N3" => {
                if let Some(p) = parties.last_mut() {
                    p.address
                        .extend(seg.elements().filter(|e| !e.is_empty()).map(str::to_string));
                }
            }
            "N4" => {
                if let Some(p) = parties.last_mut() {
                    p.city = opt(seg.element(1));
                    p.state = opt(seg.element(2));
                    p.postal_code = opt(seg.element(3));
                }
            }
            _ => {}
        }
    }

    /// Compare a `CTT01` line count with the lines read.
    pub fn line_count(&mut self, ctt: Option<Segment<'a>>, lines: usize) {
        if let Some(ctt) = ctt
            && !crate::x12::envelope::says(ctt.element(1), lines)
        {
            self.push(
                Diagnostic::warning(
                    Problem::InvalidNumber,
                    format!(
                        "CTT01 says {:?} line items; the set has {lines}",
                        ctt.element(1)
                    ),
                )
                .at(&ctt)
                .element(1)
                .value(ctt.element(1)),
            );
        }
    }

    pub fn finish<T>(self, value: T) -> Result<Parsed<T>, Vec<Diagnostic>> {
        if self.diagnostics.iter().any(Diagnostic::is_error) {
            Err(self.diagnostics)
        } else {
            Ok(Parsed {
                value,
                warnings: self.diagnostics,
            })
        }
    }

    /// Refuse a set that is not of the expected type.
    pub fn expect_set(&mut self, id: &str) {
        let st = self.set.segments[0];
        if st.element(1) != id {
            self.push(
                Diagnostic::error(
                    Problem::SetNotSupported,
                    format!("expected a {id}, got a {}", st.element(1)),
                )
                .at(&st)
                .element(1),
            );
        }
    }
}

/// A decimal as X12 writes it: no exponent, no trailing zeros (`12.50` → `12.5`).
pub(crate) fn num(d: Decimal) -> String {
    d.normalize().to_string()
}

pub(crate) fn date(d: NaiveDate) -> String {
    d.format("%Y%m%d").to_string()
}

/// Append qualifier/id pairs to a segment.
pub(crate) fn with_ids(mut seg: OwnedSegment, ids: &[ItemId]) -> OwnedSegment {
    for id in ids {
        seg = seg.e(&id.qualifier).e(&id.id);
    }
    seg
}

/// Any procure-to-pay document or acknowledgement, read by its ST01.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TypedSet {
    PurchaseOrder(PurchaseOrder),
    PurchaseOrderAck(PurchaseOrderAck),
    ShipNotice(ShipNotice),
    Invoice(Invoice),
    Catalog(Catalog),
    FunctionalAck(crate::x12::ack::FunctionalAck),
}

impl TypedSet {
    /// Read `set` with the reader for its ST01; `None` for a set type Concord does not read.
    pub fn read(set: &TransactionSet<'_>) -> Option<Result<Parsed<Self>, Vec<Diagnostic>>> {
        fn wrap<T>(
            r: Result<Parsed<T>, Vec<Diagnostic>>,
            f: fn(T) -> TypedSet,
        ) -> Result<Parsed<TypedSet>, Vec<Diagnostic>> {
            r.map(|p| Parsed {
                value: f(p.value),
                warnings: p.warnings,
            })
        }
        Some(match set.id() {
            "850" => wrap(PurchaseOrder::read(set), Self::PurchaseOrder),
            "855" => wrap(PurchaseOrderAck::read(set), Self::PurchaseOrderAck),
            "856" => wrap(ShipNotice::read(set), Self::ShipNotice),
            "810" => wrap(Invoice::read(set), Self::Invoice),
            "832" => wrap(Catalog::read(set), Self::Catalog),
            "997" | "999" => crate::x12::ack::FunctionalAck::read(set).map(|a| Parsed {
                value: Self::FunctionalAck(a),
                warnings: Vec::new(),
            }),
            _ => return None,
        })
    }
}
