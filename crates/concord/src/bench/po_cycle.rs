//! `concord bench po-cycle`: the whole procure-to-pay cycle for many POs through the sandbox.
//!
//! The demo's estate (the hub on SQLite, the ERP, the EDI supplier, the warehouse) with its
//! contracts active; then `orders` requisitions, each on contract and under the approval
//! threshold, so each is approved at once and becomes one PO: created in the ERP, sent as an
//! 850, answered with the supplier's 997, 855, 856 and 810, received by the warehouse, matched
//! three ways and released for payment in the ERP. The figure is the time from the first
//! requisition to the last payment release, and each PO's time from its creation in the ERP to
//! its payment release (which spans the 850 → 810 exchange).

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};

use super::{Report, tempdir};
use crate::{
    demo::Estate,
    demo_requisitions::{Pick, items_on_contract},
    seed,
};

/// How long the cycle may take before the harness gives up.
const DEADLINE: Duration = Duration::from_secs(900);

/// Requisition `k`: one or two lines of 1–3 units, all at the contract price, so the total stays
/// under the first approval level (1,000) and the policy approves it at once.
fn requisition(k: usize, items: &[Pick]) -> Value {
    let n_lines = 1 + k % 2;
    let lines: Vec<Value> = (0..n_lines)
        .map(|j| {
            let item = &items[(k + j * 3) % items.len()];
            json!({"gtin": item.gtin, "quantity": 1 + (k + j) % 3, "uom": item.uom,
                   "unit_price": item.contract_price.unwrap_or_default().to_string()})
        })
        .collect();
    json!({"id": format!("R-BENCH-{k}"), "requester": "u-17", "facility": seed::facility_gln(0),
           "cost_center": "CC-4W", "lines": lines})
}

pub async fn po_cycle(orders: usize, connections: usize) -> Result<()> {
    let dir = tempdir::Dir::new()?;
    let estate = Estate::start(SocketAddr::from(([127, 0, 0, 1], 0)), &dir.0, |config| {
        // The harness measures the cycle, not the demo's politeness limits.
        config.api.rate_limit_per_principal = 0;
        config.api.rate_limit_per_system = 0;
        config.delivery.concurrency = 256;
        config.delivery.poll_ms = 20;
        for system in config.systems.values_mut() {
            system.rate_limit_per_sec = 0;
        }
    })
    .await?;
    estate.seed_master_data().await?;
    let approvals = estate.store_contracts_in_clm(false).await?;
    crate::demo::send_all(&estate.client, approvals)
        .await
        .context("approving the contracts in the CLM")?;
    ensure!(
        estate.wait_active(false, Duration::from_secs(120)).await,
        "the contracts did not become active"
    );
    let items = items_on_contract(&estate.hub)?;
    ensure!(
        !items.is_empty(),
        "no item of the EDI partner's supplier is on contract at facility 0"
    );
    let items = Arc::new(items);
    println!(
        "estate ready: {} contracts active, {} items on contract with the EDI supplier; placing {orders} requisitions",
        seed::N_CONTRACTS,
        items.len()
    );

    let url = format!("{}/v1/requisitions", estate.hub_url);
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (client, url, next, items) = (
            estate.client.clone(),
            url.clone(),
            next.clone(),
            items.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= orders {
                    return Ok(());
                }
                let answer: Value = client
                    .post(&url)
                    .json(&requisition(k, &items))
                    .send()
                    .await?
                    .json()
                    .await?;
                if answer["decision"] != "approved" {
                    bail!("requisition {k} was not approved: {answer}");
                }
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    let submitted = started.elapsed();
    println!(
        "{orders} requisitions approved in {:.1} s",
        submitted.as_secs_f64()
    );

    let (erp, supplier, warehouse) = (
        &estate.sandbox.erp,
        &estate.sandbox.supplier,
        &estate.sandbox.warehouse,
    );
    let mut last_report = Instant::now();
    loop {
        let paid = erp.count_effects("payment.released");
        if paid >= orders {
            break;
        }
        if last_report.elapsed() > Duration::from_secs(5) {
            last_report = Instant::now();
            println!(
                "  {:>5.1} s: ERP POs {}, interchanges from the supplier {}, receipts {}, payments {paid}",
                started.elapsed().as_secs_f64(),
                erp.count_effects("purchase_order.created"),
                supplier.count_effects("x12.sent"),
                warehouse.count_effects("goods.received"),
            );
        }
        if started.elapsed() > DEADLINE {
            bail!(
                "only {paid} of {orders} POs were paid after {} s",
                DEADLINE.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();

    // Each PO from its creation in the ERP to its payment release, by the ERP's clock.
    let effects = erp.effects();
    let created: HashMap<&str, _> = effects
        .iter()
        .filter(|e| e.kind == "purchase_order.created")
        .map(|e| (e.object_id.as_str(), e.at))
        .collect();
    let latencies_us: Vec<u64> = effects
        .iter()
        .filter(|e| e.kind == "payment.released")
        .filter_map(|e| {
            let po = e.object_id.strip_prefix("PAY-")?.rsplit_once('-')?.0;
            let at = created.get(po)?;
            (e.at - *at).num_microseconds().map(|us| us.max(0) as u64)
        })
        .collect();
    let duplicates = crate::demo::duplicate_effects(&estate.sandbox);
    let open = estate.hub.store().exceptions("open", 10).await?;
    Report {
        name: "requisition → PO → 850 … 810 → match → payment released (latency: ERP PO created → payment released)".into(),
        n: orders,
        elapsed,
        latencies_us,
    }
    .print();
    println!(
        "duplicate effects at the sandbox systems: {}; open exceptions: {}",
        duplicates.len(),
        open.len()
    );
    for e in &open {
        println!("  - {} {}: {}", e.kind, e.subject, e.detail);
    }
    estate.shutdown().await;
    ensure!(duplicates.is_empty(), "duplicate effects: {duplicates:?}");
    ensure!(
        open.is_empty(),
        "the cycle left exceptions open (see above)"
    );
    Ok(())
}
