//! Requisitions: what a requester asks to buy, the facts the requisition policy decides on
//! (from the price catalog, before any money is committed), the policy's verdict and the answer
//! in its wire shape; and the approval chain a requisition needs, from amount thresholds and the
//! cost-center hierarchy.
//!
//! The policy itself is Rego (run by the engine); everything it reads is computed here, purely,
//! so that money is compared as `Decimal` and the policy only ever sees facts (`price_over_contract`,
//! `contracts_not_admitting`) — never has to do arithmetic on prices.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{
    error::{FieldError, Validate},
    ids::{Gln, Gtin, Uom},
    master::check_id,
    price::{Alternative, PriceAnswer, PriceCatalog, PriceQuery},
};

/// A request to buy, before it becomes a purchase order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Requisition {
    pub id: String,
    /// The user asking; may never approve their own requisition.
    pub requester: String,
    /// Where the goods go (GLN, check digit verified).
    pub facility: Gln,
    /// Whose budget pays; its place in the cost-center hierarchy picks the approvers.
    pub cost_center: String,
    pub lines: Vec<RequisitionLine>,
}

/// One line: an item, how many, and the price the requester expects to pay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequisitionLine {
    pub gtin: Gtin,
    pub quantity: u32,
    pub uom: Uom,
    #[serde(with = "rust_decimal::serde::str")]
    #[schemars(with = "String")]
    pub unit_price: Decimal,
}

impl RequisitionLine {
    pub fn extended(&self) -> Decimal {
        self.unit_price * Decimal::from(self.quantity)
    }
}

impl Requisition {
    /// What the requisition would commit: Σ quantity × unit price.
    pub fn total(&self) -> Decimal {
        self.lines.iter().map(RequisitionLine::extended).sum()
    }
}

/// The most lines a requisition may hold (a larger one is a catalog load, not a request).
pub const MAX_LINES: usize = 500;

impl Validate for Requisition {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        check_id("id", &self.id, &mut errors);
        check_id("requester", &self.requester, &mut errors);
        check_id("cost_center", &self.cost_center, &mut errors);
        if self.lines.is_empty() {
            errors.push(FieldError::new(
                "lines",
                "required",
                "a requisition needs at least one line",
            ));
        }
        if self.lines.len() > MAX_LINES {
            errors.push(FieldError::new(
                "lines",
                "max_lines",
                format!(
                    "a requisition holds at most {MAX_LINES} lines, this one {}",
                    self.lines.len()
                ),
            ));
        }
        for (i, line) in self.lines.iter().enumerate() {
            if line.quantity == 0 {
                errors.push(FieldError::new(
                    format!("lines[{i}].quantity"),
                    "quantity_min",
                    "quantity must be at least 1",
                ));
            }
            if line.unit_price.is_sign_negative() {
                errors.push(FieldError::new(
                    format!("lines[{i}].unit_price"),
                    "price_min",
                    format!("unit_price {} is negative", line.unit_price),
                ));
            }
            if line.unit_price.scale() > 4 {
                errors.push(FieldError::new(
                    format!("lines[{i}].unit_price"),
                    "price_scale",
                    format!(
                        "unit_price {} has more than 4 decimal places",
                        line.unit_price
                    ),
                ));
            }
        }
        errors
    }
}

/// The contract price found for a line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractFact {
    pub contract_id: String,
    pub version: u32,
    #[serde(with = "rust_decimal::serde::str")]
    pub unit_price: Decimal,
    pub uom: Uom,
}

