//! `concord demo`: the hub on SQLite next to the sandbox systems, a seeded health system, and the
//! contract-to-catalog scenario — including an ERP outage that heals — told as it happens.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use concord_engine::{Config, Hub, governance::NewKey};
use concord_model::access::Role;
use concord_sandbox::{Sandbox, SandboxConfig};
use futures::{StreamExt, stream};
use serde_json::{Value, json};

use crate::seed;

/// The demo's mapping files, shipped inside the binary and written next to the demo config.
const MAPPINGS: &[(&str, &str)] = &[
    (
        "vendor_portal/supplier_onboarding.in.jq",
        include_str!("../../../examples/demo/mappings/vendor_portal/supplier_onboarding.in.jq"),
    ),
    (
        "ap/supplier.out.jq",
        include_str!("../../../examples/demo/mappings/ap/supplier.out.jq"),
    ),
    (
        "erp/supplier.out.jq",
        include_str!("../../../examples/demo/mappings/erp/supplier.out.jq"),
    ),
    (
        "erp/supplier_payment.out.jq",
        include_str!("../../../examples/demo/mappings/erp/supplier_payment.out.jq"),
    ),
    (
        "erp/cost_allocation.out.jq",
        include_str!("../../../examples/demo/mappings/erp/cost_allocation.out.jq"),
    ),
    (
        "erp/item.out.jq",
        include_str!("../../../examples/demo/mappings/erp/item.out.jq"),
    ),
    (
        "erp/supplier.view.jq",
        include_str!("../../../examples/demo/mappings/erp/supplier.view.jq"),
    ),
    (
        "erp/item.view.jq",
        include_str!("../../../examples/demo/mappings/erp/item.view.jq"),
    ),
    (
        "purchasing/supplier.out.jq",
        include_str!("../../../examples/demo/mappings/purchasing/supplier.out.jq"),
    ),
    (
        "clm/contract.in.jq",
        include_str!("../../../examples/demo/mappings/clm/contract.in.jq"),
    ),
    (
        "erp/contract.out.jq",
        include_str!("../../../examples/demo/mappings/erp/contract.out.jq"),
    ),
    (
        "erp/supplier.lookup.jq",
        include_str!("../../../examples/demo/mappings/erp/supplier.lookup.jq"),
    ),
    (
        "purchasing/contract.out.jq",
        include_str!("../../../examples/demo/mappings/purchasing/contract.out.jq"),
    ),
    (
        "purchasing/requisition.in.jq",
        include_str!("../../../examples/demo/mappings/purchasing/requisition.in.jq"),
    ),
    (
        "analytics/contract.out.jq",
        include_str!("../../../examples/demo/mappings/analytics/contract.out.jq"),
    ),
    (
        "analytics/slo_breach.out.jq",
        include_str!("../../../examples/demo/mappings/analytics/slo_breach.out.jq"),
    ),
    (
        "erp/purchase_order.out.jq",
        include_str!("../../../examples/demo/mappings/erp/purchase_order.out.jq"),
    ),
    (
        "erp/purchase_order_change.out.jq",
        include_str!("../../../examples/demo/mappings/erp/purchase_order_change.out.jq"),
    ),
    (
        "erp/payment_release.out.jq",
        include_str!("../../../examples/demo/mappings/erp/payment_release.out.jq"),
    ),
    (
        "warehouse/goods_receipt.in.jq",
        include_str!("../../../examples/demo/mappings/warehouse/goods_receipt.in.jq"),
    ),
];

/// How long `--once` waits for every contract to become active.
const SCENARIO_DEADLINE: Duration = Duration::from_secs(90);
/// How long the ERP is down during the scenario.
const ERP_OUTAGE: Duration = Duration::from_secs(4);

/// The demo's config template; `@ERP_URL@` and friends are the sandbox systems' addresses.
pub const CONFIG_TEMPLATE: &str = include_str!("../../../examples/demo/concord.toml");

