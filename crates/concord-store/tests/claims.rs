//! Work shared between instances, on every backend: received messages, deliveries and timers
//! are claimed under a lease, what a worker commits is fenced by its claim, and workflow locks
//! hold across instances. On PostgreSQL each "instance" is a second `Store` opened on the same
//! schema (its own pool, as a second process would have).

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use concord_store::{
    Claim, DeliveryOutcome, DeliveryStatus, Dialect, Error, InboxInsert, InboxStatus, NewDelivery,
    NewInbound, Store, Write,
    testing::{Backend, TestStore},
};
use serde_json::json;

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::run(concord_store::testing::Backend::Sqlite, super::$name).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::run(concord_store::testing::Backend::Postgres, super::$name).await })*
        }
    };
}

on_both!(
    a_received_message_is_claimed_once_and_its_answer_is_fenced,
    a_delivery_result_commits_only_under_its_claim,
    two_instances_never_claim_the_same_delivery,
    a_replay_reclaims_a_quarantined_message_once,
    workflow_locks_hold_across_instances,
    changes_are_read_back_for_other_instances,
    a_restart_on_sqlite_ends_the_previous_runs_claims,
);

/// The store of the test, plus a second handle on the same database ("another instance").
struct Instances {
    one: Store,
    two: Store,
}

async fn run<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(Instances) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let Some(ts) = TestStore::new(backend).await.expect("open test store") else {
        eprintln!("skipping {backend:?}: CONCORD_TEST_POSTGRES_URL is not set");
        return;
    };
    let two = Store::open(ts.options()).await.expect("second handle");
    test(Instances {
        one: ts.store.clone(),
        two: two.clone(),
    })
    .await;
    two.close().await;
    ts.cleanup().await;
}

fn claim(token: &str, until: DateTime<Utc>) -> Claim {
    Claim {
        token: token.into(),
        lease_until: until,
    }
}

fn message(id: &str, claim: Option<Claim>) -> NewInbound {
    NewInbound {
        id: id.into(),
        system: "clm".into(),
        message_type: "contract".into(),
        dedupe_key: format!("clm:contract:{id}"),
        correlation_id: format!("corr-{id}"),
        received_at: Utc::now(),
        content_type: "application/json".into(),
        body: "{}".into(),
        received_by: None,
        original_body: None,
        claim,
    }
}

