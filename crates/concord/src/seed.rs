//! The demo's regional health system: 8 hospitals in 2 groups, 50 suppliers, 2,000 items and
//! 100 contracts (10 of them amended), generated deterministically so every run tells the same
//! story. Identifiers carry valid GS1 check digits.

use concord_model::ids::gs1_check_digit;
use serde_json::{Value, json};

pub const N_FACILITIES: usize = 8;
pub const N_SUPPLIERS: usize = 50;
pub const N_ITEMS: usize = 2_000;
pub const N_CONTRACTS: usize = 100;
pub const N_AMENDED: usize = 10;
/// Suppliers known to the ERP only: the hub finds them through the ERP's vendor lookup.
pub const ERP_ONLY_SUPPLIERS: std::ops::RangeInclusive<usize> = 46..=50;
const UOMS: [&str; 3] = ["EA", "BX", "CA"];
const UNSPSC_CLASSES: [&str; 10] = [
    "422951", "422952", "422953", "421318", "421421", "423121", "422222", "421922", "424915",
    "421417",
];

fn with_check(body: &str) -> String {
    format!("{body}{}", gs1_check_digit(body.as_bytes()))
}

pub fn facility_gln(i: usize) -> String {
    with_check(&format!("0614141{:05}", 100 + i))
}

pub fn item_gtin(i: usize) -> String {
    with_check(&format!("0061414{:06}", 200_000 + i))
}

pub fn supplier_id(s: usize) -> String {
    format!("S-{s:03}")
}

pub fn supplier_tin(s: usize) -> String {
    format!("{:02}-{:07}", 10 + s, 4_000_000 + s * 137)
}

pub fn vendor_number(s: usize) -> String {
    format!("{}", 100_000 + s)
}

/// Items of supplier `s` (1-based): every 50th item.
fn items_of(s: usize) -> impl Iterator<Item = usize> {
    (0..N_ITEMS).filter(move |i| i % N_SUPPLIERS == s - 1)
}

pub fn facilities() -> Vec<Value> {
    (0..N_FACILITIES)
        .map(|i| {
            let (group, n) = if i < 4 { ("east", i + 1) } else { ("west", i - 3) };
            json!({"gln": facility_gln(i), "name": format!("Mercy {} Hospital {n}", if group == "east" { "East" } else { "West" }), "groups": [group]})
        })
        .collect()
}

/// Suppliers for the hub's master (the ERP-only ones are left out on purpose).
pub fn hub_suppliers() -> Vec<Value> {
    (1..=N_SUPPLIERS)
        .filter(|s| !ERP_ONLY_SUPPLIERS.contains(s))
        .map(|s| json!({"id": supplier_id(s), "name": format!("Supplier {s:03} Medical"), "tin": supplier_tin(s)}))
        .collect()
}

/// Vendors in the ERP's own model.
pub fn erp_vendors() -> Vec<Value> {
    (1..=N_SUPPLIERS)
        .map(|s| json!({"vendorNumber": vendor_number(s), "vendorName": format!("SUPPLIER {s:03} MEDICAL INC"), "taxId": supplier_tin(s)}))
        .collect()
}

/// The ERP's item master: every item as a material (the material number is the GTIN).
pub fn erp_materials() -> Vec<(String, Value)> {
    items()
        .into_iter()
        .map(|i| {
            let gtin = i["gtin"].as_str().unwrap_or_default().to_string();
            let m = json!({"description": i["description"], "baseUom": i["uom"], "materialGroup": i["unspsc"]});
            (gtin, m)
        })
        .collect()
}

pub fn items() -> Vec<Value> {
    (0..N_ITEMS)
        .map(|i| {
            let s = i % N_SUPPLIERS + 1;
            let class = UNSPSC_CLASSES[i % UNSPSC_CLASSES.len()];
            // Items of an ERP-only supplier carry no vendor part link in the hub master (the hub
            // does not know that supplier's canonical id in advance).
            let mut item = json!({"gtin": item_gtin(i), "description": format!("Item {i:04} ({class})"),
                "unspsc": format!("{class}{:02}", i % 97), "uom": UOMS[i % 3]});
            if !ERP_ONLY_SUPPLIERS.contains(&s) {
                item["vendor_part"] = json!(format!("VP-{i:05}"));
                item["supplier_id"] = json!(supplier_id(s));
            }
            item
        })
        .collect()
}

/// The CLM's own record of contract `k` (0-based), amendment `amendment`.
pub fn clm_contract(k: usize, amendment: u32) -> Value {
    let s = k % N_SUPPLIERS + 1;
    let (facilities, groups): (Vec<String>, Vec<&str>) = match k % 4 {
        0 => (vec![], vec![]),
        1 => (vec![], vec!["east"]),
        2 => (vec![], vec!["west"]),
        _ => (
            (0..N_FACILITIES).step_by(3).map(facility_gln).collect(),
            vec![],
        ),
    };
    let discount = i64::from(amendment) * 25; // amendments lower prices by 0.25
    let pricing: Vec<Value> = items_of(s)
        .skip(k / N_SUPPLIERS * 10)
        .take(10)
        .enumerate()
        .map(|(j, i)| {
            let base = 1_000 + ((i * 37 + k * 11) % 9_000) as i64 - discount;
            let price = |cents: i64| format!("{}.{:02}", cents / 100, cents % 100);
            let by_part = j % 7 == 3 && !ERP_ONLY_SUPPLIERS.contains(&s);
            json!({
                "itemGtin": if by_part { Value::Null } else { json!(item_gtin(i)) },
                "vendorPartNo": if by_part { json!(format!("VP-{i:05}")) } else { Value::Null },
                "unit": UOMS[i % 3],
                "tiers": [{"fromQty": 1, "price": price(base)}, {"fromQty": 100, "price": price(base * 94 / 100)}]
            })
        })
        .collect();
    json!({
        "contractNumber": contract_id(k),
        "amendmentNo": amendment,
        "counterparty": {"clmVendorId": format!("V-{s:04}"), "legalName": format!("Supplier {s:03} Medical"), "taxId": supplier_tin(s)},
        "term": {"start": "2026-01-01", "end": "2027-12-31"},
        "coverage": {"facilityGlns": facilities, "facilityGroups": groups},
        "pricing": pricing
    })
}

pub fn contract_id(k: usize) -> String {
    format!("C-{}", 1001 + k)
}

#[cfg(test)]
mod tests {
    use super::*;
    use concord_model::{Gln, Gtin};

    #[test]
    fn generated_identifiers_are_valid_and_distinct() {
        let glns: std::collections::HashSet<_> = (0..N_FACILITIES).map(facility_gln).collect();
        assert_eq!(glns.len(), N_FACILITIES);
        assert!(glns.iter().all(|g| Gln::parse(g).is_ok()));
        let gtins: std::collections::HashSet<_> = (0..N_ITEMS).map(item_gtin).collect();
        assert_eq!(gtins.len(), N_ITEMS);
        assert!(gtins.iter().all(|g| Gtin::parse(g).is_ok()));
    }

    #[test]
    fn contracts_have_lines_of_their_supplier() {
        for k in 0..N_CONTRACTS {
            let c = clm_contract(k, 0);
            assert_eq!(c["pricing"].as_array().unwrap().len(), 10, "contract {k}");
        }
    }
}
