//! Price resolution: which contract price applies to an item, at a facility, for a quantity, on a
//! date — and when none does, which on-contract items could be bought instead.
//!
//! `PriceCatalog` holds the active contract versions and the master data they refer to. The hub
//! keeps one in memory, in step with commits, so lookups never touch the store.

use std::{collections::HashMap, sync::Arc};

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::{
    contract::Contract,
    ids::{Gln, Gtin, Uom},
    master::{Facility, Item},
};

/// What is being priced.
#[derive(Debug, Clone)]
pub struct PriceQuery {
    pub item: Gtin,
    pub facility: Gln,
    pub quantity: u32,
    pub date: NaiveDate,
}

/// The answer to a price lookup, in its wire shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum PriceAnswer {
    OnContract {
        contract_id: String,
        version: u32,
        #[serde(with = "rust_decimal::serde::str")]
        unit_price: Decimal,
        uom: Uom,
    },
    OffContract {
        alternatives: Vec<Alternative>,
    },
}

/// An on-contract item of the same UNSPSC class that the facility could buy instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alternative {
    pub gtin: Gtin,
    pub contract_id: String,
    #[serde(with = "rust_decimal::serde::str")]
    pub unit_price: Decimal,
    pub uom: Uom,
}

/// Why a lookup could not be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    #[error("item {0} is not in the item master")]
    UnknownItem(Gtin),
    #[error("facility {0} is not in the facility master")]
    UnknownFacility(Gln),
}

/// The most alternatives a lookup lists; the cheapest come first.
pub const MAX_ALTERNATIVES: usize = 10;

/// Active contracts plus the master data needed to price against them.
#[derive(Debug, Clone, Default)]
pub struct PriceCatalog {
    items: HashMap<Gtin, Item>,
    facilities: HashMap<Gln, Facility>,
    /// The active version of each contract id.
    contracts: HashMap<String, Arc<Contract>>,
    /// For each GTIN, the active contracts with a line for it and that line's index: a lookup
    /// touches only these, with no further map or line search.
    contracts_by_gtin: HashMap<Gtin, Vec<(Arc<Contract>, usize)>>,
    /// GTINs of items per UNSPSC class (first six digits).
    items_by_class: HashMap<String, Vec<Gtin>>,
}

impl PriceCatalog {
    pub fn upsert_item(&mut self, item: Item) {
        if let Some(old) = self.items.get(&item.gtin) {
            let class = old.unspsc.class().to_string();
            if let Some(list) = self.items_by_class.get_mut(&class) {
                list.retain(|g| g != &item.gtin);
            }
        }
        self.items_by_class
            .entry(item.unspsc.class().to_string())
            .or_default()
            .push(item.gtin.clone());
        self.items.insert(item.gtin.clone(), item);
    }

    pub fn upsert_facility(&mut self, facility: Facility) {
        self.facilities.insert(facility.gln.clone(), facility);
    }

    /// Makes `contract` the active version of its id, replacing any other version.
    pub fn activate(&mut self, contract: Contract) {
        self.deactivate(&contract.id);
        let contract = Arc::new(contract);
        for (i, line) in contract.lines.iter().enumerate() {
            self.contracts_by_gtin
                .entry(line.gtin.clone())
                .or_default()
                .push((contract.clone(), i));
        }
        self.contracts.insert(contract.id.clone(), contract);
    }

    /// Removes a contract id from pricing altogether.
    pub fn deactivate(&mut self, contract_id: &str) {
        if let Some(old) = self.contracts.remove(contract_id) {
            for line in &old.lines {
                if let Some(entries) = self.contracts_by_gtin.get_mut(&line.gtin) {
                    entries.retain(|(c, _)| c.id != contract_id);
                }
            }
        }
    }

    /// The active version of a contract.
    pub fn contract(&self, contract_id: &str) -> Option<&Contract> {
        self.contracts.get(contract_id).map(|c| c.as_ref())
    }

    pub fn active_version(&self, contract_id: &str) -> Option<u32> {
        self.contracts.get(contract_id).map(|c| c.version)
    }

