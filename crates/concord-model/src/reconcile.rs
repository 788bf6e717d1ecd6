//! Reconciliation's comparison: the canonical records of one entity type against one system's
//! view of them, both keyed by canonical id. Pure, so every case is tested without a system.
//!
//! Only the fields the system's view holds are compared (an ERP keeps no UNSPSC? then UNSPSC
//! is not its to disagree on), and text is compared trimmed, so a system that pads its fields
//! does not drown the report.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// Canonical has it; the system does not.
    Missing,
    /// The system has it; canonical does not.
    Extra,
    /// Both have it, and a field the system keeps differs.
    Different,
}

impl FindingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Extra => "extra",
            Self::Different => "different",
        }
    }
}

/// One field that differs, by its JSON path in the canonical record (`packaging/0/quantity`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Difference {
    pub field: String,
    pub canonical: Value,
    pub system: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Finding {
    pub key: String,
    pub kind: FindingKind,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub differences: Vec<Difference>,
}

/// Every difference between `canonical` and `system`, in key order.
pub fn compare(
    canonical: &BTreeMap<String, Value>,
    system: &BTreeMap<String, Value>,
) -> Vec<Finding> {
    let mut findings = vec![];
    for (key, record) in canonical {
        match system.get(key) {
            None => findings.push(Finding {
                key: key.clone(),
                kind: FindingKind::Missing,
                differences: vec![],
            }),
            Some(theirs) => {
                let mut differences = vec![];
                diff(record, theirs, String::new(), &mut differences);
                if !differences.is_empty() {
                    findings.push(Finding {
                        key: key.clone(),
                        kind: FindingKind::Different,
                        differences,
                    });
                }
            }
        }
    }
    for key in system.keys().filter(|k| !canonical.contains_key(*k)) {
        findings.push(Finding {
            key: key.clone(),
            kind: FindingKind::Extra,
            differences: vec![],
        });
    }
    findings.sort_by(|a, b| a.key.cmp(&b.key));
    findings
}

/// Walks the system's side: each leaf it holds is compared with canonical at the same path.
fn diff(ours: &Value, theirs: &Value, path: String, out: &mut Vec<Difference>) {
    match theirs {
        Value::Object(fields) => {
            for (name, value) in fields {
                let at = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}/{name}")
                };
                diff(ours.get(name).unwrap_or(&Value::Null), value, at, out);
            }
        }
        Value::Array(items) if ours.as_array().is_some_and(|o| o.len() == items.len()) => {
            for (i, value) in items.iter().enumerate() {
                diff(&ours[i], value, format!("{path}/{i}"), out);
            }
        }
        _ => {
            if !same(ours, theirs) {
                out.push(Difference {
                    field: path,
                    canonical: ours.clone(),
                    system: theirs.clone(),
                });
            }
        }
    }
}

/// Equal as people read them: text trimmed, numbers and numeric text alike (`"10"` and `10`,
/// `"12.50"` and `12.5`), an empty text the same as nothing.
fn same(a: &Value, b: &Value) -> bool {
    fn text(v: &Value) -> Option<String> {
        match v {
            Value::Null => Some(String::new()),
            Value::String(s) => Some(s.trim().to_string()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
    match (text(a), text(b)) {
        (Some(x), Some(y)) if x == y => true,
        (Some(x), Some(y)) => match (
            x.parse::<rust_decimal::Decimal>(),
            y.parse::<rust_decimal::Decimal>(),
        ) {
            (Ok(p), Ok(q)) => p == q,
            _ => false,
        },
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(entries: &[(&str, Value)]) -> BTreeMap<String, Value> {
        entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn missing_extra_and_different_are_told_apart() {
        let canonical = map(&[
            (
                "A",
                json!({"description": "Glove", "uom": "BX", "unspsc": "42132203"}),
            ),
            ("B", json!({"description": "Gauze", "uom": "EA"})),
            ("C", json!({"description": "Suture", "uom": "EA"})),
        ]);
        let system = map(&[
            ("A", json!({"description": "Glove ", "uom": "BX"})),
            ("B", json!({"description": "Gauze pad", "uom": "CS"})),
            ("D", json!({"description": "Stray", "uom": "EA"})),
        ]);
        let found = compare(&canonical, &system);
        let kinds: Vec<(&str, FindingKind)> =
            found.iter().map(|f| (f.key.as_str(), f.kind)).collect();
        assert_eq!(
            kinds,
            vec![
                ("B", FindingKind::Different),
                ("C", FindingKind::Missing),
                ("D", FindingKind::Extra)
            ],
            "A differs only by padding and in a field the system does not keep"
        );
        let fields: Vec<&str> = found[0]
            .differences
            .iter()
            .map(|d| d.field.as_str())
            .collect();
        assert_eq!(fields, vec!["description", "uom"]);
        assert_eq!(found[0].differences[1].canonical, json!("EA"));
        assert_eq!(found[0].differences[1].system, json!("CS"));
    }

    #[test]
    fn nested_fields_and_numbers_compare_by_value() {
        let canonical = map(&[(
            "S-1",
            json!({"name": "Acme", "address": {"zip": "43210", "city": "Columbus"}, "packs": [{"q": 10}]}),
        )]);
        let same_values = map(&[(
            "S-1",
            json!({"address": {"zip": "43210"}, "packs": [{"q": "10"}]}),
        )]);
        assert!(compare(&canonical, &same_values).is_empty());
        let moved = map(&[("S-1", json!({"address": {"zip": "43215"}}))]);
        let found = compare(&canonical, &moved);
        assert_eq!(found[0].differences[0].field, "address/zip");
        let absent_both = map(&[("S-1", json!({"tin": null}))]);
        assert!(
            compare(&canonical, &absent_both).is_empty(),
            "null on both sides is no difference"
        );
    }
}
