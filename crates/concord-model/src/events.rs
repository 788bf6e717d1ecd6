//! The events Concord publishes: their CloudEvents `type` names (each carries its version, so a
//! changed payload is a new type, never a silent change) and the typed `data` of each, from which
//! the published JSON Schemas are generated.
//!
//! The engine builds every event's data from these types, so the schema and the wire cannot
//! drift apart.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{Contract, workflow::contract::ActivationReason};

/// A contract version was accepted and its propagation started.
pub const CONTRACT_VERSION_SUBMITTED: &str = "org.concord.contract.version.submitted.v1";
/// A contract version became the one buyers are priced from.
pub const CONTRACT_ACTIVATED: &str = "org.concord.contract.activated.v1";

/// `data` of [`CONTRACT_VERSION_SUBMITTED`].
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContractVersionSubmitted {
    pub contract: Contract,
    /// The system it came from (`api` for the canonical API).
    pub source_system: String,
}

/// `data` of [`CONTRACT_ACTIVATED`].
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContractActivated {
    pub contract_id: String,
    pub version: u32,
    pub activation: ActivationReason,
}

/// Every event type with the JSON Schema of the whole CloudEvent (envelope and typed `data`).
pub fn event_schemas() -> Vec<(&'static str, Value)> {
    vec![
        (
            CONTRACT_VERSION_SUBMITTED,
            cloud_event::<ContractVersionSubmitted>(CONTRACT_VERSION_SUBMITTED),
        ),
        (
            CONTRACT_ACTIVATED,
            cloud_event::<ContractActivated>(CONTRACT_ACTIVATED),
        ),
    ]
}

/// A CloudEvents 1.0 envelope (JSON format) whose `type` is fixed and whose `data` is `T`.
fn cloud_event<T: JsonSchema>(event_type: &str) -> Value {
    let mut data = crate::schema::root_schema::<T>();
    let defs = data
        .as_object_mut()
        .and_then(|o| o.remove("$defs"))
        .unwrap_or_else(|| json!({}));
    if let Some(o) = data.as_object_mut() {
        o.remove("$schema");
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": format!("https://concord.dev/schemas/events/{event_type}.json"),
        "title": event_type,
        "type": "object",
        "required": ["specversion", "id", "source", "type", "time", "data"],
        "properties": {
            "specversion": {"const": "1.0"},
            "id": {"type": "string"},
            "source": {"type": "string"},
            "type": {"const": event_type},
            "subject": {"type": "string"},
            "time": {"type": "string", "format": "date-time"},
            "datacontenttype": {"const": "application/json"},
            "correlationid": {"type": "string"},
            "data": data
        },
        "$defs": defs
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_is_versioned_and_its_schema_types_the_data() {
        for (event_type, schema) in event_schemas() {
            let version = event_type.rsplit('.').next().unwrap();
            assert!(
                version.starts_with('v') && version[1..].parse::<u32>().is_ok(),
                "{event_type} has no version suffix"
            );
            assert_eq!(schema["properties"]["type"]["const"], event_type);
            assert!(
                schema["properties"]["data"]["required"].is_array(),
                "{event_type}: data untyped"
            );
        }
        let (_, activated) = &event_schemas()[1];
        let required = activated["properties"]["data"]["required"].to_string();
        assert!(required.contains("contract_id") && required.contains("activation"));
    }
}
