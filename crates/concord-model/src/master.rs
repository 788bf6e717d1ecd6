//! Master data: suppliers, items and facilities, in their canonical form.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{
    error::{FieldError, Validate},
    ids::{Gln, Gtin, Npi, Unspsc, Uom},
};

/// A supplier (vendor) known to the health system.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Supplier {
    /// Canonical supplier id, e.g. `S-1`.
    pub id: String,
    pub name: String,
    /// US taxpayer id (EIN `12-3456789`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tin: Option<String>,
    /// National Provider Identifier, for suppliers that are also providers (Luhn-checked; the
    /// 15-digit `80840…` form is accepted and kept as ten digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub npi: Option<Npi>,
    /// The supplier's GS1 Global Location Number, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gln: Option<Gln>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<PostalAddress>,
    /// How the supplier is paid. Changed only through a bank-detail change with two approvals
    /// (`workflow::bank_change`): an upsert that differs here is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment: Option<PaymentDetails>,
}

impl Validate for Supplier {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        check_id("id", &self.id, &mut errors);
        if self.name.trim().is_empty() {
            errors.push(FieldError::new(
                "name",
                "required",
                "supplier name must not be empty",
            ));
        }
        if let Some(tin) = &self.tin
            && !is_ein(tin)
        {
            errors.push(FieldError::new(
                "tin",
                "ein_format",
                format!("TIN {tin:?} is not an EIN of the form 12-3456789"),
            ));
        }
        if let Some(address) = &self.address {
            address.check("address", &mut errors);
        }
        if let Some(payment) = &self.payment {
            errors.extend(payment.validate_at("payment"));
        }
        errors
    }
}

/// A US postal address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostalAddress {
    pub line1: String,
    pub city: String,
    /// Two-letter state code.
    pub state: String,
    /// `12345` or `12345-6789`.
    pub zip: String,
}

impl PostalAddress {
    fn check(&self, at: &str, errors: &mut Vec<FieldError>) {
        for (field, value) in [("line1", &self.line1), ("city", &self.city)] {
            if value.trim().is_empty() {
                errors.push(FieldError::new(
                    format!("{at}.{field}"),
                    "required",
                    format!("{field} must not be empty"),
                ));
            }
        }
        if self.state.len() != 2 || !self.state.bytes().all(|b| b.is_ascii_uppercase()) {
            errors.push(FieldError::new(
                format!("{at}.state"),
                "state_code",
                format!("state {:?} is not a two-letter code such as OH", self.state),
            ));
        }
        let zip = self.zip.as_bytes();
        let digits = |b: &[u8]| b.iter().all(u8::is_ascii_digit);
        let ok = (zip.len() == 5 && digits(zip))
            || (zip.len() == 10 && digits(&zip[..5]) && zip[5] == b'-' && digits(&zip[6..]));
        if !ok {
            errors.push(FieldError::new(
                format!("{at}.zip"),
                "zip_format",
                format!("ZIP {:?} is not 12345 or 12345-6789", self.zip),
            ));
        }
    }

    /// The screening module's comparable form.
    pub fn normalized(&self) -> String {
        crate::screening::normalize_address(&self.line1, &self.city, &self.state, &self.zip)
    }
}

/// How a supplier is paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    Ach,
    Wire,
    Check,
}

/// Payment method, bank account and remit-to address: the details fraud goes after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentDetails {
    pub method: PaymentMethod,
    /// Required for ACH and wire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank: Option<BankAccount>,
    /// Where checks and remittance advice go; required for checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remit_to: Option<PostalAddress>,
}

/// A US bank account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BankAccount {
    /// ABA routing number: nine digits with the ABA checksum.
    pub routing_number: String,
    /// Four to seventeen digits.
    pub account_number: String,
}

impl BankAccount {
    /// The account as people may see it in lists and logs: `****6789`.
    pub fn masked(&self) -> String {
        let n = &self.account_number;
        format!("****{}", &n[n.len().saturating_sub(4)..])
    }
}

/// The ABA routing number checksum: 3·(d1+d4+d7) + 7·(d2+d5+d8) + (d3+d6+d9) ≡ 0 (mod 10).
pub fn is_aba_routing(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 9 || !b.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let d = |i: usize| u32::from(b[i] - b'0');
    let sum = 3 * (d(0) + d(3) + d(6)) + 7 * (d(1) + d(4) + d(7)) + (d(2) + d(5) + d(8));
    sum % 10 == 0
}

