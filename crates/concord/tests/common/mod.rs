//! Test harness in the zero-to-production style: a real hub (store, workers, HTTP on a random
//! port) next to the real sandbox systems, talked to over HTTP. Each hub gets its own database
//! (SQLite file or PostgreSQL schema).

#![allow(dead_code)]

use std::{path::PathBuf, time::Duration};

use concord_engine::{Config, Hub, governance::NewKey, mapping::MappingRegistry};
use concord_model::access::Role;
use concord_sandbox::{Sandbox, SandboxConfig};
use concord_store::testing::{Backend, TestStore};
use serde_json::{Value, json};

pub const FACILITY_EAST: &str = "0614141000005";
pub const FACILITY_WEST: &str = "0614141000012";
pub const ITEM_1: &str = "00614141000012";
pub const ITEM_2: &str = "00614141000029";
pub const ITEM_3: &str = "00614141000036";
pub const SUPPLIER_TIN: &str = "12-3456789";

pub fn demo_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/demo")
}

/// The demo config for these sandbox systems, with mapping paths resolved from the repository.
pub fn demo_config_text(sandbox: &Sandbox) -> String {
    std::fs::read_to_string(demo_dir().join("concord.toml"))
        .expect("demo config template")
        .replace("@ERP_URL@", &sandbox.erp.base_url)
        .replace("@PURCHASING_URL@", &sandbox.purchasing.base_url)
        .replace("@ANALYTICS_URL@", &sandbox.analytics.base_url)
        .replace("@SUPPLIER_URL@", &sandbox.supplier.base_url)
        .replace("@AP_URL@", &sandbox.ap.base_url)
        .replace("@EDI_SUPPLIER@", "S-1")
}

pub struct TestHub {
    pub url: String,
    pub hub: Hub,
    pub sandbox: Sandbox,
    /// Sent by `client` with every request.
    pub admin_key: String,
    pub client: reqwest::Client,
    store: Option<TestStore>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

/// Starts the sandbox and a hub on `backend`; `None` when that backend is not configured.
pub async fn spawn_hub(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Option<TestHub> {
    let test_store = TestStore::new(backend).await.expect("test store")?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let sandbox = Sandbox::start(SandboxConfig {
        clm_webhook_url: Some(format!("{url}/v1/inbound/clm/contract")),
    })
    .await
    .unwrap();
    let mut config = Config::parse_unchecked(&demo_config_text(&sandbox), &demo_dir()).unwrap();
    // Fast retries so failure paths finish quickly.
    config.delivery.base_backoff_ms = 20;
    config.delivery.max_backoff_ms = 200;
    config.delivery.poll_ms = 50;
    for system in config.systems.values_mut() {
        system.circuit_breaker.open_ms = 200;
    }
    tweak(&mut config);
    // A hub on TLS (the CLM sandbox keeps posting to http://, so its webhook does not reach it).
    let tls = config.api.tls.is_some();
    let url = if tls {
        url.replacen("http://", "https://", 1)
    } else {
        url
    };
    let mappings = MappingRegistry::validate(&config).expect("config and mappings are valid");
    let hub = Hub::with_store(config, mappings, test_store.store.clone())
        .await
        .unwrap();
    let admin_key = make_key(&hub, Role::Admin, None).await;
    sandbox
        .clm_client()
        .set_webhook_key(make_key(&hub, Role::Integration, Some("clm")).await);
    sandbox.supplier_client().set_hub(
        format!("{url}/v1/inbound/medsupply/x12"),
        make_key(&hub, Role::Integration, Some("medsupply")).await,
    );
    sandbox.warehouse_client().set_webhook(
        format!("{url}/v1/inbound/warehouse/goods_receipt"),
        make_key(&hub, Role::Integration, Some("warehouse")).await,
    );
    hub.start_workers();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(concord_api::serve(listener, hub.clone(), async move {
        let _ = rx.await;
    }));
    let mut auth = reqwest::header::HeaderMap::new();
    auth.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {admin_key}").parse().unwrap(),
    );
    Some(TestHub {
        url,
        hub,
        sandbox,
        admin_key,
        client: trusting_client(tls).default_headers(auth).build().unwrap(),
        store: Some(test_store),
        stop: Some(tx),
    })
}

/// A second hub instance beside a test hub: the same config, its own handle on the same
/// store (its own pool, as another process would have), its own workers and port.
pub struct Peer {
    pub url: String,
    pub hub: Hub,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestHub {
    /// Starts another instance on this hub's store (only meaningful on PostgreSQL).
    pub async fn spawn_peer(&self) -> Peer {
        let options = self.store.as_ref().expect("the test store").options();
        let store = concord_store::Store::open(options).await.unwrap();
        let config = self.hub.config().clone();
        let mappings = MappingRegistry::validate(&config).unwrap();
        let hub = Hub::with_store(config, mappings, store).await.unwrap();
        hub.start_workers();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(concord_api::serve(listener, hub.clone(), async move {
            let _ = rx.await;
        }));
        Peer {
            url,
            hub,
            stop: Some(tx),
        }
    }
}

impl Peer {
    pub async fn shutdown(mut self) {
        self.hub.shutdown();
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.hub.store().close().await;
    }
}

/// A test fixture file (`tests/fixtures/…`).
pub fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path)
}

