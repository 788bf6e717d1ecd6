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
use concord_sandbox::{Sandbox, SandboxConfig};
use concord_store::testing::Backend;
use serde_json::{Value, json};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

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
        .post("/v1/contracts", contract("C-TR-2", 1, &[(ITEM_2, "6.00")], &[]))
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
        assert_ne!(parts[2], "00f067aa0ba902b7", "the hub's own span, not the caller's");
        assert_eq!(parts[3], "01");
    }
    t.shutdown().await;
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_per_line_and_name_the_transaction() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let dir = std::env::temp_dir().join(format!("concord-logs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mappings = demo_dir().join("mappings").canonicalize().unwrap();
    let config = dir.join("concord.toml");
    std::fs::write(
        &config,
        demo_config_text(&sandbox).replace(
            "mapping = \"mappings/",
            &format!("mapping = \"{}/", mappings.display()),
        ),
    )
    .unwrap();
    let key = "ck_logs-test-bootstrap-admin-key-0123456789";
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_concord"))
        .args(["serve", "--config"])
        .arg(&config)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir.join("data"))
        .env("CONCORD_LOG", "info")
        .env("CONCORD_LOG_FORMAT", "json")
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
    let mut ready = false;
    for _ in 0..300 {
        if client
            .get(format!("{url}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "the hub did not become ready");
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
        assert!(entry["timestamp"].is_string() && entry["level"].is_string(), "{line}");
        if entry["fields"]["message"] == "inbound message quarantined" {
            quarantined = Some(entry);
        }
        seen.push(line);
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let entry = quarantined.unwrap_or_else(|| panic!("no quarantine line in {seen:#?}"));
    assert_eq!(entry["span"]["correlation_id"], format!("corr_{TRACE}"), "{entry}");
    assert_eq!(entry["span"]["system"], "api", "{entry}");
    assert_eq!(entry["level"], "WARN");
}
