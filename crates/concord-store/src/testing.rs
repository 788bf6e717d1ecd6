//! Fresh stores for tests: a temporary SQLite file, or a new schema in the PostgreSQL named by
//! `CONCORD_TEST_POSTGRES_URL`. Every call gets its own, so tests never share state and the
//! long-lived PostgreSQL service is left as it was found (the schema is dropped on `cleanup`).

use crate::{Result, Store, StoreOptions};

/// A store made for one test, and what to remove afterwards.
pub struct TestStore {
    pub store: Store,
    pub url: String,
    schema: Option<String>,
    _dir: Option<tempfile_dir::TempDir>,
}

mod tempfile_dir {
    /// A directory removed on drop (kept minimal to avoid a runtime dependency on tempfile).
    pub struct TempDir(pub std::path::PathBuf);
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Which backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL URL for tests, if the environment names one.
pub fn postgres_url() -> Option<String> {
    std::env::var("CONCORD_TEST_POSTGRES_URL")
        .ok()
        .filter(|s| !s.is_empty())
}

/// `<pid>_<random hex>`: unique per test, and usable in file, schema and database names.
fn unique_suffix() -> String {
    let id = uuid::Uuid::now_v7().simple().to_string();
    format!("{}_{}", std::process::id(), id.get(20..).unwrap_or("0"))
}

impl TestStore {
    /// `None` when the backend is PostgreSQL and no test URL is set.
    pub async fn new(backend: Backend) -> Result<Option<TestStore>> {
        let unique = unique_suffix();
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(format!("concord-test-{unique}"));
                std::fs::create_dir_all(&dir).map_err(|e| crate::Error::Conflict(e.to_string()))?;
                let options = StoreOptions::sqlite_file(&dir.join("concord.db"));
                let url = options.url.clone();
                let store = Store::open(options).await?;
                Ok(Some(TestStore {
                    store,
                    url,
                    schema: None,
                    _dir: Some(tempfile_dir::TempDir(dir)),
                }))
            }
            Backend::Postgres => {
                let Some(url) = postgres_url() else {
                    return Ok(None);
                };
                let schema = format!("concord_test_{unique}");
                let mut options = StoreOptions::new(url.clone());
                options.schema = Some(schema.clone());
                let store = Store::open(options).await?;
                Ok(Some(TestStore {
                    store,
                    url,
                    schema: Some(schema),
                    _dir: None,
                }))
            }
        }
    }

    /// The options that reopen this same store (for restart tests).
    pub fn options(&self) -> StoreOptions {
        let mut options = StoreOptions::new(self.url.clone());
        options.schema = self.schema.clone();
        options
    }

    /// Runs raw SQL against the store, as an attacker with database access would (tamper
    /// tests). Not for anything else: everything real goes through `Store`'s methods.
    pub async fn tamper(&self, sql: &'static str) -> Result<u64> {
        self.store.db.execute(crate::db::Stmt::new(sql)).await
    }

    /// Every text value in every table, one per line: what a test searches for values that
    /// must never be stored (patient names, dates of birth, MRNs).
    pub async fn every_text(&self) -> Result<String> {
        use crate::db::{Stmt, Value};
        let tables = match self.store.dialect() {
            crate::Dialect::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table'",
            crate::Dialect::Postgres => {
                "SELECT table_name::text AS name FROM information_schema.tables \
                 WHERE table_schema = current_schema()"
            }
        };
        let mut out = String::new();
        for table in self.store.db.fetch(Stmt::new(tables)).await? {
            let name = table.text("name")?;
            let rows = self
                .store
                .db
                .fetch(Stmt::new(format!("SELECT * FROM {name}")))
                .await?;
            for row in rows {
                for value in row.values {
                    if let Value::Text(Some(text)) = value {
                        out.push_str(&text);
                        out.push('\n');
                    }
                }
            }
        }
        Ok(out)
    }

    pub async fn cleanup(self) {
        self.store.close().await;
        if let Some(schema) = &self.schema {
            let _ = Store::drop_schema(&self.url, schema).await;
        }
    }
}

/// A PostgreSQL database made for one test that runs hubs as child processes (they take a
/// store URL, not a schema); dropped by [`TestDatabase::drop_now`].
pub struct TestDatabase {
    /// The URL of the new database.
    pub url: String,
    server_url: String,
    name: String,
}

impl TestDatabase {
    /// Creates `concord_<unique>` on the server of `server_url` (any database there).
    pub async fn create(server_url: &str) -> Result<TestDatabase> {
        let name = format!("concord_{}", unique_suffix());
        crate::db::postgres::Postgres::create_database(server_url, &name).await?;
        let url = match server_url.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{name}"),
            None => format!("{server_url}/{name}"),
        };
        Ok(TestDatabase {
            url,
            server_url: server_url.to_string(),
            name,
        })
    }

    /// Drops the database, closing whatever connections are left to it.
    pub async fn drop_now(self) -> Result<()> {
        crate::db::postgres::Postgres::drop_database(&self.server_url, &self.name).await
    }
}
