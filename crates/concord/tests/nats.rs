//! NATS JetStream (part 7), against the real server named by `CONCORD_TEST_NATS_URL` (CI sets
//! it; the tests skip without it). Every test makes its own streams and subjects, and deletes
//! its streams at the end: the server outlives the test run.

mod common;

use std::{collections::HashSet, time::Duration};

use async_nats::jetstream;
use common::*;
use concord_engine::nats::NatsConfig;
use concord_store::testing::Backend;
use serde_json::{Value, json};

on_both_backends!(
    every_event_reaches_jetstream_once_in_subject_order,
    a_stream_feeds_the_inbound_pipeline_and_is_acked_after_commit,
    a_nats_subscriber_gets_each_delivery_once,
);

fn nats_url() -> Option<String> {
    std::env::var("CONCORD_TEST_NATS_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// A name no other test run uses (stream names: letters, digits, - and _).
fn unique() -> String {
    format!("T{}X{:08x}", std::process::id(), fastrand::u32(..))
}

async fn jetstream_client(url: &str) -> jetstream::Context {
    jetstream::new(async_nats::connect(url).await.expect("connect to NATS"))
}

/// Every message of a stream, in stream order: (subject, Nats-Msg-Id, payload).
async fn messages(js: &jetstream::Context, stream: &str) -> Vec<(String, String, Value)> {
    let stream = js.get_stream(stream).await.unwrap();
    let n = stream.get_info().await.unwrap().state.last_sequence;
    let mut out = Vec::new();
    for seq in 1..=n {
        let m = stream.get_raw_message(seq).await.unwrap();
        let id = m
            .headers
            .get("Nats-Msg-Id")
            .map(|v| v.as_str().to_string())
            .unwrap_or_default();
        out.push((
            m.subject.to_string(),
            id,
            serde_json::from_slice(&m.payload).unwrap(),
        ));
    }
    out
}

async fn every_event_reaches_jetstream_once_in_subject_order(backend: Backend) {
    let Some(url) = nats_url() else {
        eprintln!("skipping: CONCORD_TEST_NATS_URL is not set");
        return;
    };
    let u = unique();
    let (stream, prefix) = (format!("EV_{u}"), format!("{u}.events"));
    let config = {
        let mut n = NatsConfig::with_url(url.clone());
        n.stream = stream.clone();
        n.subject_prefix = prefix.clone();
        n
    };
    let Some(t) = spawn_hub(backend, |c| c.nats = Some(config)).await else {
        return;
    };
    t.seed().await;
    for (id, version, price) in [("C-1", 1, "9.00"), ("C-2", 1, "7.00"), ("C-1", 2, "8.00")] {
        let (s, body) = t
            .post(
                "/v1/contracts",
                contract(id, version, &[(ITEM_1, price)], &[]),
            )
            .await;
        assert_eq!(s, 202, "{body}");
    }
    t.wait_status("C-1", 2, "active").await;
    t.wait_status("C-2", 1, "active").await;
    let store = t.hub.store().clone();
    let events = store.events_after(0, 10_000).await.unwrap();
    assert!(events.len() >= 6, "{} events", events.len());
    t.eventually("every event published", || async {
        let (_, d) = t
            .get("/v1/deliveries?target=nats:events&status=delivered&limit=1000")
            .await;
        d["deliveries"].as_array().map_or(0, Vec::len)
            == store.events_after(0, 10_000).await.unwrap().len()
    })
    .await;
    let js = jetstream_client(&url).await;
    let published = messages(&js, &stream).await;
    let events = store.events_after(0, 10_000).await.unwrap();
    assert_eq!(published.len(), events.len(), "one message per event");
    let ids: HashSet<&str> = published.iter().map(|(_, id, _)| id.as_str()).collect();
    for e in &events {
        assert!(
            ids.contains(e.event.id.as_str()),
            "{} not published",
            e.event.id
        );
    }
    // Subjects by type, CloudEvents envelopes, and each event subject's events in commit order.
    for (subject, id, ce) in &published {
        let e = events.iter().find(|e| &e.event.id == id).unwrap();
        let expected = t
            .hub
            .config()
            .nats
            .as_ref()
            .unwrap()
            .event_subject(&e.event.event_type);
        assert_eq!(subject, &expected);
        assert!(subject.starts_with(&format!("{prefix}.")), "{subject}");
        assert_eq!(ce["specversion"], "1.0");
        assert_eq!(ce["id"], json!(id));
        assert_eq!(ce["type"], json!(e.event.event_type));
        assert_eq!(ce["correlationid"], json!(e.event.correlation_id));
    }
    assert!(
        published
            .iter()
            .any(|(s, _, _)| s == &format!("{prefix}.contract.activated"))
    );
    for event_subject in ["contract:C-1", "contract:C-2"] {
        let in_store: Vec<&str> = events
            .iter()
            .filter(|e| e.event.subject == event_subject)
            .map(|e| e.event.id.as_str())
            .collect();
        let in_stream: Vec<&str> = published
            .iter()
            .filter(|(_, _, ce)| ce["subject"] == event_subject)
            .map(|(_, id, _)| id.as_str())
            .collect();
        assert_eq!(in_stream, in_store, "{event_subject}'s events out of order");
    }
    // A replayed publication (same event id) is recognised by JetStream: still one message.
    let (_, d) = t
        .get("/v1/deliveries?target=nats:events&status=delivered&limit=1")
        .await;
    let replayed = d["deliveries"][0]["id"].as_str().unwrap().to_string();
    let (s, _) = t
        .post(&format!("/v1/deliveries/{replayed}/replay"), json!({}))
        .await;
    assert_eq!(s, 202);
    t.eventually("the replay is sent", || async {
        let (_, d) = t.get(&format!("/v1/deliveries/{replayed}")).await;
        d["delivery"]["status"] == "delivered"
            && d["attempts"].as_array().is_some_and(|a| a.len() == 2)
    })
    .await;
    assert_eq!(messages(&js, &stream).await.len(), events.len());
    js.delete_stream(&stream).await.unwrap();
    t.shutdown().await;
}

async fn a_stream_feeds_the_inbound_pipeline_and_is_acked_after_commit(backend: Backend) {
    let Some(url) = nats_url() else {
        eprintln!("skipping: CONCORD_TEST_NATS_URL is not set");
        return;
    };
    let u = unique();
    let stream = format!("SRC_{u}");
    let subject = format!("{u}.clm.contracts");
    let config = {
        let mut n = NatsConfig::with_url(url.clone());
        n.publish_events = false;
        n.sources.insert(
            "clm_feed".into(),
            toml::from_str(&format!(
                "stream = \"{stream}\"\nsubjects = [\"{u}.clm.>\"]\nsystem = \"clm\"\nmessage_type = \"contract\"\n"
            ))
            .unwrap(),
        );
        n
    };
    let Some(t) = spawn_hub(backend, |c| c.nats = Some(config)).await else {
        return;
    };
    t.seed().await;
    let js = jetstream_client(&url).await;
    // The hub creates the stream when it starts reading; wait for it.
    t.eventually("the source stream exists", || async {
        js.get_stream(&stream).await.is_ok()
    })
    .await;
    let publish = |id: Option<&str>, body: Value| {
        let js = js.clone();
        let subject = subject.clone();
        let id = id.map(str::to_string);
        async move {
            let mut headers = async_nats::HeaderMap::new();
            if let Some(id) = id {
                headers.insert("Nats-Msg-Id", id.as_str());
            }
            js.publish_with_headers(subject, headers, body.to_string().into())
                .await
                .unwrap()
                .await
                .unwrap();
        }
    };
    // The CLM's own event shape (as its webhook posts it), keyed by its eventId.
    let event = |id: &str, record: Value| json!({"eventId": id, "eventType": "CONTRACT_APPROVED", "contract": record});
    // Without a Nats-Msg-Id the route's message-id path (`.eventId`) keys the message, so the
    // CLM resending its event is recognised.
    let first = event("clm-evt-1", clm_record("CLM-1", 0, ITEM_1, "4.00"));
    publish(None, first.clone()).await;
    publish(None, first).await;
    publish(
        Some("m-2"),
        event("clm-evt-2", clm_record("CLM-2", 0, ITEM_2, "3.00")),
    )
    .await;
    publish(
        Some("m-3"),
        json!({"eventId": "clm-evt-3", "contract": {"contractNumber": "CLM-3"}}),
    )
    .await;
    t.wait_status("CLM-1", 1, "active").await;
    t.wait_status("CLM-2", 1, "active").await;
    t.eventually("the broken one is quarantined", || async {
        let (_, q) = t.get("/v1/quarantine").await;
        q["messages"].as_array().is_some_and(|m| m.len() == 1)
    })
    .await;
    // Every message acknowledged once the hub committed it: nothing pending or waiting.
    let consumer: jetstream::consumer::PullConsumer = js
        .get_stream(&stream)
        .await
        .unwrap()
        .get_consumer("concord-clm_feed")
        .await
        .unwrap();
    t.eventually("the consumer has nothing left", || {
        let consumer = consumer.clone();
        async move {
            let info = consumer.get_info().await.unwrap();
            info.num_pending == 0
                && info.num_ack_pending == 0
                && info.delivered.stream_sequence == 4
        }
    })
    .await;
    let store = t.hub.store();
    let contracts = store.contract_versions("CLM-1").await.unwrap();
    assert_eq!(
        contracts.len(),
        1,
        "the resent CLM event made no second version"
    );
    let inbox = store
        .list_inbox(concord_store::InboxStatus::Processed, 100)
        .await
        .unwrap();
    let from_nats: Vec<&str> = inbox
        .iter()
        .filter(|m| m.received_by.as_deref() == Some("nats:clm_feed"))
        .map(|m| m.dedupe_key.as_str())
        .collect();
    assert_eq!(
        from_nats,
        ["clm:contract:id:clm-evt-1", "clm:contract:key:nats:m-2"],
        "each stored once; the resend was answered from the first"
    );
    js.delete_stream(&stream).await.unwrap();
    t.shutdown().await;
}

async fn a_nats_subscriber_gets_each_delivery_once(backend: Backend) {
    let Some(url) = nats_url() else {
        eprintln!("skipping: CONCORD_TEST_NATS_URL is not set");
        return;
    };
    let u = unique();
    let stream = format!("BUS_{u}");
    let Some(t) = spawn_hub(backend, |c| {
        let mut n = NatsConfig::with_url(url.clone());
        n.publish_events = false;
        c.nats = Some(n);
        let mut bus: concord_engine::config::SystemConfig = toml::from_str(&format!(
            "role = \"analytics\"\ntransport = \"nats\"\n\
             [outbound.contract]\nmapping = \"mappings/analytics/contract.out.jq\"\nsubject = \"{u}.bus.contracts.{{id}}\"\n"
        ))
        .unwrap();
        bus.circuit_breaker.open_ms = 200;
        c.systems.insert("bus".into(), bus);
    })
    .await
    else {
        return;
    };
    let problems = t.hub.config().check();
    assert!(problems.is_empty(), "{problems:?}");
    t.seed().await;
    // No stream captures the subject yet: the bus is a required target, so the contract
    // waits, pending, while the delivery retries.
    let (s, _) = t
        .post(
            "/v1/contracts",
            contract("C-9", 1, &[(ITEM_1, "2.00")], &[]),
        )
        .await;
    assert_eq!(s, 202);
    t.eventually("a failed attempt names the missing stream", || async {
        let (_, d) = t.get("/v1/deliveries?target=bus&limit=10").await;
        d["deliveries"][0]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("no JetStream stream captures subject"))
    })
    .await;
    assert_eq!(
        t.contract_status("C-9", 1).await.as_deref(),
        Some("pending")
    );
    let js = jetstream_client(&url).await;
    js.create_stream(jetstream::stream::Config {
        name: stream.clone(),
        subjects: vec![format!("{u}.bus.>")],
        ..Default::default()
    })
    .await
    .unwrap();
    t.wait_status("C-9", 1, "active").await;
    let got = messages(&js, &stream).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let (subject, id, body) = &got[0];
    assert_eq!(subject, &format!("{u}.bus.contracts.C-9"));
    assert_eq!(id, "concord-bus-contract-C-9-v1");
    assert!(body.is_object(), "the analytics mapping's body: {body}");
    js.delete_stream(&stream).await.unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    t.shutdown().await;
}
