//! Crash safety: the hub runs as a child process and is killed with SIGKILL while it is
//! propagating many contracts. After a restart on the same store every delivery completes and
//! no target applied anything twice (the sandbox records every idempotency key it applied).

mod common;

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use common::*;
use concord_sandbox::{Faults, Sandbox, SandboxConfig};
use serde_json::json;

const N_CONTRACTS: usize = 40;

/// The admin key the child hub installs at start-up, as a fresh install would.
const BOOTSTRAP_KEY: &str = "ck_crash-test-bootstrap-admin-key-0123456789";

fn start_hub(config: &std::path::Path, data_dir: &std::path::Path, port: u16) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_concord"));
    command
        .args(["serve", "--config"])
        .arg(config)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data_dir)
        .env("CONCORD_LOG", "warn")
        .env("CONCORD_BOOTSTRAP_ADMIN_KEY", BOOTSTRAP_KEY)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    // The crash test always uses the embedded store: it is about the process, not the backend.
    command.env_remove("CONCORD_STORE_URL");
    command.spawn().expect("start concord")
}

fn contract_key_effects(system: &concord_sandbox::SystemHandle) -> usize {
    system
        .effects()
        .iter()
        .filter(|e| {
            e.idempotency_key
                .as_deref()
                .is_some_and(|k| k.contains("-contract-"))
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_propagation_loses_and_duplicates_nothing() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let dir = std::env::temp_dir().join(format!("concord-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = write_config_file(&sandbox, &dir, |text| {
        text.replace("lease_secs = 30", "lease_secs = 2")
    });
    let data_dir = dir.join("data");

    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut auth = reqwest::header::HeaderMap::new();
    auth.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {BOOTSTRAP_KEY}").parse().unwrap(),
    );
    let client = reqwest::Client::builder()
        .default_headers(auth)
        .build()
        .unwrap();
    let mut child = start_hub(&config, &data_dir, port);
    wait_ready(&client, &url).await;

    // Master data, then slow targets so that the kill lands mid-propagation.
    seed_over_http(&client, &sandbox, &url).await;
    for system in [&sandbox.erp, &sandbox.purchasing, &sandbox.analytics] {
        system.set_faults(Faults {
            latency_ms: 60,
            ..Faults::default()
        });
    }
    for k in 0..N_CONTRACTS {
        let r = client
            .post(format!("{url}/v1/contracts"))
            .json(&contract(&format!("K-{k}"), 1, &[(ITEM_1, "2.00")], &[]))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
    }

    // Kill once some, but not all, deliveries have reached the ERP.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let n = contract_key_effects(&sandbox.erp);
        if n >= 5 {
            assert!(
                n < N_CONTRACTS,
                "propagation finished before the kill; slow the targets down"
            );
            break;
        }
        assert!(Instant::now() < deadline, "no delivery reached the ERP");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().expect("SIGKILL the hub");
    child.wait().unwrap();
    let at_kill = contract_key_effects(&sandbox.erp);

    // Restart on the same store: leased work is reclaimed, nothing is sent twice in effect.
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut child = start_hub(&config, &data_dir, port);
    wait_ready(&client, &url).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut n_active = 0;
        for k in 0..N_CONTRACTS {
            let view: serde_json::Value =
                get_json(&client, format!("{url}/v1/contracts/K-{k}")).await;
            if view["active_version"] == 1 {
                n_active += 1;
            }
        }
        if n_active == N_CONTRACTS {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {n_active}/{N_CONTRACTS} contracts active after restart"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let dead: serde_json::Value =
        get_json(&client, format!("{url}/v1/deliveries?status=dead")).await;
    assert_eq!(
        dead["deliveries"],
        json!([]),
        "every delivery must complete, none dead-lettered"
    );
    let pending: serde_json::Value =
        get_json(&client, format!("{url}/v1/deliveries?status=pending")).await;
    assert_eq!(pending["deliveries"], json!([]), "nothing left pending");
    child.kill().unwrap();
    child.wait().unwrap();

    assert!(at_kill < N_CONTRACTS);
    assert_no_key_applied_twice(&sandbox);
    for system in [&sandbox.erp, &sandbox.purchasing, &sandbox.analytics] {
        assert_eq!(
            contract_key_effects(system),
            N_CONTRACTS,
            "{} must have every contract exactly once",
            system.name
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