/// A client that trusts the test CA when `tls` (and the platform's roots either way).
pub fn trusting_client(tls: bool) -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder();
    if !tls {
        return builder;
    }
    let pem = std::fs::read(fixture("tls/ca.pem")).unwrap();
    builder.tls_certs_merge(reqwest::Certificate::from_pem_bundle(&pem).unwrap())
}

/// A new API key with `role` (integration keys name their system).
pub async fn make_key(hub: &Hub, role: Role, system: Option<&str>) -> String {
    new_key(hub, role, system, None).await
}

/// A new API key of a person (`user`), who may approve when the role allows.
pub async fn make_user_key(hub: &Hub, role: Role, user: Option<&str>) -> String {
    new_key(hub, role, None, user).await
}

async fn new_key(hub: &Hub, role: Role, system: Option<&str>, user: Option<&str>) -> String {
    hub.create_key(
        NewKey {
            name: format!("test {role} {}", user.unwrap_or("")),
            role,
            system: system.map(str::to_string),
            user: user.map(str::to_string),
            expires_at: None,
        },
        "test",
    )
    .await
    .expect("create key")
    .key
}

impl TestHub {
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let mut request = self.client.request(method, format!("{}{path}", self.url));
        if let Some(body) = body {
            request = request.json(&body);
        }
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
            headers,
        )
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let (s, v, _) = self.request(reqwest::Method::GET, path, None, &[]).await;
        (s, v)
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let (s, v, _) = self
            .request(reqwest::Method::POST, path, Some(body), &[])
            .await;
        (s, v)
    }

    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        let (s, v, _) = self
            .request(reqwest::Method::PUT, path, Some(body), &[])
            .await;
        (s, v)
    }

    /// Two facilities (east and west), supplier S-1, three items of one UNSPSC class, and the
    /// ERP's vendor for S-1.
    pub async fn seed(&self) {
        for (gln, group) in [(FACILITY_EAST, "east"), (FACILITY_WEST, "west")] {
            assert_eq!(
                self.put(
                    &format!("/v1/facilities/{gln}"),
                    json!({"gln": gln, "name": group, "groups": [group]})
                )
                .await
                .0,
                200
            );
        }
        assert_eq!(
            self.put(
                "/v1/suppliers/S-1",
                json!({"id": "S-1", "name": "Acme", "tin": SUPPLIER_TIN})
            )
            .await
            .0,
            200
        );
        for (i, gtin) in [ITEM_1, ITEM_2, ITEM_3].iter().enumerate() {
            let item = json!({"gtin": gtin, "description": format!("item {i}"), "unspsc": "42295105", "uom": "EA",
                "vendor_part": format!("VP-{i}"), "supplier_id": "S-1"});
            assert_eq!(self.put(&format!("/v1/items/{gtin}"), item).await.0, 200);
        }
        let vendor = json!({"vendorNumber": "100042", "vendorName": "ACME", "taxId": SUPPLIER_TIN});
        let r = self
            .client
            .post(self.sandbox.erp.url("/api/vendors"))
            .json(&vendor)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }

    /// Polls until `f` is true or the deadline passes.
    pub async fn eventually<F, Fut>(&self, what: &str, mut f: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while tokio::time::Instant::now() < deadline {
            if f().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("timed out waiting for: {what}");
    }

    pub async fn contract_status(&self, id: &str, version: u64) -> Option<String> {
        let (status, view) = self.get(&format!("/v1/contracts/{id}")).await;
        if status != 200 {
            return None;
        }
        view["versions"]
            .as_array()?
            .iter()
            .find(|v| v["version"] == version)
            .and_then(|v| v["status"].as_str())
            .map(str::to_string)
    }

    pub async fn wait_status(&self, id: &str, version: u64, expected: &str) {
        self.eventually(&format!("{id} v{version} {expected}"), || async {
            self.contract_status(id, version).await.as_deref() == Some(expected)
        })
        .await;
    }

    /// Every text value in the hub's store (see `TestStore::every_text`).
    pub async fn every_text(&self) -> String {
        self.store
            .as_ref()
            .expect("the test store")
            .every_text()
            .await
            .unwrap()
    }

    pub async fn shutdown(mut self) {
        self.hub.shutdown();
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Some(ts) = self.store.take() {
            ts.cleanup().await;
        }
    }
}

