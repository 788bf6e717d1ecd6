//! `concord bench console`: every console page, signed in over HTTP, against a store holding
//! a million canonical events (and their transactions' deliveries, attempts, lineage, search
//! keys, exceptions and contract versions), spread over the last 30 days. The budget is
//! 300 ms per page; the run fails when a page's p95 is over it.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chrono::Utc;
use concord_engine::{Config, Hub};
use concord_model::access::Role;
use concord_store::{
    Crosswalk, DeliveryOutcome, NewDelivery, NewEvent, NewException, TimelineEntry, Write,
};
use serde_json::json;

/// Canonical events per transaction: created, sent, acknowledged, settled.
const EVENTS_PER_TRANSACTION: usize = 4;
const TARGETS: [&str; 4] = ["erp", "purchasing", "analytics", "warehouse"];
/// Transactions written per commit.
const BATCH: usize = 500;

fn config(dir: &std::path::Path) -> Result<Config> {
    // Systems the stored deliveries name, at an address nothing listens on: the console
    // reads, it never calls them here.
    let mut text = String::new();
    for t in TARGETS {
        text.push_str(&format!(
            "[systems.{t}]\nrole = \"{}\"\nbase_url = \"http://127.0.0.1:9\"\n\n",
            if t == "analytics" { "analytics" } else { t }
        ));
    }
    let mut config = Config::parse_unchecked(&text, dir).map_err(anyhow::Error::msg)?;
    config.hub.data_dir = dir.to_path_buf();
    config.api.rate_limit_per_principal = 0;
    config.api.rate_limit_per_system = 0;
    Ok(config)
}

/// One transaction's rows: a PO's events, one delivery per target (about one in a hundred
/// dead), their attempts, two lineage steps and the search keys.
fn transaction(k: usize, at: chrono::DateTime<Utc>) -> Vec<Write> {
    let correlation_id = format!("corr-bench-{k}");
    let po = format!("PO-B-{k}");
    let subject = format!("purchase_order:{po}");
    let mut writes = Vec::with_capacity(16);
    for (i, kind) in ["created", "sent", "acknowledged", "settled"]
        .iter()
        .enumerate()
    {
        writes.push(Write::Event(NewEvent {
            id: format!("evt-bench-{k}-{i}"),
            event_type: format!("concord.purchase_order.{kind}.v1"),
            source: "concord/bench".into(),
            subject: subject.clone(),
            time: at + chrono::Duration::seconds(i as i64),
            correlation_id: correlation_id.clone(),
            data: json!({"po_number": po, "supplier": format!("S-{}", k % 45 + 1), "lines": k % 7 + 1}),
        }));
    }
    let target = TARGETS[k % TARGETS.len()];
    let delivery = format!("dlv-bench-{k}");
    writes.push(Write::Delivery(NewDelivery {
        id: delivery.clone(),
        event_id: format!("evt-bench-{k}-0"),
        target: target.into(),
        message_type: "purchase_order".into(),
        subject: subject.clone(),
        idempotency_key: format!("bench-{k}"),
        correlation_id: correlation_id.clone(),
        required: true,
        payload: json!({"po_number": po}),
        next_attempt_at: at,
    }));
    let dead = k.is_multiple_of(97);
    // About one in fifty still queued (a target behind), the rest answered.
    if k.is_multiple_of(53) {
        return finish_transaction(writes, k, &correlation_id, &po, subject, at);
    }
    writes.push(Write::DeliveryResult {
        delivery_id: delivery,
        // Seeded as if answered at once: never claimed.
        claim: None,
        attempt: 1,
        outcome: if dead {
            DeliveryOutcome::Dead
        } else {
            DeliveryOutcome::Delivered
        },
        at: at + chrono::Duration::milliseconds(40 + (k % 200) as i64),
        status_code: Some(if dead { 422 } else { 200 }),
        latency_us: 20_000 + (k % 5000) as i64,
        error: dead.then(|| "HTTP 422: vendor on hold".to_string()),
        next_attempt_at: at,
    });
    finish_transaction(writes, k, &correlation_id, &po, subject, at)
}

