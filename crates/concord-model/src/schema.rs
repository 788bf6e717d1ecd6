//! JSON Schemas of the canonical model, generated from the types themselves so they cannot drift.

use schemars::{JsonSchema, generate::SchemaSettings};

use crate::{Contract, Facility, Item, Supplier, workflow::contract::ContractPropagation};

/// One type's schema (draft 2020-12), sub-schemas under `$defs`.
pub fn root_schema<T: JsonSchema>() -> serde_json::Value {
    let generator = SchemaSettings::draft2020_12().into_generator();
    serde_json::to_value(generator.into_root_schema_for::<T>()).expect("schemas serialise")
}

/// Every canonical type's schema, by name, in a stable order.
pub fn canonical_schemas() -> Vec<(&'static str, serde_json::Value)> {
    vec![
        ("Supplier", root_schema::<Supplier>()),
        ("Item", root_schema::<Item>()),
        ("Facility", root_schema::<Facility>()),
        ("Contract", root_schema::<Contract>()),
        ("ContractPropagation", root_schema::<ContractPropagation>()),
        ("Price", price_schema()),
        (
            "Requisition",
            root_schema::<crate::requisition::Requisition>(),
        ),
        (
            "RequisitionAnswer",
            root_schema::<crate::requisition::RequisitionAnswer>(),
        ),
        (
            "GoodsReceipt",
            root_schema::<crate::purchasing::GoodsReceipt>(),
        ),
        (
            "WorkbenchAction",
            root_schema::<crate::purchasing::WorkbenchAction>(),
        ),
    ]
}

/// The price answer is a tagged union with decimals as strings; written by hand because its wire
/// form is part of the API contract.
fn price_schema() -> serde_json::Value {
    serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Price",
        "oneOf": [
            {"type": "object", "required": ["status", "contract_id", "version", "unit_price", "uom"],
             "properties": {"status": {"const": "on_contract"}, "contract_id": {"type": "string"},
                "version": {"type": "integer", "minimum": 1},
                "unit_price": {"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?$"},
                "uom": {"type": "string"}}},
            {"type": "object", "required": ["status", "alternatives"],
             "properties": {"status": {"const": "off_contract"},
                "alternatives": {"type": "array", "items": {"type": "object",
                    "required": ["gtin", "contract_id", "unit_price", "uom"],
                    "properties": {"gtin": {"type": "string"}, "contract_id": {"type": "string"},
                        "unit_price": {"type": "string"}, "uom": {"type": "string"}}}}}}
        ]
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn contract_schema_names_required_fields_and_gtin_pattern() {
        let schemas = super::canonical_schemas();
        let (_, contract) = schemas.iter().find(|(n, _)| *n == "Contract").unwrap();
        let required = contract["required"].as_array().unwrap();
        for field in ["id", "version", "supplier_id", "lines", "effective_date"] {
            assert!(required.iter().any(|r| r == field), "{field} not required");
        }
        let text = contract.to_string();
        assert!(text.contains("^[0-9]{14}$"), "GTIN pattern missing: {text}");
    }
}
