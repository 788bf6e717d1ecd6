//! Field-level validation errors: what was wrong, where (a JSON path) and which rule it broke.
//!
//! Every rejected input in Concord is reported with these, so an integration engineer can find
//! the offending field without reading our code.

use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// One broken rule at one place in a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// JSON path of the offending value, e.g. `lines[0].gtin` (empty for the document itself).
    pub path: String,
    /// Short machine-readable rule name, e.g. `gtin_check_digit`, `required`, `date_order`.
    pub rule: String,
    /// A sentence for people.
    pub message: String,
}

impl FieldError {
    pub fn new(
        path: impl Into<String>,
        rule: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            path: path.into(),
            rule: rule.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            write!(f, "{} ({})", self.message, self.rule)
        } else {
            write!(f, "{}: {} ({})", self.path, self.message, self.rule)
        }
    }
}

/// Types that know their own semantic rules beyond what deserialisation checks.
pub trait Validate {
    /// Every broken rule, not just the first.
    fn validate(&self) -> Vec<FieldError>;
}

/// Deserialises a canonical document from JSON and runs its semantic checks.
///
/// Structural errors (a missing field, a bad GTIN) stop deserialisation, so at most one of those
/// is reported, with its path; semantic errors are all reported together.
pub fn parse_canonical<T: DeserializeOwned + Validate>(
    value: &serde_json::Value,
) -> Result<T, Vec<FieldError>> {
    if let Some(path) = control_character_at(value) {
        return Err(vec![FieldError::new(
            path,
            "control_character",
            "text may not hold NUL or other control characters (tab, CR and LF are fine)",
        )]);
    }
    let parsed: T = serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let path = if path == "." { String::new() } else { path };
        let inner = err.into_inner().to_string();
        vec![FieldError::new(path, rule_of(&inner), inner)]
    })?;
    let errors = parsed.validate();
    if errors.is_empty() {
        Ok(parsed)
    } else {
        Err(errors)
    }
}

/// The path of the first string (or key) holding a control character other than tab, CR or LF:
/// no system means them, and stores differ on them (PostgreSQL refuses NUL outright).
pub fn control_character_at(value: &serde_json::Value) -> Option<String> {
    control_character_under(value, String::new())
}

fn control_character_under(value: &serde_json::Value, path: String) -> Option<String> {
    let bad = |s: &str| {
        s.chars()
            .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    };
    match value {
        serde_json::Value::String(s) => bad(s).then_some(path),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| control_character_under(v, format!("{path}[{i}]"))),
        serde_json::Value::Object(fields) => fields.iter().find_map(|(k, v)| {
            let at = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            if bad(k) {
                Some(at)
            } else {
                control_character_under(v, at)
            }
        }),
        _ => None,
    }
}

/// Derives a rule name from serde's message, so clients can branch on it.
fn rule_of(message: &str) -> &'static str {
    if message.starts_with("missing field") {
        "required"
    } else if message.starts_with("unknown field") {
        "unknown_field"
    } else if message.starts_with("invalid type") {
        "type"
    } else if message.contains("check digit") {
        "check_digit"
    } else if message.starts_with("unknown variant") {
        "enum"
    } else {
        "format"
    }
}
