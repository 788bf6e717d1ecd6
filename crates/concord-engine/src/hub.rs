//! The hub: one value holding the store, the compiled mappings, the price index and the
//! per-system protections, shared by the API handlers and the background workers.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use concord_model::PriceCatalog;
use concord_store::{NewEvent, Store, TimelineEntry, Write};
use parking_lot::{Mutex, RwLock};
use tokio::{sync::Notify, task::JoinHandle};

use crate::{
    breaker::{CircuitBreaker, RateLimiter},
    config::Config,
    error::Result,
    mapping::MappingRegistry,
};

/// Everything the pipeline needs, cheap to clone.
#[derive(Clone)]
pub struct Hub {
    pub(crate) inner: Arc<HubInner>,
}

pub(crate) struct HubInner {
    pub config: Config,
    pub store: Store,
    pub mappings: MappingRegistry,
    pub http: reqwest::Client,
    /// Clients of the systems that trust a private CA (`ca_file`), by system id.
    pub http_by_system: HashMap<String, reqwest::Client>,
    pub prices: RwLock<PriceCatalog>,
    /// Supplier ids seen in the supplier master (see `Hub::supplier_exists`).
    pub known_suppliers: RwLock<std::collections::HashSet<String>>,
    /// Woken after every commit that adds due deliveries.
    pub work: Notify,
    pub breakers: Mutex<HashMap<String, CircuitBreaker>>,
    pub limiters: Mutex<HashMap<String, RateLimiter>>,
    /// Serialises workflow steps per workflow id within this instance (read-modify-write of the
    /// workflow state must not interleave). Striped so memory stays bounded. Across instances
    /// sharing PostgreSQL, each step also holds the store's lock on its ids
    /// (`Store::lock_across_instances`).
    pub workflow_locks: Vec<tokio::sync::Mutex<()>>,
    /// The store sessions holding the workflow locks of the steps running now, by the task
    /// running each: a step's commits go through its session (see `Hub::commit`).
    pub lock_sessions: Mutex<HashMap<tokio::task::Id, concord_store::LockSession>>,
    /// This process's name among the instances sharing the store (`inst_…`, new at each start):
    /// every claim it takes on work starts with it.
    pub instance: String,
    /// Numbers this instance's claims.
    pub claims: std::sync::atomic::AtomicU64,
    pub stopping: AtomicBool,
    pub stop: Notify,
    /// API keys checked recently (see `governance::KEY_CACHE_TTL`).
    pub keys: Mutex<crate::governance::KeyCache>,
    /// Verifies JWT bearer tokens when `[auth.jwt]` is configured.
    pub jwt: Option<crate::jwt::JwtVerifier>,
    /// The requisition policy (built in, or `[procurement] requisition_policy`), compiled once.
    pub requisition_policy: crate::policy::RequisitionPolicy,
    /// What `GET /metrics` counts as it happens.
    pub metrics: crate::metrics::Metrics,
    /// Each background worker's last round (`/readyz` reports one that stopped going round).
    pub heartbeats: Mutex<HashMap<&'static str, std::time::Instant>>,
    /// Makes the MRN and visit pseudonyms of clinical messages.
    pub pseudonyms: concord_model::phi::Pseudonymizer,
    /// Clinical messages stored and acknowledged, waiting for the usage worker (bounded: when
    /// full, a message is left to the recovery worker).
    pub clinical_queue: tokio::sync::mpsc::Sender<concord_store::InboxRecord>,
    pub clinical_inbox: Mutex<Option<tokio::sync::mpsc::Receiver<concord_store::InboxRecord>>>,
    /// The NATS connection, when `[nats]` is configured.
    pub nats: Option<crate::nats::Nats>,
    /// Each service level objective's latest status and when it was checked.
    pub slo_status:
        Mutex<std::collections::BTreeMap<String, (concord_model::slo::SloStatus, DateTime<Utc>)>>,
}

/// Why the hub could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("config is invalid:\n{}", crate::config::format_problems(.0))]
    Config(Vec<crate::config::ConfigProblem>),
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("store: {0}")]
    Store(#[from] concord_store::Error),
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error("{0}")]
    Auth(String),
    #[error("recording the config in the audit log: {0}")]
    Audit(String),
    #[error("systems.{system}.ca_file: {reason}")]
    CaFile { system: String, reason: String },
    #[error("NATS: {0}")]
    Nats(String),
}

