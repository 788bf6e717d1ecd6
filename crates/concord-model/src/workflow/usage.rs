//! Clinical usage, as a pure state machine: a device or supply used on a patient (a DFT^P03
//! charge, a FHIR SupplyDelivery or implanted Procedure) becomes, in order:
//!
//! 1. the item, resolved to the item master (GTIN, UDI device identifier, or the EHR's
//!    chargemaster code through a crosswalk), and the facility (GLN, or the EHR's code); either
//!    missing holds the usage with an exception until a person maps it and retries;
//! 2. one fewer on the shelf at the location it was used (stock per item and location), unless
//!    the item is bill-only there (consignment: the supplier's stock, nothing to decrement);
//! 3. when the shelf falls to its reorder point, one replenishment requisition up to the par
//!    level (never a second while one is open), which part 3's procure-to-pay takes from there;
//! 4. for a bill-only item, a requisition to pay for what was used, the usage as its evidence;
//! 5. a cost allocation to the ERP: facility, cost center, service line, procedure, amount
//!    (the on-contract unit price × quantity).
//!
//! The engine gathers the facts (what resolved, the stock row, the price), this module decides,
//! and the engine commits the stock change, the requisitions, the cost allocation and the new
//! state in one transaction. A repeat of a usage finds it consumed and does nothing.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::{Gln, Gtin};

/// One use of one item, as the clinical system told it (identifiers already pseudonymised).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Usage {
    /// Unique per use: `{system}:{message id}:{line}`.
    pub id: String,
    /// The facility as the sender names it (a GLN or its own code).
    pub facility_code: String,
    /// Where it was used (department or point of care): the stock location.
    pub location: String,
    pub item: ItemReference,
    #[serde(with = "rust_decimal::serde::str")]
    #[schemars(with = "String")]
    pub quantity: Decimal,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<DeviceDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub procedure_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_center: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_line: Option<String>,
    /// Keyed pseudonyms, never the MRN or visit number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encounter: Option<String>,
    pub occurred_at: DateTime<Utc>,
}

/// Every way the sender named the item; the engine tries them in this order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ItemReference {
    /// From a UDI's device identifier (GS1 AI 01) or a GTIN item number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gtin: Option<Gtin>,
    /// The EHR's chargemaster (charge description master) code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chargemaster: Option<String>,
    /// Another item number the sender gave (FT1-34), looked up through the crosswalk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The device's production identifiers (from its UDI).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DeviceDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lot: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry: Option<NaiveDate>,
}

/// The shelf at the usage's location, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Shelf {
    pub on_hand: i64,
    pub par_level: i64,
    pub reorder_point: i64,
    /// Consignment: used items are paid for, not taken from our stock.
    pub bill_only: bool,
    /// A replenishment requisition raised and not yet received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replenishment: Option<String>,
}

/// The on-contract price the price lookup found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UnitCost {
    pub contract_id: String,
    #[serde(with = "rust_decimal::serde::str")]
    #[schemars(with = "String")]
    pub unit_price: Decimal,
}

/// What the engine found out before the decision.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageFacts {
    pub item: Option<Gtin>,
    pub facility: Option<Gln>,
    /// `None`: the item is not stocked at that location (nothing to decrement).
    pub shelf: Option<Shelf>,
    pub cost: Option<UnitCost>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UsageStage {
    /// Waiting for a person: the item or facility could not be resolved, or the quantity is
    /// not a whole positive number.
    Held,
    /// Taken from stock (or billed), replenished as needed, cost allocated.
    Consumed,
}

/// The state kept per usage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UsageFlow {
    pub usage: Usage,
    pub stage: UsageStage,
    /// Exception kinds the usage is held by.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held_by: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<Gtin>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facility: Option<Gln>,
    /// Stock after the usage (`None` when not stocked there, or bill-only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_hand_after: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(with = "rust_decimal::serde::str_option")]
    #[schemars(with = "Option<String>")]
    pub cost: Option<Decimal>,
    pub updated_at: DateTime<Utc>,
}

// Events are short-lived values passed once, not stored.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsageEvent {
    /// The usage arrived (first time: a repeat of a consumed usage does nothing).
    Arrived {
        usage: Usage,
        facts: UsageFacts,
        at: DateTime<Utc>,
    },
    /// A person fixed what held it (a crosswalk, the item master) and asks to go again.
    Retried {
        facts: UsageFacts,
        at: DateTime<Utc>,
    },
}

