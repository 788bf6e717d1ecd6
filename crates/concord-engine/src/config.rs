//! The hub's configuration: one TOML file (systems, mappings, delivery and workflow settings)
//! with environment overrides, checked as a whole before anything runs.
//!
//! `check` reports every problem at once, each with its path in the file
//! (`systems.erp.outbound.contract.mapping`), so a broken config is fixed in one pass.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    path::{Path, PathBuf},
};

use serde::Deserialize;

use concord_model::{Secret, workflow::contract::FallbackPolicy};

/// Errors of loading a config file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("config {path} has {} problem(s):\n{}", problems.len(), format_problems(problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<ConfigProblem>,
    },
}

/// One problem at one place in the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub path: String,
    pub message: String,
}

/// One indented line per problem, for people.
pub fn format_problems(problems: &[ConfigProblem]) -> String {
    problems
        .iter()
        .map(|p| format!("  - {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Ids of systems and partners appear in URLs and paths: letters, digits, `-` and `_`.
pub(crate) fn is_config_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `http(s)://host[:port]`: what a browser sends as `Origin`.
fn is_origin(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once("://") else {
        return false;
    };
    let (host, port) = rest.rsplit_once(':').unwrap_or((rest, "80"));
    ["http", "https"].contains(&scheme)
        && !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && port.parse::<u16>().is_ok()
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub hub: HubConfig,
    #[serde(default)]
    pub api: ApiConfig,
    #[serde(default)]
    pub auth: AuthConfig,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub delivery: DeliveryConfig,
    #[serde(default)]
    pub contracts: ContractsConfig,
    /// Connected systems by id (the id appears in URLs: `/v1/inbound/{system}/…`).
    #[serde(default)]
    pub systems: BTreeMap<String, SystemConfig>,
    /// Our own X12 ids.
    #[serde(default)]
    pub x12: crate::partners::X12Config,
    /// Procure-to-pay defaults (three-way match tolerances).
    #[serde(default)]
    pub procurement: crate::partners::ProcurementConfig,
    /// EDI trading partners by id.
    #[serde(default)]
    pub partners: BTreeMap<String, crate::partners::PartnerConfig>,
    /// Clinical intake (MLLP, pseudonyms, what is kept of clinical messages).
    #[serde(default)]
    pub clinical: crate::clinical::ClinicalConfig,
    /// Service level objectives by name (`[slo.contract_propagation]`…).
    #[serde(default)]
    pub slo: BTreeMap<String, crate::slo::SloConfig>,
    /// NATS JetStream: events published, streams read, subscribers fed (off when absent).
    #[serde(default)]
    pub nats: Option<crate::nats::NatsConfig>,
    /// The folder the config file is in: relative mapping paths are resolved against it.
    #[serde(skip)]
    pub base_dir: PathBuf,
    /// The TOML text it was parsed from (empty for the embedded defaults).
    #[serde(skip)]
    pub source: String,
}

/// Where the hub listens and keeps its data.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubConfig {
    /// API listen address (env `CONCORD_LISTEN`).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Folder for the embedded SQLite store (env `CONCORD_DATA_DIR`).
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// A store URL (`postgres://…` or `sqlite://…`) instead of the file in `data_dir`
    /// (env `CONCORD_STORE_URL`).
    #[serde(default)]
    pub store_url: Option<String>,
    /// Largest accepted inbound body, in bytes.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// How often the service level objectives (`[slo.*]`) are checked, in milliseconds.
    #[serde(default = "default_slo_check_ms")]
    pub slo_check_ms: u64,
    /// How often reconciliation runs on its own (`"24h"`, `"30m"`); off when absent. It can
    /// always be run on demand (`POST /v1/reconciliations`).
    #[serde(default)]
    pub reconcile_every: Option<String>,
    /// How long an instance holds a received message or a due timer it is working on before
    /// another instance may take it up (its process died or stalled), in seconds. What the
    /// first one commits afterwards is refused, so a short lease costs duplicate work at
    /// most, never a duplicate effect.
    #[serde(default = "default_work_lease")]
    pub work_lease_secs: u64,
    /// How often an instance reads what the others committed (contract activations, items,
    /// facilities) into its price index, in milliseconds.
    #[serde(default = "default_peer_sync_ms")]
    pub peer_sync_ms: u64,
    /// PostgreSQL: connections this instance keeps for queries and commits, and as many again
    /// at most for workflow locks. With several instances on one database, keep the sum near a
    /// few per database core: more backends than cores cost the database CPU in switching
    /// between them (BENCHMARKS.md, "Scale-out").
    #[serde(default = "default_store_connections")]
    pub store_connections: u32,
}

fn default_store_connections() -> u32 {
    8
}

fn default_work_lease() -> u64 {
    30
}
fn default_peer_sync_ms() -> u64 {
    1_000
}

fn default_slo_check_ms() -> u64 {
    30_000
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_data_dir() -> PathBuf {
    PathBuf::from("./concord-data")
}
fn default_max_body() -> usize {
    4 * 1024 * 1024
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            data_dir: default_data_dir(),
            store_url: None,
            max_body_bytes: default_max_body(),
            slo_check_ms: default_slo_check_ms(),
            reconcile_every: None,
            work_lease_secs: default_work_lease(),
            peer_sync_ms: default_peer_sync_ms(),
            store_connections: default_store_connections(),
        }
    }
}

/// Limits on API callers. A limit of 0 means unlimited.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Requests per second for each principal (bursts up to the same number).
    #[serde(default = "default_principal_rate")]
    pub rate_limit_per_principal: u32,
    /// Requests per second for each connected system, summed over all its credentials.
    #[serde(default = "default_system_rate")]
    pub rate_limit_per_system: u32,
    /// A request that takes longer is answered 503 (the work it started is not undone: every
    /// write is a transaction, and repeats are deduplicated).
    #[serde(default = "default_request_timeout")]
    pub request_timeout_ms: u64,
    /// Serve HTTPS (rustls) instead of plain HTTP; adds `Strict-Transport-Security`.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// The console's address as browsers reach it, when a reverse proxy (TLS-terminating,
    /// rewriting `Host`) stands in front: its forms are accepted from this origin, and its
    /// cookie is `Secure` when this is `https://`. E.g. `https://concord.example.org`.
    #[serde(default)]
    pub public_origin: Option<String>,
}

