//! Concord's durable state, behind one interface with two real backends: SQLite (the embedded
//! default, one file, WAL) and PostgreSQL (several hub instances sharing work).
//!
//! Only this crate knows SQL. Statements are written once, as data (`db::Stmt`), and run on
//! either database: SQLite through rusqlite on a dedicated thread with group commit, PostgreSQL
//! through a sqlx pool. Where the dialects differ (identity columns, row locking) the difference
//! is kept to the migrations and to [`Dialect`]. Every write that changes business state goes
//! through [`Store::commit`], so a state change, its canonical event and its outbox rows land in
//! one transaction or not at all.

mod commit;
mod console;
mod db;
mod edi;
mod governance;
mod inventory;
mod master;
pub mod migrate;
mod read;
mod rows;
pub mod testing;

use std::str::FromStr;

pub use commit::{CommitReceipt, DeliveryOutcome, Write};
pub use console::{AttemptSummary, Lineage, PausedTarget, TransactionRef};
pub use db::sqlite::ThreadStats as SqliteThreadStats;
pub use edi::ControlNumbers;
pub use governance::{ApiKeyRecord, AuditChain, AuditFilter, AuditRecord, NewAuditEntry};
pub use inventory::StockLevel;
pub use master::{
    CrosswalkConflict, CrosswalkEntry, CrosswalkFilter, ReconciliationFinding, ReconciliationRun,
    supplier_keys,
};
pub use migrate::LATEST as SCHEMA_VERSION;
pub use rows::*;

use db::{Db, Stmt};

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("SQLite error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("PostgreSQL error: {0}")]
    Postgres(#[from] sqlx::Error),
    #[error("the store is closed")]
    Closed,
    #[error("cannot start the SQLite thread: {0}")]
    Thread(std::io::Error),
    #[error("unexpected result from the database: {0}")]
    Decode(String),
    #[error("unsupported store URL {0:?}: expected sqlite://… or postgres://…")]
    UnsupportedUrl(String),
    #[error("stored JSON in {table} is unreadable: {source}")]
    Corrupt {
        table: &'static str,
        source: serde_json::Error,
    },
    #[error("migration {version} failed: {reason}")]
    Migration { version: i64, reason: String },
    #[error("{0}")]
    Conflict(String),
    /// The work being finished was taken over by another worker (its lease had ended): what
    /// this one computed is dropped, the other one's result stands.
    #[error("claim lost: {0}")]
    LostClaim(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which SQL database is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    pub fn of_url(url: &str) -> Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Dialect::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Dialect::Postgres)
        } else {
            Err(Error::UnsupportedUrl(url.to_string()))
        }
    }
}

/// How to open a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// `sqlite://path/to/file.db` or `postgres://user@host/db`.
    pub url: String,
    /// PostgreSQL only: the schema to create and use (tests use one each).
    pub schema: Option<String>,
    /// PostgreSQL pool size. SQLite always uses one connection on one thread (see `db::sqlite`).
    pub max_connections: u32,
    /// SQLite only: the page cache in MiB (SQLite's default, 2 MiB, when `None`). A bulk
    /// import wants a large one: its transactions touch many index pages at random, and a small
    /// cache spills them to the WAL mid-transaction. The hub keeps the default (see
    /// `db::sqlite`).
    pub sqlite_cache_mib: Option<u32>,
}

impl StoreOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            schema: None,
            max_connections: 8,
            sqlite_cache_mib: None,
        }
    }

    /// The options for a bulk writer (`concord import`): a 256 MiB SQLite page cache.
    pub fn bulk(mut self) -> Self {
        self.sqlite_cache_mib = Some(256);
        self
    }

    pub fn sqlite_file(path: &std::path::Path) -> Self {
        Self::new(format!("sqlite://{}?mode=rwc", path.display()))
    }
}

/// A handle on the store; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
}