fn config_text(sandbox: &Sandbox) -> String {
    CONFIG_TEMPLATE
        .replace("@ERP_URL@", &sandbox.erp.base_url)
        .replace("@PURCHASING_URL@", &sandbox.purchasing.base_url)
        .replace("@ANALYTICS_URL@", &sandbox.analytics.base_url)
        .replace("@SUPPLIER_URL@", &sandbox.supplier.base_url)
        .replace("@AP_URL@", &sandbox.ap.base_url)
        .replace("@EDI_SUPPLIER@", &seed::supplier_id(1))
}

fn write_config(dir: &Path, sandbox: &Sandbox) -> Result<PathBuf> {
    for (name, text) in MAPPINGS {
        let path = dir.join("mappings").join(name);
        std::fs::create_dir_all(path.parent().expect("mapping paths have folders"))?;
        std::fs::write(&path, text)?;
    }
    let path = dir.join("concord.toml");
    std::fs::write(&path, config_text(sandbox))?;
    Ok(path)
}

/// Sends one request; a 429 is waited out as its `Retry-After` says, like a good client.
pub(crate) async fn send(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: &Value,
) -> Result<Value> {
    for _ in 0..10 {
        let response = client
            .request(method.clone(), &url)
            .json(body)
            .send()
            .await
            .with_context(|| format!("calling {url}"))?;
        let status = response.status();
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            let wait = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(1);
            tokio::time::sleep(Duration::from_secs(wait)).await;
            continue;
        }
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!("{url} answered {status}: {text}");
        }
        return Ok(serde_json::from_str(&text).unwrap_or(Value::Null));
    }
    bail!("{url} kept answering 429 Too Many Requests")
}