/// The workers whose heartbeats `/readyz` checks.
pub const WORKERS: [&str; 6] = [
    "delivery",
    "timers",
    "audit_sealer",
    "slo_checks",
    "recovery",
    "peer_sync",
];

/// Which of [`WORKERS`] has not beaten within `stale` of `now`, in words; `None` when all have.
fn late_workers(
    beats: &HashMap<&'static str, std::time::Instant>,
    now: std::time::Instant,
    stale: std::time::Duration,
) -> Option<String> {
    if beats.is_empty() {
        return Some("the background workers are not running".into());
    }
    let late: Vec<String> = WORKERS
        .iter()
        .filter_map(|w| match beats.get(w) {
            None => Some(format!("{w} has not started")),
            Some(at) if now.saturating_duration_since(*at) > stale => Some(format!(
                "{w} last went round {} s ago",
                now.saturating_duration_since(*at).as_secs()
            )),
            Some(_) => None,
        })
        .collect();
    (!late.is_empty()).then(|| late.join("; "))
}

/// Handles of the background workers; dropping them does not stop them, `Hub::shutdown` does.
pub struct Workers {
    pub handles: Vec<JoinHandle<()>>,
}

const WORKFLOW_LOCK_STRIPES: usize = 256;

impl Hub {
    /// Opens the store (running migrations), compiles the mappings and loads the price index.
    pub async fn open(config: Config) -> Result<Hub, StartError> {
        let mappings = MappingRegistry::validate(&config).map_err(StartError::Config)?;
        if config.hub.store_url.is_none() {
            std::fs::create_dir_all(&config.hub.data_dir).map_err(|source| {
                StartError::DataDir {
                    path: config.hub.data_dir.display().to_string(),
                    source,
                }
            })?;
        }
        let store = Store::open(config.store_options()).await?;
        let hub = Self::with_store(config, mappings, store).await?;
        hub.record_config().await.map_err(|e| match e {
            crate::EngineError::Store(e) => StartError::Store(e),
            other => StartError::Audit(other.to_string()),
        })?;
        Ok(hub)
    }