fn done(id: &str, claim: &str, status: InboxStatus) -> Write {
    Write::InboxDone {
        id: id.into(),
        claim: Some(claim.into()),
        status,
        response_status: 202,
        response_body: format!(r#"{{"by":"{claim}"}}"#),
        error: None,
        at: Utc::now(),
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
        payload: json!({}),
        next_attempt_at: Utc::now() - Duration::seconds(1),
    }
}

fn result(id: &str, claim: &str, attempt: u32, outcome: DeliveryOutcome) -> Write {
    Write::DeliveryResult {
        delivery_id: id.into(),
        claim: Some(claim.into()),
        attempt,
        outcome,
        at: Utc::now(),
        status_code: Some(200),
        latency_us: 1,
        error: None,
        next_attempt_at: Utc::now(),
    }
}

async fn a_received_message_is_claimed_once_and_its_answer_is_fenced(i: Instances) {
    let now = Utc::now();
    // Stored by instance one, which processes it: held until its lease ends.
    let held = claim("inst_one:1", now + Duration::seconds(5));
    assert!(matches!(
        i.one.insert_inbox(message("m1", Some(held))).await.unwrap(),
        InboxInsert::Inserted
    ));
    let taker = claim("inst_two:1", now + Duration::seconds(60));
    assert!(
        i.two
            .claim_inbox(now, &taker, None, None, 10)
            .await
            .unwrap()
            .is_empty(),
        "a held message is not taken up"
    );
    assert!(
        i.two
            .claim_inbox_message("m1", now, &taker)
            .await
            .unwrap()
            .is_none()
    );
    // Its holder may take its own back before the lease ends (an overflowed queue).
    let again = claim("inst_one:2", now + Duration::seconds(60));
    let own = i
        .one
        .claim_inbox(now, &again, Some("contract"), Some("inst_one:"), 10)
        .await
        .unwrap();
    assert_eq!(own.len(), 1);
    assert_eq!(own[0].claim.as_deref(), Some("inst_one:2"));
    // Instance one stalls past its lease; instance two takes the message up.
    let later = now + Duration::seconds(61);
    let taken = i
        .two
        .claim_inbox(later, &taker, Some("contract"), None, 10)
        .await
        .unwrap();
    assert_eq!(
        taken.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["m1"]
    );
    assert_eq!(taken[0].claim.as_deref(), Some("inst_two:1"));
    // Another type is not taken by a typed claim.
    assert!(
        i.two
            .claim_inbox(later, &taker, Some("requisition"), None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // The stalled instance's answer is refused, with everything in its unit.
    let late = i
        .one
        .commit(vec![
            Write::Crosswalk(
                concord_store::Crosswalk {
                    system: "clm".into(),
                    entity_type: "supplier".into(),
                    external_id: "V-1".into(),
                    canonical_id: "S-1".into(),
                },
                now,
            ),
            done("m1", "inst_one:2", InboxStatus::Processed),
        ])
        .await;
    assert!(matches!(late, Err(Error::LostClaim(_))), "{late:?}");
    assert!(
        i.one
            .crosswalk_to_canonical("clm", "supplier", "V-1")
            .await
            .unwrap()
            .is_none(),
        "nothing of the refused unit is kept"
    );
    let still = i
        .one
        .commit(vec![Write::InboxStillClaimed {
            id: "m1".into(),
            claim: Some("inst_one:2".into()),
        }])
        .await;
    assert!(matches!(still, Err(Error::LostClaim(_))), "{still:?}");
    i.two
        .commit(vec![done("m1", "inst_two:1", InboxStatus::Processed)])
        .await
        .unwrap();
    let answered = i.one.inbox("m1").await.unwrap().unwrap();
    assert_eq!(answered.status, InboxStatus::Processed);
    assert_eq!(
        answered.response_body.as_deref(),
        Some(r#"{"by":"inst_two:1"}"#)
    );
    // Answered: nobody claims it again, and a second answer is refused.
    assert!(
        i.one
            .claim_inbox(
                later + Duration::seconds(600),
                &taker,
                None,
                Some("inst_"),
                10
            )
            .await
            .unwrap()
            .is_empty()
    );
    let twice = i
        .two
        .commit(vec![done("m1", "inst_two:1", InboxStatus::Processed)])
        .await;
    assert!(matches!(twice, Err(Error::LostClaim(_))));
    // A message stored with no claim is free at once; ending a claim frees it too.
    i.one.insert_inbox(message("m2", None)).await.unwrap();
    i.one
        .insert_inbox(message(
            "m3",
            Some(claim("inst_one:3", now + Duration::seconds(60))),
        ))
        .await
        .unwrap();
    i.one.end_inbox_claim("m3", "inst_one:3").await.unwrap();
    let free = i
        .two
        .claim_inbox(
            now,
            &claim("inst_two:2", now + Duration::seconds(9)),
            None,
            None,
            10,
        )
        .await
        .unwrap();
    assert_eq!(
        free.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["m2", "m3"],
        "oldest first"
    );
}

async fn a_delivery_result_commits_only_under_its_claim(i: Instances) {
    i.one
        .commit(vec![Write::Delivery(delivery("d1", "C-1"))])
        .await
        .unwrap();
    let now = Utc::now();
    let first = i
        .one
        .claim_deliveries(now, &claim("inst_one:1", now + Duration::seconds(5)), 10)
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].claim.as_deref(), Some("inst_one:1"));
    // The lease ends while instance one still waits on the target; two takes over.
    let later = now + Duration::seconds(6);
    let second = i
        .two
        .claim_deliveries(
            later,
            &claim("inst_two:1", later + Duration::seconds(30)),
            10,
        )
        .await
        .unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].idempotency_key, "key-d1");
    let late = i
        .one
        .commit(vec![result(
            "d1",
            "inst_one:1",
            1,
            DeliveryOutcome::Delivered,
        )])
        .await;
    assert!(matches!(late, Err(Error::LostClaim(_))), "{late:?}");
    let postponed = i
        .one
        .commit(vec![Write::Postpone {
            id: "d1".into(),
            claim: Some("inst_one:1".into()),
            until: later,
            reason: "circuit open".into(),
        }])
        .await;
    assert!(matches!(postponed, Err(Error::LostClaim(_))));
    assert!(
        i.one.attempts("d1").await.unwrap().is_empty(),
        "a refused result records no attempt"
    );
    i.two
        .commit(vec![result(
            "d1",
            "inst_two:1",
            1,
            DeliveryOutcome::Delivered,
        )])
        .await
        .unwrap();
    let d = i.one.delivery("d1").await.unwrap().unwrap();
    assert_eq!(d.status, DeliveryStatus::Delivered);
    assert_eq!(i.one.attempts("d1").await.unwrap().len(), 1);
}

