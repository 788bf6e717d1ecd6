//! Contracts: versioned price agreements with eligibility and quantity breaks.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{
    error::{FieldError, Validate},
    ids::{Gln, Gtin, Uom},
    master::{Facility, check_id},
};

/// The lifecycle status a contract carries when it arrives. Only approved contracts are
/// propagated; the hub's own propagation status lives in the workflow state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContractStatus {
    Approved,
    Draft,
    Terminated,
}

/// Which facilities may buy on a contract. Empty facilities and empty groups mean every facility.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Eligibility {
    #[serde(default)]
    pub facilities: Vec<Gln>,
    #[serde(default)]
    pub groups: Vec<String>,
}

impl Eligibility {
    pub fn admits(&self, facility: &Facility) -> bool {
        (self.facilities.is_empty() && self.groups.is_empty())
            || self.facilities.contains(&facility.gln)
            || facility.groups.iter().any(|g| self.groups.contains(g))
    }
}

/// A unit price that applies from `min_quantity` units upwards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceBreak {
    pub min_quantity: u32,
    /// Decimal as a string on the wire, e.g. `"12.50"`.
    #[schemars(with = "String")]
    pub unit_price: Decimal,
}

/// One priced item on a contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContractLine {
    pub gtin: Gtin,
    pub uom: Uom,
    pub price_breaks: Vec<PriceBreak>,
}

impl ContractLine {
    /// The unit price for `quantity`: the break with the largest `min_quantity` not above it.
    pub fn unit_price_for(&self, quantity: u32) -> Option<Decimal> {
        self.price_breaks
            .iter()
            .filter(|b| b.min_quantity <= quantity)
            .max_by_key(|b| b.min_quantity)
            .map(|b| b.unit_price)
    }
}

/// A contract version: the canonical form every system's contract is mapped to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Contract {
    pub id: String,
    /// Versions start at 1; an amendment is a higher version of the same id.
    pub version: u32,
    pub supplier_id: String,
    pub status: ContractStatus,
    /// First day the prices apply (inclusive).
    pub effective_date: NaiveDate,
    /// Last day the prices apply (inclusive).
    pub expiration_date: NaiveDate,
    #[serde(default)]
    pub eligibility: Eligibility,
    pub lines: Vec<ContractLine>,
}

impl Contract {
    pub fn in_force_on(&self, date: NaiveDate) -> bool {
        self.effective_date <= date && date <= self.expiration_date
    }

    pub fn line_for(&self, gtin: &Gtin) -> Option<&ContractLine> {
        self.lines.iter().find(|l| &l.gtin == gtin)
    }
}

