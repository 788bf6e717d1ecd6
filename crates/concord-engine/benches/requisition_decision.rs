//! Requisition decision latency (part 3 target: p99 under 2 ms).
//!
//! `cargo bench -p concord-engine --bench requisition_decision` builds a catalog of 10,000
//! active contracts over 20,000 items in 200 UNSPSC classes and 50 facilities, then times, one
//! requisition at a time on this thread, what the hub does synchronously before it answers:
//! pricing every line against the catalog (facts, alternatives included) and running the
//! shipped Rego policy on them. Requisitions mix on-contract, over-price, off-contract and
//! not-eligible lines, 1 to 6 lines each. Prints p50, p99 and max.

use std::time::{Duration, Instant};

use chrono::NaiveDate;
use concord_engine::policy::RequisitionPolicy;
use concord_model::{
    Contract, ContractLine, ContractStatus, Eligibility, Facility, Gln, Gtin, Item, PriceBreak,
    PriceCatalog, Unspsc, Uom,
    ids::gs1_check_digit,
    requisition::{PolicyInput, Requisition, RequisitionLine, line_facts},
};
use rust_decimal::Decimal;

const ITEMS: u64 = 20_000;
const CONTRACTS: u64 = 10_000;
const FACILITIES: u64 = 50;
const DECISIONS: usize = 20_000;

fn gtin(n: u64) -> Gtin {
    Gtin::parse(&with_check_digit(&format!("0061414{n:06}"))).unwrap()
}

fn gln(n: u64) -> Gln {
    Gln::parse(&with_check_digit(&format!("061414{n:06}"))).unwrap()
}

/// The body with its GS1 check digit appended.
fn with_check_digit(body: &str) -> String {
    format!("{body}{}", gs1_check_digit(body.as_bytes()))
}

fn catalog() -> PriceCatalog {
    let mut cat = PriceCatalog::default();
    let ea = Uom::parse("EA").unwrap();
    for n in 0..ITEMS {
        cat.upsert_item(Item {
            gtin: gtin(n),
            description: format!("item {n}"),
            unspsc: Unspsc::parse(&format!("42{:04}00", n % 199)).unwrap(),
            uom: ea.clone(),
            vendor_part: None,
            supplier_id: None,
            udi_di: None,
            manufacturer: None,
            manufacturer_part: None,
            packaging: vec![],
        });
    }
    for f in 0..FACILITIES {
        cat.upsert_facility(Facility {
            gln: gln(f),
            name: format!("facility {f}"),
            groups: vec![format!("region-{}", f % 5)],
        });
    }
    // Contract c covers items 2c and 2c+1 (the odd items of every tenth contract are left out,
    // so some items have no contract) for one region.
    for c in 0..CONTRACTS {
        let mut lines = vec![];
        for item in [2 * c, 2 * c + 1] {
            if item % 20 == 19 {
                continue;
            }
            lines.push(ContractLine {
                gtin: gtin(item),
                uom: ea.clone(),
                price_breaks: vec![
                    PriceBreak {
                        min_quantity: 1,
                        unit_price: Decimal::new(1000 + (item % 97) as i64 * 10, 2),
                    },
                    PriceBreak {
                        min_quantity: 100,
                        unit_price: Decimal::new(900 + (item % 97) as i64 * 10, 2),
                    },
                ],
            });
        }
        cat.activate(Contract {
            id: format!("C-{c}"),
            version: 1,
            supplier_id: format!("S-{}", c % 300),
            status: ContractStatus::Approved,
            effective_date: NaiveDate::from_ymd_opt(2020, 1, 1).unwrap(),
            expiration_date: NaiveDate::from_ymd_opt(2099, 12, 31).unwrap(),
            eligibility: Eligibility {
                facilities: vec![],
                groups: vec![format!("region-{}", c % 5)],
            },
            lines,
        });
    }
    cat
}

fn requisitions() -> Vec<Requisition> {
    let mut rng = fastrand::Rng::with_seed(7);
    let ea = Uom::parse("EA").unwrap();
    (0..DECISIONS)
        .map(|i| {
            let lines = (0..rng.u64(1..=6))
                .map(|_| {
                    let item = rng.u64(0..ITEMS);
                    let quantity = rng.u32(1..100);
                    // Mostly the contract's own price (when it has one here), sometimes more.
                    let list = 1000 + (item % 97) as i64 * 10;
                    let cents = if rng.u8(0..10) < 9 {
                        list
                    } else {
                        list + rng.i64(1..200)
                    };
                    RequisitionLine {
                        gtin: gtin(item),
                        quantity,
                        uom: ea.clone(),
                        unit_price: Decimal::new(cents, 2),
                    }
                })
                .collect();
            Requisition {
                id: format!("R-{i}"),
                requester: "u-17".into(),
                facility: gln(rng.u64(0..FACILITIES)),
                cost_center: "CC-100".into(),
                lines,
            }
        })
        .collect()
}

fn main() {
    let started = Instant::now();
    let catalog = catalog();
    let requisitions = requisitions();
    let policy = RequisitionPolicy::load(None).unwrap();
    let date = NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
    println!(
        "catalog: {CONTRACTS} contracts, {ITEMS} items, {FACILITIES} facilities (built in {:.1} s)",
        started.elapsed().as_secs_f64()
    );
    let mut samples: Vec<Duration> = Vec::with_capacity(DECISIONS);
    let mut pricing: Vec<Duration> = Vec::with_capacity(DECISIONS);
    let mut by_decision = std::collections::BTreeMap::<String, usize>::new();
    for (i, requisition) in requisitions.iter().enumerate() {
        let start = Instant::now();
        let facts = line_facts(&catalog, requisition, date).unwrap();
        let priced = start.elapsed();
        let verdict = policy
            .decide(&PolicyInput {
                requisition,
                lines: &facts,
                total: requisition.total(),
                approval_levels: vec![],
            })
            .unwrap();
        let elapsed = start.elapsed();
        // The first few hundred warm caches; they are not what a running hub sees.
        if i >= 200 {
            samples.push(elapsed);
            pricing.push(priced);
        }
        *by_decision
            .entry(format!("{:?}", verdict.decision))
            .or_default() += 1;
    }
    samples.sort();
    pricing.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    let pricing_p50 = pricing[pricing.len() / 2];
    println!("decisions: {by_decision:?}");
    println!(
        "requisition decision (facts + Rego), {} timed: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        samples.len(),
        at(0.50).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        samples.last().unwrap().as_secs_f64() * 1e3
    );
    println!(
        "of which pricing the lines (facts): p50 {:.3} ms",
        pricing_p50.as_secs_f64() * 1e3
    );
}