/// Two instances claim from one queue at the same time, many rounds: every delivery is
/// claimed by exactly one of them, and per subject only the oldest open one is ever out.
async fn two_instances_never_claim_the_same_delivery(i: Instances) {
    let n = 120;
    let writes = (0..n)
        .map(|k| Write::Delivery(delivery(&format!("q{k:03}"), &format!("C-{}", k % 30))))
        .collect();
    i.one.commit(writes).await.unwrap();
    let worker = |store: Store, name: &'static str| {
        tokio::spawn(async move {
            let mut mine = Vec::new();
            for round in 0..400 {
                let now = Utc::now();
                let token = format!("{name}:{round}");
                let claimed = store
                    .claim_deliveries(now, &claim(&token, now + Duration::seconds(60)), 7)
                    .await
                    .unwrap();
                for d in &claimed {
                    store
                        .commit(vec![result(&d.id, &token, 1, DeliveryOutcome::Delivered)])
                        .await
                        .unwrap();
                    mine.push((d.id.clone(), d.subject.clone()));
                }
                if claimed.is_empty() {
                    tokio::time::sleep(StdDuration::from_millis(2)).await;
                }
                if store
                    .list_deliveries(Some(DeliveryStatus::Pending), None, 1)
                    .await
                    .unwrap()
                    .is_empty()
                {
                    break;
                }
            }
            mine
        })
    };
    let a = worker(i.one.clone(), "one");
    let b = worker(i.two.clone(), "two");
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    let mut all: Vec<&String> = a.iter().chain(b.iter()).map(|(id, _)| id).collect();
    all.sort();
    let before = all.len();
    all.dedup();
    assert_eq!(before, all.len(), "a delivery was claimed twice");
    assert_eq!(all.len(), n, "every delivery was claimed");
    if i.one.dialect() == Dialect::Postgres {
        assert!(!a.is_empty() && !b.is_empty(), "both instances took work");
    }
    // Each instance's own claims of one subject come in queue order.
    for mine in [&a, &b] {
        for subject in (0..30).map(|s| format!("C-{s}")) {
            let ids: Vec<&String> = mine
                .iter()
                .filter(|(_, s)| *s == subject)
                .map(|(id, _)| id)
                .collect();
            let mut sorted = ids.clone();
            sorted.sort();
            assert_eq!(ids, sorted, "subject {subject} went out of order");
        }
    }
}

async fn a_replay_reclaims_a_quarantined_message_once(i: Instances) {
    let now = Utc::now();
    i.one
        .insert_inbox(message(
            "q1",
            Some(claim("inst_one:1", now + Duration::seconds(30))),
        ))
        .await
        .unwrap();
    i.one
        .commit(vec![done("q1", "inst_one:1", InboxStatus::Quarantined)])
        .await
        .unwrap();
    let reclaim = |token: &str| Write::ReclaimInbox {
        id: "q1".into(),
        claim: claim(token, now + Duration::seconds(30)),
        at: now,
    };
    i.one.commit(vec![reclaim("inst_one:2")]).await.unwrap();
    let second = i.two.commit(vec![reclaim("inst_two:1")]).await;
    assert!(matches!(second, Err(Error::Conflict(_))), "{second:?}");
    let record = i.one.inbox("q1").await.unwrap().unwrap();
    assert_eq!(record.status, InboxStatus::Received);
    assert_eq!(record.claim.as_deref(), Some("inst_one:2"));
    i.one
        .commit(vec![done("q1", "inst_one:2", InboxStatus::Processed)])
        .await
        .unwrap();
}