/// GETs a URL (the hub or a sandbox system) and parses the JSON answer.
pub async fn get_json(client: &reqwest::Client, url: impl reqwest::IntoUrl) -> Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

/// A canonical contract for S-1.
pub fn contract(id: &str, version: u32, lines: &[(&str, &str)], groups: &[&str]) -> Value {
    json!({
        "id": id, "version": version, "supplier_id": "S-1", "status": "approved",
        "effective_date": "2026-01-01", "expiration_date": "2026-12-31",
        "eligibility": {"facilities": [], "groups": groups},
        "lines": lines.iter().map(|(gtin, price)| json!({"gtin": gtin, "uom": "EA", "price_breaks": [
            {"min_quantity": 1, "unit_price": price}, {"min_quantity": 100, "unit_price": "1.00"}]})).collect::<Vec<_>>()
    })
}

/// A contract of S-1 in force for years, so the decision (priced today) does not depend on the date.
pub fn long_contract(id: &str, gtin: &str, price: &str, group: &str) -> Value {
    json!({
        "id": id, "version": 1, "supplier_id": "S-1", "status": "approved",
        "effective_date": "2020-01-01", "expiration_date": "2099-12-31",
        "eligibility": {"facilities": [], "groups": [group]},
        "lines": [{"gtin": gtin, "uom": "EA", "price_breaks": [{"min_quantity": 1, "unit_price": price}]}]
    })
}

pub fn requisition(id: &str, lines: &[(&str, u32, &str)]) -> Value {
    json!({
        "id": id, "requester": "u-17", "facility": FACILITY_EAST, "cost_center": "CC-100",
        "lines": lines.iter().map(|(gtin, q, price)| json!({"gtin": gtin, "quantity": q, "uom": "EA", "unit_price": price})).collect::<Vec<_>>()
    })
}

/// POSTs as the holder of `key`.
pub async fn post_as(t: &TestHub, key: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}{path}", t.url))
        .bearer_auth(key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The CLM's native record for a contract of S-1's CLM vendor id.
pub fn clm_record(number: &str, amendment: u32, gtin: &str, price: &str) -> Value {
    json!({
        "contractNumber": number, "amendmentNo": amendment,
        "counterparty": {"clmVendorId": "V-0042", "legalName": "Acme", "taxId": SUPPLIER_TIN},
        "term": {"start": "2026-01-01", "end": "2026-12-31"},
        "coverage": {"facilityGlns": [], "facilityGroups": ["east"]},
        "pricing": [{"itemGtin": gtin, "vendorPartNo": null, "unit": "EA", "tiers": [{"fromQty": 1, "price": price}]}]
    })
}

/// Declares each test once per backend.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name(concord_store::testing::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name(concord_store::testing::Backend::Postgres).await })*
        }
    };
}

/// A free port on loopback, released for a child process (a hub, chromedriver) to take.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The demo config for `sandbox` written into `dir` for a child `concord serve`: mapping paths
/// made absolute, then `edit` applied to the text. Returns the file's path.
pub fn write_config_file(
    sandbox: &Sandbox,
    dir: &std::path::Path,
    edit: impl FnOnce(String) -> String,
) -> PathBuf {
    let mappings = demo_dir().join("mappings").canonicalize().unwrap();
    let text = demo_config_text(sandbox).replace(
        "mapping = \"mappings/",
        &format!("mapping = \"{}/", mappings.display()),
    );
    let path = dir.join("concord.toml");
    std::fs::write(&path, edit(text)).unwrap();
    path
}