    /// Builds a hub over an already opened store (tests use their own stores).
    pub async fn with_store(
        config: Config,
        mappings: MappingRegistry,
        store: Store,
    ) -> Result<Hub, StartError> {
        let jwt = match &config.auth.jwt {
            Some(jwt) => {
                Some(crate::jwt::JwtVerifier::new(jwt, &config).map_err(StartError::Auth)?)
            }
            None => None,
        };
        concord_model::redact::show_patient_data(config.log.show_patient_data);
        // Certificates are always verified: against the platform's roots, plus a system's own CA.
        let client = || reqwest::Client::builder().pool_max_idle_per_host(64);
        let http = client().build()?;
        let mut http_by_system = HashMap::new();
        for (id, system) in &config.systems {
            let Some(ca) = &system.ca_file else { continue };
            let fail = |reason: String| StartError::CaFile {
                system: id.clone(),
                reason,
            };
            let pem = std::fs::read(config.resolve(ca)).map_err(|e| fail(e.to_string()))?;
            let roots = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| fail(format!("not PEM certificates: {e}")))?;
            if roots.is_empty() {
                return Err(fail("holds no PEM certificate".into()));
            }
            let built = client().tls_certs_merge(roots).build();
            http_by_system.insert(id.clone(), built.map_err(|e| fail(e.to_string()))?);
        }
        let requisition_policy =
            crate::policy::compile_configured(&config).map_err(|p| StartError::Config(vec![p]))?;
        let pseudonyms = crate::clinical::pseudonymizer(&config).map_err(|message| {
            StartError::Config(vec![crate::config::ConfigProblem {
                path: "clinical.pseudonym_key".into(),
                message,
            }])
        })?;
        let (clinical_queue, clinical_inbox) =
            tokio::sync::mpsc::channel(crate::clinical::QUEUE_DEPTH);
        let nats = match &config.nats {
            Some(nats) => Some(
                crate::nats::Nats::connect(nats, &config)
                    .await
                    .map_err(StartError::Nats)?,
            ),
            None => None,
        };
        let hub = Hub {
            inner: Arc::new(HubInner {
                config,
                store,
                mappings,
                http,
                http_by_system,
                prices: RwLock::new(PriceCatalog::default()),
                known_suppliers: RwLock::default(),
                work: Notify::new(),
                breakers: Mutex::new(HashMap::new()),
                limiters: Mutex::new(HashMap::new()),
                workflow_locks: (0..WORKFLOW_LOCK_STRIPES)
                    .map(|_| tokio::sync::Mutex::new(()))
                    .collect(),
                instance: new_id("inst"),
                lock_sessions: Mutex::new(HashMap::new()),
                claims: std::sync::atomic::AtomicU64::new(0),
                stopping: AtomicBool::new(false),
                stop: Notify::new(),
                keys: Mutex::new(Default::default()),
                jwt,
                requisition_policy,
                metrics: crate::metrics::Metrics::default(),
                heartbeats: Mutex::new(HashMap::new()),
                slo_status: Mutex::default(),
                pseudonyms,
                clinical_queue,
                clinical_inbox: Mutex::new(Some(clinical_inbox)),
                nats,
            }),
        };
        hub.reload_price_index().await?;
        Ok(hub)
    }

    /// The HTTP client for calls to `system`.
    pub(crate) fn http_for(&self, system: &str) -> &reqwest::Client {
        self.inner
            .http_by_system
            .get(system)
            .unwrap_or(&self.inner.http)
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// This process's counters for `GET /metrics`.
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.inner.metrics
    }

    /// Rebuilds the in-memory price index from the store.
    pub async fn reload_price_index(&self) -> Result<(), concord_store::Error> {
        let store = &self.inner.store;
        let mut catalog = PriceCatalog::default();
        for item in store.all_items().await? {
            catalog.upsert_item(item);
        }
        for facility in store.all_facilities().await? {
            catalog.upsert_facility(facility);
        }
        for record in store.contracts_with_status("active").await? {
            match serde_json::from_value(record.data) {
                Ok(contract) => catalog.activate(contract),
                Err(e) => {
                    tracing::error!(contract = %record.contract_id, error = %e, "stored active contract is unreadable")
                }
            }
        }
        *self.inner.prices.write() = catalog;
        Ok(())
    }

    pub fn prices(&self) -> parking_lot::RwLockReadGuard<'_, PriceCatalog> {
        self.inner.prices.read()
    }

    /// Starts the delivery, timer and recovery workers.
    pub fn start_workers(&self) -> Workers {
        let mut handles = vec![];
        let hub = self.clone();
        handles.push(tokio::spawn(async move { crate::delivery::run(hub).await }));
        let hub = self.clone();
        handles.push(tokio::spawn(
            async move { crate::timers::run_timers(hub).await },
        ));
        let hub = self.clone();
        handles.push(tokio::spawn(crate::governance::run_sealer(hub)));
        let hub = self.clone();
        let every = std::time::Duration::from_millis(self.config().hub.slo_check_ms.max(100));
        handles.push(tokio::spawn(crate::slo::run_slo_checks(hub, every)));
        if let Some(every) = self
            .config()
            .hub
            .reconcile_every
            .as_deref()
            .and_then(concord_model::requisition::parse_duration)
            .and_then(|d| d.to_std().ok())
        {
            let hub = self.clone();
            handles.push(tokio::spawn(crate::reconciliation::run_scheduled(
                hub, every,
            )));
        }
        let hub = self.clone();
        handles.push(tokio::spawn(crate::inbound::run_recovery(hub)));
        let hub = self.clone();
        handles.push(tokio::spawn(crate::peers::run_peer_sync(hub)));
        handles.extend(crate::x12_files::start(self));
        for (name, source) in self.config().nats.iter().flat_map(|n| &n.sources) {
            let hub = self.clone();
            handles.push(tokio::spawn(crate::nats::source::run(
                hub,
                name.clone(),
                source.clone(),
            )));
        }
        let hub = self.clone();
        handles.push(tokio::spawn(crate::clinical::run_worker(hub)));
        Workers { handles }
    }

    /// A worker went round its loop: `/readyz` counts it as running.
    pub(crate) fn beat(&self, worker: &'static str) {
        self.inner
            .heartbeats
            .lock()
            .insert(worker, std::time::Instant::now());
    }

    /// Waits `how_long` (or until shutdown), beating for `worker` at least every 5 s, so a long
    /// interval never reads as a stuck worker.
    pub(crate) async fn idle(&self, worker: &'static str, how_long: std::time::Duration) {
        let until = tokio::time::Instant::now() + how_long;
        loop {
            self.beat(worker);
            let now = tokio::time::Instant::now();
            if now >= until || self.stopping() {
                return;
            }
            let slice = (until - now).min(std::time::Duration::from_secs(5));
            tokio::select! {
                _ = tokio::time::sleep(slice) => {}
                _ = self.inner.stop.notified() => return,
            }
        }
    }

    /// Why the hub is not ready to work, if it is not: no workers started, or one of them has
    /// not gone round its loop for `stale` (it died or is stuck).
    pub fn workers_not_running(&self, stale: std::time::Duration) -> Option<String> {
        late_workers(
            &self.inner.heartbeats.lock(),
            std::time::Instant::now(),
            stale,
        )
    }

    /// Asks the workers to stop after the work in hand.
    pub fn shutdown(&self) {
        self.inner.stopping.store(true, Ordering::SeqCst);
        self.inner.stop.notify_waiters();
        self.inner.work.notify_waiters();
    }

    pub(crate) fn stopping(&self) -> bool {
        self.inner.stopping.load(Ordering::SeqCst)
    }

    /// Commits writes, and wakes the delivery workers when the commit queued something to
    /// send (a finished delivery wakes them itself, for what waited behind it).
    pub(crate) async fn commit(
        &self,
        mut writes: Vec<Write>,
    ) -> Result<concord_store::CommitReceipt> {
        if self.publishes_events() {
            // Each event also leaves through the outbox, in the same transaction, to JetStream.
            let now = Utc::now();
            let events: Vec<Write> = writes
                .iter()
                .filter_map(|w| match w {
                    Write::Event(e) => Some(Write::Delivery(crate::nats::event_delivery(e, now))),
                    _ => None,
                })
                .collect();
            writes.extend(events);
        }
        let queues_work = writes
            .iter()
            .any(|w| matches!(w, Write::Delivery(_) | Write::ReplayDelivery { .. }));
        let span = tracing::info_span!("commit", writes = writes.len());
        // Within a step holding workflow locks across instances, in the session holding them.
        let session = tokio::task::try_id()
            .and_then(|task| self.inner.lock_sessions.lock().get(&task).cloned());
        let receipt = tracing::Instrument::instrument(
            self.inner.store.commit_in(writes, session.as_ref()),
            span,
        )
        .await?;
        if queues_work {
            self.inner.work.notify_one();
        }
        Ok(receipt)
    }

    /// Whether committed events are published to NATS JetStream.
    pub(crate) fn publishes_events(&self) -> bool {
        self.inner.nats.is_some()
            && self
                .inner
                .config
                .nats
                .as_ref()
                .is_some_and(|n| n.publish_events)
    }

    /// Locks several workflow ids at once: their stripes in ascending order, each once, so two
    /// callers locking overlapping sets can never wait on each other; then, where instances
    /// share the store, the store's lock on each id (ascending too, see
    /// `Store::lock_across_instances`), so a step of one workflow never interleaves with
    /// another step of it in any instance.
    pub(crate) async fn lock_workflows(&self, ids: &[&str]) -> Result<WorkflowGuard<'_>> {
        let mut stripes: Vec<usize> = ids.iter().map(|id| self.stripe(id)).collect();
        stripes.sort_unstable();
        stripes.dedup();
        let mut local = Vec::with_capacity(stripes.len());
        for stripe in stripes {
            local.push(self.inner.workflow_locks[stripe].lock().await);
        }
        let across = self.inner.store.lock_across_instances(ids).await?;
        // The step's commits go through the session holding its locks.
        let task = match (across.session(), tokio::task::try_id()) {
            (Some(session), Some(task)) => {
                self.inner.lock_sessions.lock().insert(task, session);
                Some(task)
            }
            _ => None,
        };
        Ok(WorkflowGuard {
            hub: self,
            task,
            _across: across,
            _local: local,
        })
    }

    fn stripe(&self, id: &str) -> usize {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        id.hash(&mut hasher);
        (hasher.finish() as usize) % self.inner.workflow_locks.len()
    }

    pub(crate) async fn lock_workflow(&self, id: &str) -> Result<WorkflowGuard<'_>> {
        self.lock_workflows(&[id]).await
    }

    /// A new claim of this instance on some work, held until `lease` from now.
    pub(crate) fn claim(&self, lease: Duration) -> concord_store::Claim {
        let n = self.inner.claims.fetch_add(1, Ordering::Relaxed);
        concord_store::Claim {
            token: format!("{}:{n}", self.inner.instance),
            lease_until: Utc::now() + chrono::Duration::from_std(lease).unwrap_or_default(),
        }
    }

    /// How long this instance holds a received message or a due timer it works on before
    /// another instance may take it up.
    pub(crate) fn work_lease(&self) -> Duration {
        Duration::from_secs(self.inner.config.hub.work_lease_secs.max(1))
    }

    /// This process's name among the instances sharing the store.
    pub fn instance(&self) -> &str {
        &self.inner.instance
    }

    pub(crate) fn breaker_allow(&self, system: &str) -> Result<(), Duration> {
        let config = &self.inner.config.systems[system].circuit_breaker;
        let now = Instant::now();
        let mut breakers = self.inner.breakers.lock();
        let breaker = breakers.entry(system.to_string()).or_insert_with(|| {
            CircuitBreaker::new(
                config.failure_threshold,
                Duration::from_millis(config.open_ms),
            )
        });
        breaker
            .allow(now)
            .map_err(|until| until.saturating_duration_since(now))
    }

    pub(crate) fn breaker_record(&self, system: &str, success: bool) {
        if let Some(b) = self.inner.breakers.lock().get_mut(system) {
            if success {
                b.on_success()
            } else {
                b.on_failure(Instant::now())
            }
        }
    }

    pub(crate) fn rate_wait(&self, system: &str) -> Option<Duration> {
        let rate = self.inner.config.systems[system].rate_limit_per_sec;
        let now = Instant::now();
        let mut limiters = self.inner.limiters.lock();
        let limiter = limiters
            .entry(system.to_string())
            .or_insert_with(|| RateLimiter::new(rate, now));
        limiter.take(now).err()
    }
}