/// The lineage, search keys, and now and then an exception or a crosswalk.
fn finish_transaction(
    mut writes: Vec<Write>,
    k: usize,
    correlation_id: &str,
    po: &str,
    subject: String,
    at: chrono::DateTime<Utc>,
) -> Vec<Write> {
    let (correlation_id, po) = (correlation_id.to_string(), po.to_string());
    for step in ["received", "po_created"] {
        writes.push(Write::Timeline(TimelineEntry {
            correlation_id: correlation_id.clone(),
            at,
            step: step.into(),
            detail: json!({"po_number": po}),
        }));
    }
    writes.push(Write::SearchKeys {
        correlation_id: correlation_id.clone(),
        subject: subject.clone(),
        keys: vec![
            ("purchase_order", po.clone()),
            ("supplier", format!("S-{}", k % 45 + 1)),
        ],
        at,
    });
    if k.is_multiple_of(125) {
        writes.push(Write::OpenException(NewException {
            id: format!("exc-bench-{k}"),
            kind: ["invoice_price_variance", "backorder", "edi_ack_missing"][k % 3].into(),
            subject,
            correlation_id,
            detail: json!({"po_number": po}),
            at,
            facility: None,
            supplier: Some(format!("S-{}", k % 45 + 1)),
        }));
    }
    if k.is_multiple_of(1000) {
        writes.push(Write::Crosswalk(
            Crosswalk {
                system: "erp".into(),
                entity_type: "purchase_order".into(),
                external_id: format!("45{k:08}"),
                canonical_id: po,
            },
            at,
        ));
    }
    writes
}

pub async fn console(events: usize, rounds: usize, budget_ms: u64) -> Result<()> {
    let dir = super::tempdir::Dir::new()?;
    let hub = Hub::open(config(&dir.0)?).await?;
    let store = hub.store().clone();
    let transactions = events.div_ceil(EVENTS_PER_TRANSACTION);
    let now = Utc::now();
    let span_us = chrono::Duration::days(30)
        .num_microseconds()
        .unwrap_or(i64::MAX);
    let started = Instant::now();
    for first in (0..transactions).step_by(BATCH) {
        let writes: Vec<Write> = (first..(first + BATCH).min(transactions))
            .flat_map(|k| {
                // Spread evenly over the span, the newest last.
                let offset =
                    (span_us as i128 * (transactions - k) as i128 / transactions as i128) as i64;
                transaction(k, now - chrono::Duration::microseconds(offset))
            })
            .collect();
        store.commit(writes).await.context("seeding the store")?;
    }
    for c in 0..200u32 {
        store
            .commit(vec![Write::InsertContractVersion {
                contract_id: format!("C-B-{c}"),
                version: 1,
                status: if c.is_multiple_of(10) {
                    "pending"
                } else {
                    "active"
                }
                .into(),
                digest: format!("{c:064}"),
                data: json!({"id": format!("C-B-{c}"), "supplier_id": format!("S-{}", c % 45 + 1)}),
                correlation_id: format!("corr-contract-{c}"),
                at: now,
            }])
            .await?;
    }
    println!(
        "seeded {} events in {} transactions in {:.1} s",
        transactions * EVENTS_PER_TRANSACTION,
        transactions,
        started.elapsed().as_secs_f64()
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(concord_api::serve(
        listener,
        hub.clone(),
        std::future::pending(),
    ));
    let key = crate::demo::demo_key(&hub, "bench operator", Role::Operator, None, None).await?;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let signed_in = client
        .post(format!("{url}/console/sign-in"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("credential={key}&next=%2Fconsole%2Foverview"))
        .send()
        .await?;
    let cookie = signed_in
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .context("no session cookie: sign-in failed")?
        .to_string();
    let middle = transactions / 2;
    let pages = [
        "/console/overview?range=hour".to_string(),
        "/console/overview?range=day".to_string(),
        "/console/overview?range=week".to_string(),
        "/console/transactions".to_string(),
        format!("/console/transactions?by=purchase_order&q=PO-B-{middle}"),
        "/console/transactions?by=supplier&q=S-7".to_string(),
        format!("/console/transactions/corr-bench-{middle}"),
        "/console/exceptions".to_string(),
        "/console/exceptions?type=backorder&min_age=1d".to_string(),
        "/console/deliveries?status=dead".to_string(),
        "/console/deliveries?status=pending&target=erp".to_string(),
        "/console/contracts".to_string(),
        "/console/contracts?id=C-B-7".to_string(),
        "/console/systems".to_string(),
    ];
    println!(
        "{:<58} {:>9} {:>9} {:>9}",
        "page", "p50 ms", "p95 ms", "max ms"
    );
    let mut over = Vec::new();
    for page in &pages {
        let mut took = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let t0 = Instant::now();
            let response = client
                .get(format!("{url}{page}"))
                .header("cookie", &cookie)
                .send()
                .await?;
            let status = response.status();
            let _ = response.bytes().await?;
            took.push(t0.elapsed());
            if status != 200 {
                bail!("{page} answered {status}");
            }
        }
        took.sort();
        let q = |p: f64| took[((took.len() - 1) as f64 * p).round() as usize];
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{page:<58} {:>9.1} {:>9.1} {:>9.1}",
            ms(q(0.5)),
            ms(q(0.95)),
            ms(q(1.0))
        );
        if q(0.95) > Duration::from_millis(budget_ms) {
            over.push(page.clone());
        }
    }
    hub.shutdown();
    if !over.is_empty() {
        bail!("over the {budget_ms} ms budget at p95: {}", over.join(", "));
    }
    println!("every page within {budget_ms} ms at p95");
    Ok(())
}