async fn workflow_locks_hold_across_instances(i: Instances) {
    let held = i
        .one
        .lock_across_instances(&["contract:C-1"])
        .await
        .unwrap();
    let other = i.two.clone();
    let waiting = tokio::spawn(async move {
        let _lock = other
            .lock_across_instances(&["contract:C-2", "contract:C-1"])
            .await
            .unwrap();
        Utc::now()
    });
    // An unrelated id is never held up.
    let unrelated = tokio::time::timeout(
        StdDuration::from_secs(5),
        i.two.lock_across_instances(&["contract:C-3"]),
    )
    .await
    .expect("another id locks at once")
    .unwrap();
    drop(unrelated);
    tokio::time::sleep(StdDuration::from_millis(300)).await;
    let released_at = Utc::now();
    if i.one.dialect() == Dialect::Postgres {
        assert!(!waiting.is_finished(), "C-1 is held by the other instance");
    }
    drop(held);
    let got_at = tokio::time::timeout(StdDuration::from_secs(10), waiting)
        .await
        .expect("the lock is released when its holder drops it")
        .unwrap();
    if i.one.dialect() == Dialect::Postgres {
        assert!(got_at >= released_at);
    }
}

async fn changes_are_read_back_for_other_instances(i: Instances) {
    let t0 = Utc::now() - Duration::seconds(1);
    let version = |v: u32, status: &str, at: DateTime<Utc>| Write::InsertContractVersion {
        contract_id: "C-1".into(),
        version: v,
        status: status.into(),
        digest: format!("d{v}"),
        data: json!({"id": "C-1", "version": v}),
        correlation_id: "c".into(),
        at,
    };
    i.one
        .commit(vec![version(1, "active", t0 - Duration::seconds(60))])
        .await
        .unwrap();
    i.one
        .commit(vec![
            version(2, "active", t0 + Duration::seconds(1)),
            Write::SetContractStatus {
                contract_id: "C-1".into(),
                version: 1,
                status: "superseded".into(),
                at: t0 + Duration::seconds(1),
            },
        ])
        .await
        .unwrap();
    let changes = i.two.contracts_changed_since(t0).await.unwrap();
    let seen: Vec<(u32, &str)> = changes
        .iter()
        .map(|c| (c.version, c.status.as_str()))
        .collect();
    assert_eq!(seen, [(1, "superseded"), (2, "active")]);
    assert!(
        changes[0].document.is_none(),
        "only an active version's document comes along"
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(changes[1].document.as_deref().unwrap()).unwrap(),
        json!({"id": "C-1", "version": 2})
    );
    assert!(
        i.two
            .contracts_changed_since(t0 + Duration::seconds(2))
            .await
            .unwrap()
            .is_empty()
    );
    let item: concord_model::Item = serde_json::from_value(
        json!({"gtin": "00614141000012", "description": "x", "unspsc": "42295105", "uom": "EA"}),
    )
    .unwrap();
    i.one
        .commit(vec![Write::UpsertItem(item, t0 + Duration::seconds(1))])
        .await
        .unwrap();
    assert_eq!(i.two.items_changed_since(t0).await.unwrap().len(), 1);
    assert!(
        i.two
            .items_changed_since(t0 + Duration::seconds(2))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(i.two.facilities_changed_since(t0).await.unwrap().is_empty());
}

async fn a_restart_on_sqlite_ends_the_previous_runs_claims(i: Instances) {
    let now = Utc::now();
    i.one
        .insert_inbox(message(
            "r1",
            Some(claim("inst_old:1", now + Duration::seconds(60))),
        ))
        .await
        .unwrap();
    i.one
        .commit(vec![Write::Delivery(delivery("d1", "C-1"))])
        .await
        .unwrap();
    i.one
        .claim_deliveries(now, &claim("inst_old:2", now + Duration::seconds(60)), 10)
        .await
        .unwrap();
    // A claim the new run already took is its own and stays.
    i.one
        .insert_inbox(message(
            "r2",
            Some(claim("inst_new:0", now + Duration::seconds(60))),
        ))
        .await
        .unwrap();
    i.one
        .end_claims_of_previous_run(now, "inst_new")
        .await
        .unwrap();
    let new = claim("inst_new:1", now + Duration::seconds(60));
    let inbox = i.one.claim_inbox(now, &new, None, None, 10).await.unwrap();
    let deliveries = i
        .one
        .claim_deliveries(now + Duration::milliseconds(1), &new, 10)
        .await
        .unwrap();
    match i.one.dialect() {
        // Only this process uses the file: the last run's work is taken up at once.
        Dialect::Sqlite => {
            assert_eq!(
                inbox.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
                ["r1"]
            );
            assert_eq!(deliveries.len(), 1);
        }
        // Shared: another instance may be working on it; its leases must run out.
        Dialect::Postgres => {
            assert!(inbox.is_empty());
            assert!(deliveries.is_empty());
        }
    }
}