/// Workflow locks held by one step: this instance's stripes and, on a shared store, the
/// store's locks (released first when dropped: fields drop in declaration order).
pub(crate) struct WorkflowGuard<'a> {
    hub: &'a Hub,
    /// The task whose commits go through the locks' session, while this guard lives.
    task: Option<tokio::task::Id>,
    _across: concord_store::InstanceLocks,
    _local: Vec<tokio::sync::MutexGuard<'a, ()>>,
}

impl Drop for WorkflowGuard<'_> {
    fn drop(&mut self) {
        if let Some(task) = self.task {
            self.hub.inner.lock_sessions.lock().remove(&task);
        }
    }
}

/// A lineage entry.
pub(crate) fn timeline(
    correlation_id: &str,
    at: DateTime<Utc>,
    step: &str,
    detail: serde_json::Value,
) -> Write {
    Write::Timeline(TimelineEntry {
        correlation_id: correlation_id.to_string(),
        at,
        step: step.to_string(),
        detail,
    })
}

/// A canonical event of the hub (CloudEvents `source` "concord"), with a fresh id: the one way
/// every workflow builds the events it commits.
pub(crate) fn event(
    event_type: &str,
    subject: String,
    correlation_id: &str,
    time: DateTime<Utc>,
    data: impl serde::Serialize,
) -> NewEvent {
    NewEvent {
        id: new_id("evt"),
        event_type: event_type.to_string(),
        source: "concord".into(),
        subject,
        time,
        correlation_id: correlation_id.to_string(),
        data: serde_json::to_value(data).expect("events serialise"),
    }
}

/// A new sortable unique id with a prefix, e.g. `rcpt_0190…`.
pub(crate) fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

/// Lower-case hex SHA-256: the dedupe key of a body without a message id, and the digest that
/// tells a resent contract version from a changed one.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn readiness_names_each_worker_that_stopped_going_round() {
        let start = Instant::now();
        let now = start + Duration::from_secs(100);
        let stale = Duration::from_secs(30);
        assert_eq!(
            late_workers(&HashMap::new(), now, stale).as_deref(),
            Some("the background workers are not running")
        );
        let mut beats: HashMap<&'static str, Instant> = WORKERS
            .iter()
            .map(|w| (*w, now - Duration::from_secs(5)))
            .collect();
        assert_eq!(late_workers(&beats, now, stale), None);
        beats.insert("timers", start);
        beats.remove("slo_checks");
        assert_eq!(
            late_workers(&beats, now, stale).as_deref(),
            Some("timers last went round 100 s ago; slo_checks has not started")
        );
    }
}
