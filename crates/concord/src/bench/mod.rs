//! `concord bench`: the load harness behind BENCHMARKS.md. Everything runs in this process on
//! loopback — the hub on a fresh SQLite store, the load generator, and (for the pipeline) a sink
//! that acknowledges deliveries — so the figures include the client's own CPU use.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use axum::{Router, extract::State, http::HeaderMap, routing::post};
use concord_engine::{API_SYSTEM, Config, Hub, Inbound, MasterRecord};
use concord_model::access::Role;
use serde_json::json;

use crate::seed;

mod console;
pub mod import;
pub mod mllp;
mod po_cycle;
mod scale_out;
pub use console::console;
pub use po_cycle::po_cycle;
pub use scale_out::scale_out;

pub struct Report {
    pub name: String,
    pub n: usize,
    pub elapsed: Duration,
    pub latencies_us: Vec<u64>,
}

impl Report {
    pub(crate) fn print(mut self) {
        self.latencies_us.sort_unstable();
        let p = |q: f64| {
            self.latencies_us
                .get(((self.latencies_us.len() as f64 - 1.0) * q).round() as usize)
                .copied()
                .unwrap_or(0) as f64
                / 1000.0
        };
        println!(
            "{}: {} in {:.2} s = {:.0}/s; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            self.name,
            self.n,
            self.elapsed.as_secs_f64(),
            self.n as f64 / self.elapsed.as_secs_f64(),
            p(0.5),
            p(0.99),
            p(1.0)
        );
    }
}

/// A hub on a fresh store with API limits off (the harness measures throughput, not limits),
/// and an admin key for its requests to carry (authentication stays on).
async fn start_hub(config: Config) -> Result<(Hub, String, tempdir::Dir, String)> {
    let dir = tempdir::Dir::new()?;
    let mut config = config;
    config.hub.data_dir = dir.0.clone();
    config.api.rate_limit_per_principal = 0;
    config.api.rate_limit_per_system = 0;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let hub = Hub::open(config).await?;
    hub.start_workers();
    tokio::spawn(concord_api::serve(
        listener,
        hub.clone(),
        std::future::pending(),
    ));
    let key = crate::demo::demo_key(&hub, "bench", Role::Admin, None, None).await?;
    Ok((hub, url, dir, key))
}

pub(crate) mod tempdir {
    /// A folder removed when the benchmark ends, unless `CONCORD_BENCH_KEEP_DATA` is set (to
    /// look at what a run wrote: the store's tables, `dbstat`).
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        pub fn new() -> std::io::Result<Dir> {
            let path = std::env::temp_dir().join(format!(
                "concord-bench-{}-{}",
                std::process::id(),
                fastrand::u64(..)
            ));
            std::fs::create_dir_all(&path)?;
            Ok(Dir(path))
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            if std::env::var_os("CONCORD_BENCH_KEEP_DATA").is_some() {
                eprintln!("kept {}", self.0.display());
                return;
            }
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Price lookups over HTTP against `n_contracts` active contracts.
pub async fn prices(n_contracts: usize, duration: Duration, concurrency: usize) -> Result<()> {
    let (hub, url, _dir, auth) = start_hub(Config::default()).await?;
    for f in seed::facilities() {
        hub.upsert_master(MasterRecord::parse("facility", &f)?, vec![], "bench")
            .await?;
    }
    for s in seed::hub_suppliers() {
        hub.upsert_master(MasterRecord::parse("supplier", &s)?, vec![], "bench")
            .await?;
    }
    for i in seed::items() {
        hub.upsert_master(MasterRecord::parse("item", &i)?, vec![], "bench")
            .await?;
    }
    let started = Instant::now();
    for k in 0..n_contracts {
        let s = k % 45 + 1;
        let lines: Vec<_> = (0..5)
            .map(|j| {
                let item = (k * 7 + j * 13) % seed::N_ITEMS;
                json!({"gtin": seed::item_gtin(item), "uom": "EA", "price_breaks": [
                    {"min_quantity": 1, "unit_price": format!("{}.{:02}", 5 + (k + j) % 90, (k * j) % 100)},
                    {"min_quantity": 100, "unit_price": "4.00"}]})
            })
            .collect();
        let groups = match k % 3 {
            0 => json!([]),
            1 => json!(["east"]),
            _ => json!(["west"]),
        };
        let body = json!({"id": format!("B-{k}"), "version": 1, "supplier_id": seed::supplier_id(s), "status": "approved",
            "effective_date": "2026-01-01", "expiration_date": "2027-12-31", "eligibility": {"groups": groups}, "lines": lines});
        let answer = hub
            .receive(Inbound {
                system: API_SYSTEM.into(),
                message_type: "contract".into(),
                idempotency_key: None,
                correlation_id: None,
                content_type: "application/json".into(),
                body: body.to_string().into_bytes(),
                actor: Some("bench".into()),
            })
            .await?;
        anyhow::ensure!(
            answer.status == 202,
            "seeding contract {k} failed: {}",
            answer.body
        );
    }
    println!(
        "seeded {} active contracts in {:.1} s",
        hub.prices().n_active_contracts(),
        started.elapsed().as_secs_f64()
    );
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .default_headers(crate::admin::bearer_headers(&auth)?)
        .build()?;
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let client = client.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut i = worker;
            while Instant::now() < deadline {
                i = i.wrapping_mul(31).wrapping_add(7);
                let q = format!(
                    "{url}/v1/prices?item={}&facility={}&quantity={}&date=2026-06-01",
                    seed::item_gtin(i % seed::N_ITEMS),
                    seed::facility_gln(i % seed::N_FACILITIES),
                    1 + i % 150
                );
                let t0 = Instant::now();
                let r = client.get(q).send().await.expect("lookup");
                assert!(r.status().is_success());
                let _ = r.bytes().await;
                latencies.push(t0.elapsed().as_micros() as u64);
            }
            latencies
        }));
    }
    let mut latencies_us = Vec::new();
    for t in tasks {
        latencies_us.extend(t.await?);
    }
    Report {
        name: format!("price lookup ({n_contracts} contracts, {concurrency} connections)"),
        n: latencies_us.len(),
        elapsed: started.elapsed(),
        latencies_us,
    }
    .print();
    Ok(())
}