/// What the catalog says about one line: the policy's input, one per line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineFacts {
    /// 1-based, as in the answer.
    pub line: u32,
    pub gtin: Gtin,
    pub quantity: u32,
    pub uom: Uom,
    #[serde(with = "rust_decimal::serde::str")]
    pub unit_price: Decimal,
    /// Whether the item master knows the GTIN.
    pub item_known: bool,
    /// The best contract price that applies here; absent when none does (absent rather than
    /// null, because a null is true in Rego).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract: Option<ContractFact>,
    /// The requested unit price is above the contract price.
    pub price_over_contract: bool,
    /// The requested unit of measure is not the contract's.
    pub uom_differs: bool,
    /// By how many percent the requested price is above the contract price (0 when not above or
    /// no contract); a ratio, so the policy may compare it with its own threshold.
    #[serde(with = "rust_decimal::serde::str")]
    pub price_variance_pct: Decimal,
    /// Contracts in force with a line for the item that do not admit this facility.
    pub contracts_not_admitting: Vec<String>,
    /// On-contract items of the same class the facility could buy instead, cheapest first.
    pub alternatives: Vec<Alternative>,
}

/// Why facts could not be gathered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FactsError {
    #[error("facility {0} is not in the facility master")]
    UnknownFacility(Gln),
}

/// Looks every line up in the catalog on `date`.
pub fn line_facts(
    catalog: &PriceCatalog,
    requisition: &Requisition,
    date: NaiveDate,
) -> Result<Vec<LineFacts>, FactsError> {
    if catalog.facility(&requisition.facility).is_none() {
        return Err(FactsError::UnknownFacility(requisition.facility.clone()));
    }
    let mut out = Vec::with_capacity(requisition.lines.len());
    for (i, line) in requisition.lines.iter().enumerate() {
        let query = PriceQuery {
            item: line.gtin.clone(),
            facility: requisition.facility.clone(),
            quantity: line.quantity,
            date,
        };
        let (item_known, contract, alternatives) = match catalog.lookup(&query) {
            Ok(PriceAnswer::OnContract {
                contract_id,
                version,
                unit_price,
                uom,
            }) => (
                true,
                Some(ContractFact {
                    contract_id,
                    version,
                    unit_price,
                    uom,
                }),
                vec![],
            ),
            Ok(PriceAnswer::OffContract { alternatives }) => (true, None, alternatives),
            // The facility was checked above: only the item can be unknown.
            Err(_) => (false, None, vec![]),
        };
        let (price_over_contract, price_variance_pct, uom_differs) = match &contract {
            Some(c) => {
                let over = line.unit_price > c.unit_price;
                let mut pct = if over && !c.unit_price.is_zero() {
                    ((line.unit_price - c.unit_price) * Decimal::ONE_HUNDRED / c.unit_price)
                        .round_dp(2)
                } else if over {
                    Decimal::ONE_HUNDRED
                } else {
                    Decimal::ZERO
                };
                // Always two places ("5.00"), so the policy's messages read the same every time.
                pct.rescale(2);
                (over, pct, c.uom != line.uom)
            }
            None => (false, Decimal::ZERO, false),
        };
        out.push(LineFacts {
            line: i as u32 + 1,
            gtin: line.gtin.clone(),
            quantity: line.quantity,
            uom: line.uom.clone(),
            unit_price: line.unit_price,
            item_known,
            contracts_not_admitting: if contract.is_none() && item_known {
                catalog.contracts_not_admitting(&line.gtin, &requisition.facility, date)
            } else {
                vec![]
            },
            contract,
            price_over_contract,
            uom_differs,
            price_variance_pct,
            alternatives,
        });
    }
    Ok(out)
}

/// The whole input of the requisition policy (`input` in Rego).
#[derive(Debug, Clone, Serialize)]
pub struct PolicyInput<'a> {
    pub requisition: &'a Requisition,
    pub lines: &'a [LineFacts],
    #[serde(with = "rust_decimal::serde::str")]
    pub total: Decimal,
    /// The approval levels the amount alone calls for (empty: below every threshold).
    pub approval_levels: Vec<String>,
}

/// The requisition as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approved,
    NeedsApproval,
    Refused,
}

/// One line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LineDecision {
    OnContract,
    OffContract,
    NotEligible,
    PriceVariance,
}

/// What the policy answers (`data.concord.requisition.verdict`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PolicyVerdict {
    pub decision: Decision,
    pub lines: Vec<LineVerdict>,
    #[serde(default)]
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LineVerdict {
    pub line: u32,
    pub decision: LineDecision,
}