impl Store {
    /// Connects, applies pragmas or the search path, and runs pending migrations.
    pub async fn open(options: StoreOptions) -> Result<Self> {
        let db = match Dialect::of_url(&options.url)? {
            Dialect::Sqlite => Db::Sqlite(db::sqlite::Sqlite::open(
                &options.url,
                options.sqlite_cache_mib,
            )?),
            Dialect::Postgres => Db::Postgres(
                db::postgres::Postgres::connect(
                    &options.url,
                    options.schema.as_deref(),
                    options.max_connections,
                )
                .await?,
            ),
        };
        let store = Store { db };
        migrate::run(&store).await?;
        Ok(store)
    }

    /// How the SQLite thread has grouped its work so far; `None` on PostgreSQL.
    pub fn sqlite_stats(&self) -> Option<SqliteThreadStats> {
        match &self.db {
            Db::Sqlite(db) => Some(db.stats()),
            Db::Postgres(_) => None,
        }
    }

    pub fn dialect(&self) -> Dialect {
        match self.db {
            Db::Sqlite(_) => Dialect::Sqlite,
            Db::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<()> {
        self.db.fetch(Stmt::new("SELECT 1 AS one")).await?;
        Ok(())
    }

    /// Finishes queued work and closes the connections.
    pub async fn close(&self) {
        self.db.close().await;
    }

    /// Locks workflow ids across every instance sharing this store, for as long as the answer
    /// lives: on PostgreSQL, session advisory locks on a connection of their own (released when
    /// the answer is dropped, or by PostgreSQL when the instance dies); on SQLite, which only
    /// one hub process uses, nothing (the hub's own striped locks suffice).
    pub async fn lock_across_instances(&self, names: &[&str]) -> Result<InstanceLocks> {
        Ok(InstanceLocks {
            held: match &self.db {
                Db::Postgres(db) => Some(db.advisory_lock(names).await?),
                Db::Sqlite(_) => None,
            },
        })
    }

    /// Drops a PostgreSQL schema created for a test.
    pub async fn drop_schema(url: &str, schema: &str) -> Result<()> {
        db::postgres::Postgres::drop_schema(url, schema).await
    }
}

/// Workflow locks held across instances (see [`Store::lock_across_instances`]); dropping it
/// releases them.
pub struct InstanceLocks {
    held: Option<db::postgres::HeldLocks>,
}

impl InstanceLocks {
    /// Where a step holding these locks commits (see [`Store::commit_in`]); `None` on SQLite.
    pub fn session(&self) -> Option<LockSession> {
        self.held.as_ref().map(|h| LockSession(h.session()))
    }
}

/// The database session that holds a step's locks across instances; the step commits in it,
/// so a step whose locks were lost (its session ended) cannot commit at all.
#[derive(Clone)]
pub struct LockSession(db::postgres::LockSession);

/// Microseconds since the Unix epoch, the store's time representation (always UTC).
pub fn to_micros(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_micros()
}

pub fn from_micros(us: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_micros(us).unwrap_or_default()
}

/// Status of an inbound message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboxStatus {
    /// Stored; processing has not finished (a crash here is recovered on start-up).
    Received,
    /// Mapped, validated and committed.
    Processed,
    /// Refused by mapping, validation or resolution: kept, listed, fixable and replayable.
    Quarantined,
}

impl InboxStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InboxStatus::Received => "received",
            InboxStatus::Processed => "processed",
            InboxStatus::Quarantined => "quarantined",
        }
    }
}

impl FromStr for InboxStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "received" => Ok(Self::Received),
            "processed" => Ok(Self::Processed),
            "quarantined" => Ok(Self::Quarantined),
            other => Err(format!("unknown inbox status {other:?}")),
        }
    }
}

/// Status of one outbox row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    Pending,
    InFlight,
    Delivered,
    Dead,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::InFlight => "in_flight",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Dead => "dead",
        }
    }
}

impl FromStr for DeliveryStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "pending" => Ok(Self::Pending),
            "in_flight" => Ok(Self::InFlight),
            "delivered" => Ok(Self::Delivered),
            "dead" => Ok(Self::Dead),
            other => Err(format!("unknown delivery status {other:?}")),
        }
    }
}
