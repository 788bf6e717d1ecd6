//! Reading the systems' native JSON bodies, with 422 errors that name the offending field.
//!
//! A deserialisation error from serde says "invalid type" without saying where; the hub's
//! engineers need `conditions[0].scales[0].amount`. So bodies are read as a [`Value`] and walked
//! with [`Fields`], which knows the path it is at. Fields it is not asked for are ignored, which
//! is how unknown fields are accepted.

use std::str::FromStr;

use axum::{
    Json,
    body::Bytes,
    extract::{FromRequest, Request},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use crate::common::error;

/// A request body parsed as JSON, whatever its `Content-Type`; malformed JSON is a 400 with a
/// JSON error body (axum's own rejection is plain text).
pub(crate) struct JsonBody(pub(crate) Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|err| {
            error(
                StatusCode::BAD_REQUEST,
                format!("body is not valid JSON: {err}"),
            )
        })
    }
}

/// A rejected document: `422 {"error": "...", "field": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invalid {
    /// Path of the offending value, e.g. `conditions[0].uom`; empty for the document itself.
    pub(crate) field: String,
    pub(crate) error: String,
}

impl Invalid {
    pub(crate) fn new(field: impl Into<String>, error: impl Into<String>) -> Invalid {
        Invalid {
            field: field.into(),
            error: error.into(),
        }
    }
}

impl IntoResponse for Invalid {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.error, "field": self.field });
        (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response()
    }
}

/// A JSON object being read, and where it sits in the document.
#[derive(Debug)]
pub(crate) struct Fields<'a> {
    map: &'a Map<String, Value>,
    path: String,
}

impl<'a> Fields<'a> {
    /// The document itself, which must be an object.
    pub(crate) fn root(value: &'a Value) -> Result<Fields<'a>, Invalid> {
        match value {
            Value::Object(map) => Ok(Fields {
                map,
                path: String::new(),
            }),
            _ => Err(Invalid::new("", "body must be a JSON object")),
        }
    }

    /// The path of a field of this object.
    pub(crate) fn path(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    /// `null` counts as absent.
    fn get(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    fn invalid(&self, name: &str, error: impl Into<String>) -> Invalid {
        Invalid::new(self.path(name), error)
    }

    /// A required, non-blank string.
    pub(crate) fn text(&self, name: &str) -> Result<String, Invalid> {
        match self.get(name) {
            None => Err(self.invalid(name, format!("{name} is required"))),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
            Some(Value::String(_)) => Err(self.invalid(name, format!("{name} must not be blank"))),
            Some(_) => Err(self.invalid(name, format!("{name} must be a string"))),
        }
    }

    /// An optional string (absent, `null` and blank are `None`).
    pub(crate) fn opt_text(&self, name: &str) -> Result<Option<String>, Invalid> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.invalid(name, format!("{name} must be a string"))),
        }
    }