/// The API's certificate and key, as PEM files (the key file is the secret, by reference).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// Private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// `Strict-Transport-Security: max-age` in seconds (one year by default).
    #[serde(default = "default_hsts")]
    pub hsts_max_age_secs: u64,
}

fn default_hsts() -> u64 {
    31_536_000
}

/// How callers prove who they are besides API keys.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Accept JWT bearer tokens from an identity provider.
    #[serde(default)]
    pub jwt: Option<JwtConfig>,
}

/// JWT bearer tokens: the signature, issuer, audience and expiry are checked; the role (and, for
/// integration principals, the system) come from claims.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// `RS256`, `ES256` or `HS256`.
    pub algorithm: String,
    /// Expected `iss`.
    pub issuer: String,
    /// Expected `aud`.
    pub audience: String,
    /// The verification key: a PEM public key for RS256/ES256, the shared secret for HS256.
    pub key: SecretRef,
    /// Claim holding the Concord role (`admin`, `buyer`, …).
    #[serde(default = "default_role_claim")]
    pub role_claim: String,
    /// Claim holding the system an integration principal speaks for.
    #[serde(default = "default_system_claim")]
    pub system_claim: String,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    #[serde(default = "default_leeway")]
    pub leeway_secs: u64,
}

fn default_role_claim() -> String {
    "concord_role".into()
}
fn default_system_claim() -> String {
    "concord_system".into()
}
fn default_leeway() -> u64 {
    30
}

/// The JWT algorithms accepted (no `none`, no algorithm chosen by the token).
pub const JWT_ALGORITHMS: &[&str] = &["RS256", "ES256", "HS256"];

/// Logging.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// Print fields that may carry patient data (quarantine reasons, targets' error bodies)
    /// instead of `[redacted: N bytes]`. Off by default; env `CONCORD_LOG_PATIENT_DATA=1`.
    #[serde(default)]
    pub show_patient_data: bool,
}

/// A secret by reference: an environment variable or a file, never the value in the config.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    pub env: Option<String>,
    /// Relative paths are resolved from the config file's folder.
    pub file: Option<PathBuf>,
}