/// Waits (30 s at most) until the hub at `url` answers `/readyz` with 2xx.
pub async fn wait_ready(client: &reqwest::Client, url: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        if client
            .get(format!("{url}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("hub at {url} did not become ready");
}

/// A contract whose propagation failed: with the ERP down and two attempts allowed, its ERP
/// delivery is dead-lettered and a `contract_propagation_failed` exception is open. Returns the
/// dead delivery's id. The ERP stays down; the caller brings it back.
pub async fn fail_contract_propagation(t: &TestHub, id: &str) -> String {
    t.sandbox.erp.set_faults(concord_sandbox::Faults {
        outage: true,
        ..concord_sandbox::Faults::default()
    });
    let (status, body) = t
        .post("/v1/contracts", contract(id, 1, &[(ITEM_2, "5.00")], &[]))
        .await;
    assert_eq!(status, 202, "{body}");
    let mut dead = String::new();
    for _ in 0..200 {
        let (_, d) = t.get("/v1/deliveries?status=dead").await;
        if let Some(found) = d["deliveries"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|d| d["subject"] == format!("contract:{id}"))
        {
            dead = found["id"].as_str().unwrap().to_string();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !dead.is_empty(),
        "the ERP delivery of {id} was not dead-lettered"
    );
    dead
}

/// What the sandbox's targets applied must show: no idempotency key applied twice, and each
/// contract of `latest` (id → its latest version) applied in version order, ending on the
/// latest, at every target.
#[allow(dead_code)] // not every test binary that shares this module checks targets
pub fn assert_targets_applied_in_order(
    sandbox: &Sandbox,
    latest: &std::collections::BTreeMap<String, u32>,
) {
    assert_no_key_applied_twice(sandbox);
    for system in [&sandbox.erp, &sandbox.purchasing, &sandbox.analytics] {
        let mut seen: std::collections::HashMap<String, Vec<u32>> = Default::default();
        for effect in system.effects() {
            let Some(key) = effect.idempotency_key else {
                continue;
            };
            let Some((_, rest)) = key.split_once("-contract-") else {
                continue;
            };
            let (id, version) = rest.rsplit_once("-v").unwrap();
            seen.entry(id.to_string())
                .or_default()
                .push(version.parse().unwrap());
        }
        for (id, v) in latest {
            let versions = seen.get(id).cloned().unwrap_or_default();
            assert_eq!(
                versions.last(),
                Some(v),
                "{}: {id} got {versions:?}",
                system.name
            );
            let mut in_order = versions.clone();
            in_order.sort_unstable();
            in_order.dedup();
            assert_eq!(
                versions, in_order,
                "{}: {id}'s versions arrived out of order or twice",
                system.name
            );
        }
    }
}

/// No target of the sandbox applied an idempotency key twice.
#[allow(dead_code)] // not every test binary that shares this module checks targets
pub fn assert_no_key_applied_twice(sandbox: &Sandbox) {
    for system in [&sandbox.erp, &sandbox.purchasing, &sandbox.analytics] {
        assert!(
            system.duplicate_effects().is_empty(),
            "{} applied a key twice: {:?}",
            system.name,
            system.duplicate_effects()
        );
    }
}

/// Master data every contract needs (a facility, supplier S-1 and item 1, and the supplier
/// in the ERP), put through the API of the hub at `url`: for hubs run as child processes.
#[allow(dead_code)] // not every test binary that shares this module runs child hubs
pub async fn seed_over_http(client: &reqwest::Client, sandbox: &Sandbox, url: &str) {
    let put = |path: String, body: serde_json::Value| {
        let client = client.clone();
        let url = url.to_string();
        async move {
            let r = client
                .put(format!("{url}{path}"))
                .json(&body)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{path}: {}", r.status());
        }
    };
    put(
        format!("/v1/facilities/{FACILITY_EAST}"),
        json!({"gln": FACILITY_EAST, "name": "East", "groups": ["east"]}),
    )
    .await;
    put(
        "/v1/suppliers/S-1".into(),
        json!({"id": "S-1", "name": "Acme", "tin": SUPPLIER_TIN}),
    )
    .await;
    put(
        format!("/v1/items/{ITEM_1}"),
        json!({"gtin": ITEM_1, "description": "x", "unspsc": "42295105", "uom": "EA"}),
    )
    .await;
    client
        .post(sandbox.erp.url("/api/vendors"))
        .json(&json!({"vendorNumber": "100042", "vendorName": "ACME", "taxId": SUPPLIER_TIN}))
        .send()
        .await
        .unwrap();
}