impl PaymentDetails {
    /// The details with the account number masked, for answers, events and the audit log.
    pub fn masked(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(bank) = &self.bank {
            v["bank"]["account_number"] = serde_json::Value::String(bank.masked());
        }
        v
    }

    pub fn validate_at(&self, at: &str) -> Vec<FieldError> {
        let mut errors = Vec::new();
        match (&self.bank, self.method) {
            (None, PaymentMethod::Ach | PaymentMethod::Wire) => errors.push(FieldError::new(
                format!("{at}.bank"),
                "required",
                "ACH and wire payments need a bank account",
            )),
            (Some(bank), _) => {
                if !is_aba_routing(&bank.routing_number) {
                    errors.push(FieldError::new(
                        format!("{at}.bank.routing_number"),
                        "aba_checksum",
                        format!(
                            "routing number {:?} is not nine digits with a valid ABA checksum",
                            bank.routing_number
                        ),
                    ));
                }
                let n = &bank.account_number;
                if !(4..=17).contains(&n.len()) || !n.bytes().all(|b| b.is_ascii_digit()) {
                    errors.push(FieldError::new(
                        format!("{at}.bank.account_number"),
                        "account_format",
                        "the account number must be 4 to 17 digits",
                    ));
                }
            }
            _ => {}
        }
        match &self.remit_to {
            Some(a) => a.check(&format!("{at}.remit_to"), &mut errors),
            None if self.method == PaymentMethod::Check => errors.push(FieldError::new(
                format!("{at}.remit_to"),
                "required",
                "check payments need a remit-to address",
            )),
            None => {}
        }
        errors
    }
}

impl Validate for PaymentDetails {
    fn validate(&self) -> Vec<FieldError> {
        self.validate_at("")
            .into_iter()
            .map(|mut e| {
                e.path = e.path.trim_start_matches('.').to_string();
                e
            })
            .collect()
    }
}

/// An EIN is nine digits, conventionally written `NN-NNNNNNN`; both spellings are accepted.
fn is_ein(tin: &str) -> bool {
    let digits: String = tin.chars().filter(|c| *c != '-').collect();
    digits.len() == 9
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (tin.len() == 9 || (tin.len() == 10 && tin.as_bytes()[2] == b'-'))
}

/// Ids (of records, and of people: requesters, approvers) travel in URLs and file names: keep
/// them short and plain.
pub fn check_id(path: &str, id: &str, errors: &mut Vec<FieldError>) {
    if id.is_empty() || id.len() > 64 {
        errors.push(FieldError::new(
            path,
            "id_length",
            "id must be 1 to 64 characters",
        ));
    } else if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
    {
        errors.push(FieldError::new(
            path,
            "id_charset",
            format!("id {id:?} may hold only letters, digits and - _ . :"),
        ));
    }
}

/// An item in the canonical item master, keyed by GTIN-14.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Item {
    pub gtin: Gtin,
    pub description: String,
    pub unspsc: Unspsc,
    /// The unit the item is sold in.
    pub uom: Uom,
    /// The supplier's own part number, used to resolve contract lines that carry no GTIN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_part: Option<String>,
    /// The supplier whose part number `vendor_part` is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supplier_id: Option<String>,
    /// The UDI device identifier (FDA GUDID): a GTIN-14 for GS1-issued UDIs (check digit
    /// verified), or a HIBCC `+…` labeler code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub udi_di: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacturer_part: Option<String>,
    /// Packaging levels as conversions to `uom`: e.g. `BX` holds 10 `EA`, `CS` holds 100.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packaging: Vec<PackLevel>,
}

/// One packaging level of an item: how many of the item's base `uom` it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PackLevel {
    pub uom: Uom,
    pub quantity: u32,
    /// The GTIN printed on this level (a case has its own), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gtin: Option<Gtin>,
}

impl Item {
    /// A minimal item (the rest left empty).
    pub fn new(gtin: Gtin, description: impl Into<String>, unspsc: Unspsc, uom: Uom) -> Self {
        Item {
            gtin,
            description: description.into(),
            unspsc,
            uom,
            vendor_part: None,
            supplier_id: None,
            udi_di: None,
            manufacturer: None,
            manufacturer_part: None,
            packaging: vec![],
        }
    }