    pub fn n_active_contracts(&self) -> usize {
        self.contracts.len()
    }

    pub fn item(&self, gtin: &Gtin) -> Option<&Item> {
        self.items.get(gtin)
    }

    pub fn facility(&self, gln: &Gln) -> Option<&Facility> {
        self.facilities.get(gln)
    }

    /// The best contract price for one item: lowest unit price among contracts in force on the
    /// date that admit the facility and have a break at or below the quantity; ties go to the
    /// latest effective date, then to the smallest contract id so the answer is deterministic.
    fn best_price(
        &self,
        gtin: &Gtin,
        facility: &Facility,
        quantity: u32,
        date: NaiveDate,
    ) -> Option<(&Contract, Decimal, &Uom)> {
        let entries = self.contracts_by_gtin.get(gtin)?;
        entries
            .iter()
            .filter(|(c, _)| c.in_force_on(date) && c.eligibility.admits(facility))
            .filter_map(|(c, i)| {
                let line = &c.lines[*i];
                Some((&**c, line.unit_price_for(quantity)?, &line.uom))
            })
            .min_by(|(a, pa, _), (b, pb, _)| {
                pa.cmp(pb)
                    .then(b.effective_date.cmp(&a.effective_date))
                    .then(a.id.cmp(&b.id))
            })
    }

    /// Ids of the contracts in force on the date with a line for the item that do not admit the
    /// facility: an item that is on contract, only not here (`not_eligible` rather than
    /// `off_contract`).
    pub fn contracts_not_admitting(
        &self,
        gtin: &Gtin,
        facility: &Gln,
        date: NaiveDate,
    ) -> Vec<String> {
        let Some(facility) = self.facilities.get(facility) else {
            return vec![];
        };
        let mut ids: Vec<String> = self
            .contracts_by_gtin
            .get(gtin)
            .into_iter()
            .flatten()
            .filter(|(c, _)| c.in_force_on(date) && !c.eligibility.admits(facility))
            .map(|(c, _)| c.id.clone())
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    pub fn lookup(&self, query: &PriceQuery) -> Result<PriceAnswer, LookupError> {
        let item = self
            .items
            .get(&query.item)
            .ok_or_else(|| LookupError::UnknownItem(query.item.clone()))?;
        let facility = self
            .facilities
            .get(&query.facility)
            .ok_or_else(|| LookupError::UnknownFacility(query.facility.clone()))?;
        if let Some((contract, unit_price, uom)) =
            self.best_price(&item.gtin, facility, query.quantity, query.date)
        {
            return Ok(PriceAnswer::OnContract {
                contract_id: contract.id.clone(),
                version: contract.version,
                unit_price,
                uom: uom.clone(),
            });
        }
        let mut alternatives: Vec<Alternative> = self
            .items_by_class
            .get(item.unspsc.class())
            .into_iter()
            .flatten()
            .filter(|g| *g != &item.gtin)
            .filter_map(|g| {
                let (c, unit_price, uom) =
                    self.best_price(g, facility, query.quantity, query.date)?;
                Some(Alternative {
                    gtin: g.clone(),
                    contract_id: c.id.clone(),
                    unit_price,
                    uom: uom.clone(),
                })
            })
            .collect();
        alternatives.sort_by(|a, b| a.unit_price.cmp(&b.unit_price).then(a.gtin.cmp(&b.gtin)));
        alternatives.truncate(MAX_ALTERNATIVES);
        Ok(PriceAnswer::OffContract { alternatives })
    }
}

/// A small catalog for tests here and in `requisition`: items G1 and G3 of one UNSPSC class, G2
/// of another; facility H1 in the east group, H2 in the west; contracts made with `contract`.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;
    use crate::{contract::*, ids::Unspsc};

    pub(crate) const H1: &str = "0614141000005"; // east
    pub(crate) const H2: &str = "0614141000012"; // west
    pub(crate) const G1: &str = "00614141000012";
    pub(crate) const G2: &str = "00614141000029";
    pub(crate) const G3: &str = "00614141000036";

