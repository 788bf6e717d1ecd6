//! Simulated versions of the systems Concord connects, served over real HTTP on loopback, for
//! the demo and the end-to-end tests.
//!
//! Each system speaks its own native JSON, deliberately unlike the hub's canonical model, so
//! the hub's mappings are exercised for real:
//!
//! - [`erp`]: vendor master and price agreements (`/api/...`).
//! - [`purchasing`]: the purchasing suite's catalog (`/catalog/v2/contracts/...`).
//! - [`clm`]: contract lifecycle management; approving an amendment POSTs a
//!   `CONTRACT_APPROVED` event to the hub's webhook.
//! - [`analytics`]: an event sink (`/ingest/events`).
//! - [`supplier`]: an EDI trading partner: takes 850s over HTTP and answers with 997, 855, 856
//!   and 810 (by rules: backorders, rejections, price changes, overbilling).
//! - [`warehouse`]: posts goods receipts (its own JSON) to the hub when shipments arrive.
//! - [`portal`]: the vendor portal; suppliers register and it posts each registration to the
//!   hub's webhook.
//! - [`ap`]: accounts payable's payees.
//! - [`ehr`]: the EHR; charges surgical cases (supplies, implants with UDIs) as DFT^P03 over
//!   MLLP.
//!
//! # What the sandbox proves
//!
//! Every business write honours an `Idempotency-Key` header: the first request with a key is
//! applied and its answer stored; a repeat gets the stored answer (with
//! `Idempotent-Replayed: true`) and applies nothing; a key reused for a *different* request is
//! refused with 422. Each applied write is logged as an [`Effect`], and
//! [`SystemHandle::duplicate_effects`] lists keys applied more than once, which must stay empty.
//! Only writes that applied something are stored, so a write refused with 4xx (or failed by an
//! injected fault) can be retried with the same key once the cause is fixed.
//!
//! # Faults and inspection
//!
//! Every system serves the same admin routes, which are neither faulted nor logged:
//! `GET /_sandbox/calls`, `GET /_sandbox/effects`, `GET /_sandbox/duplicates`,
//! `GET|PUT /_sandbox/faults` (a [`Faults`] document; missing fields take their defaults).
//! The same is available in-process on each [`SystemHandle`].
//!
//! # Driving the CLM in-process
//!
//! [`Sandbox::clm_client`] returns a [`ClmClient`] sharing the CLM's state: `put_contract`,
//! `approve` and `set_webhook_url` (the hub's port may be known only after the sandbox
//! started). [`Sandbox`] has the same three methods as shortcuts.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use concord_sandbox::{Sandbox, SandboxConfig};
//!
//! let sandbox = Sandbox::start(SandboxConfig::default()).await?;
//! sandbox.set_webhook_url("http://127.0.0.1:8080/inbound/clm".to_owned());
//! sandbox.put_contract(serde_json::json!({"contractNumber": "C-100", "amendmentNo": 0})).await?;
//! let _outcome = sandbox.approve("C-100", 0).await?;
//! assert!(sandbox.erp.duplicate_effects().is_empty());
//! # Ok(()) }
//! ```
//!
//! The servers run in tokio tasks until the runtime shuts down; dropping the [`Sandbox`] does
//! not stop them.

pub mod analytics;
pub mod ap;
pub mod clm;
mod common;
pub mod ehr;
pub mod erp;
pub mod portal;
pub mod purchasing;
pub mod supplier;
pub mod warehouse;
mod wire;

use std::{io, sync::Arc};

use axum::Router;
use serde_json::Value;
use tokio::net::TcpListener;

pub use clm::{ApprovalEvent, ClmClient, WebhookOutcome};
pub use common::{Effect, Faults, IDEMPOTENCY_KEY, RecordedCall};
pub use ehr::EhrClient;
pub use portal::PortalClient;
pub use supplier::{SupplierClient, SupplierRules};
pub use warehouse::WarehouseClient;

use common::SystemState;

/// How to start the sandbox.
#[derive(Debug, Clone, Default)]
pub struct SandboxConfig {
    /// Where the CLM posts approved contracts: the hub's inbound URL. Can also be set after
    /// start, with [`Sandbox::set_webhook_url`].
    pub clm_webhook_url: Option<String>,
}

/// The running systems.
#[derive(Debug)]
pub struct Sandbox {
    pub erp: SystemHandle,
    pub purchasing: SystemHandle,
    pub clm: SystemHandle,
    pub analytics: SystemHandle,
    /// The EDI supplier; its 850 endpoint is `supplier.url("/edi/x12")`.
    pub supplier: SystemHandle,
    pub warehouse: SystemHandle,
    /// The vendor portal (a source: it posts registrations to the hub).
    pub portal: SystemHandle,
    /// Accounts payable.
    pub ap: SystemHandle,
    /// The EHR (a source: it sends DFT^P03 over MLLP).
    pub ehr: SystemHandle,
    clm_client: ClmClient,
    portal_client: PortalClient,
    supplier_client: SupplierClient,
    warehouse_client: WarehouseClient,
    ehr_client: EhrClient,
}