impl Validate for Contract {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        check_id("id", &self.id, &mut errors);
        check_id("supplier_id", &self.supplier_id, &mut errors);
        if self.version == 0 {
            errors.push(FieldError::new(
                "version",
                "version_min",
                "version starts at 1",
            ));
        }
        if self.expiration_date < self.effective_date {
            errors.push(FieldError::new(
                "expiration_date",
                "date_order",
                format!(
                    "expiration_date {} is before effective_date {}",
                    self.expiration_date, self.effective_date
                ),
            ));
        }
        if self.lines.is_empty() {
            errors.push(FieldError::new(
                "lines",
                "required",
                "a contract needs at least one line",
            ));
        }
        let mut seen = BTreeSet::new();
        for (i, line) in self.lines.iter().enumerate() {
            if !seen.insert((&line.gtin, &line.uom)) {
                errors.push(FieldError::new(
                    format!("lines[{i}].gtin"),
                    "duplicate_line",
                    format!("item {} in {} is priced twice", line.gtin, line.uom),
                ));
            }
            if line.price_breaks.is_empty() {
                errors.push(FieldError::new(
                    format!("lines[{i}].price_breaks"),
                    "required",
                    "a line needs at least one price break",
                ));
            }
            let mut quantities = BTreeSet::new();
            for (j, b) in line.price_breaks.iter().enumerate() {
                let path = format!("lines[{i}].price_breaks[{j}]");
                if b.min_quantity == 0 {
                    errors.push(FieldError::new(
                        format!("{path}.min_quantity"),
                        "min_quantity_min",
                        "min_quantity starts at 1",
                    ));
                }
                if !quantities.insert(b.min_quantity) {
                    errors.push(FieldError::new(
                        format!("{path}.min_quantity"),
                        "duplicate_break",
                        format!("two breaks start at quantity {}", b.min_quantity),
                    ));
                }
                if b.unit_price.is_sign_negative() {
                    errors.push(FieldError::new(
                        format!("{path}.unit_price"),
                        "price_non_negative",
                        "unit_price must not be negative",
                    ));
                }
            }
        }
        for (i, g) in self.eligibility.groups.iter().enumerate() {
            check_id(&format!("eligibility.groups[{i}]"), g, &mut errors);
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_canonical;
    use serde_json::json;

    pub(crate) fn sample() -> serde_json::Value {
        json!({"id":"C-100","version":1,"supplier_id":"S-1","status":"approved",
            "effective_date":"2026-01-01","expiration_date":"2026-12-31",
            "eligibility":{"facilities":["0614141000005"],"groups":["east"]},
            "lines":[{"gtin":"00614141000012","uom":"EA","price_breaks":[
                {"min_quantity":1,"unit_price":"12.50"},{"min_quantity":100,"unit_price":"11.75"}]}]})
    }

    #[test]
    fn parses_the_documented_wire_shape() {
        let c: Contract = parse_canonical(&sample()).unwrap();
        assert_eq!(c.lines[0].unit_price_for(1), Some(Decimal::new(1250, 2)));
        assert_eq!(c.lines[0].unit_price_for(99), Some(Decimal::new(1250, 2)));
        assert_eq!(c.lines[0].unit_price_for(100), Some(Decimal::new(1175, 2)));
        assert_eq!(c.lines[0].unit_price_for(0), None);
        // Decimals go back out as strings, never floats.
        let back = serde_json::to_value(&c).unwrap();
        assert_eq!(
            back["lines"][0]["price_breaks"][1]["unit_price"],
            json!("11.75")
        );
    }

    #[test]
    fn reports_every_semantic_error_with_its_path() {
        let mut v = sample();
        v["expiration_date"] = json!("2025-12-31");
        v["lines"][0]["price_breaks"][1]["min_quantity"] = json!(1);
        v["lines"][0]["price_breaks"][0]["unit_price"] = json!("-1");
        let errs = parse_canonical::<Contract>(&v).unwrap_err();
        let rules: Vec<_> = errs
            .iter()
            .map(|e| (e.path.as_str(), e.rule.as_str()))
            .collect();
        assert!(
            rules.contains(&("expiration_date", "date_order")),
            "{rules:?}"
        );
        assert!(rules.contains(&("lines[0].price_breaks[1].min_quantity", "duplicate_break")));
        assert!(rules.contains(&("lines[0].price_breaks[0].unit_price", "price_non_negative")));
    }

    #[test]
    fn structural_error_names_nested_path() {
        let mut v = sample();
        v["lines"][0]["gtin"] = json!("00614141000013");
        let errs = parse_canonical::<Contract>(&v).unwrap_err();
        assert_eq!(errs[0].path, "lines[0].gtin");
        assert_eq!(errs[0].rule, "check_digit");
    }

    #[test]
    fn eligibility_by_facility_group_or_everyone() {
        let f = |gln: &str, groups: &[&str]| Facility {
            gln: Gln::parse(gln).unwrap(),
            name: "H".into(),
            groups: groups.iter().map(|s| s.to_string()).collect(),
        };
        let c: Contract = parse_canonical(&sample()).unwrap();
        assert!(c.eligibility.admits(&f("0614141000005", &[])));
        assert!(c.eligibility.admits(&f("0614141000012", &["east"])));
        assert!(!c.eligibility.admits(&f("0614141000012", &["west"])));
        assert!(Eligibility::default().admits(&f("0614141000012", &["west"])));
    }
}
