//! `concord bench scale-out`: the pipeline of `bench pipeline` (POST /v1/contracts → commit →
//! delivery to a loopback sink) through N `concord serve` processes sharing one fresh
//! PostgreSQL database, for each N asked (`--instances 1,2`), and where the CPU went: the hub
//! processes, PostgreSQL's backends, and this process (load generator and sink).

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use serde_json::json;

use super::{Report, Sink};
use crate::seed;

/// The key every instance installs at start-up (a bench-only admin key).
const KEY: &str = "ck_bench-scale-out-admin-key-0123456789abcdef";

/// One `concord serve` child, killed when dropped.
struct Instance {
    child: Child,
    url: String,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU time used so far, in seconds, by the hub processes, by every PostgreSQL process on the
/// machine (the database's backends and its own workers), and by this process.
#[derive(Debug, Clone, Copy, Default)]
struct Cpu {
    hubs: f64,
    postgres: f64,
    harness: f64,
}

/// utime + stime of a process, in clock ticks (`/proc/{pid}/stat` fields 14 and 15).
fn ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: fields count from after it.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

fn clock_ticks_per_sec() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

impl Cpu {
    fn now(hubs: &[Instance], per_sec: f64) -> Cpu {
        let hub_ticks: u64 = hubs
            .iter()
            .filter_map(|h| ticks(&h.child.id().to_string()))
            .sum();
        let mut pg_ticks = 0;
        if let Ok(procs) = std::fs::read_dir("/proc") {
            for entry in procs.flatten() {
                let pid = entry.file_name().to_string_lossy().to_string();
                if pid.bytes().all(|b| b.is_ascii_digit())
                    && std::fs::read_to_string(entry.path().join("comm"))
                        .is_ok_and(|c| c.trim() == "postgres")
                {
                    pg_ticks += ticks(&pid).unwrap_or(0);
                }
            }
        }
        Cpu {
            hubs: hub_ticks as f64 / per_sec,
            postgres: pg_ticks as f64 / per_sec,
            harness: ticks("self").unwrap_or(0) as f64 / per_sec,
        }
    }
}

/// Runs the load once per instance count in `instances`.
pub async fn scale_out(
    server_url: String,
    instances: Vec<usize>,
    messages: usize,
    connections: usize,
    store_connections: u32,
) -> Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "scale-out: {messages} contracts over {connections} connections, PostgreSQL at {server_url}, {cores} cores"
    );
    for n in instances {
        anyhow::ensure!(n >= 1, "--instances takes counts of 1 or more");
        run_once(
            &server_url,
            n,
            messages,
            connections,
            cores,
            store_connections,
        )
        .await?;
    }
    Ok(())
}

