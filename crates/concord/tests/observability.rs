//! Tracing and logs: a caller's W3C `traceparent` becomes the transaction's correlation id and
//! continues in every delivery the hub makes; the binary's JSON logs are one object per line
//! and name the transaction.

mod common;

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Duration,
};

use common::*;
use concord_engine::slo::{SloConfig, SloKind};
use concord_sandbox::{Faults, Sandbox, SandboxConfig};
use concord_store::testing::Backend;
use serde_json::{Value, json};

on_both_backends!(a_missed_objective_opens_an_exception_and_alerts_once,);

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// Open `slo_breach` exceptions, by subject.
async fn open_breaches(t: &TestHub) -> Vec<String> {
    let (_, e) = t.get("/v1/exceptions?type=slo_breach").await;
    e["exceptions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| x["subject"].as_str().unwrap().to_string())
        .collect()
}

/// A breach acknowledged by hand is not reopened by the next checks; one whose item left the
/// window before it was done is looked up by id and resolves itself all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_breach_is_opened_once_and_closes_after_its_window() {
    let Some(t) = spawn_hub(Backend::Sqlite, |c| {
        c.hub.slo_check_ms = 100;
        c.delivery.max_attempts = 2;
        c.slo.insert(
            "contract_propagation".into(),
            SloConfig {
                kind: SloKind::ContractPropagation,
                objective: "1s".into(),
                target: 0.99,
                window: "2s".into(),
                exception_kinds: vec![],
            },
        );
    })
    .await
    else {
        return;
    };
    t.seed().await;
    fail_contract_propagation(&t, "C-W-A").await;
    let dead = fail_contract_propagation(&t, "C-W-B").await;
    t.eventually("both breaches", || async {
        open_breaches(&t).await.len() == 2
    })
    .await;
    let (_, e) = t
        .get("/v1/exceptions?type=slo_breach&subject=slo:contract_propagation:C-W-A:v1")
        .await;
    let id = e["exceptions"][0]["id"].as_str().unwrap().to_string();
    let (s, body) = t
        .post(
            &format!("/v1/exceptions/{id}/resolve"),
            json!({"action": "acknowledge", "reason": "the ERP team knows"}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    // Many checks later, and past the window: A stays resolved and alerted once.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        open_breaches(&t).await,
        ["slo:contract_propagation:C-W-B:v1"]
    );
    let alerts = sink_events(&t, "slo_breach").await;
    assert_eq!(
        alerts
            .iter()
            .filter(|a| a["payload"]["item"] == "C-W-A:v1")
            .count(),
        1,
        "{alerts:?}"
    );
    // B is done after its window: its breach resolves itself.
    t.sandbox.erp.set_faults(Faults::default());
    let (s, _) = t
        .post(&format!("/v1/deliveries/{dead}/replay"), json!({}))
        .await;
    assert_eq!(s, 202);
    t.wait_status("C-W-B", 1, "active").await;
    t.eventually("B's breach resolves itself", || async {
        open_breaches(&t).await.is_empty()
    })
    .await;
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callers_trace_continues_into_every_delivery() {
    let Some(t) = spawn_hub(Backend::Sqlite, |_| {}).await else {
        return;
    };
    t.seed().await;
    let (s, receipt, _) = t
        .request(
            reqwest::Method::POST,
            "/v1/contracts",
            Some(contract("C-TR-1", 1, &[(ITEM_1, "5.00")], &[])),
            &[("traceparent", CALLER)],
        )
        .await;
    assert_eq!(s, 202, "{receipt}");
    assert_eq!(receipt["correlation_id"], format!("corr_{TRACE}"));
    t.wait_status("C-TR-1", 1, "active").await;
    // Without a trace, the hub's own correlation id is the trace id it sends.
    let (s, own) = t
        .post(
            "/v1/contracts",
            contract("C-TR-2", 1, &[(ITEM_2, "6.00")], &[]),
        )
        .await;
    assert_eq!(s, 202, "{own}");
    t.wait_status("C-TR-2", 1, "active").await;
    let own_trace = own["correlation_id"]
        .as_str()
        .unwrap()
        .strip_prefix("corr_")
        .unwrap()
        .to_string();
    // An invalid traceparent is ignored (the spec's rule): a new transaction, not an error.
    let (s, ignored, _) = t
        .request(
            reqwest::Method::POST,
            "/v1/contracts",
            Some(contract("C-TR-3", 1, &[(ITEM_3, "7.00")], &[])),
            &[("traceparent", "00-not-a-trace-01")],
        )
        .await;
    assert_eq!(s, 202, "{ignored}");
    assert_ne!(ignored["correlation_id"], format!("corr_{TRACE}"));

    let traces: Vec<String> = t
        .sandbox
        .erp
        .calls()
        .into_iter()
        .filter(|c| c.method == "POST")
        .filter_map(|c| c.traceparent)
        .collect();
    let of = |trace: &str| {
        traces
            .iter()
            .filter(|h| h.starts_with(&format!("00-{trace}-")))
            .count()
    };
    assert!(of(TRACE) >= 1, "{traces:?}");
    assert!(of(&own_trace) >= 1, "{traces:?}");
    for header in &traces {
        let parts: Vec<&str> = header.split('-').collect();
        assert_eq!(parts.len(), 4, "{header}");
        assert_ne!(
            parts[2], "00f067aa0ba902b7",
            "the hub's own span, not the caller's"
        );
        assert_eq!(parts[3], "01");
    }
    t.shutdown().await;
}

/// A stand-in OTLP collector: keeps every span posted to `/v1/traces` (JSON encoding).
async fn collector() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    use axum::{Json, Router, extract::State, routing::post};
    let spans: std::sync::Arc<std::sync::Mutex<Vec<Value>>> = Default::default();
    let app = Router::new()
        .route(
            "/v1/traces",
            post(
                |State(spans): State<std::sync::Arc<std::sync::Mutex<Vec<Value>>>>,
                 Json(body): Json<Value>| async move {
                    let mut kept = spans.lock().unwrap();
                    for rs in body["resourceSpans"].as_array().into_iter().flatten() {
                        for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                            kept.extend(ss["spans"].as_array().into_iter().flatten().cloned());
                        }
                    }
                    Json(json!({}))
                },
            ),
        )
        .with_state(spans.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, spans)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_and_exported_spans_name_the_transaction() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let dir = std::env::temp_dir().join(format!("concord-logs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = write_config_file(&sandbox, &dir, |text| text);
    let key = "ck_logs-test-bootstrap-admin-key-0123456789";
    let port = free_port();
    let (otlp, spans) = collector().await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_concord"))
        .args(["serve", "--config"])
        .arg(&config)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir.join("data"))
        .env("CONCORD_LOG", "info")
        .env("CONCORD_LOG_FORMAT", "json")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &otlp)
        .env("CONCORD_BOOTSTRAP_ADMIN_KEY", key)
        .env_remove("CONCORD_STORE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start concord");
    let (lines, received) = std::sync::mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    let url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    wait_ready(&client, &url).await;
    // A contract that fails validation is quarantined, and the hub logs it.
    let response = client
        .post(format!("{url}/v1/contracts"))
        .bearer_auth(key)
        .header("traceparent", CALLER)
        .json(&json!({"id": "C-LOG-1", "version": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);

    let mut seen = Vec::new();
    let mut quarantined = None;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while quarantined.is_none() && std::time::Instant::now() < deadline {
        let Ok(line) = received.recv_timeout(Duration::from_millis(200)) else {
            continue;
        };
        let entry: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("a log line that is not one JSON object ({e}): {line}"));
        assert!(
            entry["timestamp"].is_string() && entry["level"].is_string(),
            "{line}"
        );
        if entry["fields"]["message"] == "inbound message quarantined" {
            quarantined = Some(entry);
        }
        seen.push(line);
    }
    // The spans of the transaction reach the collector under the caller's trace id: the
    // request, the inbound processing and its mapping step, each a child of the one before.
    let mut exported = Vec::new();
    for _ in 0..100 {
        exported = spans
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s["traceId"] == TRACE)
            .cloned()
            .collect();
        if ["inbound", "map"]
            .iter()
            .all(|n| exported.iter().any(|s| s["name"] == *n))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let named = |name: &str| {
        exported
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no {name} span in trace {TRACE}: {exported:#?}"))
            .clone()
    };
    let (inbound, map) = (named("inbound"), named("map"));
    assert_eq!(map["parentSpanId"], inbound["spanId"]);
    assert!(
        inbound["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["key"] == "correlation_id"
                && a["value"]["stringValue"] == format!("corr_{TRACE}")),
        "{inbound}"
    );
    let start: u128 = inbound["startTimeUnixNano"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let end: u128 = inbound["endTimeUnixNano"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(end >= start);
    let entry = quarantined.unwrap_or_else(|| panic!("no quarantine line in {seen:#?}"));
    assert_eq!(
        entry["span"]["correlation_id"],
        format!("corr_{TRACE}"),
        "{entry}"
    );
    assert_eq!(entry["span"]["system"], "api", "{entry}");
    assert_eq!(entry["level"], "WARN");
}

/// The analytics sink's events of one type (it stands in for an alerting webhook).
async fn sink_events(t: &TestHub, event_type: &str) -> Vec<Value> {
    let all = get_json(
        &reqwest::Client::new(),
        t.sandbox.analytics.url("/ingest/events"),
    )
    .await;
    all["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["eventType"] == event_type)
        .cloned()
        .collect()
}

async fn a_missed_objective_opens_an_exception_and_alerts_once(backend: Backend) {
    let Some(t) = spawn_hub(backend, |c| {
        c.hub.slo_check_ms = 100;
        c.delivery.max_attempts = 2;
        c.slo.insert(
            "contract_propagation".into(),
            SloConfig {
                kind: SloKind::ContractPropagation,
                objective: "1s".into(),
                target: 0.99,
                window: "1d".into(),
                exception_kinds: vec![],
            },
        );
    })
    .await
    else {
        return;
    };
    t.seed().await;
    let dead = fail_contract_propagation(&t, "C-SLO-1").await;
    t.eventually("a slo_breach exception", || async {
        let (_, e) = t.get("/v1/exceptions?type=slo_breach").await;
        e["exceptions"].as_array().is_some_and(|a| a.len() == 1)
    })
    .await;
    let (_, e) = t.get("/v1/exceptions?type=slo_breach").await;
    let breach = &e["exceptions"][0];
    assert_eq!(breach["subject"], "slo:contract_propagation:C-SLO-1:v1");
    assert_eq!(breach["detail"]["objective"], "1s");
    t.eventually("the alert reaches the webhook", || async {
        !sink_events(&t, "slo_breach").await.is_empty()
    })
    .await;
    let alert = &sink_events(&t, "slo_breach").await[0];
    assert_eq!(alert["payload"]["slo"], "contract_propagation");
    assert_eq!(alert["payload"]["item"], "C-SLO-1:v1");
    assert_eq!(alert["payload"]["exception_id"], breach["id"]);

    // Burn and items are in /metrics: the one judged version missed, against a 1 % budget.
    let (_, text, _) = t.request(reqwest::Method::GET, "/metrics", None, &[]).await;
    let text = text.as_str().unwrap().to_string();
    assert!(
        text.contains("concord_slo_items{slo=\"contract_propagation\",outcome=\"breaching\"} 1"),
        "{text}"
    );
    let burn: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("concord_slo_burn_rate{slo=\"contract_propagation\"} "))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no burn rate in {text}"));
    assert!((burn - 100.0).abs() < 1e-6, "{burn}");

    // The ERP is back and the dead letter replayed: the version activates, the breach
    // resolves itself, and later checks send no second alert.
    t.sandbox.erp.set_faults(Faults::default());
    let (s, _) = t
        .post(&format!("/v1/deliveries/{dead}/replay"), json!({}))
        .await;
    assert_eq!(s, 202);
    t.wait_status("C-SLO-1", 1, "active").await;
    t.eventually("the breach resolves itself", || async {
        let (_, e) = t.get("/v1/exceptions?type=slo_breach").await;
        e["exceptions"].as_array().is_some_and(|a| a.is_empty())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(sink_events(&t, "slo_breach").await.len(), 1);
    let (_, lineage) = t
        .get(&format!(
            "/v1/transactions/{}",
            breach["correlation_id"].as_str().unwrap()
        ))
        .await;
    assert!(
        lineage["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["step"] == "slo_breached"),
        "{lineage}"
    );
    t.shutdown().await;
}
