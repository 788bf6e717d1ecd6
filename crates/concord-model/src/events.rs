//! The events Concord publishes: their CloudEvents `type` names (each carries its version, so a
//! changed payload is a new type, never a silent change) and the typed `data` of each, from which
//! the published JSON Schemas are generated.
//!
//! The engine builds every event's data from these types, so the schema and the wire cannot
//! drift apart.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{
    Contract,
    requisition::{Requisition, RequisitionAnswer},
    workflow::{contract::ActivationReason, requisition::StepDecision},
};

/// A contract version was accepted and its propagation started.
pub const CONTRACT_VERSION_SUBMITTED: &str = "org.concord.contract.version.submitted.v1";
/// A contract version became the one buyers are priced from.
pub const CONTRACT_ACTIVATED: &str = "org.concord.contract.activated.v1";

/// The requisition policy decided a requisition (approved, needs approval, or refused).
pub const REQUISITION_DECIDED: &str = "org.concord.requisition.decided.v1";
/// A requisition is approved (by policy or by its last approver): a purchase order follows.
pub const REQUISITION_APPROVED: &str = "org.concord.requisition.approved.v1";
/// An approver rejected a requisition.
pub const REQUISITION_REJECTED: &str = "org.concord.requisition.rejected.v1";

/// A purchase order moved: created, in the ERP, transmitted, acknowledged, confirmed, shipped,
/// received, invoiced, blocked, paid.
pub const PURCHASE_ORDER_CHANGED: &str = "org.concord.purchase_order.changed.v1";
/// A service level objective was missed by one item (`data`: [`crate::slo::SloBreached`]);
/// systems subscribe with an outbound route for `slo_breach` (an alert webhook).
pub const SLO_BREACHED: &str = "org.concord.slo.breached.v1";
/// A supplier's onboarding moved (submitted, held, cleared, approved, active, rejected).
pub const SUPPLIER_ONBOARDING_CHANGED: &str = "org.concord.supplier.onboarding.changed.v1";
/// A supplier's payment details changed after two approvals (`data` masks the account).
pub const SUPPLIER_PAYMENT_CHANGED: &str = "org.concord.supplier.payment.changed.v1";
/// A reconciliation run finished (`data`: counts per system, entity type and kind).
pub const RECONCILIATION_COMPLETED: &str = "org.concord.reconciliation.completed.v1";
/// A clinical usage changed stage: held (item or facility unknown) or consumed (stock taken,
/// replenishment and cost decided). `data` carries pseudonyms only, never an MRN.
pub const USAGE_RECORDED: &str = "org.concord.usage.recorded.v1";
/// A usage's cost was allocated (facility, cost center, service line, procedure, amount); the
/// ERP receives it as a `cost_allocation`.
pub const USAGE_COST_ALLOCATED: &str = "org.concord.usage.cost_allocated.v1";

/// `data` of [`USAGE_RECORDED`].
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageRecorded {
    pub usage: crate::workflow::usage::Usage,
    pub stage: crate::workflow::usage::UsageStage,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held_by: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_hand_after: Option<i64>,
    /// The requisitions raised: replenishment, or payment of a bill-only item.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requisitions: Vec<String>,
}

/// `data` of [`USAGE_COST_ALLOCATED`], and the canonical `cost_allocation` message.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CostAllocation {
    pub usage_id: String,
    pub facility: crate::ids::Gln,
    pub cost_center: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_line: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub procedure_code: Option<String>,
    pub gtin: crate::ids::Gtin,
    pub quantity: i64,
    #[serde(with = "rust_decimal::serde::str")]
    #[schemars(with = "String")]
    pub unit_price: rust_decimal::Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    #[schemars(with = "String")]
    pub amount: rust_decimal::Decimal,
    pub contract_id: String,
    pub occurred_at: chrono::DateTime<chrono::Utc>,
}

/// `data` of [`SUPPLIER_ONBOARDING_CHANGED`].
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SupplierOnboardingChanged {
    pub supplier_id: String,
    pub stage: crate::workflow::onboarding::OnboardingStage,
    /// What happened: `submitted`, `cleared`, `approved`, `rejected`, `erp_created`.
    pub step: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erp_vendor: Option<String>,
}

/// `data` of [`SUPPLIER_PAYMENT_CHANGED`].
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SupplierPaymentChanged {
    pub supplier_id: String,
    pub change_id: String,
    /// The new details with the account number masked.
    pub payment: Value,
    pub approvers: Vec<String>,
}

/// `data` of [`RECONCILIATION_COMPLETED`].
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReconciliationCompleted {
    pub run_id: String,
    /// `{"erp": {"item": {"missing": 1, "extra": 0, "different": 2}}}`.
    pub summary: Value,
}

/// `data` of [`PURCHASE_ORDER_CHANGED`].
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PurchaseOrderChanged {
    pub po_number: String,
    pub requisition_id: String,
    pub supplier: String,
    /// The ERP's PO number, once it gave one.
    pub erp_po: Option<String>,
    /// What happened (`created`, `erp_created`, `transmitted`, `855`, `856`, `receipt`, `810`…).
    pub step: String,
    pub stage: crate::workflow::purchase_order::PoStage,
}

/// `data` of [`REQUISITION_DECIDED`].
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequisitionDecided {
    pub requisition: Requisition,
    pub answer: RequisitionAnswer,
    pub source_system: String,
}

/// `data` of [`REQUISITION_APPROVED`] and [`REQUISITION_REJECTED`].
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequisitionClosed {
    pub requisition_id: String,
    /// Every approval step's decision, in order (empty when the policy approved it alone).
    pub decisions: Vec<StepDecision>,
}

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
        (
            REQUISITION_DECIDED,
            cloud_event::<RequisitionDecided>(REQUISITION_DECIDED),
        ),
        (
            REQUISITION_APPROVED,
            cloud_event::<RequisitionClosed>(REQUISITION_APPROVED),
        ),
        (
            REQUISITION_REJECTED,
            cloud_event::<RequisitionClosed>(REQUISITION_REJECTED),
        ),
        (
            PURCHASE_ORDER_CHANGED,
            cloud_event::<PurchaseOrderChanged>(PURCHASE_ORDER_CHANGED),
        ),
        (
            SLO_BREACHED,
            cloud_event::<crate::slo::SloBreached>(SLO_BREACHED),
        ),
        (
            SUPPLIER_ONBOARDING_CHANGED,
            cloud_event::<SupplierOnboardingChanged>(SUPPLIER_ONBOARDING_CHANGED),
        ),
        (
            SUPPLIER_PAYMENT_CHANGED,
            cloud_event::<SupplierPaymentChanged>(SUPPLIER_PAYMENT_CHANGED),
        ),
        (
            RECONCILIATION_COMPLETED,
            cloud_event::<ReconciliationCompleted>(RECONCILIATION_COMPLETED),
        ),
        (USAGE_RECORDED, cloud_event::<UsageRecorded>(USAGE_RECORDED)),
        (
            USAGE_COST_ALLOCATED,
            cloud_event::<CostAllocation>(USAGE_COST_ALLOCATED),
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