impl SecretRef {
    pub(crate) fn check(&self, at: &str, problem: &mut impl FnMut(String, String)) {
        match (self.env.as_deref(), &self.file) {
            (Some(_), Some(_)) => problem(at.into(), "give env or file, not both".into()),
            (Some(""), None) | (None, None) => problem(
                at.into(),
                "names no environment variable (env) or file".into(),
            ),
            _ => {}
        }
    }

    /// Reads the secret now (so a rotated file or variable is picked up by the next read).
    pub fn read(&self, config: &Config) -> Result<Secret, String> {
        let value = match (&self.env, &self.file) {
            (Some(var), _) => {
                std::env::var(var).map_err(|_| format!("environment variable {var} is not set"))?
            }
            (None, Some(file)) => {
                let path = config.resolve(file);
                std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read secret file {}: {e}", path.display()))?
                    .trim_end_matches(['\n', '\r'])
                    .to_string()
            }
            (None, None) => return Err("the secret names no env or file".into()),
        };
        if value.is_empty() {
            return Err("the secret is empty".into());
        }
        Ok(Secret::new(value))
    }
}

fn default_principal_rate() -> u32 {
    500
}
fn default_system_rate() -> u32 {
    1000
}
fn default_request_timeout() -> u64 {
    30_000
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            rate_limit_per_principal: default_principal_rate(),
            rate_limit_per_system: default_system_rate(),
            request_timeout_ms: default_request_timeout(),
            tls: None,
            public_origin: None,
        }
    }
}

/// How outbox rows are delivered.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Attempts before a delivery is dead-lettered.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// First retry delay; doubles each attempt, with full jitter.
    #[serde(default = "default_base_backoff")]
    pub base_backoff_ms: u64,
    #[serde(default = "default_max_backoff")]
    pub max_backoff_ms: u64,
    /// Deliveries in flight at once, across all targets. Each mostly waits (on the target and
    /// on its commit), so this is set well above the core count; per-target rate limits and
    /// circuit breakers still apply.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// How long a claimed delivery stays leased to this instance.
    #[serde(default = "default_lease")]
    pub lease_secs: u64,
    /// How often workers look for due work when nothing woke them.
    #[serde(default = "default_poll")]
    pub poll_ms: u64,
    /// The least time between two claims of due deliveries, in milliseconds: under load the
    /// due rows gather meanwhile and are taken in one claim (each claim costs the database a
    /// look at the queue); a delivery waits this long at most for it. Default: 5 on SQLite,
    /// 50 on PostgreSQL, where a claim also reads past the queue's recently finished rows
    /// until they are vacuumed, and every instance claims (BENCHMARKS.md, "Scale-out").
    #[serde(default)]
    pub claim_gap_ms: Option<u64>,
}

fn default_max_attempts() -> u32 {
    8
}
fn default_base_backoff() -> u64 {
    200
}
fn default_max_backoff() -> u64 {
    30_000
}
fn default_concurrency() -> usize {
    128
}
fn default_lease() -> u64 {
    60
}
fn default_poll() -> u64 {
    250
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            max_attempts: default_max_attempts(),
            base_backoff_ms: default_base_backoff(),
            max_backoff_ms: default_max_backoff(),
            concurrency: default_concurrency(),
            lease_secs: default_lease(),
            poll_ms: default_poll(),
            claim_gap_ms: None,
        }
    }
}

/// Contract workflow settings.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ContractsConfig {
    /// Activate after a timeout when the named targets acknowledged, even if other required
    /// targets have not. Off when absent.
    #[serde(default)]
    pub fallback: Option<FallbackPolicy>,
}

/// One connected system.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemConfig {
    /// What the system is: erp, purchasing, clm, analytics, supplier, warehouse, ehr, other.
    pub role: String,
    /// How its outbound routes are sent: `http` (requests to `base_url` + the route's `path`)
    /// or `nats` (JetStream publishes to the route's `subject`; needs `[nats]`).
    #[serde(default)]
    pub transport: Transport,
    /// Base URL for calls to the system (needed when it has outbound routes or lookups).
    #[serde(default)]
    pub base_url: Option<String>,
    /// Per-request timeout.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// Most requests per second to this system (0 = unlimited).
    #[serde(default)]
    pub rate_limit_per_sec: u32,
    #[serde(default)]
    pub circuit_breaker: CircuitBreakerConfig,
    /// Outbound credential, by reference: the secret itself never appears in the config.
    #[serde(default)]
    pub credentials: Option<CredentialRef>,
    /// PEM certificate(s) of a private CA trusted for this system besides the platform's roots
    /// (a hospital's internal CA). Certificates are always verified; there is no switch to stop.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Inbound message types this system may post, by message type.
    #[serde(default)]
    pub inbound: BTreeMap<String, InboundRoute>,
    /// Canonical message types this system subscribes to, by message type.
    #[serde(default)]
    pub outbound: BTreeMap<String, OutboundRoute>,
    /// Lookups the hub may make in this system (e.g. `supplier` by TIN in the ERP).
    #[serde(default)]
    pub lookups: BTreeMap<String, LookupRoute>,
    /// What reconciliation reads of this system, by entity type (`supplier`, `item`).
    #[serde(default)]
    pub views: BTreeMap<String, ViewRoute>,
}

