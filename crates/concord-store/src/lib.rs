//! Concord's durable state, behind one interface with two real backends: SQLite (the embedded
//! default, one file, WAL) and PostgreSQL (several hub instances sharing work).
//!
//! Only this crate knows SQL. The same statements run on both databases through sqlx's `Any`
//! driver; where the dialects differ (identity columns, row locking) the difference is kept to the
//! migrations and to [`Dialect`]. Every write that changes business state goes through
//! [`Store::commit`], so a state change, its canonical event and its outbox rows land in one
//! transaction or not at all.

mod commit;
pub mod migrate;
mod read;
mod rows;
pub mod testing;

use std::{str::FromStr, time::Duration};

use sqlx::any::{AnyPoolOptions, install_default_drivers};

pub use commit::{CommitReceipt, DeliveryOutcome, Write};
pub use migrate::LATEST as SCHEMA_VERSION;
pub use rows::*;

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("unsupported store URL {0:?}: expected sqlite://… or postgres://…")]
    UnsupportedUrl(String),
    #[error("stored JSON in {table} is unreadable: {source}")]
    Corrupt {
        table: &'static str,
        source: serde_json::Error,
    },
    #[error("migration {version} failed: {source}")]
    Migration { version: i64, source: sqlx::Error },
    #[error("{0}")]
    Conflict(String),
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
    /// PostgreSQL pool size. SQLite always uses one connection: SQLite has one writer at a
    /// time anyway, and a single connection rules out `SQLITE_BUSY` on lock upgrades.
    pub max_connections: u32,
}

impl StoreOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            schema: None,
            max_connections: 8,
        }
    }

    pub fn sqlite_file(path: &std::path::Path) -> Self {
        Self::new(format!("sqlite://{}?mode=rwc", path.display()))
    }
}

/// A handle on the store; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: sqlx::AnyPool,
    dialect: Dialect,
}

impl Store {
    /// Connects, applies pragmas or the search path, and runs pending migrations.
    pub async fn open(options: StoreOptions) -> Result<Self> {
        install_default_drivers();
        let dialect = Dialect::of_url(&options.url)?;
        // No ping before each acquire: it doubles the round trips of every query, and a broken
        // connection surfaces as an error on the query itself anyway.
        let pool_options = AnyPoolOptions::new()
            .acquire_timeout(Duration::from_secs(30))
            .test_before_acquire(false);
        let pool = match dialect {
            Dialect::Sqlite => {
                pool_options
                    .max_connections(1)
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            for pragma in [
                                "PRAGMA journal_mode = WAL",
                                "PRAGMA synchronous = NORMAL",
                                "PRAGMA busy_timeout = 10000",
                                "PRAGMA foreign_keys = ON",
                            ] {
                                sqlx::query(pragma).execute(&mut *conn).await?;
                            }
                            Ok(())
                        })
                    })
                    .connect(&options.url)
                    .await?
            }
            Dialect::Postgres => {
                if let Some(schema) = &options.schema {
                    // Create the schema with a short-lived connection before the pool points
                    // every connection's search path at it.
                    let bootstrap = AnyPoolOptions::new()
                        .max_connections(1)
                        .connect(&options.url)
                        .await?;
                    let create = format!("CREATE SCHEMA IF NOT EXISTS {}", quote_ident(schema));
                    sqlx::query(sqlx::AssertSqlSafe(create))
                        .execute(&bootstrap)
                        .await?;
                    bootstrap.close().await;
                }
                let search_path = options
                    .schema
                    .as_ref()
                    .map(|schema| format!("SET search_path TO {}", quote_ident(schema)));
                pool_options
                    .max_connections(options.max_connections.max(2))
                    .after_connect(move |conn, _meta| {
                        let search_path = search_path.clone();
                        Box::pin(async move {
                            if let Some(sql) = search_path {
                                sqlx::query(sqlx::AssertSqlSafe(sql))
                                    .execute(&mut *conn)
                                    .await?;
                            }
                            Ok(())
                        })
                    })
                    .connect(&options.url)
                    .await?
            }
        };
        let store = Store { pool, dialect };
        migrate::run(&store).await?;
        Ok(store)
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Drops a PostgreSQL schema created for a test.
    pub async fn drop_schema(url: &str, schema: &str) -> Result<()> {
        install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .connect(url)
            .await?;
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", quote_ident(schema));
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&pool).await?;
        pool.close().await;
        Ok(())
    }
}

fn quote_ident(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

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