impl PolicyVerdict {
    /// A verdict must decide every line exactly once; a policy that forgets one is broken, and
    /// saying so beats buying on a guess.
    pub fn check(&self, n_lines: usize) -> Result<(), String> {
        let mut seen = BTreeSet::new();
        for l in &self.lines {
            if l.line == 0 || l.line as usize > n_lines {
                return Err(format!(
                    "the verdict decides line {}, the requisition has lines 1 to {n_lines}",
                    l.line
                ));
            }
            if !seen.insert(l.line) {
                return Err(format!("the verdict decides line {} twice", l.line));
            }
        }
        if seen.len() != n_lines {
            let missing: Vec<String> = (1..=n_lines as u32)
                .filter(|n| !seen.contains(n))
                .map(|n| n.to_string())
                .collect();
            return Err(format!(
                "the verdict leaves line(s) {} undecided",
                missing.join(", ")
            ));
        }
        Ok(())
    }
}

/// The answer to `POST /v1/requisitions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RequisitionAnswer {
    pub id: String,
    pub decision: Decision,
    /// Who must approve, in chain order (empty when nobody needs to, or when no approver is
    /// configured for the cost center: then any user with the approver role may).
    pub approvers: Vec<String>,
    pub lines: Vec<LineAnswer>,
    /// Why, in words, from the policy.
    pub reasons: Vec<String>,
    #[serde(with = "rust_decimal::serde::str")]
    #[schemars(with = "String")]
    pub total: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LineAnswer {
    pub line: u32,
    pub decision: LineDecision,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract_id: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::str_option"
    )]
    #[schemars(with = "Option<String>")]
    pub contract_price: Option<Decimal>,
    #[schemars(with = "Vec<serde_json::Value>")]
    pub alternatives: Vec<Alternative>,
}

impl RequisitionAnswer {
    /// Joins the verdict with the facts it was made on.
    pub fn new(
        requisition: &Requisition,
        facts: &[LineFacts],
        verdict: &PolicyVerdict,
        approvers: Vec<String>,
    ) -> Self {
        let mut lines: Vec<LineAnswer> = verdict
            .lines
            .iter()
            .map(|v| {
                let f = &facts[v.line as usize - 1];
                LineAnswer {
                    line: v.line,
                    decision: v.decision,
                    contract_id: f.contract.as_ref().map(|c| c.contract_id.clone()),
                    contract_price: f.contract.as_ref().map(|c| c.unit_price),
                    alternatives: f.alternatives.clone(),
                }
            })
            .collect();
        lines.sort_by_key(|l| l.line);
        RequisitionAnswer {
            id: requisition.id.clone(),
            decision: verdict.decision,
            approvers,
            lines,
            reasons: verdict.reasons.clone(),
            total: requisition.total(),
        }
    }
}

// ---- approval chain ----------------------------------------------------------------------------

/// Approval rules from config (`[approvals]`): levels by amount, and who holds each level in each
/// cost center. A cost center without an approver for a level inherits its parent's.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRules {
    /// Levels in ascending order of amount: a requisition whose total is above a level's
    /// `above` needs that level's approval (and every lower level's).
    #[serde(default = "default_levels")]
    pub levels: Vec<ApprovalLevel>,
    /// Cost centers by id.
    #[serde(default)]
    pub cost_centers: BTreeMap<String, CostCenter>,
    /// A step waiting longer than this is escalated (and an `approval_overdue` exception opens):
    /// a number and a unit, `30s`, `90m`, `24h` or `3d`.
    #[serde(default = "default_escalate_after")]
    pub escalate_after: String,
}