/// Runs many requests, 16 at a time.
pub(crate) async fn send_all(
    client: &reqwest::Client,
    requests: Vec<(reqwest::Method, String, Value)>,
) -> Result<Vec<Value>> {
    stream::iter(requests)
        .map(|(method, url, body)| async move { send(client, method, url, &body).await })
        .buffered(16)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

pub(crate) struct DemoKeys {
    admin: String,
    auditor: String,
    clm: String,
    /// The supplier sandbox's key for `/v1/inbound/medsupply/x12`.
    supplier: String,
    /// The warehouse sandbox's key for its goods receipts.
    warehouse: String,
    /// The vendor portal's key for its registrations.
    portal: String,
}

/// A key the demo makes (for a system, or a person), its secret returned.
pub(crate) async fn demo_key(
    hub: &Hub,
    name: &str,
    role: Role,
    system: Option<&str>,
    user: Option<&str>,
) -> Result<String> {
    let new = NewKey {
        name: name.into(),
        role,
        system: system.map(str::to_string),
        user: user.map(str::to_string),
        expires_at: None,
    };
    hub.create_key(new, "demo")
        .await
        .map(|k| k.key)
        .map_err(|e| anyhow::anyhow!("creating the {name} key: {e}"))
}

/// The keys the demo uses: an admin for its own calls, an auditor to show, and those the CLM,
/// supplier and warehouse sandboxes present.
async fn demo_keys(hub: &Hub) -> Result<DemoKeys> {
    Ok(DemoKeys {
        admin: demo_key(hub, "demo admin", Role::Admin, None, None).await?,
        auditor: demo_key(hub, "demo auditor", Role::Auditor, None, None).await?,
        clm: demo_key(hub, "clm webhook", Role::Integration, Some("clm"), None).await?,
        supplier: demo_key(
            hub,
            "supplier EDI",
            Role::Integration,
            Some("medsupply"),
            None,
        )
        .await?,
        warehouse: demo_key(
            hub,
            "warehouse receipts",
            Role::Integration,
            Some("warehouse"),
            None,
        )
        .await?,
        portal: demo_key(
            hub,
            "vendor portal registrations",
            Role::Integration,
            Some("vendor_portal"),
            None,
        )
        .await?,
    })
}

/// The demo's estate: the sandbox systems, the hub on their config (SQLite in `dir`) with its
/// API on `listen`, and the keys the sandbox systems present. `concord demo` tells a story on
/// it; `concord bench po-cycle` loads it.
pub(crate) struct Estate {
    pub hub: Hub,
    pub sandbox: Sandbox,
    pub hub_url: String,
    pub config_path: PathBuf,
    pub keys: DemoKeys,
    /// A client that sends the admin key.
    pub client: reqwest::Client,
    workers: concord_engine::Workers,
    server: tokio::task::JoinHandle<Result<(), concord_api::ServeError>>,
    /// Where the hub takes HL7 v2 over MLLP, when `[clinical] mllp_listen` is set.
    pub mllp: Option<SocketAddr>,
    stop_tx: tokio::sync::oneshot::Sender<()>,
}

impl Estate {
    /// Starts the sandbox and the hub; `tune` may change the config before the hub opens
    /// (the benchmark lifts the demo's rate limits).
    pub async fn start(
        listen: SocketAddr,
        dir: &Path,
        tune: impl FnOnce(&mut Config),
    ) -> Result<Estate> {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {listen} (is another hub running? try --listen 127.0.0.1:0)"
                )
            })?;
        let addr = listener.local_addr()?;
        let hub_url = format!("http://{addr}");
        let sandbox = Sandbox::start(SandboxConfig {
            clm_webhook_url: Some(format!("{hub_url}/v1/inbound/clm/contract")),
        })
        .await
        .context("starting the sandbox systems")?;
        let config_path = write_config(dir, &sandbox)?;
        let mut config = Config::load(&config_path)?;
        config.hub.data_dir = dir.to_path_buf();
        config.hub.listen = addr;
        config.hub.store_url = None;
        tune(&mut config);
        let hub = Hub::open(config).await?;
        let keys = demo_keys(&hub).await?;
        sandbox.clm_client().set_webhook_key(keys.clm.clone());
        sandbox.supplier_client().set_hub(
            format!("{hub_url}/v1/inbound/medsupply/x12"),
            keys.supplier.clone(),
        );
        sandbox.warehouse_client().set_webhook(
            format!("{hub_url}/v1/inbound/warehouse/goods_receipt"),
            keys.warehouse.clone(),
        );
        sandbox.portal_client().set_webhook(
            format!("{hub_url}/v1/inbound/vendor_portal/supplier_onboarding"),
            keys.portal.clone(),
        );
        let workers = hub.start_workers();
        let mllp = concord_engine::mllp::start(&hub).await?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(concord_api::serve(listener, hub.clone(), async move {
            let _ = stop_rx.await;
        }));
        let client = reqwest::Client::builder()
            .default_headers(crate::admin::bearer_headers(&keys.admin)?)
            .build()?;
        Ok(Estate {
            hub,
            sandbox,
            hub_url,
            mllp,
            config_path,
            keys,
            client,
            workers,
            server,
            stop_tx,
        })
    }

    /// Master data: facilities, suppliers and items through the hub's canonical API, and the
    /// ERP's own vendor table.
    pub async fn seed_master_data(&self) -> Result<()> {
        let (put, post) = (reqwest::Method::PUT, reqwest::Method::POST);
        let hub_url = &self.hub_url;
        let mut requests = Vec::new();
        let master = [
            ("facilities", seed::facilities(), "gln"),
            ("suppliers", seed::hub_suppliers(), "id"),
            ("items", seed::items(), "gtin"),
        ];
        for (path, records, key) in master {
            for record in records {
                let id = record[key].as_str().unwrap_or_default();
                let url = format!("{hub_url}/v1/{path}/{id}");
                requests.push((put.clone(), url, record));
            }
        }
        for v in seed::erp_vendors() {
            requests.push((
                post.clone(),
                format!("{}/api/vendors", self.sandbox.erp.base_url),
                v,
            ));
        }
        // The ERP's item master, and which ERP vendor is which supplier (the ERP-only vendors
        // are nobody's yet: reconciliation reports them as extra).
        for (gtin, material) in seed::erp_materials() {
            requests.push((
                put.clone(),
                format!("{}/api/materials/{gtin}", self.sandbox.erp.base_url),
                material,
            ));
        }
        for s in (1..=seed::N_SUPPLIERS).filter(|s| !seed::ERP_ONLY_SUPPLIERS.contains(s)) {
            requests.push((
                put.clone(),
                format!(
                    "{hub_url}/v1/crosswalks/erp/supplier/{}",
                    seed::vendor_number(s)
                ),
                json!({"canonical_id": seed::supplier_id(s)}),
            ));
        }
        send_all(&self.client, requests)
            .await
            .context("seeding master data")?;
        Ok(())
    }

    /// Stores every contract (and, with `amendments`, the amendments) in the CLM, without
    /// approving them; returns the approval requests in the order the demo sends them.
    pub async fn store_contracts_in_clm(
        &self,
        amendments: bool,
    ) -> Result<Vec<(reqwest::Method, String, Value)>> {
        let post = reqwest::Method::POST;
        let clm = &self.sandbox.clm.base_url;
        let mut records = Vec::new();
        let mut approvals = Vec::new();
        for k in 0..seed::N_CONTRACTS {
            records.push((
                post.clone(),
                format!("{clm}/api/contracts"),
                seed::clm_contract(k, 0),
            ));
            let id = seed::contract_id(k);
            let url = format!("{clm}/api/contracts/{id}/amendments/0/approve");
            approvals.push((post.clone(), url, Value::Null));
        }
        if amendments {
            for k in 0..seed::N_AMENDED {
                records.push((
                    post.clone(),
                    format!("{clm}/api/contracts"),
                    seed::clm_contract(k, 1),
                ));
            }
        }
        send_all(&self.client, records)
            .await
            .context("storing contracts in the CLM")?;
        Ok(approvals)
    }

    /// Waits until every seeded contract's latest version (amendment 1 for the amended ones,
    /// when `amended`) is active; false when `deadline` passes first.
    pub async fn wait_active(&self, amended: bool, deadline: Duration) -> bool {
        let expected = |k: usize| if amended && k < seed::N_AMENDED { 2 } else { 1 };
        let until = Instant::now() + deadline;
        loop {
            let all = {
                let prices = self.hub.prices();
                (0..seed::N_CONTRACTS)
                    .all(|k| prices.active_version(&seed::contract_id(k)) == Some(expected(k)))
            };
            if all {
                return true;
            }
            if Instant::now() > until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the API server and the workers after the work in hand.
    pub async fn shutdown(self) {
        self.hub.shutdown();
        let _ = self.stop_tx.send(());
        let _ = self.server.await;
        for handle in self.workers.handles {
            let _ = handle.await;
        }
    }
}

pub async fn run(
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    mllp: Option<SocketAddr>,
    nats_url: Option<String>,
    once: bool,
) -> Result<()> {
    let started = Instant::now();
    let data_dir = data_dir.unwrap_or_else(|| PathBuf::from("./concord-data"));
    let dir = data_dir.join("demo");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("cannot clear the previous demo in {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;

    let listen = listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
    let mllp = mllp.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
    let nats_url = nats_url.or_else(|| {
        std::env::var("CONCORD_NATS_URL")
            .ok()
            .filter(|u| !u.is_empty())
    });
    let estate = Estate::start(listen, &dir, |c| {
        c.clinical.mllp_listen = Some(mllp);
        if let Some(url) = &nats_url {
            c.set_nats_url(url.clone());
        }
    })
    .await?;
    let (hub, sandbox, hub_url, keys) =
        (&estate.hub, &estate.sandbox, &estate.hub_url, &estate.keys);

    println!("Concord demo");
    println!(
        "  hub        {hub_url}  (store: SQLite in {})",
        dir.display()
    );
    for s in sandbox.systems() {
        println!("  {:<10} {}", s.name, s.base_url);
    }
    if let Some(mllp) = estate.mllp {
        println!("  mllp       {mllp}  (HL7 v2 in)");
    }
    println!("  config     {}", estate.config_path.display());
    println!("\nAPI keys made for this demo (shown once; only their hashes are stored):");
    println!("  admin                 {}", keys.admin);
    println!("  auditor               {}", keys.auditor);
    println!(
        "  integration (clm)     {}  (the CLM sandbox sends it)",
        keys.clm
    );

    let client = &estate.client;
    let put = reqwest::Method::PUT;
    let post = reqwest::Method::POST;

    estate.seed_master_data().await?;
    println!(
        "\nseeded {} hospitals in 2 groups, {} suppliers ({} known only to the ERP), {} items",
        seed::N_FACILITIES,
        seed::N_SUPPLIERS,
        seed::ERP_ONLY_SUPPLIERS.count(),
        seed::N_ITEMS
    );

    // The ERP goes down; the CLM approves every contract meanwhile.
    send(
        client,
        put.clone(),
        format!("{}/_sandbox/faults", sandbox.erp.base_url),
        &json!({"outage": true, "outage_for_ms": ERP_OUTAGE.as_millis() as u64}),
    )
    .await?;
    println!("ERP outage injected for {} s", ERP_OUTAGE.as_secs());
    let approvals = estate.store_contracts_in_clm(true).await?;
    let mut answers = Vec::new();
    for (method, url, body) in approvals {
        // Approval makes the CLM call the hub's webhook; its answer carries the hub's receipt.
        answers.push(
            send(client, method, url, &body)
                .await
                .context("approving a contract in the CLM")?,
        );
    }
    for k in 0..seed::N_AMENDED {
        let url = format!(
            "{}/api/contracts/{}/amendments/1/approve",
            sandbox.clm.base_url,
            seed::contract_id(k)
        );
        answers.push(send(client, post.clone(), url, &Value::Null).await?);
    }
    let quarantined: Vec<String> = answers
        .iter()
        .filter(|a| a["webhookStatus"].as_u64().is_some_and(|s| s >= 400))
        .filter_map(|a| a["webhookBody"]["receipt_id"].as_str().map(str::to_string))
        .collect();
    println!(
        "CLM approved {} contracts and {} amendments; hub accepted {}, quarantined {} (supplier lookup in the ERP failed during the outage)",
        seed::N_CONTRACTS,
        seed::N_AMENDED,
        answers.len() - quarantined.len(),
        quarantined.len()
    );

    // Once the ERP is back, the quarantined messages are replayed: the fix-and-replay path.
    tokio::time::sleep(ERP_OUTAGE + Duration::from_millis(500)).await;
    let mut replayed_ok = 0;
    for id in &quarantined {
        let answer = client
            .post(format!("{hub_url}/v1/quarantine/{id}/replay"))
            .send()
            .await?;
        if answer.status().is_success() {
            replayed_ok += 1;
        }
    }
    if !quarantined.is_empty() {
        println!(
            "ERP healed; replayed {replayed_ok}/{} quarantined messages",
            quarantined.len()
        );
    }

    // Wait until every contract's latest version is active.
    let all_active = estate.wait_active(true, SCENARIO_DEADLINE).await;
    report(hub, sandbox, &answers, all_active, started.elapsed()).await?;

    // Requisitions from the purchasing suite, decided against the contracts now active.
    let requisitions = crate::demo_requisitions::run(hub, sandbox, client, hub_url).await?;
    println!(
        "\nRequisitions to payment (purchasing webhook → policy → approvals → ERP PO → X12 with the supplier → warehouse receipt → three-way match → payment):"
    );
    for line in &requisitions.lines {
        println!("{line}");
    }
    // New suppliers, payment details and the item master (part 5).
    let suppliers = crate::demo_suppliers::run(hub, sandbox, client, hub_url, &dir).await?;
    println!(
        "\nSupplier onboarding, payment details and reconciliation (vendor portal → screening → workbench → approval → ERP → purchasing and AP):"
    );
    for line in &suppliers.lines {
        println!("{line}");
    }
    // Clinical usage to replenishment and cost (part 6).
    sandbox
        .ehr_client()
        .set_mllp(estate.mllp.map(|a| a.to_string()).unwrap_or_default());
    let clinical = crate::demo_clinical::run(hub, sandbox, client, hub_url).await?;
    println!(
        "\nClinical usage (EHR → MLLP → redacted store → stock → replenishment and bill-only orders → ERP cost postings):"
    );
    for line in &clinical.lines {
        println!("{line}");
    }
    // Counted last, over every sandbox system, so the purchase orders' traffic counts too.
    let duplicates = duplicate_effects(sandbox);
    println!("\nduplicate effects at targets: {}", duplicates.len());
    println!(
        "\nThe operations console: {hub_url}/console (sign in with the admin or auditor key above)"
    );
    println!("\nTry (every /v1 route needs a key):");
    println!("      export KEY={}", keys.admin);
    println!(
        "      curl -H \"Authorization: Bearer $KEY\" '{hub_url}/v1/prices?item={}&facility={}&quantity=120'",
        seed::item_gtin(0),
        seed::facility_gln(0)
    );
    println!(
        "      curl -H \"Authorization: Bearer $KEY\" {hub_url}/v1/contracts/{}",
        seed::contract_id(0)
    );
    println!("      curl -H \"Authorization: Bearer $KEY\" {hub_url}/v1/requisitions/REQ-DEMO-3");
    println!(
        "      curl -H \"Authorization: Bearer $KEY\" {hub_url}/v1/purchase-orders/PO-REQ-DEMO-3-1"
    );
    println!(
        "      curl -H \"Authorization: Bearer $KEY\" '{hub_url}/v1/exceptions?status=resolved'"
    );
    println!(
        "      curl -H \"Authorization: Bearer $KEY\" {hub_url}/v1/supplier-onboardings/S-P-2002"
    );
    println!("      curl -H \"Authorization: Bearer $KEY\" {hub_url}/v1/reconciliations");
    println!(
        "      curl -H \"Authorization: Bearer {}\" '{hub_url}/v1/audit?action=contract.activated&limit=3'",
        keys.auditor
    );

    if !once {
        println!("\nServing until Ctrl-C.");
        crate::shutdown_signal().await;
    }
    estate.shutdown().await;
    if once && !all_active {
        bail!(
            "not every contract became active within {} s",
            SCENARIO_DEADLINE.as_secs()
        );
    }
    if once && !requisitions.as_expected {
        bail!("a requisition or its purchase order did not go as the scenario expects (see above)");
    }
    if once && !suppliers.as_expected {
        bail!(
            "supplier onboarding, the bank change or reconciliation did not go as the scenario expects (see above)"
        );
    }
    if once && !clinical.as_expected {
        bail!("the clinical usage did not go as the scenario expects (see above)");
    }
    if once && !duplicates.is_empty() {
        bail!("a sandbox system applied a request twice: {duplicates:?}");
    }
    Ok(())
}

/// Idempotency keys any sandbox system applied more than once. Must stay empty.
pub(crate) fn duplicate_effects(sandbox: &Sandbox) -> Vec<String> {
    sandbox
        .systems()
        .iter()
        .flat_map(|s| s.duplicate_effects())
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn report(
    hub: &Hub,
    sandbox: &Sandbox,
    answers: &[Value],
    all_active: bool,
    elapsed: Duration,
) -> Result<()> {
    let store = hub.store();
    let mut latencies = Vec::new();
    for answer in answers {
        let Some(correlation) = answer["webhookBody"]["correlation_id"].as_str() else {
            continue;
        };
        let timeline = store.timeline(correlation).await?;
        let committed = timeline
            .iter()
            .find(|e| e.step == "committed")
            .map(|e| e.at);
        let activated = timeline
            .iter()
            .find(|e| e.step == "activated")
            .map(|e| e.at);
        if let (Some(c), Some(a)) = (committed, activated) {
            latencies.push((a - c).num_milliseconds() as f64);
        }
    }
    latencies.sort_by(|a, b| a.total_cmp(b));
    println!("\nWhat happened ({:.1} s):", elapsed.as_secs_f64());
    println!(
        "  contracts active (latest version): {}",
        if all_active { "all 100" } else { "NOT ALL" }
    );
    for (status, n) in store.contract_status_counts().await? {
        println!("  contract versions {status:<11} {n}");
    }
    for (status, n) in store.delivery_counts().await? {
        println!("  deliveries {status:<18} {n}");
    }
    println!(
        "  commit → active latency: p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms (over {} versions)",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.95),
        percentile(&latencies, 1.0),
        latencies.len()
    );
    let erp_calls = sandbox.erp.calls();
    let refused = erp_calls.iter().filter(|c| c.status >= 500).count();
    println!(
        "  ERP calls {} ({} refused during the outage)",
        erp_calls.len(),
        refused
    );
    let open = store.exceptions("open", 1000).await?;
    let resolved = store.exceptions("resolved", 1000).await?;
    println!(
        "  exceptions open {}, resolved {}",
        open.len(),
        resolved.len()
    );
    for e in open.iter().take(5) {
        println!("    - {} {}: {}", e.kind, e.subject, e.detail);
    }
    Ok(())
}
