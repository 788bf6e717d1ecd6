//! A minimal migration runner: numbered SQL files per dialect, applied in order, each in its own
//! transaction, recorded in `concord_migrations`.
//!
//! We do not use sqlx's migrator because the same logical migration exists twice (one file per
//! dialect) and the runner must work through the `Any` driver.

use crate::{Dialect, Error, Result, Store};

struct Migration {
    version: i64,
    sqlite: &'static str,
    postgres: &'static str,
}

const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    sqlite: include_str!("../migrations/sqlite/0001_core.sql"),
    postgres: include_str!("../migrations/postgres/0001_core.sql"),
}];

/// The newest schema version this build knows.
pub const LATEST: i64 = 1;

pub(crate) async fn run(store: &Store) -> Result<()> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS concord_migrations (version BIGINT NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .execute(&store.pool)
    .await?;
    for migration in MIGRATIONS {
        let mut tx = store.pool.begin().await?;
        // Serialise concurrent starters on PostgreSQL: the second waits, then sees the row.
        if store.dialect == Dialect::Postgres {
            sqlx::query("LOCK TABLE concord_migrations IN EXCLUSIVE MODE")
                .execute(&mut *tx)
                .await?;
        }
        let applied = sqlx::query("SELECT version FROM concord_migrations WHERE version = $1")
            .bind(migration.version)
            .fetch_optional(&mut *tx)
            .await?;
        if applied.is_some() {
            continue;
        }
        let sql = match store.dialect {
            Dialect::Sqlite => migration.sqlite,
            Dialect::Postgres => migration.postgres,
        };
        sqlx::raw_sql(sql)
            .execute(&mut *tx)
            .await
            .map_err(|source| Error::Migration {
                version: migration.version,
                source,
            })?;
        sqlx::query("INSERT INTO concord_migrations (version, applied_at) VALUES ($1, $2)")
            .bind(migration.version)
            .bind(chrono::Utc::now().timestamp_micros())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    Ok(())
}

impl Store {
    /// The highest applied migration, for readiness checks.
    pub async fn schema_version(&self) -> Result<i64> {
        let row: (i64,) =
            sqlx::query_as("SELECT COALESCE(MAX(version), 0) FROM concord_migrations")
                .fetch_one(&self.pool)
                .await?;
        Ok(row.0)
    }
}