impl Sandbox {
    /// Binds each system on `127.0.0.1:0` (its own port each) and serves it in a tokio task.
    pub async fn start(config: SandboxConfig) -> io::Result<Sandbox> {
        let erp = SystemState::new("erp");
        let purchasing = SystemState::new("purchasing");
        let analytics = SystemState::new("analytics");
        let clm_client = ClmClient::new(SystemState::new("clm"), config.clm_webhook_url);
        let warehouse_client = WarehouseClient::new(SystemState::new("warehouse"));
        let portal_client = PortalClient::new(SystemState::new("portal"));
        let ap = SystemState::new("ap");
        let ehr_client = EhrClient::new(SystemState::new("ehr"));
        let supplier_client =
            SupplierClient::new(SystemState::new("supplier"), warehouse_client.clone());
        Ok(Sandbox {
            erp: serve(erp.clone(), erp::router(erp)).await?,
            purchasing: serve(purchasing.clone(), purchasing::router(purchasing)).await?,
            clm: serve(clm_client.common().clone(), clm::router(clm_client.clone())).await?,
            analytics: serve(analytics.clone(), analytics::router(analytics)).await?,
            supplier: serve(
                supplier_client.common().clone(),
                supplier::router(supplier_client.clone()),
            )
            .await?,
            warehouse: serve(
                warehouse_client.common().clone(),
                warehouse::router(warehouse_client.clone()),
            )
            .await?,
            portal: serve(
                portal_client.common().clone(),
                portal::router(portal_client.clone()),
            )
            .await?,
            ap: serve(ap.clone(), ap::router(ap)).await?,
            ehr: serve(ehr_client.common().clone(), ehr::router(ehr_client.clone())).await?,
            clm_client,
            portal_client,
            supplier_client,
            warehouse_client,
            ehr_client,
        })
    }

    /// Every system, for checks that apply to all of them.
    pub fn systems(&self) -> [&SystemHandle; 9] {
        [
            &self.erp,
            &self.purchasing,
            &self.clm,
            &self.analytics,
            &self.supplier,
            &self.warehouse,
            &self.portal,
            &self.ap,
            &self.ehr,
        ]
    }

    /// Drives the vendor portal in-process (where it posts, what it posted).
    pub fn portal_client(&self) -> PortalClient {
        self.portal_client.clone()
    }

    /// Drives the EDI supplier in-process (where it posts, its rules, its log).
    pub fn supplier_client(&self) -> SupplierClient {
        self.supplier_client.clone()
    }

    /// Drives the EHR in-process (where it sends, what it sent and the ACKs).
    pub fn ehr_client(&self) -> EhrClient {
        self.ehr_client.clone()
    }

    /// Drives the warehouse in-process (where it posts, what it received).
    pub fn warehouse_client(&self) -> WarehouseClient {
        self.warehouse_client.clone()
    }

    /// Drives the CLM in-process; shares its state with the CLM's HTTP routes.
    pub fn clm_client(&self) -> ClmClient {
        self.clm_client.clone()
    }

    /// Shortcut for [`ClmClient::set_webhook_url`].
    pub fn set_webhook_url(&self, url: String) {
        self.clm_client.set_webhook_url(url);
    }

    /// Shortcut for [`ClmClient::put_contract`].
    pub async fn put_contract(&self, record: Value) -> Result<(), SandboxError> {
        self.clm_client.put_contract(record).await
    }

    /// Shortcut for [`ClmClient::approve`].
    pub async fn approve(
        &self,
        contract_number: &str,
        amendment_no: u32,
    ) -> Result<WebhookOutcome, SandboxError> {
        self.clm_client.approve(contract_number, amendment_no).await
    }
}

/// One running system: where it listens, and its logs and faults.
#[derive(Clone)]
pub struct SystemHandle {
    /// `erp`, `purchasing`, `clm` or `analytics`.
    pub name: &'static str,
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub base_url: String,
    state: Arc<SystemState>,
}

impl std::fmt::Debug for SystemHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SystemHandle")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl SystemHandle {
    /// `base_url` followed by `path`, e.g. `handle.url("/api/vendors")`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Replaces the faults injected into the business routes, from now on.
    pub fn set_faults(&self, faults: Faults) {
        self.state.set_faults(faults);
    }

    /// The faults in force (a self-healing outage that is over shows as healed).
    pub fn faults(&self) -> Faults {
        self.state.faults()
    }

    /// Every business call received, in the order they were answered.
    pub fn calls(&self) -> Vec<RecordedCall> {
        self.state.calls()
    }

    /// Every state change applied, in order.
    pub fn effects(&self) -> Vec<Effect> {
        self.state.effects()
    }

    /// How many effects of this kind were applied (without copying the log, for a load
    /// harness that polls).
    pub fn count_effects(&self, kind: &str) -> usize {
        self.state.count_effects(kind)
    }

    /// Idempotency keys applied more than once. Must stay empty.
    pub fn duplicate_effects(&self) -> Vec<String> {
        self.state.duplicate_effects()
    }
}