/// How a system's outbound routes are sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    #[default]
    Http,
    Nats,
}

/// How reconciliation reads a system's records of one entity type.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewRoute {
    /// Request path (GET) answering every record.
    pub path: String,
    /// jq filter turning the answer into `[{"external_id", "record"}]`, `record` holding the
    /// canonical fields the system keeps (only those are compared).
    pub mapping: PathBuf,
}

fn default_timeout() -> u64 {
    5_000
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CircuitBreakerConfig {
    /// Consecutive failures that open the circuit.
    #[serde(default = "default_failures")]
    pub failure_threshold: u32,
    /// How long the circuit stays open before one trial request.
    #[serde(default = "default_open_ms")]
    pub open_ms: u64,
}

fn default_failures() -> u32 {
    5
}
fn default_open_ms() -> u64 {
    5_000
}

impl Default for CircuitBreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: default_failures(),
            open_ms: default_open_ms(),
        }
    }
}

/// An outbound credential: the header to send and where its secret is (an environment variable
/// or a file, never the value in the config).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialRef {
    #[serde(default = "default_auth_header")]
    pub header: String,
    /// Prefix such as `Bearer ` put before the secret.
    #[serde(default)]
    pub prefix: String,
    /// Environment variable holding the secret.
    #[serde(default)]
    pub env: Option<String>,
    /// File holding the secret (a mounted Kubernetes or Vault secret, say).
    #[serde(default)]
    pub file: Option<PathBuf>,
}

fn default_auth_header() -> String {
    "Authorization".into()
}

impl CredentialRef {
    fn secret_ref(&self) -> SecretRef {
        SecretRef {
            env: self.env.clone(),
            file: self.file.clone(),
        }
    }

