//! A minimal migration runner: numbered SQL files, applied in order, each in its own
//! transaction, recorded in `concord_migrations`.
//!
//! Each migration is written once for both databases. The one construct the dialects spell
//! differently, an auto-numbered primary key, is written `{{SEQ_PRIMARY_KEY}}` and filled in
//! here. We do not use sqlx's migrator because it cannot do that substitution and must work
//! through the `Any` driver.

use crate::{Dialect, Error, Result, Store};

struct Migration {
    version: i64,
    sql: &'static str,
}

const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    sql: include_str!("../migrations/0001_core.sql"),
}];

/// The newest schema version this build knows.
pub const LATEST: i64 = 1;

/// A migration's SQL for one database.
fn for_dialect(sql: &str, dialect: Dialect) -> String {
    let seq_primary_key = match dialect {
        Dialect::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
        Dialect::Postgres => "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
    };
    sql.replace("{{SEQ_PRIMARY_KEY}}", seq_primary_key)
}

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
        let sql = for_dialect(migration.sql, store.dialect);
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_placeholder_is_filled_for_both_dialects() {
        for migration in MIGRATIONS {
            for dialect in [Dialect::Sqlite, Dialect::Postgres] {
                let sql = for_dialect(migration.sql, dialect);
                assert!(
                    !sql.contains("{{"),
                    "migration {} keeps a placeholder for {dialect:?}",
                    migration.version
                );
            }
        }
        assert!(
            for_dialect(MIGRATIONS[0].sql, Dialect::Postgres)
                .contains("GENERATED ALWAYS AS IDENTITY")
        );
    }
}
