//! PostgreSQL through a sqlx connection pool: the scale-out store several hub instances share.

use std::{borrow::Cow, sync::Arc, time::Duration};

use sqlx::{
    AssertSqlSafe, Column, Executor, PgPool, Row as _, TypeInfo,
    postgres::{PgArguments, PgPoolOptions, PgRow},
    query::Query,
};

use super::{
    MIGRATION_APPLIED, MIGRATION_RECORD, MIGRATIONS_TABLE, Row, Stmt, Value, check_changed,
};
use crate::{Error, Result};

#[derive(Clone, Debug)]
pub(crate) struct Postgres {
    pool: PgPool,
    /// Connections that hold workflow locks (session advisory locks) for as long as a step
    /// runs; apart from `pool` so a step's own queries never wait behind held locks.
    locks: PgPool,
    /// Mixed into every lock key, so stores in different schemas of one database (tests, or
    /// two hub estates) never lock each other out.
    lock_salt: String,
}

/// The advisory lock that serialises migrations (one key per database: "concord\0migrate").
const MIGRATION_LOCK: i64 = 0x636f_6e63_6f72_6400;

/// How long a step waits for another instance's step on the same workflow before it gives up
/// (its message stays received, its delivery or timer leased, and is taken up again later).
const LOCK_TIMEOUT: &str = "SET lock_timeout = '30s'";

/// A connection of the lock pool that holds a step's session advisory locks. The step's commit
/// runs on it too ([`Postgres::transaction_on`]): should the session end (the database
/// restarted, the connection broke), the locks are gone and so is the commit, so a step that
/// lost its locks can never write over the step that took them next.
#[derive(Clone)]
pub(crate) struct LockSession(
    std::sync::Arc<tokio::sync::Mutex<Option<sqlx::pool::PoolConnection<sqlx::Postgres>>>>,
);

/// Session advisory locks held on one connection of the lock pool. Dropping it releases them
/// (in a task: a drop cannot wait); a connection whose release fails is closed, which releases
/// them too, as does the death of the process holding them.
pub(crate) struct HeldLocks {
    session: LockSession,
}

impl HeldLocks {
    pub fn session(&self) -> LockSession {
        self.session.clone()
    }
}

impl Drop for HeldLocks {
    fn drop(&mut self) {
        let session = self.session.clone();
        let release = async move {
            let Some(mut conn) = session.0.lock().await.take() else {
                return;
            };
            let released = sqlx::query("SELECT pg_advisory_unlock_all()")
                .execute(&mut *conn)
                .await;
            if released.is_err() {
                // Never hand a connection that may still hold locks back to the pool.
                drop(conn.detach());
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(release);
            }
            Err(_) => {
                if let Ok(mut conn) = self.session.0.try_lock()
                    && let Some(conn) = conn.take()
                {
                    drop(conn.detach());
                }
            }
        }
    }
}

fn query(stmt: &Stmt) -> Query<'_, sqlx::Postgres, PgArguments> {
    let sql: Cow<'static, str> = stmt.sql.clone();
    let mut q = sqlx::query(AssertSqlSafe(sql)).persistent(!stmt.replan);
    for value in &stmt.params {
        q = match value {
            Value::Int(v) => q.bind(*v),
            Value::Text(v) => q.bind(v.clone()),
        };
    }
    q
}

fn decode(row: &PgRow, names: &Arc<[String]>) -> Result<Row> {
    let mut values = Vec::with_capacity(names.len());
    for (i, column) in row.columns().iter().enumerate() {
        values.push(match column.type_info().name() {
            "INT8" => Value::Int(row.try_get::<Option<i64>, _>(i)?),
            "INT4" => Value::Int(row.try_get::<Option<i32>, _>(i)?.map(i64::from)),
            "INT2" => Value::Int(row.try_get::<Option<i16>, _>(i)?.map(i64::from)),
            "TEXT" | "VARCHAR" | "NAME" | "BPCHAR" => Value::Text(row.try_get(i)?),
            other => {
                return Err(Error::Decode(format!(
                    "column {:?} has type {other}, expected an integer or text",
                    column.name()
                )));
            }
        });
    }
    Ok(Row {
        names: names.clone(),
        values,
    })
}