/// A loopback target that acknowledges every delivery and notes its key and arrival.
#[derive(Clone, Default)]
pub(crate) struct Sink {
    pub(crate) received: Arc<Mutex<Vec<(String, Instant)>>>,
}

/// A loopback sink on a free port, and a folder holding the identity mapping (`.contract`)
/// that a `[systems.sink]` route names: what the pipeline and scale-out benches deliver to.
pub(crate) async fn start_sink() -> Result<(Sink, SocketAddr, tempdir::Dir, std::path::PathBuf)> {
    let sink = Sink::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let sink_addr = listener.local_addr()?;
    tokio::spawn(
        axum::serve(
            listener,
            Router::new()
                .route("/sink", post(sink_accept))
                .with_state(sink.clone()),
        )
        .into_future(),
    );
    let dir = tempdir::Dir::new()?;
    let mapping = dir.0.join("identity.jq");
    std::fs::write(&mapping, ".contract")?;
    Ok((sink, sink_addr, dir, mapping))
}

pub(crate) async fn sink_accept(State(sink): State<Sink>, headers: HeaderMap) -> &'static str {
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    sink.received
        .lock()
        .expect("sink lock")
        .push((key, Instant::now()));
    "ok"
}

/// Inbound → committed → delivered to a loopback sink: `n` contracts, either as fast as possible
/// (`rate == 0`) or at `rate` per second.
///
/// The load generator and the sink run on a runtime of their own (threads named
/// `bench-harness`), so that the CPU each thread used tells the hub's share from the harness's.
pub async fn pipeline(n: usize, rate: u32, concurrency: usize) -> Result<()> {
    let harness = Harness(Some(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("bench-harness")
            .enable_all()
            .build()?,
    ));
    let (sink, sink_addr, dir, mapping) = harness.spawn(start_sink()).await??;
    let text = format!(
        "[delivery]\nconcurrency = 256\npoll_ms = 20\n[systems.sink]\nrole = \"analytics\"\nbase_url = \"http://{sink_addr}\"\n[systems.sink.outbound.contract]\npath = \"/sink\"\nmapping = \"{}\"\n",
        mapping.display()
    );
    let config = Config::parse_unchecked(&text, &dir.0).map_err(anyhow::Error::msg)?;
    let (hub, url, _hub_dir, auth) = start_hub(config).await?;
    hub.upsert_master(
        MasterRecord::parse("facility", &seed::facilities()[0])?,
        vec![],
        "bench",
    )
    .await?;
    hub.upsert_master(
        MasterRecord::parse("supplier", &seed::hub_suppliers()[0])?,
        vec![],
        "bench",
    )
    .await?;
    hub.upsert_master(
        MasterRecord::parse("item", &seed::items()[0])?,
        vec![],
        "bench",
    )
    .await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .default_headers(crate::admin::bearer_headers(&auth)?)
        .build()?;
    let sent: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let cpu_before = ThreadCpu::now();
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, url, sent, next) = (client.clone(), url.clone(), sent.clone(), next.clone());
        tasks.push(harness.spawn(async move {
            loop {
                let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if k >= n {
                    break;
                }
                if rate > 0 {
                    let due = started + Duration::from_secs_f64(k as f64 / f64::from(rate));
                    tokio::time::sleep_until(due.into()).await;
                }
                let body = json!({"id": format!("P-{k}"), "version": 1, "supplier_id": seed::supplier_id(1), "status": "approved",
                    "effective_date": "2026-01-01", "expiration_date": "2026-12-31",
                    "lines": [{"gtin": seed::item_gtin(0), "uom": "EA", "price_breaks": [{"min_quantity": 1, "unit_price": "1.00"}]}]});
                let t0 = Instant::now();
                let r = client.post(format!("{url}/v1/contracts")).json(&body).send().await.expect("send");
                assert_eq!(r.status().as_u16(), 202);
                sent.lock().expect("sent lock").push((format!("concord-sink-contract-P-{k}-v1"), t0));
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    // When the last message was accepted: set against the end, it tells whether intake or
    // delivery is the slower half.
    let accepted = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(600);
    while sink.received.lock().expect("sink lock").len() < n {
        anyhow::ensure!(Instant::now() < deadline, "deliveries did not finish");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    let cpu = ThreadCpu::now().since(&cpu_before);
    let sent: std::collections::HashMap<String, Instant> =
        sent.lock().expect("sent lock").iter().cloned().collect();
    let latencies_us = sink
        .received
        .lock()
        .expect("sink lock")
        .iter()
        .filter_map(|(k, at)| {
            sent.get(k)
                .map(|t0| at.duration_since(*t0).as_micros() as u64)
        })
        .collect();
    let name = if rate == 0 {
        format!("inbound → delivered, max rate ({concurrency} connections)")
    } else {
        format!("inbound → delivered at {rate}/s")
    };
    Report {
        name,
        n,
        elapsed,
        latencies_us,
    }
    .print();
    println!(
        "  all {n} accepted after {:.2} s ({:.0}/s), all delivered after {:.2} s",
        accepted.as_secs_f64(),
        n as f64 / accepted.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    if let Some(s) = hub.store().sqlite_stats() {
        let groups = s.groups.max(1) as f64;
        println!(
            "  SQLite thread: {} transactions, {:.1} units each, {:.2} ms each, busy {:.0} % of the run; {} queries on the readers",
            s.groups,
            s.units as f64 / groups,
            s.busy.as_secs_f64() * 1000.0 / groups,
            100.0 * s.busy.as_secs_f64() / elapsed.as_secs_f64(),
            s.reads
        );
    }
    print_cpu_per_message(&cpu, n, elapsed);
    let _ = hub
        .store()
        .delivery_counts()
        .await
        .context("reading delivery counts")?;
    Ok(())
}

/// The harness's runtime, shut down without waiting when the bench ends, however it ends: a
/// runtime dropped inside async code panics, which would hide the error that ended the bench.
struct Harness(Option<tokio::runtime::Runtime>);

impl std::ops::Deref for Harness {
    type Target = tokio::runtime::Runtime;
    fn deref(&self) -> &tokio::runtime::Runtime {
        self.0.as_ref().expect("present until dropped")
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// CPU time (in seconds) each of this process's threads has used, from its `schedstat`
/// (nanoseconds), with its name: the difference of two readings, summed by name, tells the
/// hub's runtime, its SQLite threads and the bench harness apart. A thread that ends between
/// the two readings takes its time with it; the bench's threads all outlive the run.
struct ThreadCpu(std::collections::BTreeMap<String, (String, f64)>);

impl ThreadCpu {
    fn now() -> ThreadCpu {
        let mut by_tid = std::collections::BTreeMap::new();
        for task in std::fs::read_dir("/proc/self/task")
            .into_iter()
            .flatten()
            .flatten()
        {
            let read = |file: &str| std::fs::read_to_string(task.path().join(file)).ok();
            let (Some(name), Some(ns)) = (
                read("comm"),
                read("schedstat").and_then(|s| s.split(' ').next()?.parse::<u64>().ok()),
            ) else {
                continue;
            };
            by_tid.insert(
                task.file_name().to_string_lossy().to_string(),
                (name.trim().to_string(), ns as f64 / 1e9),
            );
        }
        ThreadCpu(by_tid)
    }

    /// The time used since `before`, by thread name.
    fn since(&self, before: &ThreadCpu) -> std::collections::BTreeMap<String, f64> {
        let mut by_name = std::collections::BTreeMap::new();
        for (tid, (name, seconds)) in &self.0 {
            let earlier = before.0.get(tid).map_or(0.0, |(_, s)| *s);
            *by_name.entry(name.clone()).or_insert(0.0) += seconds - earlier;
        }
        by_name
    }
}

/// One line: µs of CPU per message for each group of threads, and the cores in use.
fn print_cpu_per_message(
    by_name: &std::collections::BTreeMap<String, f64>,
    n: usize,
    elapsed: Duration,
) {
    let total: f64 = by_name.values().sum();
    let parts: Vec<String> = by_name
        .iter()
        .map(|(name, s)| format!("{name} {:.0}", s * 1e6 / n as f64))
        .collect();
    println!(
        "  CPU per message (µs, by thread): {}; in all {:.0} µs, {:.2} cores busy",
        parts.join(", "),
        total * 1e6 / n as f64,
        total / elapsed.as_secs_f64()
    );
}

/// The cost the door adds to a request: checking a key (SHA-256 of the token, the cache
/// lookup) and the scope decision, measured per call over `iterations` calls.
pub async fn auth(iterations: usize) -> Result<()> {
    let (hub, url, _dir, token) = start_hub(Config::default()).await?;
    let access = concord_model::access::Access::Scope(concord_model::access::Scope::PricesRead);
    hub.authenticate(&token).await.map_err(anyhow::Error::msg)?;
    let mut nanos = Vec::with_capacity(iterations);
    let started = Instant::now();
    for _ in 0..iterations {
        let t0 = Instant::now();
        let principal = hub.authenticate(&token).await.map_err(anyhow::Error::msg)?;
        concord_model::access::authorize(&principal, access, None)?;
        nanos.push(t0.elapsed().as_nanos() as u64);
    }
    let elapsed = started.elapsed();
    nanos.sort_unstable();
    let p = |q: f64| nanos[((nanos.len() - 1) as f64 * q) as usize] as f64 / 1000.0;
    println!(
        "authenticate + authorize: {iterations} calls in {:.2} s; per call p50 {:.2} µs, p99 {:.2} µs, max {:.2} µs",
        elapsed.as_secs_f64(),
        p(0.5),
        p(0.99),
        p(1.0)
    );
    // Over loopback, one request at a time on a kept-alive connection: an open route against a
    // route behind the gate whose handler does next to nothing (an unknown item is refused
    // after its check digit is read). The difference bounds what the gate adds per request.
    let client = reqwest::Client::new();
    let item = "00614141999996";
    let facility = "0614141000005";
    let gated = format!("{url}/v1/prices?item={item}&facility={facility}");
    let open = format!("{url}/healthz");
    let median = |client: &reqwest::Client, target: String, bearer: Option<String>| {
        let client = client.clone();
        async move {
            let mut micros = Vec::with_capacity(iterations.min(20_000));
            for _ in 0..iterations.min(20_000) {
                let mut request = client.get(&target);
                if let Some(token) = &bearer {
                    request = request.bearer_auth(token);
                }
                let t0 = Instant::now();
                request.send().await?.bytes().await?;
                micros.push(t0.elapsed().as_micros() as u64);
            }
            micros.sort_unstable();
            anyhow::Ok(micros[micros.len() / 2])
        }
    };
    median(&client, open.clone(), None).await?; // warm the connection and caches
    let open_p50 = median(&client, open, None).await?;
    let gated_p50 = median(&client, gated, Some(token)).await?;
    println!(
        "loopback, sequential: GET /healthz (open) p50 {open_p50} µs; GET /v1/prices with a key \
         p50 {gated_p50} µs; the gate plus the lookup add {} µs",
        gated_p50.saturating_sub(open_p50)
    );
    Ok(())
}