    pub(crate) fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    pub(crate) fn catalog() -> PriceCatalog {
        let mut cat = PriceCatalog::default();
        for (gtin, unspsc) in [(G1, "42295105"), (G2, "42140000"), (G3, "42295105")] {
            cat.upsert_item(Item {
                gtin: Gtin::parse(gtin).unwrap(),
                description: "x".into(),
                unspsc: Unspsc::parse(unspsc).unwrap(),
                uom: Uom::parse("EA").unwrap(),
                vendor_part: None,
                supplier_id: None,
                udi_di: None,
                manufacturer: None,
                manufacturer_part: None,
                packaging: vec![],
            });
        }
        cat.upsert_facility(Facility {
            gln: Gln::parse(H1).unwrap(),
            name: "East".into(),
            groups: vec!["east".into()],
        });
        cat.upsert_facility(Facility {
            gln: Gln::parse(H2).unwrap(),
            name: "West".into(),
            groups: vec!["west".into()],
        });
        cat
    }

    pub(crate) fn contract(
        id: &str,
        gtin: &str,
        breaks: &[(u32, i64)],
        groups: &[&str],
        from: &str,
    ) -> Contract {
        Contract {
            id: id.into(),
            version: 1,
            supplier_id: "S-1".into(),
            status: ContractStatus::Approved,
            effective_date: d(from),
            expiration_date: d("2026-12-31"),
            eligibility: Eligibility {
                facilities: vec![],
                groups: groups.iter().map(|s| s.to_string()).collect(),
            },
            lines: vec![ContractLine {
                gtin: Gtin::parse(gtin).unwrap(),
                uom: Uom::parse("EA").unwrap(),
                price_breaks: breaks
                    .iter()
                    .map(|(q, cents)| PriceBreak {
                        min_quantity: *q,
                        unit_price: Decimal::new(*cents, 2),
                    })
                    .collect(),
            }],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{fixtures::*, *};
    use proptest::prelude::*;

    fn q(gtin: &str, gln: &str, quantity: u32, date: &str) -> PriceQuery {
        PriceQuery {
            item: Gtin::parse(gtin).unwrap(),
            facility: Gln::parse(gln).unwrap(),
            quantity,
            date: d(date),
        }
    }

    fn price_of(a: &PriceAnswer) -> Option<(String, Decimal)> {
        match a {
            PriceAnswer::OnContract {
                contract_id,
                unit_price,
                ..
            } => Some((contract_id.clone(), *unit_price)),
            PriceAnswer::OffContract { .. } => None,
        }
    }

    #[test]
    fn lowest_eligible_price_with_quantity_breaks() {
        let mut cat = catalog();
        cat.activate(contract(
            "C-1",
            G1,
            &[(1, 1250), (100, 1175)],
            &["east"],
            "2026-01-01",
        ));
        cat.activate(contract(
            "C-2",
            G1,
            &[(1, 1300), (50, 1100)],
            &["east"],
            "2026-01-01",
        ));
        let at = |n| price_of(&cat.lookup(&q(G1, H1, n, "2026-06-01")).unwrap()).unwrap();
        assert_eq!(at(1), ("C-1".into(), Decimal::new(1250, 2)));
        assert_eq!(at(50), ("C-2".into(), Decimal::new(1100, 2)));
        assert_eq!(at(100), ("C-2".into(), Decimal::new(1100, 2)));
    }

    #[test]
    fn dates_are_inclusive_and_eligibility_applies() {
        let mut cat = catalog();
        cat.activate(contract("C-1", G1, &[(1, 1250)], &["east"], "2026-01-01"));
        assert!(price_of(&cat.lookup(&q(G1, H1, 1, "2026-01-01")).unwrap()).is_some());
        assert!(price_of(&cat.lookup(&q(G1, H1, 1, "2026-12-31")).unwrap()).is_some());
        assert!(price_of(&cat.lookup(&q(G1, H1, 1, "2025-12-31")).unwrap()).is_none());
        assert!(price_of(&cat.lookup(&q(G1, H1, 1, "2027-01-01")).unwrap()).is_none());
        assert!(price_of(&cat.lookup(&q(G1, H2, 1, "2026-06-01")).unwrap()).is_none());
    }

    #[test]
    fn ties_go_to_latest_effective_date() {
        let mut cat = catalog();
        cat.activate(contract("C-1", G1, &[(1, 1000)], &[], "2026-01-01"));
        cat.activate(contract("C-2", G1, &[(1, 1000)], &[], "2026-03-01"));
        let (id, _) = price_of(&cat.lookup(&q(G1, H2, 1, "2026-06-01")).unwrap()).unwrap();
        assert_eq!(id, "C-2");
    }

    #[test]
    fn off_contract_lists_same_class_alternatives_cheapest_first() {
        let mut cat = catalog();
        // G3 shares G1's class (422951); G2 is in another class.
        cat.activate(contract("C-3", G3, &[(1, 900)], &["west"], "2026-01-01"));
        cat.activate(contract("C-2", G2, &[(1, 100)], &["west"], "2026-01-01"));
        let answer = cat.lookup(&q(G1, H2, 5, "2026-06-01")).unwrap();
        let PriceAnswer::OffContract { alternatives } = answer else {
            panic!("{answer:?}")
        };
        assert_eq!(alternatives.len(), 1);
        assert_eq!(alternatives[0].gtin.as_str(), G3);
        assert_eq!(alternatives[0].contract_id, "C-3");
        // Not eligible at the east facility: no alternatives there.
        let answer = cat.lookup(&q(G1, H1, 5, "2026-06-01")).unwrap();
        assert_eq!(
            answer,
            PriceAnswer::OffContract {
                alternatives: vec![]
            }
        );
    }

    #[test]
    fn amendment_replaces_previous_version() {
        let mut cat = catalog();
        cat.activate(contract("C-1", G1, &[(1, 1250)], &[], "2026-01-01"));
        let mut v2 = contract("C-1", G3, &[(1, 1000)], &[], "2026-01-01");
        v2.version = 2;
        cat.activate(v2);
        assert!(price_of(&cat.lookup(&q(G1, H1, 1, "2026-06-01")).unwrap()).is_none());
        assert_eq!(cat.active_version("C-1"), Some(2));
    }

    #[test]
    fn unknown_item_or_facility_is_an_error() {
        let cat = catalog();
        assert!(matches!(
            cat.lookup(&q("00614141000043", H1, 1, "2026-06-01")),
            Err(LookupError::UnknownItem(_))
        ));
        assert!(matches!(
            cat.lookup(&q(G1, "0614141000029", 1, "2026-06-01")),
            Err(LookupError::UnknownFacility(_))
        ));
    }

    proptest! {
        /// Whatever contracts are active, an on-contract answer is never beaten by another
        /// eligible contract: it is the minimum over a brute-force scan.
        #[test]
        fn answer_is_the_brute_force_minimum(
            prices in proptest::collection::vec((1u32..200, 1i64..5000, proptest::bool::ANY), 1..8),
            quantity in 1u32..300,
        ) {
            let mut cat = catalog();
            let mut expected: Option<Decimal> = None;
            for (i, (min_q, cents, east_only)) in prices.iter().enumerate() {
                let groups: &[&str] = if *east_only { &["east"] } else { &[] };
                cat.activate(contract(&format!("C-{i}"), G1, &[(*min_q, *cents)], groups, "2026-01-01"));
                // Facility H2 is "west": only contracts open to everyone apply.
                if !east_only && *min_q <= quantity {
                    let p = Decimal::new(*cents, 2);
                    expected = Some(expected.map_or(p, |e: Decimal| e.min(p)));
                }
            }
            let got = price_of(&cat.lookup(&q(G1, H2, quantity, "2026-06-01")).unwrap()).map(|(_, p)| p);
            prop_assert_eq!(got, expected);
        }
    }
}