    /// The header to send: its name and `prefix` + the secret, read now.
    pub fn header(&self, config: &Config) -> Result<(&str, Secret), String> {
        let secret = self
            .secret_ref()
            .read(config)
            .map_err(|e| format!("credential: {e}"))?;
        Ok((
            self.header.as_str(),
            Secret::new(format!("{}{}", self.prefix, secret.expose())),
        ))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundRoute {
    /// jq filter turning the native body into the canonical document.
    pub mapping: PathBuf,
    /// jq path of the message id used for deduplication when no `Idempotency-Key` header is sent.
    #[serde(default)]
    pub message_id_path: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundRoute {
    /// jq filter turning the canonical document into the system's native body.
    pub mapping: PathBuf,
    #[serde(default = "default_method")]
    pub method: String,
    /// Request path; `{id}` is replaced by the URL-encoded subject id (HTTP systems).
    #[serde(default)]
    pub path: String,
    /// The subject to publish on; `{id}` is replaced by the subject id, its dots and
    /// wildcards by `_` (systems with `transport = "nats"`).
    #[serde(default)]
    pub subject: Option<String>,
    /// Activation waits for required targets only.
    #[serde(default = "default_true")]
    pub required: bool,
    /// Where the system's answer holds the id it gave the document (a JSON pointer such as
    /// `/poNumber`): required for `purchase_order`, whose ERP number the hub keeps.
    #[serde(default)]
    pub reply_id: Option<String>,
}

fn default_method() -> String {
    "POST".into()
}
fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookupRoute {
    /// Request path (GET).
    pub path: String,
    /// Query parameter carrying the key looked up.
    pub query_param: String,
    /// jq filter turning the native answer into `[{"external_id", "name", "tin"}]`.
    pub mapping: PathBuf,
}

/// Message types the hub understands, by the canonical document they map to.
pub const MESSAGE_TYPES: &[&str] = &[
    "contract",
    "requisition",
    "goods_receipt",
    "supplier",
    "supplier_onboarding",
    "item",
    "facility",
];
/// What a system may take from the hub: contracts, and from the PO workflow the PO itself, its
/// changes (the supplier's 855) and the payment release of a matched invoice.
pub const OUTBOUND_TYPES: &[&str] = &[
    "contract",
    "purchase_order",
    "purchase_order_change",
    "payment_release",
    "slo_breach",
    "supplier",
    "supplier_payment",
    "item",
    "cost_allocation",
];
/// Lookup kinds the hub makes.
pub const LOOKUP_KINDS: &[&str] = &["supplier"];
/// Entity types reconciliation compares.
pub const VIEW_TYPES: &[&str] = &["supplier", "item"];
const METHODS: &[&str] = &["POST", "PUT", "PATCH"];

impl Config {
    /// Reads and checks a config file, then applies environment overrides.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut config =
            Self::parse_unchecked(&text, &base_dir).map_err(|message| ConfigError::Syntax {
                path: path.to_path_buf(),
                message,
            })?;
        config.apply_env(|k| std::env::var(k).ok());
        let problems = config.check();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                problems,
            })
        }
    }

    /// Parses TOML text whose relative paths are resolved from `base_dir`; no checks, no
    /// environment (callers run `check`, as `Hub::open` does).
    pub fn parse_unchecked(text: &str, base_dir: &Path) -> Result<Config, String> {
        let mut config: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        config.base_dir = base_dir.to_path_buf();
        config.source = text.to_string();
        Ok(config)
    }

    /// Environment overrides: `CONCORD_LISTEN`, `CONCORD_DATA_DIR`, `CONCORD_STORE_URL`,
    /// `CONCORD_LOG_PATIENT_DATA`.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) {
        if let Some(listen) = get("CONCORD_LISTEN").and_then(|v| v.parse().ok()) {
            self.hub.listen = listen;
        }
        if let Some(dir) = get("CONCORD_DATA_DIR") {
            self.hub.data_dir = dir.into();
        }
        if let Some(url) = get("CONCORD_STORE_URL") {
            self.hub.store_url = Some(url);
        }
        if let Some(addr) = get("CONCORD_MLLP_LISTEN").and_then(|v| v.parse().ok()) {
            self.clinical.mllp_listen = Some(addr);
        }
        if let Some(url) = get("CONCORD_NATS_URL").filter(|u| !u.is_empty()) {
            self.set_nats_url(url);
        }
        if let Some(flag) = get("CONCORD_LOG_PATIENT_DATA") {
            self.log.show_patient_data = matches!(flag.as_str(), "1" | "true" | "yes");
        }
    }

    /// Points the hub at a NATS server (`CONCORD_NATS_URL`, `--nats-url`): the `[nats]`
    /// section's URL, or a `[nats]` of defaults when the file has none.
    pub fn set_nats_url(&mut self, url: String) {
        match &mut self.nats {
            Some(nats) => nats.url = url,
            None => self.nats = Some(crate::nats::NatsConfig::with_url(url)),
        }
    }

    /// The SHA-256 of the config text and the environment overrides in effect (the mappings'
    /// sources are fingerprinted by `MappingRegistry::fingerprint`, from what was compiled).
    pub fn fingerprint(&self) -> String {
        crate::hub::sha256_hex(
            format!(
                "{}\0listen={}\0data_dir={}\0store={}\0nats={}",
                self.source,
                self.hub.listen,
                self.hub.data_dir.display(),
                self.store_url(),
                self.nats
                    .as_ref()
                    .map(|n| n.url.as_str())
                    .unwrap_or_default()
            )
            .as_bytes(),
        )
    }

    /// Resolves a mapping path relative to the config file's folder.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base_dir.join(path)
        }
    }

    /// The store URL: the configured one, else the SQLite file in `data_dir`.
    /// How the hub opens its store: the URL, and the pool size for PostgreSQL.
    pub fn store_options(&self) -> concord_store::StoreOptions {
        let mut options = concord_store::StoreOptions::new(self.store_url());
        options.max_connections = self.hub.store_connections;
        options
    }

    pub fn store_url(&self) -> String {
        self.hub.store_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.hub.data_dir.join("concord.db").display()
            )
        })
    }

    /// Every problem, with its path. Mapping files are checked to exist here and compiled by the
    /// mapping registry, which reports its own errors with the same paths.
    pub fn check(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        let mut problem =
            |path: String, message: String| problems.push(ConfigProblem { path, message });
        self.clinical.check(&mut problem);
        for (name, slo) in &self.slo {
            slo.check(&format!("slo.{name}"), &mut problem);
        }
        if let Some(every) = &self.hub.reconcile_every
            && concord_model::requisition::parse_duration(every).is_none()
        {
            problem(
                "hub.reconcile_every".into(),
                format!("{every:?} is not a duration such as \"30m\", \"24h\" or \"7d\""),
            );
        }
        if self.delivery.max_attempts == 0 {
            problem("delivery.max_attempts".into(), "must be at least 1".into());
        }
        if self.delivery.base_backoff_ms > self.delivery.max_backoff_ms {
            problem(
                "delivery.base_backoff_ms".into(),
                "must not exceed delivery.max_backoff_ms".into(),
            );
        }
        if self.api.request_timeout_ms == 0 {
            problem("api.request_timeout_ms".into(), "must be at least 1".into());
        }
        if let Some(origin) = &self.api.public_origin
            && !is_origin(origin)
        {
            problem(
                "api.public_origin".into(),
                format!(
                    "{origin:?} is not an origin: scheme http or https and a host, with an optional port and no path (e.g. https://concord.example.org)"
                ),
            );
        }
        if let Some(tls) = &self.api.tls {
            for (field, path) in [("cert", &tls.cert), ("key", &tls.key)] {
                if !self.resolve(path).is_file() {
                    problem(
                        format!("api.tls.{field}"),
                        format!("{} does not exist", self.resolve(path).display()),
                    );
                }
            }
        }
        if let Some(jwt) = &self.auth.jwt {
            if !JWT_ALGORITHMS.contains(&jwt.algorithm.as_str()) {
                problem(
                    "auth.jwt.algorithm".into(),
                    format!("{:?} is not one of {JWT_ALGORITHMS:?}", jwt.algorithm),
                );
            }
            for (field, value) in [("issuer", &jwt.issuer), ("audience", &jwt.audience)] {
                if value.trim().is_empty() {
                    problem(format!("auth.jwt.{field}"), "must not be empty".into());
                }
            }
            jwt.key.check("auth.jwt.key", &mut problem);
        }
        if let Some(path) = &self.procurement.requisition_policy
            && !self.resolve(path).is_file()
        {
            // Compiled once, when the hub starts (and by `concord check`), not on every check.
            problem(
                "procurement.requisition_policy".into(),
                format!(
                    "policy file {} does not exist",
                    self.resolve(path).display()
                ),
            );
        }
        if self.hub.store_connections < 2 {
            problem("hub.store_connections".into(), "must be at least 2".into());
        }
        if self.delivery.concurrency == 0 {
            problem("delivery.concurrency".into(), "must be at least 1".into());
        }
        for (id, system) in &self.systems {
            let at = format!("systems.{id}");
            if !is_config_id(id) {
                problem(
                    at.clone(),
                    "system ids may hold only letters, digits, - and _".into(),
                );
            }
            let over_http = system.transport == Transport::Http;
            if system.transport == Transport::Nats && self.nats.is_none() {
                problem(
                    format!("{at}.transport"),
                    "\"nats\" needs a [nats] section (or CONCORD_NATS_URL)".into(),
                );
            }
            if system.base_url.is_none()
                && ((over_http && !system.outbound.is_empty())
                    || !system.lookups.is_empty()
                    || !system.views.is_empty())
            {
                problem(
                    format!("{at}.base_url"),
                    "required when the system has outbound routes or lookups".into(),
                );
            }
            if let Some(url) = &system.base_url
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                problem(
                    format!("{at}.base_url"),
                    format!("{url:?} is not an http(s) URL"),
                );
            }
            if system.timeout_ms == 0 {
                problem(format!("{at}.timeout_ms"), "must be at least 1".into());
            }
            if let Some(creds) = &system.credentials {
                creds
                    .secret_ref()
                    .check(&format!("{at}.credentials"), &mut problem);
            }
            if let Some(ca) = &system.ca_file
                && !self.resolve(ca).is_file()
            {
                problem(
                    format!("{at}.ca_file"),
                    format!("{} does not exist", self.resolve(ca).display()),
                );
            }
            for (message_type, route) in &system.inbound {
                let at = format!("{at}.inbound.{message_type}");
                if !MESSAGE_TYPES.contains(&message_type.as_str()) {
                    problem(
                        at.clone(),
                        format!("unknown message type; expected one of {MESSAGE_TYPES:?}"),
                    );
                }
                self.check_file(&format!("{at}.mapping"), &route.mapping, &mut problem);
            }
            for (message_type, route) in &system.outbound {
                let at = format!("{at}.outbound.{message_type}");
                if !OUTBOUND_TYPES.contains(&message_type.as_str()) {
                    problem(
                        at.clone(),
                        format!(
                            "unknown outbound message type; expected one of {OUTBOUND_TYPES:?}"
                        ),
                    );
                }
                match &route.reply_id {
                    None if message_type == "purchase_order" => problem(
                        format!("{at}.reply_id"),
                        "required: where the ERP's answer holds its PO number (a JSON pointer such as /poNumber)".into(),
                    ),
                    Some(pointer) if !pointer.starts_with('/') => problem(
                        format!("{at}.reply_id"),
                        format!("{pointer:?} must be a JSON pointer starting with /"),
                    ),
                    _ => {}
                }
                if !METHODS.contains(&route.method.as_str()) {
                    problem(
                        format!("{at}.method"),
                        format!("expected one of {METHODS:?}"),
                    );
                }
                match (over_http, &route.subject) {
                    (true, Some(_)) => problem(
                        format!("{at}.subject"),
                        "only for systems with transport = \"nats\"; HTTP routes have a path".into(),
                    ),
                    (true, None) if !route.path.starts_with('/') => {
                        problem(format!("{at}.path"), "must start with /".into())
                    }
                    (false, None) => problem(
                        format!("{at}.subject"),
                        "required: the subject to publish on (transport = \"nats\")".into(),
                    ),
                    (false, Some(subject))
                        if !crate::nats::is_subject(&subject.replace("{id}", "x"), false) =>
                    {
                        problem(
                            format!("{at}.subject"),
                            format!("{subject:?} is not a subject without wildcards"),
                        )
                    }
                    (false, Some(_)) if !route.path.is_empty() => problem(
                        format!("{at}.path"),
                        "a system with transport = \"nats\" publishes to its subject; remove the path".into(),
                    ),
                    _ => {}
                }
                self.check_file(&format!("{at}.mapping"), &route.mapping, &mut problem);
            }
            for (kind, route) in &system.lookups {
                let at = format!("{at}.lookups.{kind}");
                if !LOOKUP_KINDS.contains(&kind.as_str()) {
                    problem(
                        at.clone(),
                        format!("unknown lookup; expected one of {LOOKUP_KINDS:?}"),
                    );
                }
                if !route.path.starts_with('/') {
                    problem(format!("{at}.path"), "must start with /".into());
                }
                self.check_file(&format!("{at}.mapping"), &route.mapping, &mut problem);
            }
            for (kind, route) in &system.views {
                let at = format!("{at}.views.{kind}");
                if !VIEW_TYPES.contains(&kind.as_str()) {
                    problem(
                        at.clone(),
                        format!("unknown view; expected one of {VIEW_TYPES:?}"),
                    );
                }
                if !route.path.starts_with('/') {
                    problem(format!("{at}.path"), "must start with /".into());
                }
                self.check_file(&format!("{at}.mapping"), &route.mapping, &mut problem);
            }
        }
        crate::partners::check(&self.x12, &self.procurement, &self.partners, &mut problem);
        for name in self.partners.keys() {
            if self.systems.contains_key(name) {
                problem(
                    format!("partners.{name}"),
                    "a system has the same name; partners post to /v1/inbound/{name}/x12, so names must differ".into(),
                );
            }
        }
        if let Some(nats) = &self.nats {
            nats.check(self, &mut problem);
        }
        if let Some(fallback) = &self.contracts.fallback {
            for (i, target) in fallback.targets.iter().enumerate() {
                let subscribed = self
                    .systems
                    .get(target)
                    .is_some_and(|s| s.outbound.contains_key("contract"));
                if !subscribed {
                    problem(
                        format!("contracts.fallback.targets[{i}]"),
                        format!("{target:?} is not a system subscribed to contracts"),
                    );
                }
            }
        }
        problems
    }

    fn check_file(&self, at: &str, path: &Path, problem: &mut impl FnMut(String, String)) {
        let full = self.resolve(path);
        if !full.is_file() {
            problem(
                at.to_string(),
                format!("mapping file {} does not exist", full.display()),
            );
        }
    }

    /// The system that takes `message_type` from the PO workflow (the first in id order), with
    /// its route.
    pub fn outbound_system(&self, message_type: &str) -> Option<(&str, &OutboundRoute)> {
        self.systems
            .iter()
            .find_map(|(id, s)| s.outbound.get(message_type).map(|r| (id.as_str(), r)))
    }

    /// The trading partner that trades with `supplier`, if any.
    pub fn partner_for(&self, supplier: &str) -> Option<(&str, &crate::partners::PartnerConfig)> {
        self.partners
            .iter()
            .find(|(_, p)| p.supplier == supplier)
            .map(|(k, p)| (k.as_str(), p))
    }

    /// Whether `name` is a system the hub talks to: a connected system, a trading partner or
    /// the clinical system.
    pub fn knows_system(&self, name: &str) -> bool {
        self.systems.contains_key(name)
            || self.partners.contains_key(name)
            || self.clinical.system == name
    }

    /// Systems subscribed to a message type, in id order, with whether each is required.
    pub fn subscribers(&self, message_type: &str) -> Vec<(String, bool)> {
        self.systems
            .iter()
            .filter_map(|(id, s)| {
                s.outbound
                    .get(message_type)
                    .map(|r| (id.clone(), r.required))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_public_origin_is_scheme_host_and_port_only() {
        for good in [
            "https://concord.example.org",
            "http://127.0.0.1:8080",
            "https://a-b.c:443",
        ] {
            assert!(is_origin(good), "{good}");
        }
        for bad in [
            "concord.example.org",
            "https://concord.example.org/",
            "https://concord.example.org/console",
            "ftp://x",
            "https://",
            "https://x:99999",
            "https://user@x",
        ] {
            assert!(!is_origin(bad), "{bad}");
        }
    }

    #[test]
    fn empty_config_is_valid_with_defaults() {
        let config: Config = toml::from_str("").unwrap();
        assert!(config.check().is_empty());
        assert_eq!(config.hub.listen.to_string(), "127.0.0.1:8080");
        assert!(config.store_url().starts_with("sqlite://"));
    }

    #[test]
    fn reports_every_problem_with_its_path() {
        let config: Config = toml::from_str(
            r#"
            [delivery]
            max_attempts = 0
            [systems.erp]
            role = "erp"
            [systems.erp.outbound.contract]
            mapping = "nope.jq"
            method = "GET"
            path = "x"
            [systems.clm]
            role = "clm"
            [systems.clm.inbound.invoice]
            mapping = "missing.jq"
            [contracts.fallback]
            after_secs = 10
            targets = ["catalog"]
            "#,
        )
        .unwrap();
        let paths: Vec<String> = config.check().into_iter().map(|p| p.path).collect();
        for expected in [
            "delivery.max_attempts",
            "systems.erp.base_url",
            "systems.erp.outbound.contract.method",
            "systems.erp.outbound.contract.path",
            "systems.erp.outbound.contract.mapping",
            "systems.clm.inbound.invoice",
            "systems.clm.inbound.invoice.mapping",
            "contracts.fallback.targets[0]",
        ] {
            assert!(
                paths.iter().any(|p| p == expected),
                "missing {expected} in {paths:?}"
            );
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = toml::from_str::<Config>("[hub]\nlisten_addr = \"x\"").unwrap_err();
        assert!(err.to_string().contains("listen_addr"), "{err}");
    }

    #[test]
    fn env_overrides_apply() {
        let mut config = Config::default();
        config.apply_env(|k| match k {
            "CONCORD_LISTEN" => Some("127.0.0.1:9999".into()),
            "CONCORD_STORE_URL" => Some("postgres://x/y".into()),
            _ => None,
        });
        assert_eq!(config.hub.listen.port(), 9999);
        assert_eq!(config.store_url(), "postgres://x/y");
    }
}
