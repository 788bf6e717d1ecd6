//! One conformance suite, run against every backend: SQLite always, PostgreSQL when
//! `CONCORD_TEST_POSTGRES_URL` is set (CI sets it). Each test gets a fresh database or schema.

use chrono::{Duration, Utc};
use concord_model::audit::{Finding, verify};
use concord_model::{Gtin, Item, Supplier, Unspsc, Uom};
use concord_store::{
    ApiKeyRecord, Claim, Crosswalk, DeliveryOutcome, DeliveryStatus, ExceptionFilter, InboxInsert,
    InboxStatus, NewAuditEntry, NewDelivery, NewEvent, NewException, NewInbound, Store,
    TimelineEntry, Timer, Write,
    testing::{Backend, TestStore},
};
use serde_json::json;

/// Declares `$name` once per backend; the body is an async fn taking `&Store`.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $name() { super::run(concord_store::testing::Backend::Sqlite, super::$name).await })*
        }
        mod postgres {
            $(#[tokio::test] async fn $name() { super::run(concord_store::testing::Backend::Postgres, super::$name).await })*
        }
    };
}

conformance!(
    inbox_deduplicates_and_returns_first,
    commit_is_all_or_nothing,
    deliveries_keep_subject_order_and_retry,
    expired_lease_is_reclaimed,
    exceptions_open_once_per_subject,
    workbench_filters_and_resolves_exceptions,
    crosswalks_and_master_data,
    timeline_and_timers,
    replay_requeues_dead_delivery,
    api_keys_are_found_by_hash_and_revoked,
    x12_control_numbers_never_repeat_per_partner,
    console_reads_pause_search_and_lineage,
    contract_versions_are_read_with_or_without_documents,
);