/// `30s`, `90m`, `24h`, `3d` as a duration; `None` when it is none of these or not positive.
pub fn parse_duration(text: &str) -> Option<chrono::Duration> {
    let text = text.trim();
    let unit = text.chars().last()?;
    let n: i64 = text[..text.len() - unit.len_utf8()].trim().parse().ok()?;
    if n <= 0 {
        return None;
    }
    match unit {
        's' => chrono::Duration::try_seconds(n),
        'm' => chrono::Duration::try_minutes(n),
        'h' => chrono::Duration::try_hours(n),
        'd' => chrono::Duration::try_days(n),
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalLevel {
    pub name: String,
    #[serde(with = "rust_decimal::serde::str")]
    pub above: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CostCenter {
    #[serde(default)]
    pub parent: Option<String>,
    /// Approvers (user ids) by level name.
    #[serde(default)]
    pub approvers: BTreeMap<String, Vec<String>>,
}

fn default_levels() -> Vec<ApprovalLevel> {
    vec![
        ApprovalLevel {
            name: "manager".into(),
            above: Decimal::new(1_000, 0),
        },
        ApprovalLevel {
            name: "director".into(),
            above: Decimal::new(25_000, 0),
        },
    ]
}

fn default_escalate_after() -> String {
    "24h".into()
}

impl Default for ApprovalRules {
    fn default() -> Self {
        Self {
            levels: default_levels(),
            cost_centers: BTreeMap::new(),
            escalate_after: default_escalate_after(),
        }
    }
}

/// One step of a chain as planned: who approves, and who takes over if they do not in time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlannedStep {
    pub level: String,
    /// Empty: no approver is configured for the level; any user with the approver role may.
    pub approvers: Vec<String>,
    /// The cost center the approvers were found at (the requisition's or an ancestor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub found_at: Option<String>,
    /// Who is added when the step is overdue: the same level further up the hierarchy, else the
    /// next level up.
    pub escalate_to: Vec<String>,
}

impl ApprovalRules {
    /// How long a step may wait before it is escalated. `check` refuses an `escalate_after`
    /// that does not parse, so the default here is never reached in a running hub.
    pub fn escalation_delay(&self) -> chrono::Duration {
        parse_duration(&self.escalate_after).unwrap_or_else(|| chrono::Duration::hours(24))
    }

    /// The levels the amount calls for.
    pub fn levels_for(&self, amount: Decimal) -> Vec<&ApprovalLevel> {
        self.levels.iter().filter(|l| amount > l.above).collect()
    }

    /// The cost center and its ancestors, nearest first (stops at a cycle, which `check` refuses).
    fn ancestry<'a>(&'a self, cost_center: &'a str) -> Vec<&'a str> {
        let mut out = vec![];
        let mut at = Some(cost_center);
        while let Some(cc) = at {
            if out.contains(&cc) {
                break;
            }
            out.push(cc);
            at = self.cost_centers.get(cc).and_then(|c| c.parent.as_deref());
        }
        out
    }

    /// The first approvers for `level` walking up from `cost_center`, with where they were found.
    fn holders<'a>(&'a self, path: &[&'a str], level: &str) -> Option<(&'a str, &'a [String])> {
        path.iter().find_map(|cc| {
            let list = self.cost_centers.get(*cc)?.approvers.get(level)?;
            (!list.is_empty()).then_some((*cc, list.as_slice()))
        })
    }

    /// The chain for a requisition: one step per level the amount calls for, or — when the
    /// policy wants approval for another reason (a price variance) below every threshold — the
    /// lowest level alone.
    pub fn chain(&self, cost_center: &str, amount: Decimal) -> Vec<PlannedStep> {
        let mut levels = self.levels_for(amount);
        if levels.is_empty()
            && let Some(first) = self.levels.first()
        {
            levels.push(first);
        }
        let path = self.ancestry(cost_center);
        levels
            .iter()
            .map(|level| {
                let found = self.holders(&path, &level.name);
                let approvers = found.map(|(_, a)| a.to_vec()).unwrap_or_default();
                // Escalation: the same level above where it was found, else the next level.
                let above: Vec<&str> = match found {
                    Some((cc, _)) => path
                        .iter()
                        .skip_while(|c| **c != cc)
                        .skip(1)
                        .copied()
                        .collect(),
                    None => vec![],
                };
                let next_level = self
                    .levels
                    .iter()
                    .skip_while(|l| l.name != level.name)
                    .nth(1);
                let escalate_to = self
                    .holders(&above, &level.name)
                    .or_else(|| next_level.and_then(|l| self.holders(&path, &l.name)))
                    .map(|(_, a)| {
                        a.iter()
                            .filter(|u| !approvers.contains(u))
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default();
                PlannedStep {
                    level: level.name.clone(),
                    approvers,
                    found_at: found.map(|(cc, _)| cc.to_string()),
                    escalate_to,
                }
            })
            .collect()
    }

    /// Every problem, each with its path under `[approvals]`.
    pub fn check(&self) -> Vec<(String, String)> {
        let mut problems = vec![];
        let mut names = BTreeSet::new();
        for (i, level) in self.levels.iter().enumerate() {
            if !names.insert(level.name.as_str()) {
                problems.push((
                    format!("levels[{i}].name"),
                    format!("level {:?} is listed twice", level.name),
                ));
            }
            if i > 0 && level.above <= self.levels[i - 1].above {
                problems.push((
                    format!("levels[{i}].above"),
                    format!(
                        "levels go up: {} is not above the previous level's {}",
                        level.above,
                        self.levels[i - 1].above
                    ),
                ));
            }
            if level.above.is_sign_negative() {
                problems.push((format!("levels[{i}].above"), "must not be negative".into()));
            }
        }
        if parse_duration(&self.escalate_after).is_none() {
            problems.push((
                "escalate_after".into(),
                format!(
                    "{:?} is not a duration like 30s, 90m, 24h or 3d",
                    self.escalate_after
                ),
            ));
        }
        for (id, cc) in &self.cost_centers {
            if let Some(parent) = &cc.parent {
                if !self.cost_centers.contains_key(parent) {
                    problems.push((
                        format!("cost_centers.{id}.parent"),
                        format!("no cost center {parent:?} is configured"),
                    ));
                } else if self
                    .ancestry(id)
                    .last()
                    .and_then(|top| self.cost_centers.get(*top).and_then(|c| c.parent.as_ref()))
                    .is_some()
                {
                    problems.push((
                        format!("cost_centers.{id}.parent"),
                        "the hierarchy loops back on itself".into(),
                    ));
                }
            }
            for (level, users) in &cc.approvers {
                if !names.contains(level.as_str()) {
                    problems.push((
                        format!("cost_centers.{id}.approvers.{level}"),
                        format!(
                            "no level {level:?}; levels are {}",
                            self.levels
                                .iter()
                                .map(|l| l.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                }
                if users.iter().any(|u| u.trim().is_empty()) {
                    problems.push((
                        format!("cost_centers.{id}.approvers.{level}"),
                        "an approver id is empty".into(),
                    ));
                }
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::price::fixtures::{G1, G2, G3, H1 as EAST, catalog as base_catalog, contract};

    // G1 and G3 share a UNSPSC class (gloves); G2 is of another (a stent).
    const GLOVES: &str = G1;
    const GLOVES_B: &str = G3;
    const STENT: &str = G2;
    const UNKNOWN: &str = "00614141000043";

    fn dec(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn catalog() -> PriceCatalog {
        let mut cat = base_catalog();
        cat.activate(contract(
            "C-GLOVES",
            GLOVES_B,
            &[(1, 900)],
            &["east"],
            "2026-01-01",
        ));
        cat.activate(contract(
            "C-STENT",
            STENT,
            &[(1, 80_000)],
            &["west"],
            "2026-01-01",
        ));
        cat
    }

    fn requisition(lines: &[(&str, u32, &str)]) -> Requisition {
        Requisition {
            id: "R-1".into(),
            requester: "u-17".into(),
            facility: Gln::parse(EAST).unwrap(),
            cost_center: "CC-100".into(),
            lines: lines
                .iter()
                .map(|(g, q, p)| RequisitionLine {
                    gtin: Gtin::parse(g).unwrap(),
                    quantity: *q,
                    uom: Uom::parse("EA").unwrap(),
                    unit_price: dec(p),
                })
                .collect(),
        }
    }

    #[test]
    fn facts_tell_on_contract_variance_off_contract_not_eligible_and_unknown_apart() {
        let req = requisition(&[
            (GLOVES_B, 10, "9.00"),
            (GLOVES_B, 10, "9.45"),
            (GLOVES, 10, "12.50"),
            (STENT, 1, "800.00"),
            (UNKNOWN, 1, "5.00"),
        ]);
        let facts = line_facts(&catalog(), &req, "2026-06-01".parse().unwrap()).unwrap();
        assert_eq!(facts.len(), 5);
        assert_eq!(facts[0].contract.as_ref().unwrap().contract_id, "C-GLOVES");
        assert!(!facts[0].price_over_contract);
        assert_eq!(facts[0].price_variance_pct, Decimal::ZERO);
        assert!(facts[1].price_over_contract);
        assert_eq!(facts[1].price_variance_pct.to_string(), "5.00");
        assert!(facts[2].contract.is_none());
        assert_eq!(facts[2].alternatives.len(), 1);
        assert_eq!(facts[2].alternatives[0].contract_id, "C-GLOVES");
        assert!(facts[3].contract.is_none());
        assert_eq!(
            facts[3].contracts_not_admitting,
            vec!["C-STENT".to_string()]
        );
        assert!(!facts[4].item_known);
        assert_eq!(
            facts.iter().map(|f| f.line).collect::<Vec<_>>(),
            [1, 2, 3, 4, 5]
        );
        // Outside the contracts' term nothing is on contract.
        let late = line_facts(&catalog(), &req, "2027-01-02".parse().unwrap()).unwrap();
        assert!(
            late.iter()
                .all(|f| f.contract.is_none() && f.contracts_not_admitting.is_empty())
        );
    }

    #[test]
    fn an_unknown_facility_is_an_error_not_a_decision() {
        let mut req = requisition(&[(GLOVES, 1, "1.00")]);
        req.facility = Gln::parse("0614141000029").unwrap();
        assert!(matches!(
            line_facts(&catalog(), &req, "2026-06-01".parse().unwrap()),
            Err(FactsError::UnknownFacility(_))
        ));
    }

    #[test]
    fn validation_names_every_bad_field() {
        let mut req = requisition(&[
            (GLOVES, 0, "1.00"),
            (GLOVES, 1, "-1"),
            (GLOVES, 1, "1.00001"),
        ]);
        req.cost_center = String::new();
        let paths: Vec<String> = req.validate().into_iter().map(|e| e.path).collect();
        assert_eq!(
            paths,
            [
                "cost_center",
                "lines[0].quantity",
                "lines[1].unit_price",
                "lines[2].unit_price"
            ]
        );
        assert!(requisition(&[(GLOVES, 3, "1.10")]).validate().is_empty());
        assert_eq!(
            requisition(&[(GLOVES, 3, "1.10"), (STENT, 2, "800")]).total(),
            dec("1603.30")
        );
    }

    #[test]
    fn a_verdict_must_decide_each_line_once() {
        let verdict = |lines: &[u32]| PolicyVerdict {
            decision: Decision::Approved,
            lines: lines
                .iter()
                .map(|l| LineVerdict {
                    line: *l,
                    decision: LineDecision::OnContract,
                })
                .collect(),
            reasons: vec![],
        };
        assert!(verdict(&[2, 1]).check(2).is_ok());
        assert!(verdict(&[1]).check(2).unwrap_err().contains("line(s) 2"));
        assert!(verdict(&[1, 1]).check(2).unwrap_err().contains("twice"));
        assert!(verdict(&[1, 3]).check(2).unwrap_err().contains("line 3"));
        assert!(verdict(&[0]).check(1).is_err());
    }

    fn rules() -> ApprovalRules {
        toml_rules(
            r#"
            escalate_after = "8h"
            [[levels]]
            name = "manager"
            above = "1000"
            [[levels]]
            name = "director"
            above = "10000"
            [cost_centers.CC-1]
            approvers = { manager = ["u-40"], director = ["u-90"] }
            [cost_centers.CC-10]
            parent = "CC-1"
            approvers = { manager = ["u-50"] }
            [cost_centers.CC-100]
            parent = "CC-10"
            "#,
        )
    }

    fn toml_rules(text: &str) -> ApprovalRules {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn the_chain_follows_amount_thresholds_and_inherits_up_the_hierarchy() {
        let r = rules();
        assert!(r.check().is_empty(), "{:?}", r.check());
        // Above the manager threshold only: the nearest manager (CC-10), escalating to CC-1's.
        let chain = r.chain("CC-100", dec("1500"));
        assert_eq!(chain.len(), 1);
        assert_eq!(chain[0].level, "manager");
        assert_eq!(chain[0].approvers, ["u-50"]);
        assert_eq!(chain[0].found_at.as_deref(), Some("CC-10"));
        assert_eq!(chain[0].escalate_to, ["u-40"]);
        // Above both: manager then director; the director, at the top, escalates nowhere.
        let chain = r.chain("CC-100", dec("10000.01"));
        assert_eq!(
            chain.iter().map(|s| s.level.as_str()).collect::<Vec<_>>(),
            ["manager", "director"]
        );
        assert_eq!(chain[1].approvers, ["u-90"]);
        assert!(chain[1].escalate_to.is_empty());
        // At the top of the tree, a manager escalates to the next level.
        assert_eq!(r.chain("CC-1", dec("2000"))[0].escalate_to, ["u-90"]);
        // Exactly at a threshold is not above it; below every threshold the lowest level alone
        // (for approvals the policy asks for on other grounds).
        assert_eq!(r.levels_for(dec("1000")).len(), 0);
        assert_eq!(r.chain("CC-100", dec("5"))[0].level, "manager");
        // An unknown cost center has nobody configured: any approver may act.
        let chain = r.chain("CC-UNKNOWN", dec("1500"));
        assert!(chain[0].approvers.is_empty() && chain[0].found_at.is_none());
    }

    #[test]
    fn durations_take_a_unit() {
        assert_eq!(parse_duration("90m"), Some(chrono::Duration::minutes(90)));
        assert_eq!(parse_duration("1s"), Some(chrono::Duration::seconds(1)));
        assert_eq!(parse_duration("3d"), Some(chrono::Duration::days(3)));
        for bad in ["", "24", "0h", "-1h", "h", "2w", "1.5h"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn bad_rules_are_named_by_path() {
        let mut r = rules();
        r.levels[1].above = dec("10");
        r.escalate_after = "8 weeks".into();
        r.cost_centers.get_mut("CC-1").unwrap().parent = Some("CC-100".into());
        r.cost_centers
            .get_mut("CC-10")
            .unwrap()
            .approvers
            .insert("vp".into(), vec!["u-1".into()]);
        r.cost_centers.insert(
            "CC-200".into(),
            CostCenter {
                parent: Some("CC-404".into()),
                approvers: BTreeMap::new(),
            },
        );
        let paths: Vec<String> = r.check().into_iter().map(|(p, _)| p).collect();
        assert!(paths.contains(&"levels[1].above".to_string()), "{paths:?}");
        assert!(paths.contains(&"escalate_after".to_string()), "{paths:?}");
        assert!(
            paths.contains(&"cost_centers.CC-1.parent".to_string()),
            "{paths:?}"
        );
        assert!(
            paths.contains(&"cost_centers.CC-10.approvers.vp".to_string()),
            "{paths:?}"
        );
        assert!(
            paths.contains(&"cost_centers.CC-200.parent".to_string()),
            "{paths:?}"
        );
        // The loop is found from wherever it is entered.
        assert!(
            paths.contains(&"cost_centers.CC-100.parent".to_string()),
            "{paths:?}"
        );
    }
}