    /// An optional list of strings; absent and `null` are empty.
    pub(crate) fn texts(&self, name: &str) -> Result<Vec<String>, Invalid> {
        let Some(value) = self.get(name) else {
            return Ok(Vec::new());
        };
        let Value::Array(items) = value else {
            return Err(self.invalid(name, format!("{name} must be a list of strings")));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s.clone()),
                _ => Err(Invalid::new(
                    format!("{}[{i}]", self.path(name)),
                    format!("{name} must be a list of strings"),
                )),
            })
            .collect()
    }

    /// A required whole number, at least `min`.
    pub(crate) fn count(&self, name: &str, min: u32) -> Result<u32, Invalid> {
        let value = self
            .get(name)
            .ok_or_else(|| self.invalid(name, format!("{name} is required")))?;
        value
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n >= min)
            .ok_or_else(|| {
                self.invalid(
                    name,
                    format!("{name} must be a whole number, at least {min}"),
                )
            })
    }

    /// A required date in `format` (a chrono format such as `%Y%m%d`), written exactly that
    /// way: formatting the parsed date back must give the same text, so `2026-1-1` is refused
    /// where `2026-01-01` is expected.
    pub(crate) fn date(&self, name: &str, format: &str) -> Result<NaiveDate, Invalid> {
        let text = self.text(name)?;
        NaiveDate::parse_from_str(&text, format)
            .ok()
            .filter(|date| date.format(format).to_string() == text)
            .ok_or_else(|| {
                let example =
                    NaiveDate::from_ymd_opt(2026, 1, 31).map(|d| d.format(format).to_string());
                self.invalid(
                    name,
                    format!(
                        "{name} must be a date written like {}",
                        example.unwrap_or_default()
                    ),
                )
            })
    }

    /// A required non-negative amount written as a decimal string. A JSON number is refused:
    /// it means the sender went through a float somewhere.
    pub(crate) fn money(&self, name: &str) -> Result<Decimal, Invalid> {
        match self.get(name) {
            None => Err(self.invalid(name, format!("{name} is required"))),
            Some(Value::String(s)) => Decimal::from_str(s)
                .ok()
                .filter(|d| !d.is_sign_negative())
                .ok_or_else(|| {
                    self.invalid(
                        name,
                        format!("{name} must be a non-negative decimal such as \"12.50\""),
                    )
                }),
            Some(_) => Err(self.invalid(
                name,
                format!("{name} must be a decimal string such as \"12.50\", not a number"),
            )),
        }
    }

    /// A required nested object.
    pub(crate) fn object(&self, name: &str) -> Result<Fields<'a>, Invalid> {
        match self.get(name) {
            Some(Value::Object(map)) => Ok(Fields {
                map,
                path: self.path(name),
            }),
            None => Err(self.invalid(name, format!("{name} is required"))),
            Some(_) => Err(self.invalid(name, format!("{name} must be an object"))),
        }
    }

    /// A required, non-empty list of objects.
    pub(crate) fn objects(&self, name: &str) -> Result<Vec<Fields<'a>>, Invalid> {
        let items = match self.get(name) {
            Some(Value::Array(items)) if !items.is_empty() => items,
            Some(Value::Array(_)) | None => {
                return Err(self.invalid(name, format!("{name} must not be empty")));
            }
            Some(_) => return Err(self.invalid(name, format!("{name} must be a list"))),
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let path = format!("{}[{i}]", self.path(name));
                match item {
                    Value::Object(map) => Ok(Fields { map, path }),
                    _ => Err(Invalid::new(path, "must be an object")),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        json!({
            "name": "x", "blank": " ", "number": 3, "zero": 0, "big": 5_000_000_000u64,
            "day": "20260131", "dashed": "2026-01-31", "short": "2026-1-31",
            "price": "12.50", "float": 12.5, "negative": "-1",
            "list": [{"a": 1}, 2], "empty": [], "tags": ["a", 1], "none": null
        })
    }

    #[test]
    fn errors_name_the_field_and_its_path() {
        let doc = doc();
        let root = Fields::root(&doc).unwrap();
        assert_eq!(root.text("missing").unwrap_err().field, "missing");
        assert_eq!(root.text("blank").unwrap_err().field, "blank");
        assert_eq!(root.text("none").unwrap_err().error, "none is required");
        assert_eq!(root.count("zero", 1).unwrap_err().field, "zero");
        assert!(root.count("big", 0).is_err(), "does not fit a u32");
        assert_eq!(root.count("number", 1), Ok(3));
        assert_eq!(root.objects("empty").unwrap_err().field, "empty");
        assert_eq!(root.objects("list").unwrap_err().field, "list[1]");
        assert_eq!(root.texts("tags").unwrap_err().field, "tags[1]");
        assert_eq!(root.texts("none"), Ok(vec![]));
        assert!(Fields::root(&json!([])).is_err());
    }

    #[test]
    fn nested_objects_carry_their_path() {
        let doc = json!({"items": [{"tiers": [{"price": 1}]}]});
        let root = Fields::root(&doc).unwrap();
        let item = &root.objects("items").unwrap()[0];
        let tier = &item.objects("tiers").unwrap()[0];
        assert_eq!(
            tier.money("price").unwrap_err().field,
            "items[0].tiers[0].price"
        );
    }

    #[test]
    fn dates_must_be_written_exactly_in_the_native_format() {
        let doc = doc();
        let root = Fields::root(&doc).unwrap();
        assert_eq!(
            root.date("day", "%Y%m%d"),
            Ok(NaiveDate::from_ymd_opt(2026, 1, 31).unwrap())
        );
        assert!(root.date("dashed", "%Y%m%d").is_err());
        assert!(root.date("dashed", "%Y-%m-%d").is_ok());
        assert!(root.date("short", "%Y-%m-%d").is_err());
        assert!(
            root.date("day", "%Y-%m-%d")
                .unwrap_err()
                .error
                .contains("2026-01-31")
        );
    }

    #[test]
    fn money_is_a_non_negative_decimal_string() {
        let doc = doc();
        let root = Fields::root(&doc).unwrap();
        assert_eq!(root.money("price"), Ok(Decimal::new(1250, 2)));
        assert_eq!(
            root.money("price").unwrap().to_string(),
            "12.50",
            "scale is kept"
        );
        assert!(
            root.money("float")
                .unwrap_err()
                .error
                .contains("not a number")
        );
        assert!(root.money("negative").is_err());
    }
}
