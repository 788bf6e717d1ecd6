//! Part 6 end to end: an EHR's DFT^P03 over MLLP becomes stock taken from the shelf, a
//! replenishment requisition (and its PO), a bill-only requisition, cost postings in the ERP
//! and a held usage for an unknown item; and no patient name, date of birth or MRN reaches the
//! store or the logs. On SQLite, and on PostgreSQL when `CONCORD_TEST_POSTGRES_URL` is set.

mod common;

use std::{
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use common::*;
use concord_formats::hl7::mllp;
use concord_store::testing::Backend;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// Everything any test in this binary logs, at debug level (the PHI test searches it).
fn logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
            .with_writer(move || Sink(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
        buffer
    })
    .clone()
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        std::io::Write::write(&mut *self.0.lock().unwrap(), buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A DFT^P03 from the cath lab: a stocked item by chargemaster code, a bill-only stent by its
/// UDI, and an item the hub does not know; with the patient data a real one carries.
fn dft(control_id: &str) -> String {
    [
        format!("MSH|^~\\&|EPIC|MERCY|CONCORD|HUB|20261121093000||DFT^P03|{control_id}|P|2.7"),
        "EVN|P03|20261121093000".into(),
        "PID|1||MRN12345^^^MERCY^MR||Doe^Jane^Q||19800214|F|||12 Elm St^^Springfield^IL^62701||(217)555-0101|||||ACC-9001|123-45-6789".into(),
        "NK1|1|Doe^John|SPO|12 Elm St^^Springfield^IL^62701".into(),
        "PV1|1|O|OR^04^1^MERCY|||||||CAR|||||||||V-77".into(),
        "FT1|1|||20261121093000||CG|IMP-1001^Guidewire^CDM|||1|45.00|45.00|CATH^Cath lab||||||||||||92928^PCI^CPT".into(),
        "FT1|2|||20261121093000||CG|IMP-2002^Stent^CDM|||1|||CATH^Cath lab||||||||||||92928^PCI^CPT".into(),
        format!("PRT|1|AD||SPLY^Supplied^HL70912||||||(01){ITEM_2}(17)281231(10)LOT42(21)SN7"),
        "FT1|3|||20261121093000||CG|IMP-9999^Balloon^CDM|||1|||CATH^Cath lab".into(),
        "NTE|1||Jane Doe tolerated the procedure".into(),
    ]
    .join("\r")
        + "\r"
}

const PHI: [&str; 9] = [
    "Doe",
    "Jane",
    "19800214",
    "MRN12345",
    "Elm St",
    "555-0101",
    "123-45-6789",
    "ACC-9001",
    "V-77",
];

async fn start(
    backend: Backend,
    tweak: impl FnOnce(&mut concord_engine::Config),
) -> Option<(TestHub, String)> {
    let t = spawn_hub(backend, |c| {
        c.clinical.mllp_listen = Some("127.0.0.1:0".parse().unwrap());
        tweak(c);
    })
    .await?;
    let addr = concord_engine::mllp::start(&t.hub)
        .await
        .unwrap()
        .expect("MLLP is configured");
    Some((t, addr.to_string()))
}

/// Sends each message framed on one connection and reads each ACK.
async fn send(addr: &str, messages: &[&[u8]]) -> Vec<String> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut acks = vec![];
    for m in messages {
        stream.write_all(&mllp::frame(m)).await.unwrap();
        acks.push(read_ack(&mut stream).await);
    }
    acks
}

async fn read_ack(stream: &mut TcpStream) -> String {
    let mut deframer = mllp::Deframer::new(64 * 1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .expect("an ACK in time")
            .unwrap();
        assert!(n > 0, "the connection closed before the ACK");
        if let Some(mllp::Framed::Message(ack)) = deframer.push(&chunk[..n]).into_iter().next() {
            return String::from_utf8(ack).unwrap();
        }
    }
}

/// MSA-1 of an ACK.
fn code(ack: &str) -> &str {
    ack.split('\r')
        .find(|s| s.starts_with("MSA|"))
        .and_then(|s| s.split('|').nth(1))
        .unwrap_or("")
}

async fn set_up(t: &TestHub) {
    t.seed().await;
    let (s, _) = t
        .post(
            "/v1/contracts",
            long_contract("C-CATH", ITEM_1, "45.00", "west"),
        )
        .await;
    assert_eq!(s, 202);
    t.wait_status("C-CATH", 1, "active").await;
    let (s, _) = t
        .post(
            "/v1/contracts",
            long_contract("C-STENT", ITEM_2, "900.00", "west"),
        )
        .await;
    assert_eq!(s, 202);
    t.wait_status("C-STENT", 1, "active").await;
    for (path, body) in [
        (
            "/v1/crosswalks/ehr/item/IMP-1001".to_string(),
            json!({"canonical_id": ITEM_1}),
        ),
        (
            "/v1/crosswalks/ehr/facility/MERCY".to_string(),
            json!({"canonical_id": FACILITY_WEST}),
        ),
        (
            format!("/v1/stock/{FACILITY_WEST}/CATH/{ITEM_1}"),
            json!({"on_hand": 5, "par_level": 10, "reorder_point": 4}),
        ),
        (
            format!("/v1/stock/{FACILITY_WEST}/CATH/{ITEM_2}"),
            json!({"on_hand": 0, "par_level": 0, "reorder_point": 0, "bill_only": true}),
        ),
    ] {
        let (s, v) = t.put(&path, body).await;
        assert_eq!(s, 200, "{path}: {v}");
    }
}

async fn usage(t: &TestHub, id: &str) -> Value {
    let (s, v) = t.get(&format!("/v1/usages/{id}")).await;
    assert_eq!(s, 200, "{id}: {v}");
    v
}

async fn shelf(t: &TestHub, gtin: &str) -> Value {
    let (_, v) = t.get(&format!("/v1/stock?facility={FACILITY_WEST}")).await;
    v["stock"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["gtin"] == gtin && s["location"] == "CATH")
        .cloned()
        .unwrap_or(Value::Null)
}

async fn implant_becomes_stock_orders_and_cost(backend: Backend) {
    let logs = logs();
    let Some((t, addr)) = start(backend, |_| {}).await else {
        return;
    };
    set_up(&t).await;
    let message = dft("M-1");
    let acks = send(&addr, &[message.as_bytes()]).await;
    assert_eq!(code(&acks[0]), "AA", "{}", acks[0]);
    let u1 = "ehr:EPIC.MERCY:M-1:1";
    t.eventually("the usages are recorded", || async {
        t.get(&format!("/v1/usages/{u1}")).await.0 == 200
            && t.get("/v1/usages/ehr:EPIC.MERCY:M-1:3").await.0 == 200
    })
    .await;

    // The stocked item: one fewer on the shelf, at the reorder point: replenished up to par.
    let v = usage(&t, u1).await;
    assert_eq!(v["stage"], "consumed", "{v}");
    assert_eq!(v["on_hand_after"], 4);
    assert_eq!(v["cost"], "45.00");
    let replenishment = v["requisitions"][0].as_str().unwrap().to_string();
    assert!(replenishment.starts_with("REP-"), "{v}");
    // (The shelf itself may already be refilled: the replenishment's receipt is checked below.)
    let (_, r) = t.get(&format!("/v1/requisitions/{replenishment}")).await;
    assert_eq!(r["requisition"]["lines"][0]["quantity"], 6, "{r}");
    assert_eq!(r["requisition"]["lines"][0]["gtin"], ITEM_1);
    assert_eq!(r["requisition"]["facility"], FACILITY_WEST);
    assert_eq!(r["decision"], "approved", "{r}");

    // The bill-only stent: nothing taken from stock, a requisition to pay for it.
    let v = usage(&t, "ehr:EPIC.MERCY:M-1:2").await;
    assert_eq!(v["stage"], "consumed");
    assert_eq!(v["on_hand_after"], Value::Null);
    assert_eq!(v["usage"]["device"]["lot"], "LOT42");
    let bill = v["requisitions"][0].as_str().unwrap();
    assert!(bill.starts_with("BILL-"), "{v}");
    assert_eq!(shelf(&t, ITEM_2).await["on_hand"], 0);

    // The unknown item waits for a person.
    let v = usage(&t, "ehr:EPIC.MERCY:M-1:3").await;
    assert_eq!(v["stage"], "held");
    assert_eq!(v["held_by"], json!(["usage_item_unresolved"]));
    let (_, ex) = t
        .get("/v1/exceptions?kind=usage_item_unresolved&status=open")
        .await;
    let exception = ex["exceptions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["subject"] == "usage:ehr:EPIC.MERCY:M-1:3")
        .unwrap_or_else(|| panic!("no exception: {ex}"))
        .clone();
    assert!(
        exception["detail"]["detail"]
            .as_str()
            .unwrap()
            .contains("IMP-9999")
    );

    // Cost postings in the ERP: facility, cost center, service line, procedure, amount.
    let erp = t.sandbox.erp.url("/api/cost-postings");
    t.eventually("two cost postings", || async {
        get_json(&t.client, &erp).await["costPostings"]
            .as_array()
            .is_some_and(|p| p.len() == 2)
    })
    .await;
    let postings = get_json(&t.client, &erp).await;
    let p1 = postings["costPostings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["postingRef"] == u1)
        .unwrap()
        .clone();
    assert_eq!(
        (
            &p1["plant"],
            &p1["costCenter"],
            &p1["serviceLine"],
            &p1["procedureCode"],
            &p1["amount"],
            &p1["material"]
        ),
        (
            &json!(FACILITY_WEST),
            &json!("CATH"),
            &json!("CAR"),
            &json!("92928"),
            &json!("45.00"),
            &json!(ITEM_1)
        ),
        "{postings}"
    );

    // The replenishment runs through procure-to-pay: 850 to the supplier, its shipment, the
    // warehouse's receipt, which fills the shelf (4 + 6) and closes the replenishment.
    t.eventually("the replenishment is received onto the shelf", || async {
        let s = shelf(&t, ITEM_1).await;
        s["on_hand"] == 10 && s["replenishment"].is_null()
    })
    .await;

    // The EHR resends (it missed the ACK): acknowledged, nothing applied twice.
    let acks = send(&addr, &[message.as_bytes()]).await;
    assert_eq!(code(&acks[0]), "AA");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(shelf(&t, ITEM_1).await["on_hand"], 10);
    assert_eq!(
        get_json(&t.client, &erp).await["costPostings"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // A person maps the unknown code and retries: the usage goes on (no contract prices that
    // item, which is an exception of its own).
    let (s, _) = t
        .put(
            "/v1/crosswalks/ehr/item/IMP-9999",
            json!({"canonical_id": ITEM_3}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, v) = t
        .post(
            &format!(
                "/v1/exceptions/{}/resolve",
                exception["id"].as_str().unwrap()
            ),
            json!({"action": "retry", "reason": "mapped IMP-9999"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["usage"]["stage"], "consumed", "{v}");
    assert_eq!(v["usage"]["item"], ITEM_3);
    let (_, ex) = t
        .get("/v1/exceptions?kind=usage_cost_unknown&status=open")
        .await;
    assert_eq!(ex["exceptions"].as_array().unwrap().len(), 1, "{ex}");

    // No patient data in the store or the logs; the pseudonym is there instead.
    let stored = t.every_text().await;
    for phi in PHI {
        assert!(!stored.contains(phi), "{phi:?} reached the store");
    }
    assert!(
        stored.contains("pt_"),
        "the usage keeps the patient's pseudonym"
    );
    let logged = String::from_utf8_lossy(&logs.lock().unwrap()).to_string();
    // The capture works: the listener's start is in it (and the hub's spans at debug level).
    assert!(
        logged.contains("MLLP listener accepting HL7 v2"),
        "no logs captured"
    );
    for phi in PHI {
        assert!(!logged.contains(phi), "{phi:?} reached the logs");
    }
    assert!(t.sandbox.erp.duplicate_effects().is_empty());
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implant_becomes_stock_orders_and_cost_sqlite() {
    implant_becomes_stock_orders_and_cost(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implant_becomes_stock_orders_and_cost_postgres() {
    implant_becomes_stock_orders_and_cost(Backend::Postgres).await;
}

/// Broken input gets the answer it deserves and the connection goes on: AE (stored,
/// quarantined, the ERR naming segment and field), AR for a frame without a message and for
/// one over the size limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_messages_are_answered_and_quarantined() {
    let _ = logs();
    let Some((t, addr)) = start(Backend::Sqlite, |c| {
        c.clinical.mllp_max_message_bytes = 4096
    })
    .await
    else {
        return;
    };
    let no_type = "MSH|^~\\&|EPIC|MERCY|CONCORD|HUB|20261121||^|Q-1|P|2.5\rFT1|1\r";
    let bad_number = "MSH|^~\\&|EPIC|MERCY|CONCORD|HUB|20261121||DFT^P03|Q-2|P|2.5\rFT1|1|||20261121||CG|X|||many\r";
    let huge = format!(
        "MSH|^~\\&|EPIC|MERCY|||20261121||DFT^P03|Q-3|P|2.5\r{}\r",
        "Z".repeat(5000)
    );
    let good = "MSH|^~\\&|EPIC|MERCY|CONCORD|HUB|20261121||ADT^A01|Q-4|P|2.5\rEVN|A01\r";
    // The error in the sender's own positions, though the dropped NK1 is not kept.
    let after_dropped = "MSH|^~\\&|EPIC|MERCY|CONCORD|HUB|20261121||DFT^P03|Q-5|P|2.5\rNK1|1|Doe^John\rFT1|1|||20261121||CG|X|||many\r";
    let acks = send(
        &addr,
        &[
            no_type.as_bytes(),
            bad_number.as_bytes(),
            b"not hl7 at all",
            huge.as_bytes(),
            good.as_bytes(),
            after_dropped.as_bytes(),
        ],
    )
    .await;
    let codes: Vec<&str> = acks.iter().map(|a| code(a)).collect();
    assert_eq!(codes, ["AE", "AE", "AR", "AR", "AA", "AE"], "{acks:#?}");
    assert!(
        acks[5].contains("FT1^3^10"),
        "the sender's position: {}",
        acks[5]
    );
    assert!(acks[1].contains("ERR|"), "{}", acks[1]);
    assert!(
        acks[0].contains("MSH^1^9"),
        "the ERR names MSH-9: {}",
        acks[0]
    );
    assert!(
        acks[1].contains("FT1^2^10"),
        "the ERR names FT1-10: {}",
        acks[1]
    );
    assert!(acks[3].contains("4096"), "{}", acks[3]);
    let (_, q) = t.get("/v1/quarantine").await;
    let problems: Vec<&Value> = q["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["message_type"] == "hl7v2")
        .collect();
    assert_eq!(problems.len(), 3, "{q}");
    t.shutdown().await;
}

/// Connection limits and timeouts: one connection too many is closed at once; a silent one
/// is closed after the idle timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_limited_and_idle_ones_closed() {
    let _ = logs();
    // The limit: one connection more is closed at once (well before the minute-long idle
    // timeout could close it).
    let Some((t, addr)) = start(Backend::Sqlite, |c| {
        c.clinical.mllp_max_connections = 1;
        c.clinical.mllp_idle_timeout_ms = 60_000;
    })
    .await
    else {
        return;
    };
    let first = TcpStream::connect(&addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut second = TcpStream::connect(&addr).await.unwrap();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(5), second.read(&mut buf))
        .await
        .expect("the second connection is closed at once")
        .unwrap_or(0);
    assert_eq!(n, 0);
    // Its slot is free again once the first goes.
    drop(first);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let acks = send(
        &addr,
        &[b"MSH|^~\\&|EPIC|MERCY|||20261121||ADT^A01|L-1|P|2.5\r"],
    )
    .await;
    assert_eq!(code(&acks[0]), "AA");
    t.shutdown().await;

    // The idle timeout: a silent connection is closed.
    let Some((t, addr)) = start(Backend::Sqlite, |c| c.clinical.mllp_idle_timeout_ms = 300).await
    else {
        return;
    };
    let mut silent = TcpStream::connect(&addr).await.unwrap();
    let n = tokio::time::timeout(Duration::from_secs(5), silent.read(&mut buf))
        .await
        .expect("the idle connection is closed")
        .unwrap_or(0);
    assert_eq!(n, 0);
    t.shutdown().await;
}

/// A FHIR Bundle from the EHR (its own integration key): the Patient is not kept, the
/// implanted Device's UDI names the item, the Procedure becomes a usage that takes the item
/// from the shelf and reorders it; a repeat changes nothing; an invalid resource is a 422
/// naming its path and stores nothing; another system's key is refused.
async fn fhir_bundle_becomes_a_usage(backend: Backend) {
    let _ = logs();
    let Some((t, _)) = start(backend, |_| {}).await else {
        return;
    };
    set_up(&t).await;
    for (path, body) in [
        (
            "/v1/crosswalks/ehr/facility/CATH-MERCY".to_string(),
            json!({"canonical_id": FACILITY_WEST}),
        ),
        (
            format!("/v1/stock/{FACILITY_WEST}/CATH-MERCY/{ITEM_1}"),
            json!({"on_hand": 3, "par_level": 6, "reorder_point": 2}),
        ),
    ] {
        assert_eq!(t.put(&path, body).await.0, 200);
    }
    let ehr = make_key(
        &t.hub,
        concord_model::access::Role::Integration,
        Some("ehr"),
    )
    .await;
    let clm = make_key(
        &t.hub,
        concord_model::access::Role::Integration,
        Some("clm"),
    )
    .await;
    let bundle = json!({
      "resourceType": "Bundle", "id": "b-1", "type": "collection",
      "entry": [
        {"fullUrl": "urn:uuid:pt-1", "resource": {"resourceType": "Patient", "id": "pt-1",
          "identifier": [{"value": "MRN12345"}], "name": [{"family": "Doe", "given": ["Jane"]}], "birthDate": "1980-02-14"}},
        {"fullUrl": "urn:uuid:dev-1", "resource": {"resourceType": "Device", "id": "dev-1", "status": "active",
          "udiCarrier": [{"deviceIdentifier": ITEM_1, "carrierHRF": format!("(01){ITEM_1}(17)281231(10)LOT9(21)SN9"), "entryType": "barcode"}],
          "patient": {"reference": "Patient/pt-1", "display": "Jane Doe"}}},
        {"fullUrl": "urn:uuid:proc-1", "resource": {"resourceType": "Procedure", "id": "proc-1", "status": "completed",
          "text": {"status": "generated", "div": "<div>Jane Doe, DOB 1980-02-14</div>"},
          "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "33208"}]},
          "subject": {"reference": "Patient/MRN12345", "display": "Jane Doe"},
          "performedDateTime": "2026-11-21T09:30:00Z",
          "location": {"reference": "Location/CATH-MERCY"},
          "focalDevice": [{"action": {"coding": [{"code": "implanted"}]}, "manipulated": {"reference": "urn:uuid:dev-1"}}]}}
      ]
    });
    let (s, v) = post_as(&t, &clm, "/v1/fhir/Bundle", Some(bundle.clone())).await;
    assert_eq!(s, 403, "another system's key: {v}");
    let (s, v) = post_as(&t, &ehr, "/v1/fhir/Bundle", Some(bundle.clone())).await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["usages"][0]["stage"], "consumed", "{v}");
    let id = v["usages"][0]["usage_id"].as_str().unwrap().to_string();
    assert_eq!(id, "ehr:fhir:Procedure-proc-1:1");
    let u = usage(&t, &id).await;
    assert_eq!(
        (u["item"].clone(), u["on_hand_after"].clone()),
        (json!(ITEM_1), json!(2))
    );
    assert_eq!(u["usage"]["device"]["lot"], "LOT9");
    assert_eq!(u["usage"]["procedure_code"], "33208");
    assert!(u["usage"]["patient"].as_str().unwrap().starts_with("pt_"));
    assert!(u["requisitions"][0].as_str().unwrap().starts_with("REP-"));
    // The repeat is the first answer again.
    let (s, again) = post_as(&t, &ehr, "/v1/fhir/Bundle", Some(bundle)).await;
    assert_eq!((s, &again["receipt_id"]), (202, &v["receipt_id"]));
    // The replenishment (2 → par 6) is ordered, shipped and received onto the shelf; the
    // repeat took nothing.
    t.eventually("the FHIR usage's replenishment is received", || async {
        let (_, stock) = t.get(&format!("/v1/stock?facility={FACILITY_WEST}")).await;
        stock["stock"].as_array().unwrap().iter().any(|s| {
            s["location"] == "CATH-MERCY" && s["on_hand"] == 6 && s["replenishment"].is_null()
        })
    })
    .await;
    // Invalid: named by path, nothing stored.
    // FHIR messages stored, whatever became of them.
    let inbox = || async {
        let mut n = 0;
        for status in [
            concord_store::InboxStatus::Received,
            concord_store::InboxStatus::Processed,
            concord_store::InboxStatus::Quarantined,
        ] {
            n += t
                .hub
                .store()
                .list_inbox_of("ehr", "fhir", status, 1000)
                .await
                .unwrap()
                .len();
        }
        n
    };
    let before = inbox().await;
    let (s, p) = post_as(
        &t,
        &ehr,
        "/v1/fhir/Procedure",
        Some(json!({"resourceType": "Procedure", "status": "done", "subject": {"reference": "Patient/x"}})),
    )
    .await;
    assert_eq!(s, 422, "{p}");
    assert_eq!(p["errors"][0]["path"], "Procedure.status", "{p}");
    let (s, _) = post_as(
        &t,
        &ehr,
        "/v1/fhir/Observation",
        Some(json!({"resourceType": "Observation"})),
    )
    .await;
    assert_eq!(s, 404);
    assert_eq!(inbox().await, before, "a refused resource stored nothing");
    let stored = t.every_text().await;
    assert!(
        !stored.contains("Patient/x"),
        "the refused Procedure was stored"
    );
    for phi in ["Doe", "Jane", "1980-02-14", "MRN12345"] {
        assert!(!stored.contains(phi), "{phi:?} reached the store");
    }
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fhir_bundle_becomes_a_usage_sqlite() {
    fhir_bundle_becomes_a_usage(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fhir_bundle_becomes_a_usage_postgres() {
    fhir_bundle_becomes_a_usage(Backend::Postgres).await;
}