/// Why an in-process CLM operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SandboxError {
    /// The record was refused; `field` names the offending value.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("contract {contract_number} amendment {amendment_no} not found")]
    ContractNotFound {
        contract_number: String,
        amendment_no: u32,
    },
    /// An approved amendment is immutable; a change is a new amendment.
    #[error(
        "contract {contract_number} amendment {amendment_no} is approved and cannot be changed"
    )]
    AmendmentApproved {
        contract_number: String,
        amendment_no: u32,
    },
    /// The webhook could not be delivered (refused, timed out); the approval still stands.
    #[error("webhook delivery to {url} failed: {message}")]
    WebhookUnreachable { url: String, message: String },
}

impl SandboxError {
    fn from_invalid(invalid: wire::Invalid) -> SandboxError {
        SandboxError::Invalid {
            field: invalid.field,
            message: invalid.error,
        }
    }
}

/// Binds a loopback port and serves `router` on it in a background task.
async fn serve(state: Arc<SystemState>, router: Router) -> io::Result<SystemHandle> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let base_url = format!("http://{}", listener.local_addr()?);
    let name = state.name;
    tracing::info!(system = name, %base_url, "sandbox system listening");
    tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, router).await {
            tracing::error!(system = name, %err, "sandbox system stopped");
        }
    });
    Ok(SystemHandle {
        name,
        base_url,
        state,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use reqwest::StatusCode;
    use serde_json::json;

    use super::*;

    /// Everything below goes over real loopback HTTP, as the hub will.
    #[tokio::test]
    async fn every_system_answers_on_its_own_port() {
        let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
        let names: Vec<&str> = sandbox.systems().iter().map(|s| s.name).collect();
        assert_eq!(
            names,
            [
                "erp",
                "purchasing",
                "clm",
                "analytics",
                "supplier",
                "warehouse",
                "portal",
                "ap",
                "ehr"
            ]
        );
        let mut urls: Vec<&str> = sandbox
            .systems()
            .iter()
            .map(|s| s.base_url.as_str())
            .collect();
        urls.sort_unstable();
        urls.dedup();
        assert_eq!(urls.len(), 9);
        assert!(urls.iter().all(|u| u.starts_with("http://127.0.0.1:")));

        let http = reqwest::Client::new();
        for system in sandbox.systems() {
            let faults: Faults = http
                .get(system.url("/_sandbox/faults"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(faults, Faults::default(), "{}", system.name);
        }
    }

    #[tokio::test]
    async fn an_idempotent_write_over_http_is_applied_once() {
        let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
        let http = reqwest::Client::new();
        let vendor =
            json!({"vendorNumber": "100042", "vendorName": "Acme Medical", "taxId": "12-3456789"});
        for _ in 0..2 {
            let response = http
                .post(sandbox.erp.url("/api/vendors"))
                .header("Idempotency-Key", "seed-100042")
                .json(&vendor)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::CREATED);
        }
        assert_eq!(sandbox.erp.effects().len(), 1);
        assert_eq!(sandbox.erp.calls().len(), 2);
        let duplicates: Vec<String> = http
            .get(sandbox.erp.url("/_sandbox/duplicates"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(duplicates.is_empty());
    }

    #[tokio::test]
    async fn faults_set_over_http_or_in_process_apply_to_that_system_only() {
        let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
        let http = reqwest::Client::new();
        let put = http
            .put(sandbox.analytics.url("/_sandbox/faults"))
            .json(&json!({ "outage": true, "outage_for_ms": 400 }))
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), StatusCode::OK);
        assert!(sandbox.analytics.faults().outage);

        let events = sandbox.analytics.url("/ingest/events");
        assert_eq!(
            http.get(&events).send().await.unwrap().status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        let catalog = sandbox.purchasing.url("/catalog/v2/contracts/C-1");
        assert_eq!(
            http.get(&catalog).send().await.unwrap().status(),
            StatusCode::NOT_FOUND
        );

        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            http.get(&events).send().await.unwrap().status(),
            StatusCode::OK
        );

        sandbox.purchasing.set_faults(Faults {
            throttle_every: 1,
            retry_after_secs: 3,
            ..Faults::default()
        });
        let throttled = http.get(&catalog).send().await.unwrap();
        assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(throttled.headers()["retry-after"], "3");
        let statuses: Vec<u16> = sandbox
            .purchasing
            .calls()
            .iter()
            .map(|c| c.status)
            .collect();
        assert_eq!(statuses, [404, 429]);
    }

    #[tokio::test]
    async fn the_clm_is_driven_in_process_and_over_http_against_one_state() {
        let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
        sandbox
            .put_contract(json!({"contractNumber": "C-100", "amendmentNo": 0}))
            .await
            .unwrap();
        let response = reqwest::Client::new()
            .post(sandbox.clm.url("/api/contracts/C-100/amendments/0/approve"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let outcome: WebhookOutcome = response.json().await.unwrap();
        assert_eq!(outcome.event_id, "clm-evt-C-100-0");
        assert_eq!(outcome.webhook_status, None);
        let kinds: Vec<String> = sandbox.clm.effects().into_iter().map(|e| e.kind).collect();
        assert_eq!(kinds, ["contract.stored", "contract.approved"]);
    }
}