    /// How many base units one `uom` is: 1 for the base unit, the pack's quantity for a
    /// packaging level, `None` for a unit the item is not sold in.
    pub fn units_per(&self, uom: &Uom) -> Option<u32> {
        if *uom == self.uom {
            return Some(1);
        }
        self.packaging
            .iter()
            .find(|p| p.uom == *uom)
            .map(|p| p.quantity)
    }

    /// `quantity` of `from` expressed in `to`, when both are levels of this item and it comes
    /// out whole (10 BX → 1 CS when a case holds 10 boxes; 5 BX → CS is `None`).
    pub fn convert(&self, quantity: u32, from: &Uom, to: &Uom) -> Option<u32> {
        let base = quantity.checked_mul(self.units_per(from)?)?;
        let per = self.units_per(to)?;
        (base % per == 0).then_some(base / per)
    }
}

impl Validate for Item {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.description.trim().is_empty() {
            errors.push(FieldError::new(
                "description",
                "required",
                "description must not be empty",
            ));
        }
        if self.vendor_part.is_some() != self.supplier_id.is_some() {
            errors.push(FieldError::new(
                "vendor_part",
                "vendor_part_needs_supplier",
                "vendor_part and supplier_id go together",
            ));
        }
        if let Some(di) = &self.udi_di {
            let hibcc = di.len() > 1
                && di.len() <= 25
                && di.starts_with('+')
                && di[1..].bytes().all(|b| b.is_ascii_alphanumeric());
            if !hibcc && let Err(e) = Gtin::parse(di) {
                errors.push(FieldError::new(
                    "udi_di",
                    "udi_di",
                    format!("{e}; a UDI-DI is a GTIN-14 or a HIBCC +code"),
                ));
            }
        }
        let mut seen: Vec<&Uom> = vec![&self.uom];
        for (i, pack) in self.packaging.iter().enumerate() {
            if seen.contains(&&pack.uom) {
                errors.push(FieldError::new(
                    format!("packaging[{i}].uom"),
                    "duplicate_uom",
                    format!("{} is listed twice (or is the base unit)", pack.uom),
                ));
            }
            seen.push(&pack.uom);
            if pack.quantity < 2 {
                errors.push(FieldError::new(
                    format!("packaging[{i}].quantity"),
                    "pack_quantity",
                    "a packaging level holds at least 2 base units",
                ));
            }
        }
        errors
    }
}

/// A facility (hospital, clinic, warehouse), keyed by GLN, belonging to facility groups that
/// contracts may name for eligibility.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Facility {
    pub gln: Gln,
    pub name: String,
    #[serde(default)]
    pub groups: Vec<String>,
}

impl Validate for Facility {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.name.trim().is_empty() {
            errors.push(FieldError::new(
                "name",
                "required",
                "facility name must not be empty",
            ));
        }
        for (i, g) in self.groups.iter().enumerate() {
            check_id(&format!("groups[{i}]"), g, &mut errors);
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_canonical;
    use serde_json::json;

    #[test]
    fn supplier_tin_format() {
        let ok: Supplier =
            parse_canonical(&json!({"id":"S-1","name":"Acme","tin":"12-3456789"})).unwrap();
        assert_eq!(ok.tin.as_deref(), Some("12-3456789"));
        let err = parse_canonical::<Supplier>(&json!({"id":"S-1","name":"Acme","tin":"1234"}))
            .unwrap_err();
        assert_eq!(err[0].path, "tin");
        assert_eq!(err[0].rule, "ein_format");
    }

    #[test]
    fn item_bad_gtin_names_field() {
        let err = parse_canonical::<Item>(&json!({
            "gtin":"00614141000013","description":"x","unspsc":"42295105","uom":"EA"
        }))
        .unwrap_err();
        assert_eq!(err[0].path, "gtin");
        assert_eq!(err[0].rule, "check_digit");
    }

    #[test]
    fn unsafe_ids_are_refused() {
        let err =
            parse_canonical::<Supplier>(&json!({"id":"../etc/passwd","name":"x"})).unwrap_err();
        assert_eq!(err[0].rule, "id_charset");
    }
}