/// The audit tamper test, on each backend: edit, delete and reorder are each found.
macro_rules! tamper_case {
    ($($name:ident: $sql:expr => $expect:expr;)*) => {
        mod tamper_sqlite {
            use super::Finding;
            $(#[tokio::test] async fn $name() { super::tampered(concord_store::testing::Backend::Sqlite, $sql, $expect).await })*
        }
        mod tamper_postgres {
            use super::Finding;
            $(#[tokio::test] async fn $name() { super::tampered(concord_store::testing::Backend::Postgres, $sql, $expect).await })*
        }
    };
}

tamper_case! {
    intact: ["UPDATE audit_log SET actor = actor WHERE 1 = 0"] => vec![];
    edited_actor: ["UPDATE audit_log SET actor = 'mallory' WHERE chain_seq = 3"]
        => vec![Finding::Edited { chain_seq: 3 }];
    edited_detail: ["UPDATE audit_log SET detail = '{\"n\":99}' WHERE chain_seq = 5"]
        => vec![Finding::Edited { chain_seq: 5 }];
    deleted_middle: ["DELETE FROM audit_log WHERE chain_seq = 4"]
        => vec![Finding::Deleted { from: 4, to: 4 }];
    deleted_tail: ["DELETE FROM audit_log WHERE chain_seq >= 5"]
        => vec![Finding::TailDeleted { from: 5, to: 6 }];
    reordered: [
        "UPDATE audit_log SET chain_seq = -2 WHERE chain_seq = 2",
        "UPDATE audit_log SET chain_seq = 2 WHERE chain_seq = 3",
        "UPDATE audit_log SET chain_seq = 3 WHERE chain_seq = -2",
    ] => vec![
            // Position 2 now holds the old third entry, which follows what is now at 3 …
            Finding::Reordered { chain_seq: 2, links_to: 3 },
            Finding::Reordered { chain_seq: 3, links_to: 1 },
            Finding::Reordered { chain_seq: 4, links_to: 2 },
        ];
}

async fn tampered<const N: usize>(backend: Backend, sql: [&'static str; N], expect: Vec<Finding>) {
    let Some(ts) = TestStore::new(backend).await.expect("open test store") else {
        eprintln!("skipping {backend:?}: CONCORD_TEST_POSTGRES_URL is not set");
        return;
    };
    let store = &ts.store;
    for i in 1..=4 {
        store.commit(vec![audit(i)]).await.unwrap();
    }
    assert_eq!(
        store.seal_audit(3).await.unwrap(),
        3,
        "sealing stops at its limit"
    );
    for i in 5..=6 {
        store.commit(vec![audit(i)]).await.unwrap();
    }
    assert_eq!(store.seal_audit(100).await.unwrap(), 3);
    assert_eq!(
        store.seal_audit(100).await.unwrap(),
        0,
        "nothing left to seal"
    );
    let before = store.audit_chain().await.unwrap();
    assert_eq!(
        (before.entries.len(), before.head_seq, before.unsealed),
        (6, 6, 0)
    );
    assert_eq!(
        verify(&before.entries, before.head_seq, &before.head_hash),
        vec![]
    );
    for statement in sql {
        ts.tamper(statement).await.unwrap();
    }
    let after = store.audit_chain().await.unwrap();
    assert_eq!(
        verify(&after.entries, after.head_seq, &after.head_hash),
        expect
    );
    ts.cleanup().await;
}

fn audit(i: i64) -> Write {
    Write::Audit(NewAuditEntry {
        at: Utc::now(),
        actor: "k_test(admin)".into(),
        action: "key.created".into(),
        subject: format!("key:k_{i}"),
        correlation_id: None,
        before_digest: None,
        after_digest: Some(format!("digest-{i}")),
        detail: json!({"n": i}),
    })
}

async fn api_keys_are_found_by_hash_and_revoked(store: Store) {
    let now = Utc::now();
    let key = ApiKeyRecord {
        id: "k_1".into(),
        name: "clm webhook".into(),
        role: "integration".into(),
        system: Some("clm".into()),
        user: Some("u-17".into()),
        created_at: now,
        created_by: "bootstrap".into(),
        expires_at: Some(now + Duration::days(30)),
        revoked_at: None,
    };
    store
        .commit(vec![Write::InsertApiKey {
            key: key.clone(),
            hash: "h1".into(),
        }])
        .await
        .unwrap();
    let found = store.api_key_by_hash("h1").await.unwrap().unwrap();
    assert_eq!(
        (
            found.id.as_str(),
            found.system.as_deref(),
            found.user.as_deref()
        ),
        ("k_1", Some("clm"), Some("u-17"))
    );
    assert!(store.api_key_by_hash("h2").await.unwrap().is_none());
    // The same hash twice is refused: one secret, one key.
    let again = store
        .commit(vec![Write::InsertApiKey {
            key: ApiKeyRecord {
                id: "k_2".into(),
                ..key
            },
            hash: "h1".into(),
        }])
        .await;
    assert!(again.is_err());
    store
        .commit(vec![Write::RevokeApiKey {
            id: "k_1".into(),
            at: now,
        }])
        .await
        .unwrap();
    let revoked = store.api_key("k_1").await.unwrap().unwrap();
    assert!(revoked.revoked_at.is_some());
    assert_eq!(store.api_keys().await.unwrap().len(), 1);
}

async fn run<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let Some(ts) = TestStore::new(backend).await.expect("open test store") else {
        eprintln!("skipping {backend:?}: CONCORD_TEST_POSTGRES_URL is not set");
        return;
    };
    test(ts.store.clone()).await;
    ts.cleanup().await;
}

fn inbound(id: &str, key: &str) -> NewInbound {
    NewInbound {
        id: id.into(),
        system: "clm".into(),
        message_type: "contract".into(),
        dedupe_key: format!("clm:contract:{key}"),
        correlation_id: format!("corr-{id}"),
        received_at: Utc::now(),
        content_type: "application/json".into(),
        body: r#"{"a":1}"#.into(),
        received_by: Some("k_test(integration:clm)".into()),
        original_body: None,
        claim: None,
    }
}

/// The claim token the tests' one worker takes work under.
const WORKER: &str = "inst_test:1";

/// A claim of [`WORKER`] lasting until `until`.
fn lease(until: chrono::DateTime<Utc>) -> Claim {
    claim(WORKER, until)
}

fn claim(token: &str, until: chrono::DateTime<Utc>) -> Claim {
    Claim {
        token: token.into(),
        lease_until: until,
    }
}

fn delivery(id: &str, subject: &str) -> NewDelivery {
    NewDelivery {
        id: id.into(),
        event_id: format!("ev-{id}"),
        target: "erp".into(),
        message_type: "contract".into(),
        subject: subject.into(),
        idempotency_key: format!("key-{id}"),
        correlation_id: "corr".into(),
        required: true,
        payload: json!({"id": id}),
        next_attempt_at: Utc::now() - Duration::seconds(1),
    }
}

async fn inbox_deduplicates_and_returns_first(store: Store) {
    assert!(matches!(
        store.insert_inbox(inbound("m1", "k1")).await.unwrap(),
        InboxInsert::Inserted
    ));
    store
        .commit(vec![Write::InboxDone {
            id: "m1".into(),
            claim: None,
            status: InboxStatus::Processed,
            response_status: 202,
            response_body: r#"{"receipt_id":"m1"}"#.into(),
            error: None,
            at: Utc::now(),
        }])
        .await
        .unwrap();
    let InboxInsert::Duplicate(first) = store.insert_inbox(inbound("m2", "k1")).await.unwrap()
    else {
        panic!("a repeated dedupe key must not be stored twice");
    };
    assert_eq!(first.id, "m1");
    assert_eq!(first.status, InboxStatus::Processed);
    assert_eq!(first.response_status, Some(202));
    assert!(store.inbox("m2").await.unwrap().is_none());
}

async fn commit_is_all_or_nothing(store: Store) {
    let version = |v: u32| Write::InsertContractVersion {
        contract_id: "C-1".into(),
        version: v,
        status: "pending".into(),
        digest: "d".into(),
        data: json!({}),
        correlation_id: "c".into(),
        at: Utc::now(),
    };
    store.commit(vec![version(1)]).await.unwrap();
    let event = Write::Event(NewEvent {
        id: "e1".into(),
        event_type: "t".into(),
        source: "s".into(),
        subject: "C-1".into(),
        time: Utc::now(),
        correlation_id: "c".into(),
        data: json!({}),
    });
    // The duplicate version fails the whole unit: neither the event nor the delivery is kept.
    let err = store
        .commit(vec![
            event,
            Write::Delivery(delivery("d1", "C-1")),
            version(1),
        ])
        .await;
    assert!(
        matches!(err, Err(concord_store::Error::Conflict(_))),
        "{err:?}"
    );
    assert!(store.events_after(0, 10).await.unwrap().is_empty());
    assert!(store.delivery("d1").await.unwrap().is_none());
    assert_eq!(store.contract_versions("C-1").await.unwrap().len(), 1);
}

/// Intake and the workflow read a contract's versions without their documents; the API and
/// the fallback timer with them. Both read the same versions, states and digests.
async fn contract_versions_are_read_with_or_without_documents(store: Store) {
    let version = |v: u32, status: &str| Write::InsertContractVersion {
        contract_id: "C-9".into(),
        version: v,
        status: status.into(),
        digest: format!("digest-{v}"),
        data: json!({"id": "C-9", "version": v, "lines": [{"gtin": "00614141000012"}]}),
        correlation_id: format!("corr-{v}"),
        at: Utc::now(),
    };
    store
        .commit(vec![
            version(2, "pending"),
            version(1, "active"),
            Write::Workflow {
                kind: "contract".into(),
                id: "C-9:2".into(),
                state: json!({"step": 2}),
                at: Utc::now(),
            },
        ])
        .await
        .unwrap();
    let full = store.contract_versions("C-9").await.unwrap();
    let heads = store.contract_version_heads("C-9").await.unwrap();
    assert_eq!(heads.len(), 2);
    for (head, record) in heads.iter().zip(&full) {
        assert_eq!(
            (
                &head.contract_id,
                head.version,
                &head.status,
                &head.digest,
                &head.correlation_id
            ),
            (
                &record.contract_id,
                record.version,
                &record.status,
                &record.digest,
                &record.correlation_id
            )
        );
    }
    assert_eq!(heads[0].version, 1, "oldest first");
    let with_state = store
        .contract_version_heads_with_state::<serde_json::Value>("C-9", "contract")
        .await
        .unwrap();
    let states: Vec<_> = with_state
        .iter()
        .map(|(h, s)| (h.version, s.clone()))
        .collect();
    assert_eq!(states, [(1, None), (2, Some(json!({"step": 2})))]);
    let documents = store
        .contract_versions_with_state::<serde_json::Value>("C-9", "contract")
        .await
        .unwrap();
    assert_eq!(documents[1].0.data["version"], 2);
    assert_eq!(documents[1].1, Some(json!({"step": 2})));
    let one = store.contract_version("C-9", 2).await.unwrap().unwrap();
    assert_eq!(one.data, full[1].data);
    assert!(store.contract_version("C-9", 3).await.unwrap().is_none());
    assert!(
        store
            .contract_version_heads("C-0")
            .await
            .unwrap()
            .is_empty()
    );
}

async fn deliveries_keep_subject_order_and_retry(store: Store) {
    store
        .commit(vec![
            Write::Delivery(delivery("a1", "C-1")),
            Write::Delivery(delivery("a2", "C-1")),
            Write::Delivery(delivery("b1", "C-2")),
        ])
        .await
        .unwrap();
    let now = Utc::now();
    let claimed = store
        .claim_deliveries(now, &lease(now + Duration::seconds(30)), 10)
        .await
        .unwrap();
    let ids: Vec<_> = claimed.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(
        ids,
        ["a1", "b1"],
        "a2 must wait behind a1 for the same subject"
    );
    assert!(claimed.iter().all(|d| d.status == DeliveryStatus::InFlight));
    // Nothing more while a1 is in flight.
    assert!(
        store
            .claim_deliveries(now, &lease(now + Duration::seconds(30)), 10)
            .await
            .unwrap()
            .is_empty()
    );
    // b1 succeeds; a1 fails and is retried later: a2 still waits (order holds across retries).
    store
        .commit(vec![Write::DeliveryResult {
            claim: Some(WORKER.into()),
            delivery_id: "b1".into(),
            attempt: 1,
            outcome: DeliveryOutcome::Delivered,
            at: now,
            status_code: Some(200),
            latency_us: 1000,
            error: None,
            next_attempt_at: now,
        }])
        .await
        .unwrap();
    store
        .commit(vec![Write::DeliveryResult {
            claim: Some(WORKER.into()),
            delivery_id: "a1".into(),
            attempt: 1,
            outcome: DeliveryOutcome::Retry,
            at: now,
            status_code: Some(503),
            latency_us: 1000,
            error: Some("HTTP 503".into()),
            next_attempt_at: now + Duration::seconds(60),
        }])
        .await
        .unwrap();
    assert!(
        store
            .claim_deliveries(now, &lease(now + Duration::seconds(30)), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let later = now + Duration::seconds(61);
    let claimed = store
        .claim_deliveries(later, &lease(later + Duration::seconds(30)), 10)
        .await
        .unwrap();
    assert_eq!(
        claimed.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
        ["a1"]
    );
    assert_eq!(claimed[0].attempts, 1);
    store
        .commit(vec![Write::DeliveryResult {
            claim: Some(WORKER.into()),
            delivery_id: "a1".into(),
            attempt: 2,
            outcome: DeliveryOutcome::Delivered,
            at: later,
            status_code: Some(201),
            latency_us: 900,
            error: None,
            next_attempt_at: later,
        }])
        .await
        .unwrap();
    let claimed = store
        .claim_deliveries(later, &lease(later + Duration::seconds(30)), 10)
        .await
        .unwrap();
    assert_eq!(
        claimed.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
        ["a2"]
    );
    let attempts = store.attempts("a1").await.unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0].status_code, Some(503));
    assert_eq!(attempts[1].outcome, "delivered");
    let delivered = store
        .list_deliveries(Some(DeliveryStatus::Delivered), None, 10)
        .await
        .unwrap();
    assert_eq!(delivered.len(), 2);
}

async fn expired_lease_is_reclaimed(store: Store) {
    store
        .commit(vec![Write::Delivery(delivery("x1", "C-9"))])
        .await
        .unwrap();
    let now = Utc::now();
    assert_eq!(
        store
            .claim_deliveries(now, &lease(now + Duration::seconds(5)), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    // The worker "died": before the lease expires nobody else takes it, after it somebody does.
    assert!(
        store
            .claim_deliveries(
                now + Duration::seconds(4),
                &lease(now + Duration::seconds(9)),
                10
            )
            .await
            .unwrap()
            .is_empty()
    );
    let again = store
        .claim_deliveries(
            now + Duration::seconds(6),
            &lease(now + Duration::seconds(11)),
            10,
        )
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(
        again[0].idempotency_key, "key-x1",
        "the idempotency key survives reclaiming"
    );
}

async fn workbench_filters_and_resolves_exceptions(store: Store) {
    let now = Utc::now();
    let exception = |id: &str, kind: &str, facility: &str, supplier: &str, age_h: i64| {
        Write::OpenException(NewException {
            id: id.into(),
            kind: kind.into(),
            subject: format!("purchase_order:{id}"),
            correlation_id: "c".into(),
            detail: json!({}),
            at: now - Duration::hours(age_h),
            facility: Some(facility.into()),
            supplier: Some(supplier.into()),
        })
    };
    store
        .commit(vec![
            exception("e1", "backorder", "F1", "S1", 48),
            exception("e2", "invoice_price_variance", "F1", "S2", 2),
            exception("e3", "invoice_price_variance", "F2", "S1", 30),
        ])
        .await
        .unwrap();
    let list = |f: ExceptionFilter| {
        let store = store.clone();
        async move {
            let found = store
                .list_exceptions(&ExceptionFilter {
                    status: "open".into(),
                    limit: 10,
                    ..f
                })
                .await
                .unwrap();
            found.into_iter().map(|e| e.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list(ExceptionFilter::default()).await,
        ["e1", "e3", "e2"],
        "oldest first"
    );
    let kind = Some("invoice_price_variance".to_string());
    assert_eq!(
        list(ExceptionFilter {
            kind: kind.clone(),
            ..Default::default()
        })
        .await,
        ["e3", "e2"]
    );
    assert_eq!(
        list(ExceptionFilter {
            facility: Some("F1".into()),
            ..Default::default()
        })
        .await,
        ["e1", "e2"]
    );
    assert_eq!(
        list(ExceptionFilter {
            supplier: Some("S1".into()),
            kind,
            ..Default::default()
        })
        .await,
        ["e3"]
    );
    assert_eq!(
        list(ExceptionFilter {
            created_before: Some(now - Duration::hours(24)),
            ..Default::default()
        })
        .await,
        ["e1", "e3"]
    );
    assert_eq!(
        list(ExceptionFilter {
            subject: Some("purchase_order:e2".into()),
            ..Default::default()
        })
        .await,
        ["e2"]
    );
    let resolve = |id: &str| Write::ResolveException {
        id: id.into(),
        resolution: json!({"action": "accept_variance", "by": "u-7"}),
        at: Utc::now(),
    };
    store.commit(vec![resolve("e2")]).await.unwrap();
    let e2 = store.exception("e2").await.unwrap().unwrap();
    assert_eq!(e2.status, "resolved");
    assert_eq!(e2.resolution.unwrap()["by"], "u-7");
    assert_eq!(e2.facility.as_deref(), Some("F1"));
    // Resolving twice is a conflict, and the unit it came with is rolled back.
    let again = store
        .commit(vec![
            exception("e4", "backorder", "F9", "S9", 0),
            resolve("e2"),
        ])
        .await;
    assert!(
        matches!(again, Err(concord_store::Error::Conflict(_))),
        "{again:?}"
    );
    assert!(store.exception("e4").await.unwrap().is_none());
    assert!(store.exception("nope").await.unwrap().is_none());
}

async fn exceptions_open_once_per_subject(store: Store) {
    let open = |id: &str| {
        Write::OpenException(NewException {
            id: id.into(),
            kind: "contract_propagation_failed".into(),
            subject: "contract:C-1:1".into(),
            correlation_id: "c".into(),
            detail: json!({"why": "erp down"}),
            at: Utc::now(),
            facility: Some("0614141000012".into()),
            supplier: Some("SUP-1".into()),
        })
    };
    assert_eq!(
        store
            .commit(vec![open("x1")])
            .await
            .unwrap()
            .exceptions_opened,
        1
    );
    assert_eq!(
        store
            .commit(vec![open("x2")])
            .await
            .unwrap()
            .exceptions_opened,
        0
    );
    let listed = store.exceptions("open", 10).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].detail["why"], "erp down");
    store
        .commit(vec![Write::ResolveExceptions {
            kind: "contract_propagation_failed".into(),
            subject: "contract:C-1:1".into(),
            at: Utc::now(),
        }])
        .await
        .unwrap();
    assert!(store.exceptions("open", 10).await.unwrap().is_empty());
    assert_eq!(store.exceptions("resolved", 10).await.unwrap().len(), 1);
    // Once resolved, the same problem may open a new exception.
    assert_eq!(
        store
            .commit(vec![open("x3")])
            .await
            .unwrap()
            .exceptions_opened,
        1
    );
}

async fn crosswalks_and_master_data(store: Store) {
    let now = Utc::now();
    let item = Item {
        gtin: Gtin::parse("00614141000012").unwrap(),
        description: "Suture".into(),
        unspsc: Unspsc::parse("42295105").unwrap(),
        uom: Uom::parse("EA").unwrap(),
        vendor_part: Some("VP-1".into()),
        supplier_id: Some("S-1".into()),
        udi_di: None,
        manufacturer: None,
        manufacturer_part: None,
        packaging: vec![],
    };
    store
        .commit(vec![
            Write::UpsertSupplier(
                Supplier {
                    id: "S-1".into(),
                    name: "Acme".into(),
                    tin: Some("12-3456789".into()),
                    ..Supplier::default()
                },
                now,
            ),
            Write::UpsertItem(item.clone(), now),
            Write::Crosswalk(
                Crosswalk {
                    system: "erp".into(),
                    entity_type: "supplier".into(),
                    external_id: "100042".into(),
                    canonical_id: "S-1".into(),
                },
                now,
            ),
        ])
        .await
        .unwrap();
    assert_eq!(
        store
            .crosswalk_to_canonical("erp", "supplier", "100042")
            .await
            .unwrap()
            .as_deref(),
        Some("S-1")
    );
    assert_eq!(
        store
            .crosswalk_to_external("erp", "supplier", "S-1")
            .await
            .unwrap()
            .as_deref(),
        Some("100042")
    );
    assert!(
        store
            .crosswalk_to_canonical("clm", "supplier", "100042")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store
            .supplier_by_tin("12-3456789")
            .await
            .unwrap()
            .unwrap()
            .id,
        "S-1"
    );
    assert_eq!(
        store.item_by_vendor_part("S-1", "VP-1").await.unwrap(),
        Some(item.clone())
    );
    assert_eq!(store.item("00614141000012").await.unwrap(), Some(item));
    assert!(
        store
            .item_by_vendor_part("S-2", "VP-1")
            .await
            .unwrap()
            .is_none()
    );
}

async fn timeline_and_timers(store: Store) {
    let now = Utc::now();
    let entry = |step: &str| {
        Write::Timeline(TimelineEntry {
            correlation_id: "corr-1".into(),
            at: now,
            step: step.into(),
            detail: json!({"step": step}),
        })
    };
    store
        .commit(vec![entry("received"), entry("mapped"), entry("committed")])
        .await
        .unwrap();
    let steps: Vec<_> = store
        .timeline("corr-1")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.step)
        .collect();
    assert_eq!(steps, ["received", "mapped", "committed"]);
    store
        .commit(vec![Write::Timer(Timer {
            id: "t1".into(),
            due_at: now + Duration::seconds(10),
            kind: "contract_fallback".into(),
            subject: "C-1:1".into(),
            correlation_id: "corr-1".into(),
        })])
        .await
        .unwrap();
    let later = now + Duration::seconds(11);
    assert!(
        store
            .claim_timers(now, now + Duration::seconds(30), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let due = store
        .claim_timers(later, later + Duration::seconds(30), 10)
        .await
        .unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(
        due[0].due_at.timestamp_micros(),
        (now + Duration::seconds(10)).timestamp_micros(),
        "a claim leases the timer; its due time is kept"
    );
    // Leased: another instance does not fire it, until the lease ends (its instance died).
    assert!(
        store
            .claim_timers(later, later + Duration::seconds(30), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let after_lease = now + Duration::seconds(42);
    assert_eq!(
        store
            .claim_timers(after_lease, after_lease + Duration::seconds(30), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    // Rescheduling (what a workflow's commit does) ends the lease.
    store
        .commit(vec![Write::Timer(Timer {
            id: "t1".into(),
            due_at: now + Duration::seconds(10),
            kind: "contract_fallback".into(),
            subject: "C-1:1".into(),
            correlation_id: "corr-1".into(),
        })])
        .await
        .unwrap();
    assert_eq!(
        store
            .claim_timers(later, later + Duration::seconds(30), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    store
        .commit(vec![Write::DeleteTimer { id: "t1".into() }])
        .await
        .unwrap();
    assert!(
        store
            .claim_timers(after_lease + Duration::seconds(60), after_lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn replay_requeues_dead_delivery(store: Store) {
    store
        .commit(vec![Write::Delivery(delivery("r1", "C-5"))])
        .await
        .unwrap();
    let now = Utc::now();
    store
        .claim_deliveries(now, &lease(now + Duration::seconds(30)), 10)
        .await
        .unwrap();
    store
        .commit(vec![Write::DeliveryResult {
            claim: Some(WORKER.into()),
            delivery_id: "r1".into(),
            attempt: 5,
            outcome: DeliveryOutcome::Dead,
            at: now,
            status_code: Some(500),
            latency_us: 10,
            error: Some("HTTP 500".into()),
            next_attempt_at: now,
        }])
        .await
        .unwrap();
    assert_eq!(
        store.delivery("r1").await.unwrap().unwrap().status,
        DeliveryStatus::Dead
    );
    assert!(
        store
            .claim_deliveries(now, &lease(now + Duration::seconds(30)), 10)
            .await
            .unwrap()
            .is_empty()
    );
    store
        .commit(vec![Write::ReplayDelivery {
            id: "r1".into(),
            at: now,
        }])
        .await
        .unwrap();
    let claimed = store
        .claim_deliveries(now, &lease(now + Duration::seconds(30)), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].idempotency_key, "key-r1");
}

async fn x12_control_numbers_never_repeat_per_partner(store: Store) {
    // Concurrent allocations for one partner get distinct, consecutive numbers; another
    // partner's sequence is its own.
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.next_x12_control_numbers("medsupply").await })
        })
        .collect();
    let mut got = Vec::new();
    for t in tasks {
        got.push(t.await.unwrap().unwrap());
    }
    let mut interchanges: Vec<u32> = got.iter().map(|c| c.interchange).collect();
    interchanges.sort_unstable();
    assert_eq!(interchanges, (1..=20).collect::<Vec<u32>>());
    assert!(got.iter().all(|c| c.group == c.interchange));
    let other = store
        .next_x12_control_numbers("ortho-supply")
        .await
        .unwrap();
    assert_eq!((other.interchange, other.group), (1, 1));
    let next = store.next_x12_control_numbers("medsupply").await.unwrap();
    assert_eq!(next.interchange, 21);
}

/// What the console reads and the one switch it adds: a paused target's deliveries are not
/// claimed until it is resumed; transactions are found by their search keys; throughput is
/// counted per bucket; a transaction's lineage is read by its correlation id.
async fn console_reads_pause_search_and_lineage(store: Store) {
    let now = Utc::now();
    let mut other = delivery("p2", "C-9");
    other.target = "purchasing".into();
    store
        .commit(vec![
            Write::PauseTarget {
                target: "erp".into(),
                actor: "k_ops(operator)".into(),
                reason: "ERP upgrade".into(),
                at: now,
            },
            Write::Delivery(delivery("p1", "C-8")),
            Write::Delivery(other),
        ])
        .await
        .unwrap();
    // Pausing twice keeps the first pause.
    store
        .commit(vec![Write::PauseTarget {
            target: "erp".into(),
            actor: "k_other(operator)".into(),
            reason: "again".into(),
            at: now,
        }])
        .await
        .unwrap();
    let paused = store.paused_targets().await.unwrap();
    assert_eq!(paused.len(), 1);
    assert_eq!(
        (paused[0].actor.as_str(), paused[0].reason.as_str()),
        ("k_ops(operator)", "ERP upgrade")
    );
    let claimed = store
        .claim_deliveries(now, &lease(now + Duration::seconds(30)), 10)
        .await
        .unwrap();
    assert_eq!(
        claimed.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
        ["p2"],
        "erp is paused"
    );
    let open = store.open_delivery_counts().await.unwrap();
    assert!(
        open.contains(&("erp".to_string(), "pending".to_string(), 1)),
        "{open:?}"
    );
    store
        .commit(vec![Write::ResumeTarget {
            target: "erp".into(),
        }])
        .await
        .unwrap();
    assert!(store.paused_targets().await.unwrap().is_empty());
    let claimed = store
        .claim_deliveries(now, &lease(now + Duration::seconds(30)), 10)
        .await
        .unwrap();
    assert_eq!(
        claimed.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
        ["p1"]
    );

    // Search keys: one transaction per key and value, newest first; a repeat is kept once.
    let keys = |corr: &str, po: &str, at| Write::SearchKeys {
        correlation_id: corr.into(),
        subject: format!("purchase_order:{po}"),
        keys: vec![("purchase_order", po.into()), ("supplier", "S-1".into())],
        at,
    };
    store
        .commit(vec![
            keys("corr-a", "PO-1", now - Duration::hours(2)),
            keys("corr-b", "PO-2", now - Duration::hours(1)),
            keys("corr-a", "PO-1", now),
        ])
        .await
        .unwrap();
    let found = store
        .find_transactions("supplier", "S-1", 10)
        .await
        .unwrap();
    assert_eq!(
        found
            .iter()
            .map(|t| t.correlation_id.as_str())
            .collect::<Vec<_>>(),
        ["corr-b", "corr-a"]
    );
    let found = store
        .find_transactions("purchase_order", "PO-1", 10)
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].subject, "purchase_order:PO-1");
    assert!(
        store
            .find_transactions("purchase_order", "PO-3", 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Events per bucket, from `since`, empty buckets left out; lineage by correlation id.
    let hour = Duration::hours(1);
    let base = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    let event = |id: &str, at, corr: &str| {
        Write::Event(NewEvent {
            id: id.into(),
            event_type: "concord.test.v1".into(),
            source: "test".into(),
            subject: "purchase_order:PO-1".into(),
            time: at,
            correlation_id: corr.into(),
            data: json!({}),
        })
    };
    store
        .commit(vec![
            event("e0", base - hour, "corr-a"),
            event("e1", base, "corr-a"),
            event("e2", base + Duration::minutes(59), "corr-b"),
            event("e3", base + Duration::minutes(150), "corr-a"),
        ])
        .await
        .unwrap();
    let counts = store.event_counts(base, hour).await.unwrap();
    assert_eq!(counts, vec![(base, 2), (base + hour * 2, 1)]);
    let lineage = store.lineage("corr-a").await.unwrap();
    assert_eq!(
        lineage
            .events
            .iter()
            .map(|e| e.event.id.as_str())
            .collect::<Vec<_>>(),
        ["e0", "e1", "e3"]
    );
    assert!(lineage.deliveries.is_empty() && lineage.attempts.is_empty());
    // The deliveries above (correlation `corr`) with p1's two attempts, read in one go.
    for attempt in [1, 2] {
        if attempt == 2 {
            // The retry is claimed again before its attempt is recorded.
            let claimed = store
                .claim_deliveries(now, &lease(now + Duration::seconds(30)), 10)
                .await
                .unwrap();
            assert!(claimed.iter().any(|d| d.id == "p1"));
        }
        store
            .commit(vec![Write::DeliveryResult {
                claim: Some(WORKER.into()),
                delivery_id: "p1".into(),
                attempt,
                outcome: DeliveryOutcome::Retry,
                at: now,
                status_code: Some(503),
                latency_us: 10,
                error: Some("busy".into()),
                next_attempt_at: now,
            }])
            .await
            .unwrap();
    }
    let lineage = store.lineage("corr").await.unwrap();
    assert_eq!(
        lineage
            .deliveries
            .iter()
            .map(|d| d.id.as_str())
            .collect::<Vec<_>>(),
        ["p1", "p2"]
    );
    assert_eq!(
        lineage
            .attempts
            .iter()
            .map(|a| (a.delivery_id.as_str(), a.attempt))
            .collect::<Vec<_>>(),
        [("p1", 1), ("p1", 2)]
    );
    let recent = store.recent_transactions(10).await.unwrap();
    assert_eq!(
        recent
            .iter()
            .map(|t| t.correlation_id.as_str())
            .collect::<Vec<_>>(),
        ["corr-a", "corr-b"],
        "newest event first, one row per transaction"
    );

    // Exceptions by subject prefix (every version of a contract) and by correlation id.
    let exception = |id: &str, subject: &str, corr: &str| {
        Write::OpenException(NewException {
            id: id.into(),
            kind: "contract_propagation_failed".into(),
            subject: subject.into(),
            correlation_id: corr.into(),
            detail: json!({}),
            at: now,
            facility: None,
            supplier: None,
        })
    };
    store
        .commit(vec![
            exception("x1", "contract:C-1:v1", "corr-c1"),
            exception("x2", "contract:C-1:v2", "corr-c2"),
            exception("x3", "contract:C-10:v1", "corr-c3"),
        ])
        .await
        .unwrap();
    let listed = |f: ExceptionFilter| {
        let store = store.clone();
        async move {
            let found = store.list_exceptions(&f).await.unwrap();
            found.into_iter().map(|e| e.id).collect::<Vec<_>>()
        }
    };
    let open = |f: ExceptionFilter| ExceptionFilter {
        status: "open".into(),
        limit: 10,
        ..f
    };
    assert_eq!(
        listed(open(ExceptionFilter {
            subject_prefix: Some("contract:C-1:".into()),
            ..ExceptionFilter::default()
        }))
        .await,
        ["x1", "x2"]
    );
    assert_eq!(
        listed(open(ExceptionFilter {
            correlation_id: Some("corr-c3".into()),
            ..ExceptionFilter::default()
        }))
        .await,
        ["x3"]
    );
}
