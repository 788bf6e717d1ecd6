//! Fault tests (part 7): the hub under load while something breaks, bounded in time and on
//! loopback only. Afterwards every accepted message must be delivered exactly once in effect
//! (the sandbox systems record each idempotency key they applied), each contract's versions
//! must have reached every target in version order, and nothing may be left in flight.
//!
//! - an instance of two is killed with SIGKILL mid-load (PostgreSQL: `CONCORD_TEST_POSTGRES_URL`);
//! - the database is restarted mid-load (a PostgreSQL cluster of the test's own, so the shared
//!   one is never disturbed; needs `initdb` and `pg_ctl`, and `CONCORD_TEST_POSTGRES_URL` set);
//! - the NATS server is restarted mid-load (a `nats-server` of the test's own, with
//!   `CONCORD_TEST_NATS_URL` set);
//! - targets answer 500, answer 429, or hang past the hub's timeout (always runs, on SQLite, and
//!   on PostgreSQL too when it is configured).
//!
//! Each sends messages the way a careful client does: one `Idempotency-Key` per message, and
//! on a refused connection or a 5xx the same message again (to another instance when there
//! are two) until one answers 202.

mod common;

use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use common::*;
use concord_sandbox::{Faults, Sandbox, SandboxConfig};
use concord_store::{
    DeliveryStatus, InboxStatus, Store, StoreOptions,
    testing::{Backend, TestDatabase, postgres_url},
};
use serde_json::{Value, json};

/// The admin key every child hub installs at start-up.
const KEY: &str = "ck_fault-test-bootstrap-admin-key-0123456789";
/// What each test may take at most, once its estate is up.
const DEADLINE: Duration = Duration::from_secs(90);

// ---- the estate ------------------------------------------------------------------------------

/// A `concord serve` child process, killed (SIGKILL) when dropped.
struct Instance {
    child: Option<Child>,
    url: String,
}