async fn run_once(
    server_url: &str,
    n: usize,
    messages: usize,
    connections: usize,
    cores: usize,
    store_connections: u32,
) -> Result<()> {
    let (sink, sink_addr, dir, mapping) = super::start_sink().await?;
    let config = dir.0.join("concord.toml");
    std::fs::write(
        &config,
        format!(
            "[hub]\nstore_connections = {store_connections}\n\
             [api]\nrate_limit_per_principal = 0\nrate_limit_per_system = 0\n\
             [delivery]\nconcurrency = 128\npoll_ms = 20\n\
             [systems.sink]\nrole = \"analytics\"\nbase_url = \"http://{sink_addr}\"\n\
             [systems.sink.outbound.contract]\npath = \"/sink\"\nmapping = \"{}\"\n",
            mapping.display()
        ),
    )?;
    let db = concord_store::testing::TestDatabase::create(server_url)
        .await
        .context("creating the bench database")?;
    let result = async {
        let hubs = start_instances(n, &config, &dir.0, &db.url)?;
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(connections)
            .default_headers(crate::admin::bearer_headers(KEY)?)
            .build()?;
        for hub in &hubs {
            wait_ready(&client, &hub.url).await?;
        }
        seed_master_data(&client, &hubs[0].url).await?;
        // Each instance's index learns the item and facility within a peer sync.
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        let urls: Arc<Vec<String>> = Arc::new(hubs.iter().map(|h| h.url.clone()).collect());
        let per_sec = clock_ticks_per_sec();
        let before = Cpu::now(&hubs, per_sec);
        let sent: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..connections {
            let (client, urls, sent, next) = (client.clone(), urls.clone(), sent.clone(), next.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if k >= messages {
                        return anyhow::Ok(());
                    }
                    let body = json!({"id": format!("S-{k}"), "version": 1, "supplier_id": seed::supplier_id(1), "status": "approved",
                        "effective_date": "2026-01-01", "expiration_date": "2026-12-31",
                        "lines": [{"gtin": seed::item_gtin(0), "uom": "EA", "price_breaks": [{"min_quantity": 1, "unit_price": "1.00"}]}]});
                    let t0 = Instant::now();
                    let url = &urls[k % urls.len()];
                    let r = client.post(format!("{url}/v1/contracts")).json(&body).send().await?;
                    anyhow::ensure!(r.status().as_u16() == 202, "S-{k}: {}", r.text().await?);
                    sent.lock().expect("sent lock").push((format!("concord-sink-contract-S-{k}-v1"), t0));
                }
            }));
        }
        for t in tasks {
            t.await??;
        }
        let deadline = Instant::now() + Duration::from_secs(900);
        while distinct(&sink) < messages {
            anyhow::ensure!(Instant::now() < deadline, "deliveries did not finish");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let elapsed = started.elapsed();
        let after = Cpu::now(&hubs, per_sec);
        let sent: std::collections::HashMap<String, Instant> =
            sent.lock().expect("sent lock").iter().cloned().collect();
        let received = sink.received.lock().expect("sink lock").clone();
        let mut first_seen = std::collections::HashMap::new();
        for (key, at) in &received {
            first_seen.entry(key.clone()).or_insert(*at);
        }
        let latencies_us = first_seen
            .iter()
            .filter_map(|(k, at)| sent.get(k).map(|t0| at.duration_since(*t0).as_micros() as u64))
            .collect();
        Report {
            name: format!(
                "{n} instance(s), {store_connections} store connections each, inbound → delivered"
            ),
            n: messages,
            elapsed,
            latencies_us,
        }
        .print();
        let wall = elapsed.as_secs_f64() * cores as f64;
        let share = |s: f64| 100.0 * s / wall;
        let (hubs_s, pg_s, harness_s) = (
            after.hubs - before.hubs,
            after.postgres - before.postgres,
            after.harness - before.harness,
        );
        println!(
            "  CPU over {:.1} s × {cores} cores: hubs {hubs_s:.1} s ({:.0} %), PostgreSQL {pg_s:.1} s ({:.0} %), load generator and sink {harness_s:.1} s ({:.0} %), idle or elsewhere {:.0} %",
            elapsed.as_secs_f64(),
            share(hubs_s),
            share(pg_s),
            share(harness_s),
            (100.0 - share(hubs_s) - share(pg_s) - share(harness_s)).max(0.0)
        );
        println!(
            "  per message: hubs {:.0} µs, PostgreSQL {:.0} µs of CPU; {} resends reached the sink",
            hubs_s * 1e6 / messages as f64,
            pg_s * 1e6 / messages as f64,
            received.len() - first_seen.len()
        );
        drop(hubs);
        anyhow::Ok(())
    }
    .await;
    db.drop_now().await.context("dropping the bench database")?;
    result
}

/// Keys the sink has seen at least once.
fn distinct(sink: &Sink) -> usize {
    let received = sink.received.lock().expect("sink lock");
    let keys: std::collections::HashSet<&String> = received.iter().map(|(k, _)| k).collect();
    keys.len()
}

fn start_instances(n: usize, config: &Path, dir: &Path, store_url: &str) -> Result<Vec<Instance>> {
    let exe = std::env::current_exe().context("finding this program")?;
    // Instances sharing one host share its cores: each runtime gets its share of them (as a
    // deployment would size them), not a thread per core each.
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let threads = (cores / n).max(1);
    (0..n)
        .map(|i| {
            let port = std::net::TcpListener::bind("127.0.0.1:0")?
                .local_addr()?
                .port();
            let data: PathBuf = dir.join(format!("instance-{i}"));
            let child = Command::new(&exe)
                .args(["serve", "--config"])
                .arg(config)
                .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
                .arg(&data)
                .env("CONCORD_STORE_URL", store_url)
                .env("CONCORD_BOOTSTRAP_ADMIN_KEY", KEY)
                .env("CONCORD_LOG", "error")
                .env("TOKIO_WORKER_THREADS", threads.to_string())
                .stdout(Stdio::null())
                .spawn()
                .context("starting an instance")?;
            Ok(Instance {
                child,
                url: format!("http://127.0.0.1:{port}"),
            })
        })
        .collect()
}

async fn wait_ready(client: &reqwest::Client, url: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if client
            .get(format!("{url}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the instance at {url} did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn seed_master_data(client: &reqwest::Client, url: &str) -> Result<()> {
    let facility = &seed::facilities()[0];
    let supplier = &seed::hub_suppliers()[0];
    let item = &seed::items()[0];
    for (path, body) in [
        (
            format!(
                "/v1/facilities/{}",
                facility["gln"].as_str().unwrap_or_default()
            ),
            facility,
        ),
        (
            format!(
                "/v1/suppliers/{}",
                supplier["id"].as_str().unwrap_or_default()
            ),
            supplier,
        ),
        (
            format!("/v1/items/{}", item["gtin"].as_str().unwrap_or_default()),
            item,
        ),
    ] {
        let r = client.put(format!("{url}{path}")).json(body).send().await?;
        anyhow::ensure!(
            r.status().is_success(),
            "seeding {path}: {}",
            r.text().await?
        );
    }
    Ok(())
}
