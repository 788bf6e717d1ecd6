//! Several instances on one PostgreSQL (part 7): two hubs share one store, each taking
//! messages on its own port and delivering with its own workers. Together they must lose and
//! duplicate nothing, keep each contract's versions in order at every target, and each must
//! price with what the other activated. PostgreSQL only (SQLite is one process's store).

mod common;

use std::{collections::HashMap, time::Duration};

use common::*;
use concord_store::testing::Backend;
use serde_json::Value;

const N: usize = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_the_work_and_duplicate_nothing() {
    let Some(t) = spawn_hub(Backend::Postgres, |c| {
        c.hub.peer_sync_ms = 100;
    })
    .await
    else {
        eprintln!("skipping: CONCORD_TEST_POSTGRES_URL is not set");
        return;
    };
    t.seed().await;
    let peer = t.spawn_peer().await;
    // Targets that take a moment, so both instances' workers have deliveries in hand at once.
    for system in [&t.sandbox.erp, &t.sandbox.purchasing, &t.sandbox.analytics] {
        system.set_faults(concord_sandbox::Faults {
            latency_ms: 5,
            ..concord_sandbox::Faults::default()
        });
    }
    let urls = [t.url.clone(), peer.url.clone()];
    let post = |k: usize, body: Value| {
        let client = t.client.clone();
        let url = format!("{}/v1/contracts", urls[k % 2]);
        async move {
            let r = client.post(url).json(&body).send().await.unwrap();
            let status = r.status().as_u16();
            assert_eq!(status, 202, "{}", r.text().await.unwrap());
        }
    };
    // Version 1 of every contract, through each instance in turn; then version 2 of every
    // third one through the other instance while its version 1 may still be propagating.
    let mut posts = Vec::new();
    for k in 0..N {
        posts.push(tokio::spawn(post(
            k,
            contract(&format!("K-{k}"), 1, &[(ITEM_1, "9.00")], &[]),
        )));
    }
    for p in posts {
        p.await.unwrap();
    }
    let mut posts = Vec::new();
    for k in (0..N).step_by(3) {
        posts.push(tokio::spawn(post(
            k + 1,
            contract(&format!("K-{k}"), 2, &[(ITEM_1, "8.00")], &[]),
        )));
    }
    for p in posts {
        p.await.unwrap();
    }
    // One more, through the first instance only: the cheapest price of ITEM_3.
    post(0, contract("K-cheap", 1, &[(ITEM_3, "0.50")], &[])).await;

    let latest = |k: usize| -> u32 { if k.is_multiple_of(3) { 2 } else { 1 } };
    for k in 0..N {
        t.wait_status(&format!("K-{k}"), u64::from(latest(k)), "active")
            .await;
    }
    t.wait_status("K-cheap", 1, "active").await;

    // The other instance prices with what the first activated (its index follows the store).
    let query = format!(
        "{}/v1/prices?item={ITEM_3}&facility={FACILITY_EAST}&date=2026-06-01",
        peer.url
    );
    t.eventually("the peer prices with K-cheap", || async {
        let answer = get_json(&t.client, &query).await;
        answer["status"] == "on_contract" && answer["contract_id"] == "K-cheap"
    })
    .await;

    // Every target applied every version it was sent once, and a contract's versions in
    // version order.
    let latest_of_each = (0..N).map(|k| (format!("K-{k}"), latest(k))).collect();
    assert_targets_applied_in_order(&t.sandbox, &latest_of_each);

    // The store: one activation per latest version, nothing left in flight or dead.
    let events = t.hub.store().events_after(0, 100_000).await.unwrap();
    let mut activations: HashMap<String, usize> = HashMap::new();
    for e in &events {
        if e.event.event_type == concord_model::events::CONTRACT_ACTIVATED {
            *activations.entry(e.event.subject.clone()).or_default() += 1;
        }
    }
    for k in 0..N {
        let subject = format!("contract:K-{k}");
        let n = activations.get(&subject).copied().unwrap_or(0);
        assert!(
            (1..=latest(k) as usize).contains(&n),
            "{subject} activated {n} times"
        );
    }
    let deliveries = t
        .hub
        .store()
        .list_deliveries(None, None, 10_000)
        .await
        .unwrap();
    assert!(
        deliveries
            .iter()
            .all(|d| d.status == concord_store::DeliveryStatus::Delivered),
        "every delivery delivered: {:?}",
        deliveries
            .iter()
            .filter(|d| d.status != concord_store::DeliveryStatus::Delivered)
            .map(|d| (&d.id, d.status.as_str()))
            .collect::<Vec<_>>()
    );
    // Both instances delivered: the last claim of each delivery names its instance.
    let by_instance = |hub: &concord_engine::Hub| {
        deliveries
            .iter()
            .filter(|d| {
                d.claim
                    .as_deref()
                    .is_some_and(|c| c.starts_with(&format!("{}:", hub.instance())))
            })
            .count()
    };
    let (one, two) = (by_instance(&t.hub), by_instance(&peer.hub));
    assert_eq!(one + two, deliveries.len());
    assert!(
        one > 0 && two > 0,
        "both instances delivered ({one} and {two})"
    );
    let received = t
        .hub
        .store()
        .list_inbox(concord_store::InboxStatus::Received, 10)
        .await
        .unwrap();
    assert!(received.is_empty(), "every message answered");
    tokio::time::sleep(Duration::from_millis(50)).await;
    peer.shutdown().await;
    t.shutdown().await;
}