/// Exception kinds this workflow opens.
pub const ITEM_UNRESOLVED: &str = "usage_item_unresolved";
pub const FACILITY_UNRESOLVED: &str = "usage_facility_unresolved";
pub const INVALID_QUANTITY: &str = "usage_invalid_quantity";
pub const COST_UNKNOWN: &str = "usage_cost_unknown";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsageAction {
    OpenException {
        kind: &'static str,
        detail: String,
    },
    /// The usage is no longer held by this kind.
    ResolveException {
        kind: &'static str,
    },
    /// The shelf's new state (on hand, and the replenishment now open, if one was raised).
    SetShelf(Shelf),
    /// Raise a requisition for this many, at this price: a replenishment, or payment for a
    /// bill-only item used (the usage as evidence).
    Requisition {
        purpose: RequisitionPurpose,
        quantity: i64,
        cost: Option<UnitCost>,
    },
    /// Tell the ERP what the usage cost and whom to charge.
    AllocateCost {
        quantity: i64,
        amount: Decimal,
        unit: UnitCost,
    },
}

/// What a requisition a usage raises is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequisitionPurpose {
    /// Fill the shelf back up to par.
    Replenishment,
    /// Pay the supplier for a consignment item used.
    BillOnly,
}

impl RequisitionPurpose {
    /// The prefix of the requisition's id (`REP-…`, `BILL-…`).
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Replenishment => "REP",
            Self::BillOnly => "BILL",
        }
    }
}

/// Why an event does not apply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsageError {
    #[error("usage {0} is not held, so there is nothing to retry")]
    NotHeld(String),
    #[error("a retry needs a usage that arrived first")]
    NoUsage,
}

/// Applies one event. `Arrived` on an existing state is a repeat: nothing happens.
pub fn apply(
    state: Option<UsageFlow>,
    event: UsageEvent,
) -> Result<(UsageFlow, Vec<UsageAction>), UsageError> {
    match (state, event) {
        (Some(flow), UsageEvent::Arrived { .. }) => Ok((flow, vec![])),
        (None, UsageEvent::Arrived { usage, facts, at }) => {
            let flow = UsageFlow {
                usage,
                stage: UsageStage::Held,
                held_by: vec![],
                item: None,
                facility: None,
                on_hand_after: None,
                cost: None,
                updated_at: at,
            };
            Ok(decide(flow, facts, at))
        }
        (None, UsageEvent::Retried { .. }) => Err(UsageError::NoUsage),
        (Some(flow), UsageEvent::Retried { facts, at }) => {
            if flow.stage != UsageStage::Held {
                return Err(UsageError::NotHeld(flow.usage.id));
            }
            Ok(decide(flow, facts, at))
        }
    }
}

/// The whole quantity, when it is one (stock is counted in whole units).
fn whole(quantity: Decimal) -> Option<i64> {
    use rust_decimal::prelude::ToPrimitive;
    (quantity > Decimal::ZERO && quantity.fract().is_zero())
        .then(|| quantity.to_i64())
        .flatten()
}

