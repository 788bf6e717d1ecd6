//! The `concord` binary: run the hub, run the demo estate, check a config, print schemas.
//!
//! This is the only place that uses `anyhow`: libraries return typed errors, the binary turns
//! them into messages for people.

mod admin;
mod bench;
mod demo;
mod demo_clinical;
mod demo_requisitions;
mod demo_suppliers;
mod import;
mod otlp;
mod seed;
mod x12;

use std::{net::SocketAddr, path::PathBuf};

/// mimalloc rather than glibc's allocator: the hub allocates on one thread and frees on another
/// all the time (a statement built on a runtime thread is dropped on the SQLite thread, its rows
/// the other way round), and glibc's arenas then contend on one lock (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use concord_engine::{Config, Hub, import::ImportKind, mapping::MappingRegistry};

#[derive(Parser)]
#[command(
    name = "concord",
    version,
    about = "Concord: the integration hub that knows contract prices.",
    long_about = "Concord keeps a health system's ERP, purchasing suite, contract management, suppliers and \
clinical systems in step.\n\nStart with `concord demo`: it runs the hub on an embedded SQLite store next to \
simulated systems and shows a contract reaching every system."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the hub (API and workers). With no --config it runs on embedded defaults: SQLite under
    /// ./concord-data, API on 127.0.0.1:8080.
    Serve {
        /// Config file (TOML). Relative mapping paths are resolved from its folder.
        #[arg(long, env = "CONCORD_CONFIG")]
        config: Option<PathBuf>,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Run the hub with the sandbox systems, seed a regional health system, propagate 100
    /// contracts through an ERP outage, print what happened and keep serving until Ctrl-C.
    Demo {
        #[command(flatten)]
        common: CommonArgs,
        /// Run the scenario and exit: 0 only if every contract ended active.
        #[arg(long)]
        once: bool,
    },
    /// Validate a config file and compile its mappings; report every problem at once.
    Check {
        #[arg(long)]
        config: PathBuf,
    },
    /// Contract tests of the mappings: run the sample payloads kept beside each inbound mapping
    /// (`x.in.jq` → `x.in.samples/*.json`) through it and check the result against the canonical
    /// model. Samples named `*.invalid.json` must be refused. Exits non-zero on any failure.
    TestMappings {
        #[arg(long)]
        config: PathBuf,
    },
    /// Run the Rego policy tests: every `test_*` rule of the `*_test.rego` files beside the
    /// configured requisition policy (or of the built-in policy's own tests), plus the test files
    /// given. Exits non-zero when any test fails.
    TestPolicies {
        #[arg(long, env = "CONCORD_CONFIG")]
        config: Option<PathBuf>,
        /// More test files to run against the policy.
        tests: Vec<PathBuf>,
    },
    /// X12 EDI tools (offline).
    X12 {
        #[command(subcommand)]
        what: X12Command,
    },
    /// Load harness: measure price lookups or the inbound-to-delivered pipeline on loopback
    /// (build with --release; results go in BENCHMARKS.md).
    Bench {
        #[command(subcommand)]
        what: BenchCommand,
    },
    /// Manage API keys in the store (works before any key exists).
    Keys {
        #[command(subcommand)]
        what: KeysCommand,
        #[arg(long, env = "CONCORD_CONFIG", global = true)]
        config: Option<PathBuf>,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        what: AuditCommand,
        #[arg(long, env = "CONCORD_CONFIG", global = true)]
        config: Option<PathBuf>,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Bulk import from CSV into the store (safe while a hub runs on it): suppliers, items, or
    /// an exclusion list (OIG LEIE or a SAM-style file). Streams, shows progress, writes refused
    /// rows to a report (FILE.errors.csv unless --report).
    Import {
        what: ImportWhat,
        file: PathBuf,
        /// For exclusions: which list the file is.
        #[arg(long, default_value = "leie")]
        list: String,
        #[arg(long)]
        report: Option<PathBuf>,
        #[arg(long, env = "CONCORD_CONFIG")]
        config: Option<PathBuf>,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Print the OpenAPI 3.1 document of the API (the same one the hub serves at
    /// /v1/openapi.json), generated from the code; no hub needed.
    Openapi,
    /// Print the JSON Schemas of the canonical model and of every event type.
    Schema {
        /// Write one file per schema into this folder instead of printing.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key and print it (once; only its hash is stored).
    Create {
        #[arg(long)]
        name: String,
        /// admin, integration, operator, buyer, approver, ap_clerk, auditor or viewer.
        #[arg(long)]
        role: String,
        /// For integration keys: the configured system the key speaks for.
        #[arg(long)]
        system: Option<String>,
        /// The person the key belongs to (approver keys: approvals are made in their name).
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
    /// List keys (never their secrets).
    List,
    /// Revoke a key by id.
    Revoke { id: String },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain; exit non-zero and name every edited, deleted or reordered entry.
    Verify,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ImportWhat {
    Suppliers,
    Items,
    Exclusions,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// GET /v1/prices against many active contracts.
    Prices {
        #[arg(long, default_value_t = 10_000)]
        contracts: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long, default_value_t = 32)]
        connections: usize,
    },
    /// The procure-to-pay cycle through the sandbox: requisitions → ERP POs → 850s → the
    /// supplier's 997/855/856/810 → warehouse receipts → three-way match → payment releases.
    PoCycle {
        #[arg(long, default_value_t = 10_000)]
        orders: usize,
        #[arg(long, default_value_t = 32)]
        connections: usize,
    },
    /// Every console page, signed in over HTTP, with this many canonical events stored (and
    /// their transactions' deliveries, lineage and exceptions); fails over the budget at p95.
    Console {
        #[arg(long, default_value_t = 1_000_000)]
        events: usize,
        /// Requests per page.
        #[arg(long, default_value_t = 20)]
        rounds: usize,
        #[arg(long, default_value_t = 300)]
        budget_ms: u64,
    },
    /// `concord import exclusions` of a generated LEIE-format file into a fresh SQLite store;
    /// fails under --min-rows-per-sec.
    Import {
        #[arg(long, default_value_t = 500_000)]
        rows: usize,
        #[arg(long, default_value_t = 100_000)]
        min_rows_per_sec: u64,
    },
    /// HL7 v2 DFT^P03 over MLLP: stored (redacted) and acknowledged, as fast as the senders go,
    /// then ACK latency at a steady rate; fails under --min-per-sec or over --max-p99-ms.
    Mllp {
        #[arg(long, default_value_t = 100_000)]
        messages: usize,
        #[arg(long, default_value_t = 64)]
        connections: usize,
        #[arg(long, default_value_t = 1_000)]
        rate: u32,
        #[arg(long, default_value_t = 10_000)]
        latency_messages: usize,
        #[arg(long, default_value_t = 10_000)]
        min_per_sec: u64,
        #[arg(long, default_value_t = 20)]
        max_p99_ms: u64,
    },
    /// POST /v1/contracts → commit → delivery to a loopback sink.
    Pipeline {
        #[arg(long, default_value_t = 20_000)]
        messages: usize,
        /// Messages per second (0 = as fast as possible).
        #[arg(long, default_value_t = 0)]
        rate: u32,
        #[arg(long, default_value_t = 32)]
        connections: usize,
    },
    /// The pipeline through N `concord serve` processes sharing one fresh PostgreSQL database
    /// (made on the server of --store and dropped afterwards), for each N of --instances, with
    /// where the CPU went.
    ScaleOut {
        /// A PostgreSQL server URL; the bench creates its own database there.
        #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
        store: String,
        /// Instance counts to measure, in turn.
        #[arg(long, value_delimiter = ',', default_value = "1,2")]
        instances: Vec<usize>,
        #[arg(long, default_value_t = 20_000)]
        messages: usize,
        #[arg(long, default_value_t = 64)]
        connections: usize,
        /// Each instance's PostgreSQL connections (`[hub] store_connections`).
        #[arg(long, default_value_t = 8)]
        store_connections: u32,
    },
    /// What authentication and authorisation add to each request (in-process, per call).
    Auth {
        #[arg(long, default_value_t = 200_000)]
        iterations: usize,
    },
}

#[derive(Subcommand)]
enum X12Command {
    /// Parse a file and print it as JSON with its diagnostics (segment number, segment id,
    /// element, severity, reason); exits non-zero when any diagnostic is an error.
    Parse { file: PathBuf },
}

#[derive(Args, Clone)]
struct CommonArgs {
    /// API listen address, e.g. 127.0.0.1:8080 (port 0 picks a free one).
    #[arg(long, global = true)]
    listen: Option<SocketAddr>,
    /// Folder for the embedded SQLite store.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Accept HL7 v2 over MLLP on this address, e.g. 127.0.0.1:2575 (`[clinical] mllp_listen`).
    #[arg(long, global = true)]
    mllp_listen: Option<SocketAddr>,
    /// Publish events to (and read `[nats.sources]` from) NATS JetStream at this URL, e.g.
    /// nats://127.0.0.1:4222 (`[nats] url`, env `CONCORD_NATS_URL`).
    #[arg(long, global = true)]
    nats_url: Option<String>,
}

impl CommonArgs {
    fn apply(&self, config: &mut Config) {
        if let Some(listen) = self.listen {
            config.hub.listen = listen;
        }
        if let Some(dir) = &self.data_dir {
            config.hub.data_dir = dir.clone();
        }
        if let Some(addr) = self.mllp_listen {
            config.clinical.mllp_listen = Some(addr);
        }
        if let Some(url) = &self.nats_url {
            config.set_nats_url(url.clone());
        }
    }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let export = init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if let Some((endpoint, spans)) = export {
        tracing::info!(endpoint = %endpoint, "exporting spans over OTLP");
        runtime.spawn(otlp::export(endpoint, spans));
    }
    runtime.block_on(async move {
        match cli.command {
            Command::Serve { config, common } => serve(config, common).await,
            Command::Demo { common, once } => {
                demo::run(
                    common.listen,
                    common.data_dir,
                    common.mllp_listen,
                    common.nats_url,
                    once,
                )
                .await
            }
            Command::Check { config } => check(&config),
            Command::TestMappings { config } => test_mappings(&config),
            Command::TestPolicies { config, tests } => test_policies(config.as_deref(), &tests),
            Command::X12 {
                what: X12Command::Parse { file },
            } => {
                if !x12::parse(&file)? {
                    std::process::exit(1);
                }
                Ok(())
            }
            Command::Keys {
                what,
                config,
                common,
            } => {
                let config = load_config(config.as_ref(), &common)?;
                match what {
                    KeysCommand::Create {
                        name,
                        role,
                        system,
                        user,
                        expires_in_days,
                    } => {
                        admin::keys_create(config, name, &role, system, user, expires_in_days).await
                    }
                    KeysCommand::List => admin::keys_list(config).await,
                    KeysCommand::Revoke { id } => admin::keys_revoke(config, &id).await,
                }
            }
            Command::Audit {
                what: AuditCommand::Verify,
                config,
                common,
            } => admin::audit_verify(load_config(config.as_ref(), &common)?).await,
            Command::Import {
                what,
                file,
                list,
                report,
                config,
                common,
            } => {
                let kind = match what {
                    ImportWhat::Suppliers => ImportKind::Suppliers,
                    ImportWhat::Items => ImportKind::Items,
                    ImportWhat::Exclusions => ImportKind::Exclusions(
                        list.parse()
                            .map_err(|e: String| anyhow::anyhow!("--list: {e}"))?,
                    ),
                };
                import::run(load_config(config.as_ref(), &common)?, kind, &file, report).await
            }
            Command::Schema { out } => schema(out),
            Command::Openapi => {
                println!(
                    "{}",
                    serde_json::to_string_pretty(concord_api::openapi::document())?
                );
                Ok(())
            }
            Command::Bench {
                what:
                    BenchCommand::Prices {
                        contracts,
                        seconds,
                        connections,
                    },
            } => {
                bench::prices(
                    contracts,
                    std::time::Duration::from_secs(seconds),
                    connections,
                )
                .await
            }
            Command::Bench {
                what:
                    BenchCommand::Pipeline {
                        messages,
                        rate,
                        connections,
                    },
            } => bench::pipeline(messages, rate, connections).await,
            Command::Bench {
                what:
                    BenchCommand::Mllp {
                        messages,
                        connections,
                        rate,
                        latency_messages,
                        min_per_sec,
                        max_p99_ms,
                    },
            } => {
                bench::mllp::run(
                    messages,
                    connections,
                    rate,
                    latency_messages,
                    min_per_sec,
                    max_p99_ms,
                )
                .await
            }
            Command::Bench {
                what:
                    BenchCommand::Import {
                        rows,
                        min_rows_per_sec,
                    },
            } => bench::import::run(rows, min_rows_per_sec).await,
            Command::Bench {
                what:
                    BenchCommand::PoCycle {
                        orders,
                        connections,
                    },
            } => bench::po_cycle(orders, connections).await,
            Command::Bench {
                what: BenchCommand::Auth { iterations },
            } => bench::auth(iterations).await,
            Command::Bench {
                what:
                    BenchCommand::ScaleOut {
                        store,
                        instances,
                        messages,
                        connections,
                        store_connections,
                    },
            } => bench::scale_out(store, instances, messages, connections, store_connections).await,
            Command::Bench {
                what:
                    BenchCommand::Console {
                        events,
                        rounds,
                        budget_ms,
                    },
            } => bench::console(events, rounds, budget_ms).await,
        }
    })
}

/// Logs to stderr (`CONCORD_LOG` filters them, `CONCORD_LOG_FORMAT=json` makes them JSON), and
/// spans to an OTLP collector when the OpenTelemetry endpoint variables say where (`otlp.rs`):
/// then the exporter's endpoint and queue are returned, for a task on the runtime to drain.
fn init_tracing() -> Option<(String, tokio::sync::mpsc::Receiver<otlp::FinishedSpan>)> {
    use tracing_subscriber::{EnvFilter, Layer, prelude::*};
    let filter =
        EnvFilter::try_from_env("CONCORD_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = if std::env::var("CONCORD_LOG_FORMAT").as_deref() == Ok("json") {
        fmt.json().boxed()
    } else {
        fmt.boxed()
    };
    let (otlp_layer, export) = match otlp::endpoint_from_env(|k| std::env::var(k).ok()) {
        Some(endpoint) => {
            let (layer, spans) = otlp::layer();
            // The hub's own spans, whatever the log level.
            let only_ours = tracing_subscriber::filter::Targets::new()
                .with_target("concord", tracing::Level::INFO);
            (Some(layer.with_filter(only_ours)), Some((endpoint, spans)))
        }
        None => (None, None),
    };
    tracing_subscriber::registry()
        .with(fmt.with_filter(filter))
        .with(otlp_layer)
        .init();
    export
}

/// The config file, or the embedded defaults with the environment's overrides; then the
/// command line's.
fn load_config(path: Option<&PathBuf>, common: &CommonArgs) -> Result<Config> {
    let mut config = match path {
        Some(path) => Config::load(path)?,
        None => {
            let mut config = Config::default();
            config.apply_env(|k| std::env::var(k).ok());
            config
        }
    };
    common.apply(&mut config);
    Ok(config)
}

async fn serve(config_path: Option<PathBuf>, common: CommonArgs) -> Result<()> {
    let config = load_config(config_path.as_ref(), &common)?;
    let listener = tokio::net::TcpListener::bind(config.hub.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.hub.listen))?;
    let hub = Hub::open(config).await?;
    if let Ok(key) = std::env::var("CONCORD_BOOTSTRAP_ADMIN_KEY")
        && !key.is_empty()
    {
        hub.install_bootstrap_key(&concord_model::Secret::new(key))
            .await
            .map_err(|e| anyhow::anyhow!("CONCORD_BOOTSTRAP_ADMIN_KEY: {e}"))?;
    }
    if hub.store().api_keys().await?.is_empty() {
        tracing::warn!(
            "no API keys exist, so every /v1 route answers 401: set CONCORD_BOOTSTRAP_ADMIN_KEY \
             (32+ characters) or run `concord keys create --name admin --role admin`"
        );
    }
    let workers = hub.start_workers();
    if let Some(mllp) = concord_engine::mllp::start(&hub).await? {
        println!("Concord accepting HL7 v2 over MLLP on {mllp}");
    }
    let addr = listener.local_addr()?;
    let scheme = concord_api::scheme(&hub);
    tracing::info!(%addr, "Concord is serving; API at {scheme}://{addr}/v1");
    println!("Concord listening on {scheme}://{addr}");
    let stop = hub.clone();
    concord_api::serve(listener, hub, async move {
        shutdown_signal().await;
        stop.shutdown();
    })
    .await?;
    for handle in workers.handles {
        let _ = handle.await;
    }
    Ok(())
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("signal handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// The config and its compiled mappings, with every problem of both reported at once.
fn checked_config(path: &std::path::Path) -> Result<(Config, MappingRegistry)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config {}", path.display()))?;
    let base_dir = path
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let mut config = Config::parse_unchecked(&text, &base_dir).map_err(|message| {
        anyhow::anyhow!("config {} is not valid TOML: {message}", path.display())
    })?;
    config.apply_env(|k| std::env::var(k).ok());
    // Config rules, mapping and policy compilation all report, so one run shows every problem.
    let policy = concord_engine::policy::compile_configured(&config);
    match (MappingRegistry::validate(&config), policy) {
        (Ok(mappings), Ok(_)) => Ok((config, mappings)),
        (validated, policy) => {
            let mut problems = validated.err().unwrap_or_default();
            // A missing file is reported by the config check already.
            if let Err(p) = policy
                && !problems.iter().any(|q| q.path == p.path)
            {
                problems.push(p);
            }
            anyhow::bail!(
                "config {} has {} problem(s):\n{}",
                path.display(),
                problems.len(),
                concord_engine::config::format_problems(&problems)
            )
        }
    }
}

fn test_mappings(path: &std::path::Path) -> Result<()> {
    let (config, mappings) = checked_config(path)?;
    let report = concord_engine::samples::run(&config, &mappings);
    for outcome in &report.outcomes {
        let sample = outcome.sample.display();
        match &outcome.failure {
            None => println!("ok    {}  {sample}", outcome.route),
            Some(why) => println!("FAIL  {}  {sample}\n      {why}", outcome.route),
        }
    }
    for route in &report.without_samples {
        println!("none  {route}  (no samples beside its mapping: nothing is tested)");
    }
    let failed = report.failed();
    println!(
        "{} sample(s), {failed} failed, {} inbound mapping(s) without samples",
        report.outcomes.len(),
        report.without_samples.len()
    );
    if failed > 0 {
        anyhow::bail!("{failed} sample(s) failed");
    }
    Ok(())
}

fn test_policies(config: Option<&std::path::Path>, tests: &[PathBuf]) -> Result<()> {
    let policy = match config {
        Some(path) => {
            let config = Config::load(path)?;
            config
                .procurement
                .requisition_policy
                .as_ref()
                .map(|p| config.resolve(p))
        }
        None => None,
    };
    let suite = concord_engine::policy::test_suite(policy.as_deref(), tests)?;
    let results = suite.run()?;
    for r in &results {
        match &r.failure {
            None => println!("ok    {}  ({})", r.name, r.file),
            Some(why) => println!("FAIL  {}  ({})\n      {why}", r.name, r.file),
        }
    }
    let failed = results.iter().filter(|r| r.failure.is_some()).count();
    println!(
        "{} policy test(s) against {}, {failed} failed",
        results.len(),
        suite
            .policies
            .iter()
            .map(|(f, _)| f.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if results.is_empty() {
        anyhow::bail!(
            "no test_* rules found: nothing is tested (put *_test.rego files beside the policy)"
        );
    }
    if failed > 0 {
        anyhow::bail!("{failed} policy test(s) failed");
    }
    Ok(())
}

fn check(path: &std::path::Path) -> Result<()> {
    let (config, _) = checked_config(path)?;
    println!(
        "config {} is valid: {} system(s), {} mapping(s) compiled",
        path.display(),
        config.systems.len(),
        config
            .systems
            .values()
            .map(|s| s.inbound.len() + s.outbound.len() + s.lookups.len())
            .sum::<usize>()
    );
    Ok(())
}

fn schema(out: Option<PathBuf>) -> Result<()> {
    let mut schemas = concord_model::schema::canonical_schemas();
    schemas.extend(concord_model::events::event_schemas());
    match out {
        None => {
            let all: serde_json::Map<String, serde_json::Value> = schemas
                .into_iter()
                .map(|(n, s)| (n.to_string(), s))
                .collect();
            println!("{}", serde_json::to_string_pretty(&all)?);
        }
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            for (name, schema) in schemas {
                let path = dir.join(format!("{name}.schema.json"));
                std::fs::write(&path, serde_json::to_string_pretty(&schema)?)?;
                println!("wrote {}", path.display());
            }
        }
    }
    Ok(())
}
