//! Master data: suppliers, items and facilities, in their canonical form.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{
    error::{FieldError, Validate},
    ids::{Gln, Gtin, Unspsc, Uom},
};

/// A supplier (vendor) known to the health system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Supplier {
    /// Canonical supplier id, e.g. `S-1`.
    pub id: String,
    pub name: String,
    /// US taxpayer id (EIN `12-3456789`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tin: Option<String>,
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
        errors
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