impl Instance {
    fn start(config: &Path, data_dir: &Path, store_url: Option<&str>) -> Instance {
        let port = free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_concord"));
        command
            .args(["serve", "--config"])
            .arg(config)
            .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
            .arg(data_dir)
            .env("CONCORD_LOG", "error")
            .env("CONCORD_BOOTSTRAP_ADMIN_KEY", KEY)
            .env_remove("CONCORD_NATS_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        match store_url {
            Some(url) => command.env("CONCORD_STORE_URL", url),
            None => command.env_remove("CONCORD_STORE_URL"),
        };
        Instance {
            child: Some(command.spawn().expect("start concord")),
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}

fn client() -> reqwest::Client {
    let mut auth = reqwest::header::HeaderMap::new();
    auth.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {KEY}").parse().unwrap(),
    );
    reqwest::Client::builder()
        .default_headers(auth)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// The child hubs' admin key, in an in-process test hub too.
async fn install_key(t: &TestHub) {
    t.hub
        .install_bootstrap_key(&concord_model::Secret::new(KEY))
        .await
        .unwrap();
}

/// A folder for one test, removed at the end.
struct Scratch(PathBuf);

impl Scratch {
    fn new(what: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "concord-{what}-{}-{:08x}",
            std::process::id(),
            fastrand::u32(..)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The demo config with short leases and quick retries, so that a dead instance's work is
/// taken up within seconds and a failing target is retried often.
fn fault_config(sandbox: &Sandbox, dir: &Path, extra: impl FnOnce(String) -> String) -> PathBuf {
    write_config_file(sandbox, dir, |text| {
        let text = text
            .replace("max_attempts = 30", "max_attempts = 200")
            .replace("base_backoff_ms = 100", "base_backoff_ms = 20")
            .replace("max_backoff_ms = 2000", "max_backoff_ms = 300")
            .replace("lease_secs = 30", "lease_secs = 3")
            .replace("poll_ms = 100", "poll_ms = 50");
        let text = format!("[hub]\nwork_lease_secs = 3\npeer_sync_ms = 200\n\n{text}");
        extra(text)
    })
}

/// The contract messages of a load: version 1 of `n` contracts and version 2 of every third,
/// each with its own idempotency key. A version 2 is sent only once its version 1 was accepted.
fn load(n: usize) -> Vec<(String, u32)> {
    let mut out: Vec<(String, u32)> = (0..n).map(|k| (format!("F-{k}"), 1)).collect();
    out.extend((0..n).step_by(3).map(|k| (format!("F-{k}"), 2)));
    out
}

fn latest_versions(messages: &[(String, u32)]) -> BTreeMap<String, u32> {
    let mut latest = BTreeMap::new();
    for (id, v) in messages {
        let e = latest.entry(id.clone()).or_insert(*v);
        *e = (*e).max(*v);
    }
    latest
}

/// Sends one message until an instance accepts it (202), trying the instances in turn.
async fn post_until_accepted(client: &reqwest::Client, urls: &[String], id: &str, version: u32) {
    let body = contract(
        id,
        version,
        &[(ITEM_1, &format!("{}.00", 10 - version))],
        &[],
    );
    let key = format!("fault-{id}-v{version}");
    let deadline = Instant::now() + DEADLINE;
    let mut turn = fastrand::usize(..urls.len());
    loop {
        let url = &urls[turn % urls.len()];
        turn += 1;
        match client
            .post(format!("{url}/v1/contracts"))
            .header("Idempotency-Key", &key)
            .json(&body)
            .send()
            .await
        {
            Ok(r) if r.status().as_u16() == 202 => return,
            Ok(r) if r.status().is_server_error() || r.status().as_u16() == 429 => {}
            Ok(r) => panic!(
                "{id} v{version} refused: {} {}",
                r.status(),
                r.text().await.unwrap_or_default()
            ),
            Err(_) => {} // the instance is down, or the answer was lost: send it again
        }
        assert!(
            Instant::now() < deadline,
            "{id} v{version} was never accepted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends the whole load from `concurrency` clients; `during` runs once a third is accepted.
async fn send_load<F, Fut>(urls: Vec<String>, messages: Vec<(String, u32)>, during: F)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let client = client();
    let urls = Arc::new(urls);
    let (firsts, seconds): (Vec<_>, Vec<_>) = messages.into_iter().partition(|(_, v)| *v == 1);
    let total = firsts.len();
    let queue = Arc::new(std::sync::Mutex::new(firsts));
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..8 {
        let (client, urls, queue, accepted) = (
            client.clone(),
            urls.clone(),
            queue.clone(),
            accepted.clone(),
        );
        clients.push(tokio::spawn(async move {
            loop {
                let Some((id, v)) = queue.lock().unwrap().pop() else {
                    return;
                };
                post_until_accepted(&client, &urls, &id, v).await;
                accepted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }));
    }
    while accepted.load(std::sync::atomic::Ordering::SeqCst) < total / 3
        && !clients.iter().all(|c| c.is_finished())
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    during().await;
    for c in clients {
        c.await.unwrap();
    }
    // Versions 2 while versions 1 may still be propagating.
    let mut second = Vec::new();
    for (id, v) in seconds {
        let (client, urls) = (client.clone(), urls.clone());
        second.push(tokio::spawn(async move {
            post_until_accepted(&client, &urls, &id, v).await
        }));
    }
    for s in second {
        s.await.unwrap();
    }
}

/// Waits until every contract's latest version is active, asking any instance that answers.
async fn wait_all_active(urls: &[String], latest: &BTreeMap<String, u32>) {
    let client = client();
    let deadline = Instant::now() + DEADLINE;
    let mut waiting: Vec<(&String, &u32)> = latest.iter().collect();
    while !waiting.is_empty() {
        if Instant::now() >= deadline {
            // What the first one waits for, to tell why.
            let (id, v) = waiting[0];
            let mut seen = Vec::new();
            for url in urls {
                if let Ok(r) = client.get(format!("{url}/v1/contracts/{id}")).send().await {
                    seen.push(r.text().await.unwrap_or_default());
                }
                for q in ["status=pending", "status=in_flight", "status=dead"] {
                    if let Ok(r) = client.get(format!("{url}/v1/deliveries?{q}")).send().await {
                        seen.push(format!("{q}: {}", r.text().await.unwrap_or_default()));
                    }
                }
            }
            panic!(
                "{} contracts not active in time, e.g. {id} v{v}:\n{}",
                waiting.len(),
                seen.join("\n")
            );
        }
        let mut still = Vec::new();
        for (id, v) in waiting {
            let mut active = false;
            for url in urls {
                if let Ok(r) = client.get(format!("{url}/v1/contracts/{id}")).send().await
                    && let Ok(view) = r.json::<Value>().await
                {
                    active = view["active_version"] == json!(v);
                    break;
                }
            }
            if !active {
                still.push((id, v));
            }
        }
        waiting = still;
        if !waiting.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// What must hold afterwards, read from the sandbox and from the store itself.
async fn assert_exactly_once(sandbox: &Sandbox, store: &Store, latest: &BTreeMap<String, u32>) {
    assert_targets_applied_in_order(sandbox, latest);
    // The store: one activation per version, every delivery delivered, every message answered.
    let mut activations: HashMap<(String, u64), usize> = HashMap::new();
    for e in store.events_after(0, 1_000_000).await.unwrap() {
        if e.event.event_type == concord_model::events::CONTRACT_ACTIVATED {
            let version = e.event.data["version"].as_u64().unwrap();
            *activations.entry((e.event.subject, version)).or_default() += 1;
        }
    }
    for ((subject, version), n) in &activations {
        assert_eq!(*n, 1, "{subject} v{version} activated {n} times");
    }
    for (id, v) in latest {
        assert!(
            activations.contains_key(&(format!("contract:{id}"), u64::from(*v))),
            "{id} v{v} has no activation event"
        );
    }
    for status in [
        DeliveryStatus::Pending,
        DeliveryStatus::InFlight,
        DeliveryStatus::Dead,
    ] {
        let left = store
            .list_deliveries(Some(status), None, 100)
            .await
            .unwrap();
        assert!(
            left.is_empty(),
            "deliveries left {}: {:?}",
            status.as_str(),
            left.iter()
                .map(|d| (&d.target, &d.subject, &d.last_error))
                .collect::<Vec<_>>()
        );
    }
    for status in [InboxStatus::Received, InboxStatus::Quarantined] {
        let left = store.list_inbox(status, 100).await.unwrap();
        assert!(
            left.is_empty(),
            "inbound messages left {}: {:?}",
            status.as_str(),
            left.iter()
                .map(|m| (&m.id, &m.dedupe_key, &m.claim, m.received_at, &m.error))
                .collect::<Vec<_>>()
        );
    }
}

/// Waits until nothing is in flight: no delivery pending or in flight (the last deliveries to
/// optional targets may still be on their way when every contract is active), and no message
/// still received (a version 1 that a dead instance stored is taken up when its lease ends,
/// possibly after its version 2 was activated).
async fn wait_settled(store: &Store) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let mut open = 0;
        for status in [DeliveryStatus::Pending, DeliveryStatus::InFlight] {
            open += store
                .list_deliveries(Some(status), None, 10)
                .await
                .map_or(1, |d| d.len());
        }
        open += store
            .list_inbox(InboxStatus::Received, 10)
            .await
            .map_or(1, |m| m.len());
        if open == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "work was still in flight at the deadline"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Targets that take a moment: work is in flight when the fault strikes.
fn slow_targets(sandbox: &Sandbox, latency_ms: u64) {
    for system in [&sandbox.erp, &sandbox.purchasing, &sandbox.analytics] {
        system.set_faults(Faults {
            latency_ms,
            ..Faults::default()
        });
    }
}

// ---- kill -9 of an instance --------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_killed_mid_load_loses_and_duplicates_nothing() {
    let Some(server) = postgres_url() else {
        eprintln!("skipping: CONCORD_TEST_POSTGRES_URL is not set");
        return;
    };
    let db = TestDatabase::create(&server).await.unwrap();
    let scratch = Scratch::new("kill");
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let config = fault_config(&sandbox, &scratch.0, |t| t);
    let mut a = Instance::start(&config, &scratch.0.join("a"), Some(&db.url));
    let b = Instance::start(&config, &scratch.0.join("b"), Some(&db.url));
    let client = client();
    wait_ready(&client, &a.url).await;
    wait_ready(&client, &b.url).await;
    seed_over_http(&client, &sandbox, &a.url).await;
    slow_targets(&sandbox, 15);
    let messages = load(90);
    let latest = latest_versions(&messages);
    let urls = vec![a.url.clone(), b.url.clone()];
    send_load(urls.clone(), messages, || async {
        // Mid-load: instance A dies at once, its leases and locks with it.
        a.kill();
    })
    .await;
    wait_all_active(&urls, &latest).await;
    let store = Store::open(StoreOptions::new(db.url.clone()))
        .await
        .unwrap();
    wait_settled(&store).await;
    assert_exactly_once(&sandbox, &store, &latest).await;
    store.close().await;
    drop(b);
    db.drop_now().await.unwrap();
}

// ---- the database restarted --------------------------------------------------------------------

/// A PostgreSQL cluster of the test's own, on a free port, so that restarting it disturbs
/// nobody else. Stopped and removed when dropped.
struct PrivatePostgres {
    scratch: Scratch,
    bin: PathBuf,
    port: u16,
}

impl PrivatePostgres {
    /// `None` when this machine has no PostgreSQL server binaries.
    fn start() -> Option<PrivatePostgres> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|b| b.join("initdb").is_file() && b.join("pg_ctl").is_file())
            .max()?;
        let scratch = Scratch::new("pg");
        let pg = PrivatePostgres {
            scratch,
            bin,
            port: free_port(),
        };
        if is_root() {
            // PostgreSQL refuses to run as root: the cluster belongs to the postgres user.
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&pg.scratch.0)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "chown of the private cluster's folder failed");
        }
        let data = pg.scratch.0.join("data");
        assert!(pg.run(
            "initdb",
            &[
                "-D",
                &data.display().to_string(),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8"
            ]
        ));
        assert!(pg.pg_ctl("start"), "the private PostgreSQL did not start");
        Some(pg)
    }

    fn run(&self, program: &str, args: &[&str]) -> bool {
        let path = self.bin.join(program);
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        command
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn pg_ctl(&self, action: &str) -> bool {
        let dir = self.scratch.0.display().to_string();
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={dir} -c fsync=off -c max_connections=200",
            self.port
        );
        let mut args = vec!["-D", &dir];
        let data = format!("{dir}/data");
        args[1] = &data;
        let log = format!("{dir}/log");
        args.extend(["-l", &log, "-o", &options, "-w", "-t", "60"]);
        if action == "restart" {
            args.extend(["-m", "fast"]);
        }
        args.push(action);
        self.run("pg_ctl", &args)
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = format!("{}/data", self.scratch.0.display());
        self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_restarted_mid_load_loses_and_duplicates_nothing() {
    if postgres_url().is_none() {
        eprintln!("skipping: CONCORD_TEST_POSTGRES_URL is not set");
        return;
    }
    let Some(pg) = PrivatePostgres::start() else {
        eprintln!("skipping: no PostgreSQL server binaries under /usr/lib/postgresql");
        return;
    };
    let scratch = Scratch::new("dbrestart");
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let config = fault_config(&sandbox, &scratch.0, |t| t);
    let a = Instance::start(&config, &scratch.0.join("a"), Some(&pg.url()));
    let b = Instance::start(&config, &scratch.0.join("b"), Some(&pg.url()));
    let client = client();
    wait_ready(&client, &a.url).await;
    wait_ready(&client, &b.url).await;
    seed_over_http(&client, &sandbox, &a.url).await;
    slow_targets(&sandbox, 10);
    let messages = load(90);
    let latest = latest_versions(&messages);
    let urls = vec![a.url.clone(), b.url.clone()];
    send_load(urls.clone(), messages, || async {
        // Every connection of both instances is cut, mid-transaction for some.
        assert!(
            pg.pg_ctl("restart"),
            "the private PostgreSQL did not restart"
        );
    })
    .await;
    wait_all_active(&urls, &latest).await;
    let store = Store::open(StoreOptions::new(pg.url())).await.unwrap();
    wait_settled(&store).await;
    assert_exactly_once(&sandbox, &store, &latest).await;
    store.close().await;
    drop((a, b));
}

// ---- NATS restarted -----------------------------------------------------------------------------

/// A `nats-server` with JetStream of the test's own, so that restarting it disturbs nobody.
struct PrivateNats {
    child: Option<Child>,
    binary: PathBuf,
    port: u16,
    scratch: Scratch,
}

impl PrivateNats {
    fn start() -> Option<PrivateNats> {
        let binary = [
            "/usr/sbin/nats-server",
            "/usr/bin/nats-server",
            "/usr/local/bin/nats-server",
        ]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())?;
        let mut nats = PrivateNats {
            child: None,
            binary,
            port: free_port(),
            scratch: Scratch::new("nats"),
        };
        nats.spawn();
        Some(nats)
    }

    fn spawn(&mut self) {
        let child = Command::new(&self.binary)
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.scratch.0.join("store"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server outright and starts it again on the same port and store.
    fn restart(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        std::thread::sleep(Duration::from_millis(300));
        self.spawn();
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_restarted_mid_load_loses_and_duplicates_nothing() {
    if std::env::var("CONCORD_TEST_NATS_URL").is_err() {
        eprintln!("skipping: CONCORD_TEST_NATS_URL is not set");
        return;
    }
    let Some(mut nats) = PrivateNats::start() else {
        eprintln!("skipping: no nats-server binary");
        return;
    };
    // The CLM's events come in over a stream; every canonical event goes out to another.
    let sources = format!(
        "[nats]\nurl = \"{}\"\nack_timeout_ms = 1000\n\
         [nats.sources.clm]\nstream = \"CLM\"\nsubjects = [\"clm.>\"]\nsystem = \"clm\"\nmessage_type = \"contract\"\nack_wait_secs = 2\n",
        nats.url()
    );
    let Some(t) = spawn_hub(Backend::Sqlite, |c| {
        let parsed: concord_engine::Config =
            concord_engine::Config::parse_unchecked(&sources, Path::new(".")).unwrap();
        c.nats = parsed.nats;
        c.delivery.max_attempts = 200;
    })
    .await
    else {
        return;
    };
    install_key(&t).await;
    t.seed().await;
    slow_targets(&t.sandbox, 5);
    let js = async_nats::jetstream::new(
        async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .connect(nats.url())
            .await
            .unwrap(),
    );
    t.eventually("the hub made its source stream", || async {
        js.get_stream("CLM").await.is_ok()
    })
    .await;
    let n = 60;
    let publish = |k: usize| {
        let js = js.clone();
        async move {
            let record = clm_record(&format!("N-{k}"), 0, ITEM_1, "3.00");
            let event = json!({"eventId": format!("clm-{k}"), "eventType": "CONTRACT_APPROVED", "contract": record});
            let deadline = Instant::now() + DEADLINE;
            // Until JetStream acknowledges it (the server may be restarting).
            loop {
                let mut headers = async_nats::HeaderMap::new();
                headers.insert("Nats-Msg-Id", format!("clm-{k}").as_str());
                let sent = async {
                    js.publish_with_headers("clm.contracts", headers, event.to_string().into())
                        .await?
                        .await
                        .map_err(async_nats::Error::from)
                };
                match tokio::time::timeout(Duration::from_secs(2), sent).await {
                    Ok(Ok(_)) => return,
                    _ => {
                        assert!(Instant::now() < deadline, "clm-{k} never published");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        }
    };
    for k in 0..n / 2 {
        publish(k).await;
    }
    // Mid-load: the server dies and comes back (JetStream keeps its streams on disk).
    tokio::time::sleep(Duration::from_millis(200)).await;
    nats.restart();
    for k in n / 2..n {
        publish(k).await;
    }
    let latest: BTreeMap<String, u32> = (0..n).map(|k| (format!("N-{k}"), 1)).collect();
    wait_all_active(std::slice::from_ref(&t.url), &latest).await;
    let store = t.hub.store().clone();
    wait_settled(&store).await;
    assert_exactly_once(&t.sandbox, &store, &latest).await;
    // Every event is in the events stream exactly once; the source has nothing left.
    let events = store.events_after(0, 1_000_000).await.unwrap();
    let stream = js.get_stream("CONCORD_EVENTS").await.unwrap();
    let info = stream.get_info().await.unwrap();
    assert_eq!(
        info.state.messages as usize,
        events.len(),
        "one message per event, none twice"
    );
    let consumer: async_nats::jetstream::consumer::PullConsumer = js
        .get_stream("CLM")
        .await
        .unwrap()
        .get_consumer("concord-clm")
        .await
        .unwrap();
    // An acknowledgement lost in the restart comes back as a redelivery, which the inbox
    // recognises and acknowledges.
    t.eventually("every source message acknowledged", || {
        let consumer = consumer.clone();
        async move {
            let info = consumer.get_info().await.unwrap();
            (info.num_pending, info.num_ack_pending) == (0, 0)
        }
    })
    .await;
    let from_clm = store
        .list_inbox(InboxStatus::Processed, 1_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.received_by.as_deref() == Some("nats:clm"))
        .count();
    assert_eq!(from_clm, n, "each CLM event stored once");
    t.shutdown().await;
}

// ---- targets that fail ---------------------------------------------------------------------------

on_both_backends!(failing_targets_500_429_and_hanging_lose_and_duplicate_nothing);

async fn failing_targets_500_429_and_hanging_lose_and_duplicate_nothing(backend: Backend) {
    let Some(t) = spawn_hub(backend, |c| {
        c.delivery.max_attempts = 200;
        c.delivery.lease_secs = 2;
        // The analytics sink will hang longer than this.
        c.systems.get_mut("analytics").unwrap().timeout_ms = 300;
    })
    .await
    else {
        return;
    };
    install_key(&t).await;
    t.seed().await;
    // The ERP fails a third of its calls with 500, purchasing throttles every third call with
    // 429 and Retry-After, and analytics hangs past the hub's timeout until it is healed.
    t.sandbox.erp.set_faults(Faults {
        error_rate: 0.33,
        ..Faults::default()
    });
    t.sandbox.purchasing.set_faults(Faults {
        throttle_every: 3,
        retry_after_secs: 1,
        ..Faults::default()
    });
    t.sandbox.analytics.set_faults(Faults {
        latency_ms: 1_500,
        ..Faults::default()
    });
    let messages = load(45);
    let latest = latest_versions(&messages);
    let urls = vec![t.url.clone()];
    let sandbox = &t.sandbox;
    send_load(urls.clone(), messages, || async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        sandbox.analytics.set_faults(Faults::default());
    })
    .await;
    wait_all_active(&urls, &latest).await;
    let store = t.hub.store().clone();
    wait_settled(&store).await;
    // The faults really happened.
    let statuses = |s: &concord_sandbox::SystemHandle| -> Vec<u16> {
        s.calls().iter().map(|c| c.status).collect()
    };
    assert!(
        statuses(&t.sandbox.erp).contains(&500),
        "the ERP never failed"
    );
    assert!(
        statuses(&t.sandbox.purchasing).contains(&429),
        "purchasing never throttled"
    );
    let timeouts = store
        .list_deliveries(None, Some("analytics"), 1_000)
        .await
        .unwrap()
        .iter()
        .filter(|d| d.attempts > 1)
        .count();
    assert!(
        timeouts > 0,
        "no analytics delivery was retried after hanging"
    );
    assert_exactly_once(&t.sandbox, &store, &latest).await;
    t.shutdown().await;
}
