//! A minimal migration runner: numbered SQL files, applied in order, each in its own
//! transaction, recorded in `concord_migrations`.
//!
//! Each migration is written once for both databases. The one construct the dialects spell
//! differently, an auto-numbered primary key, is written `{{SEQ_PRIMARY_KEY}}` and filled in
//! here; a line starting `{{POSTGRES}}` is run by PostgreSQL only. We do not use sqlx's migrator: it cannot do that substitution, and SQLite does not
//! run through sqlx.

use crate::{Dialect, Result, Store, db::Stmt};

struct Migration {
    version: i64,
    sql: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sql: include_str!("../migrations/0001_core.sql"),
    },
    Migration {
        version: 2,
        sql: include_str!("../migrations/0002_claim_indexes.sql"),
    },
    Migration {
        version: 3,
        sql: include_str!("../migrations/0003_governance.sql"),
    },
    Migration {
        version: 4,
        sql: include_str!("../migrations/0004_edi.sql"),
    },
    Migration {
        version: 5,
        sql: include_str!("../migrations/0005_requisitions.sql"),
    },
    Migration {
        version: 6,
        sql: include_str!("../migrations/0006_workbench.sql"),
    },
    Migration {
        version: 7,
        sql: include_str!("../migrations/0007_console.sql"),
    },
    Migration {
        version: 8,
        sql: include_str!("../migrations/0008_master_data.sql"),
    },
    Migration {
        version: 9,
        sql: include_str!("../migrations/0009_inventory.sql"),
    },
    Migration {
        version: 10,
        sql: include_str!("../migrations/0010_scale_out.sql"),
    },
    Migration {
        version: 11,
        sql: include_str!("../migrations/0011_open_deliveries.sql"),
    },
    Migration {
        version: 12,
        sql: include_str!("../migrations/0012_fewer_delivery_indexes.sql"),
    },
];

/// The newest schema version this build knows: the last migration's, so adding one is one entry.
pub const LATEST: i64 = MIGRATIONS[MIGRATIONS.len() - 1].version;

/// A migration's SQL for one database.
fn for_dialect(sql: &str, dialect: Dialect) -> String {
    let seq_primary_key = match dialect {
        Dialect::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
        Dialect::Postgres => "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
    };
    // `{{POSTGRES}}` starts a line only PostgreSQL runs (a storage parameter, say).
    let postgres_only = match dialect {
        Dialect::Sqlite => "-- (PostgreSQL only) ",
        Dialect::Postgres => "",
    };
    sql.replace("{{SEQ_PRIMARY_KEY}}", seq_primary_key)
        .replace("{{POSTGRES}}", postgres_only)
}

pub(crate) async fn run(store: &Store) -> Result<()> {
    for migration in MIGRATIONS {
        store
            .db
            .migrate(
                migration.version,
                for_dialect(migration.sql, store.dialect()),
            )
            .await?;
    }
    // Suppliers stored before migration 8 get their duplicate-detection keys (computed in
    // Rust, so not in the SQL script).
    loop {
        let batch = store.suppliers_without_keys(1_000).await?;
        if batch.is_empty() {
            break;
        }
        let stmts = batch
            .iter()
            .map(|s| crate::master::upsert_supplier(s, chrono::Utc::now(), store.dialect()))
            .collect();
        store.db.transaction(stmts).await?;
    }
    Ok(())
}

impl Store {
    /// The highest applied migration, for readiness checks.
    pub async fn schema_version(&self) -> Result<i64> {
        let rows = self
            .db
            .fetch(Stmt::new(
                "SELECT COALESCE(MAX(version), 0) AS version FROM concord_migrations",
            ))
            .await?;
        rows.first().map_or(Ok(0), |r| r.int("version"))
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
        let only = "{{POSTGRES}}ALTER TABLE t SET (fillfactor = 90);";
        assert_eq!(
            for_dialect(only, Dialect::Postgres),
            "ALTER TABLE t SET (fillfactor = 90);"
        );
        assert!(for_dialect(only, Dialect::Sqlite).starts_with("-- "));
    }
}