fn decide(
    mut flow: UsageFlow,
    facts: UsageFacts,
    at: DateTime<Utc>,
) -> (UsageFlow, Vec<UsageAction>) {
    flow.updated_at = at;
    let mut actions = vec![];
    let mut holds: Vec<(&'static str, String)> = vec![];
    let quantity = whole(flow.usage.quantity);
    if quantity.is_none() {
        holds.push((
            INVALID_QUANTITY,
            format!(
                "quantity {} is not a whole number of units above zero",
                flow.usage.quantity
            ),
        ));
    }
    if facts.item.is_none() {
        let r = &flow.usage.item;
        holds.push((
            ITEM_UNRESOLVED,
            format!(
                "no item in the master matches {}; map the chargemaster code in the crosswalk (or add the item) and retry",
                [
                    r.gtin.as_ref().map(|g| format!("GTIN {g}")),
                    r.chargemaster.as_ref().map(|c| format!("chargemaster code {c:?}")),
                    r.item_number.as_ref().map(|c| format!("item number {c:?}")),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", ")
            ),
        ));
    }
    if facts.facility.is_none() {
        holds.push((
            FACILITY_UNRESOLVED,
            format!(
                "facility {:?} is neither a known GLN nor mapped in the crosswalk",
                flow.usage.facility_code
            ),
        ));
    }
    // Settle the holds that no longer apply, open the new ones.
    for kind in std::mem::take(&mut flow.held_by) {
        if !holds.iter().any(|(k, _)| *k == kind) {
            actions.push(UsageAction::ResolveException {
                kind: kind_of(&kind),
            });
        }
    }
    let (Some(quantity), Some(item), Some(facility), true) =
        (quantity, facts.item, facts.facility, holds.is_empty())
    else {
        for (kind, detail) in holds {
            flow.held_by.push(kind.to_string());
            actions.push(UsageAction::OpenException { kind, detail });
        }
        flow.stage = UsageStage::Held;
        return (flow, actions);
    };
    flow.stage = UsageStage::Consumed;
    flow.item = Some(item);
    flow.facility = Some(facility);
    match facts.shelf {
        Some(shelf) if shelf.bill_only => actions.push(UsageAction::Requisition {
            purpose: RequisitionPurpose::BillOnly,
            quantity,
            cost: facts.cost.clone(),
        }),
        Some(mut shelf) => {
            shelf.on_hand -= quantity;
            flow.on_hand_after = Some(shelf.on_hand);
            // At or below the reorder point, and nothing on order yet: fill up to par.
            let want = shelf.par_level - shelf.on_hand;
            let replenish =
                shelf.on_hand <= shelf.reorder_point && shelf.replenishment.is_none() && want > 0;
            if replenish {
                actions.push(UsageAction::Requisition {
                    purpose: RequisitionPurpose::Replenishment,
                    quantity: want,
                    cost: facts.cost.clone(),
                });
            }
            actions.push(UsageAction::SetShelf(shelf));
        }
        None => {}
    }
    match facts.cost {
        Some(unit) => {
            let amount = unit.unit_price * Decimal::from(quantity);
            flow.cost = Some(amount);
            actions.push(UsageAction::AllocateCost {
                quantity,
                amount,
                unit,
            });
        }
        None => actions.push(UsageAction::OpenException {
            kind: COST_UNKNOWN,
            detail: format!(
                "no active contract prices item {} at facility {}, so its cost was not allocated",
                flow.item
                    .as_ref()
                    .map(|g| g.to_string())
                    .unwrap_or_default(),
                flow.facility
                    .as_ref()
                    .map(|g| g.to_string())
                    .unwrap_or_default()
            ),
        }),
    }
    (flow, actions)
}

/// The static name of a stored hold kind.
fn kind_of(kind: &str) -> &'static str {
    match kind {
        ITEM_UNRESOLVED => ITEM_UNRESOLVED,
        FACILITY_UNRESOLVED => FACILITY_UNRESOLVED,
        _ => INVALID_QUANTITY,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 9, 30, 0).unwrap()
    }

    fn usage(qty: &str) -> Usage {
        Usage {
            id: "ehr:M-1:1".into(),
            facility_code: "MERCY".into(),
            location: "CATH".into(),
            item: ItemReference {
                chargemaster: Some("IMP-1001".into()),
                ..Default::default()
            },
            quantity: qty.parse().unwrap(),
            device: None,
            procedure_code: Some("92928".into()),
            cost_center: Some("CATH".into()),
            service_line: Some("CAR".into()),
            patient: Some("pt_x".into()),
            encounter: None,
            occurred_at: at(),
        }
    }

    fn gtin() -> Gtin {
        Gtin::parse("00614141999996").unwrap()
    }
    fn gln() -> Gln {
        Gln::parse("0614141000012").unwrap()
    }
    fn cost() -> UnitCost {
        UnitCost {
            contract_id: "C-1".into(),
            unit_price: "1200.00".parse().unwrap(),
        }
    }
    fn shelf(on_hand: i64, bill_only: bool, open: Option<&str>) -> Shelf {
        Shelf {
            on_hand,
            par_level: 10,
            reorder_point: 4,
            bill_only,
            replenishment: open.map(str::to_string),
        }
    }
    fn facts(shelf: Option<Shelf>) -> UsageFacts {
        UsageFacts {
            item: Some(gtin()),
            facility: Some(gln()),
            shelf,
            cost: Some(cost()),
        }
    }

    fn arrive(qty: &str, facts: UsageFacts) -> (UsageFlow, Vec<UsageAction>) {
        apply(
            None,
            UsageEvent::Arrived {
                usage: usage(qty),
                facts,
                at: at(),
            },
        )
        .unwrap()
    }

    #[test]
    fn a_usage_above_the_reorder_point_decrements_and_allocates_cost() {
        let (flow, actions) = arrive("2", facts(Some(shelf(8, false, None))));
        assert_eq!(flow.stage, UsageStage::Consumed);
        assert_eq!(flow.on_hand_after, Some(6));
        assert_eq!(
            actions,
            [
                UsageAction::SetShelf(shelf(6, false, None)),
                UsageAction::AllocateCost {
                    quantity: 2,
                    amount: "2400.00".parse().unwrap(),
                    unit: cost()
                }
            ]
        );
    }

    #[test]
    fn reaching_the_reorder_point_replenishes_to_par_once() {
        let (_, actions) = arrive("1", facts(Some(shelf(5, false, None))));
        assert_eq!(
            actions[0],
            UsageAction::Requisition {
                purpose: RequisitionPurpose::Replenishment,
                quantity: 6,
                cost: Some(cost())
            }
        );
        // One is already on order: no second requisition.
        let (_, actions) = arrive("1", facts(Some(shelf(4, false, Some("REQ-1")))));
        assert!(
            !actions
                .iter()
                .any(|a| matches!(a, UsageAction::Requisition { .. }))
        );
        assert!(actions.contains(&UsageAction::SetShelf(shelf(3, false, Some("REQ-1")))));
    }

    #[test]
    fn a_bill_only_item_is_ordered_for_payment_and_not_taken_from_stock() {
        let (flow, actions) = arrive("1", facts(Some(shelf(0, true, None))));
        assert_eq!(flow.on_hand_after, None);
        assert_eq!(
            actions[0],
            UsageAction::Requisition {
                purpose: RequisitionPurpose::BillOnly,
                quantity: 1,
                cost: Some(cost())
            }
        );
        assert!(
            !actions
                .iter()
                .any(|a| matches!(a, UsageAction::SetShelf(_)))
        );
    }

    #[test]
    fn unknown_items_hold_until_a_retry_resolves_them_and_repeats_do_nothing() {
        let mut unresolved = facts(Some(shelf(8, false, None)));
        unresolved.item = None;
        let (held, actions) = arrive("1", unresolved.clone());
        assert_eq!(held.stage, UsageStage::Held);
        assert!(matches!(
            &actions[..],
            [UsageAction::OpenException { kind: ITEM_UNRESOLVED, detail }] if detail.contains("IMP-1001")
        ));
        // Still unknown: held again, the same exception (the store keeps one open per kind).
        let (held, _) = apply(
            Some(held),
            UsageEvent::Retried {
                facts: unresolved,
                at: at(),
            },
        )
        .unwrap();
        let (done, actions) = apply(
            Some(held),
            UsageEvent::Retried {
                facts: facts(Some(shelf(8, false, None))),
                at: at(),
            },
        )
        .unwrap();
        assert_eq!(done.stage, UsageStage::Consumed);
        assert_eq!(
            actions[0],
            UsageAction::ResolveException {
                kind: ITEM_UNRESOLVED
            }
        );
        let (same, actions) = apply(
            Some(done.clone()),
            UsageEvent::Arrived {
                usage: usage("1"),
                facts: facts(None),
                at: at(),
            },
        )
        .unwrap();
        assert_eq!((same, actions), (done.clone(), vec![]));
        assert_eq!(
            apply(
                Some(done),
                UsageEvent::Retried {
                    facts: facts(None),
                    at: at()
                }
            ),
            Err(UsageError::NotHeld("ehr:M-1:1".into()))
        );
    }

    #[test]
    fn fractions_unknown_facilities_and_missing_prices_are_named() {
        let mut f = facts(None);
        f.facility = None;
        let (flow, actions) = arrive("1.5", f);
        assert_eq!(flow.held_by, [INVALID_QUANTITY, FACILITY_UNRESOLVED]);
        assert_eq!(actions.len(), 2);
        let mut f = facts(None);
        f.cost = None;
        let (flow, actions) = arrive("3", f);
        assert_eq!(flow.stage, UsageStage::Consumed);
        assert!(matches!(
            &actions[..],
            [UsageAction::OpenException {
                kind: COST_UNKNOWN,
                ..
            }]
        ));
    }
}