/// Runs every statement in `tx` and commits; dropping `tx` on an error rolls back.
async fn run_transaction(
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    stmts: &[Stmt],
) -> Result<Vec<u64>> {
    let mut changed = Vec::with_capacity(stmts.len());
    for stmt in stmts {
        let n = query(stmt).execute(&mut *tx).await?.rows_affected();
        check_changed(stmt, n)?;
        changed.push(n);
    }
    tx.commit().await?;
    Ok(changed)
}

fn decode_all(rows: &[PgRow]) -> Result<Vec<Row>> {
    let Some(first) = rows.first() else {
        return Ok(Vec::new());
    };
    let names: Arc<[String]> = first
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    rows.iter().map(|r| decode(r, &names)).collect()
}

impl Postgres {
    /// Connects a pool whose every connection uses `schema` (created first) when one is given.
    pub async fn connect(url: &str, schema: Option<&str>, max_connections: u32) -> Result<Self> {
        if let Some(schema) = schema {
            // Create the schema with a short-lived connection before the pool points every
            // connection's search path at it.
            let bootstrap = PgPoolOptions::new().max_connections(1).connect(url).await?;
            let create = format!("CREATE SCHEMA IF NOT EXISTS {}", quote_ident(schema));
            // Under the migrations' lock: two `IF NOT EXISTS` at once can still collide.
            let mut tx = bootstrap.begin().await?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(MIGRATION_LOCK)
                .execute(&mut *tx)
                .await?;
            sqlx::query(AssertSqlSafe(create)).execute(&mut *tx).await?;
            tx.commit().await?;
            bootstrap.close().await;
        }
        let search_path = schema.map(|s| format!("SET search_path TO {}", quote_ident(s)));
        let lock_search_path = search_path.clone();
        let pool = PgPoolOptions::new()
            .acquire_timeout(Duration::from_secs(30))
            // No ping before each acquire: it doubles the round trips of every query, and a
            // broken connection surfaces as an error on the query itself anyway.
            .test_before_acquire(false)
            .max_connections(max_connections.max(2))
            .after_connect(move |conn, _meta| {
                let search_path = search_path.clone();
                Box::pin(async move {
                    if let Some(sql) = search_path {
                        conn.execute(AssertSqlSafe(sql)).await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await?;
        let locks = PgPoolOptions::new()
            .acquire_timeout(Duration::from_secs(30))
            .test_before_acquire(false)
            .max_connections(max_connections.max(2))
            .min_connections(0)
            .idle_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _meta| {
                // Steps commit on these connections too: the same schema as the pool's.
                let search_path = lock_search_path.clone();
                Box::pin(async move {
                    conn.execute(LOCK_TIMEOUT).await?;
                    if let Some(sql) = search_path {
                        conn.execute(AssertSqlSafe(sql)).await?;
                    }
                    Ok(())
                })
            })
            .connect_lazy(url)?;
        Ok(Self {
            pool,
            locks,
            lock_salt: schema.unwrap_or_default().to_string(),
        })
    }

    /// Takes the session advisory lock of each name, in ascending key order (so two callers
    /// locking overlapping sets never wait on each other in a cycle), on one connection.
    pub async fn advisory_lock(&self, names: &[&str]) -> Result<HeldLocks> {
        let mut keys: Vec<i64> = names.iter().map(|n| lock_key(&self.lock_salt, n)).collect();
        keys.sort_unstable();
        keys.dedup();
        let mut conn = self.locks.acquire().await?;
        for key in keys {
            if let Err(e) = sqlx::query("SELECT pg_advisory_lock($1)")
                .bind(key)
                .execute(&mut *conn)
                .await
            {
                // Whatever was taken goes with the connection.
                drop(conn.detach());
                return Err(e.into());
            }
        }
        Ok(HeldLocks {
            session: LockSession(std::sync::Arc::new(tokio::sync::Mutex::new(Some(conn)))),
        })
    }

    pub async fn fetch(&self, stmt: Stmt) -> Result<Vec<Row>> {
        let rows = query(&stmt).fetch_all(&self.pool).await?;
        decode_all(&rows)
    }

    pub async fn execute(&self, stmt: Stmt) -> Result<u64> {
        Ok(query(&stmt).execute(&self.pool).await?.rows_affected())
    }

    pub async fn transaction(&self, stmts: Vec<Stmt>) -> Result<Vec<u64>> {
        let tx = self.pool.begin().await?;
        run_transaction(tx, &stmts).await
    }

    /// Runs a transaction on the connection that holds a step's locks (see [`LockSession`]).
    pub async fn transaction_on(
        &self,
        session: &LockSession,
        stmts: Vec<Stmt>,
    ) -> Result<Vec<u64>> {
        let mut conn = session.0.lock().await;
        let conn = conn.as_mut().ok_or(Error::Closed)?;
        let tx = sqlx::Connection::begin(&mut **conn).await?;
        run_transaction(tx, &stmts).await
    }

    pub async fn migrate(&self, version: i64, script: String) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        // Serialise instances starting together: the second waits, then sees the row. The lock
        // comes before the bookkeeping table is created, since two concurrent `CREATE TABLE IF
        // NOT EXISTS` can both try to create it (and one fails on the catalog's unique index).
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await?;
        sqlx::query(MIGRATIONS_TABLE).execute(&mut *tx).await?;
        let applied = sqlx::query(MIGRATION_APPLIED)
            .bind(version)
            .fetch_optional(&mut *tx)
            .await?;
        if applied.is_some() {
            return Ok(false);
        }
        sqlx::raw_sql(AssertSqlSafe(script))
            .execute(&mut *tx)
            .await
            .map_err(|source| Error::Migration {
                version,
                reason: source.to_string(),
            })?;
        sqlx::query(MIGRATION_RECORD)
            .bind(version)
            .bind(chrono::Utc::now().timestamp_micros())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Drops a schema (made for a test) with a short-lived connection.
    pub async fn drop_schema(url: &str, schema: &str) -> Result<()> {
        let pool = PgPoolOptions::new().max_connections(1).connect(url).await?;
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", quote_ident(schema));
        sqlx::query(AssertSqlSafe(sql)).execute(&pool).await?;
        pool.close().await;
        Ok(())
    }
}

impl Postgres {
    /// Creates a database (for tests that run hubs as child processes).
    pub async fn create_database(url: &str, name: &str) -> Result<()> {
        let pool = PgPoolOptions::new().max_connections(1).connect(url).await?;
        let sql = format!("CREATE DATABASE {}", quote_ident(name));
        sqlx::query(AssertSqlSafe(sql)).execute(&pool).await?;
        pool.close().await;
        Ok(())
    }

    /// Drops a database made by [`Postgres::create_database`], ending its connections.
    pub async fn drop_database(url: &str, name: &str) -> Result<()> {
        let pool = PgPoolOptions::new().max_connections(1).connect(url).await?;
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(name));
        sqlx::query(AssertSqlSafe(sql)).execute(&pool).await?;
        pool.close().await;
        Ok(())
    }
}

/// The advisory lock key of a workflow id: the first 8 bytes of SHA-256 over the salt and the
/// id, the same in every instance and every build (a std hasher is not promised to be).
fn lock_key(salt: &str, name: &str) -> i64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(salt.as_bytes())
        .chain_update([0u8])
        .chain_update(name.as_bytes())
        .finalize();
    i64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

fn quote_ident(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::lock_key;

    #[test]
    fn lock_keys_are_stable_and_salted() {
        // Fixed value: instances of different builds must compute the same key.
        assert_eq!(lock_key("", "contract:C-1"), lock_key("", "contract:C-1"));
        assert_ne!(lock_key("", "contract:C-1"), lock_key("", "contract:C-2"));
        assert_ne!(lock_key("a", "contract:C-1"), lock_key("b", "contract:C-1"));
        // SHA-256("\0x") begins 3c 7e …: pinned so a change of the key's derivation is seen here.
        assert_eq!(lock_key("", "x"), 4_359_092_777_751_712_752);
    }
}
