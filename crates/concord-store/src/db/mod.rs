//! The smallest executor both databases can share: statements as data ([`Stmt`]), rows as
//! data ([`Row`]), and four operations (fetch, execute, transaction, migrate).
//!
//! Why statements as data: the SQL and its parameters are written once, in `read.rs` and
//! `commit.rs`, and each backend decides how to run them. SQLite runs a whole unit of work in
//! one call on its own thread and commits concurrent units together (see [`sqlite`]);
//! PostgreSQL runs them over a pooled connection (see [`postgres`]). Before this, every
//! statement through sqlx's SQLite driver was a round trip to the driver's thread (~160 µs on
//! the CI machine), which capped the pipeline at a few hundred messages a second.

pub(crate) mod postgres;
pub(crate) mod sqlite;

use std::{borrow::Cow, sync::Arc};

use crate::{Error, Result};

/// A bound parameter or a column value. Nulls keep their type: PostgreSQL needs it to bind them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Int(Option<i64>),
    Text(Option<String>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(Some(v))
    }
}
impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Self {
        Value::Int(v)
    }
}
impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::Int(Some(i64::from(v)))
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Int(Some(i64::from(v)))
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(Some(v))
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(Some(v.to_string()))
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(Some(v.clone()))
    }
}
impl From<Option<String>> for Value {
    fn from(v: Option<String>) -> Self {
        Value::Text(v)
    }
}

/// One SQL statement with its parameters (`$1`, `$2`, … on both databases).
#[derive(Debug, Clone)]
pub(crate) struct Stmt {
    pub sql: Cow<'static, str>,
    pub params: Vec<Value>,
    /// In a transaction: when the statement changes no row, the whole unit of work is rolled
    /// back with [`Error::Conflict`] carrying this message.
    pub must_change: Option<String>,
    /// With `must_change`: the statement checks a claim (see [`Stmt::fence`]), and an unchanged
    /// row means [`Error::LostClaim`] rather than a conflict.
    pub fences: bool,
    /// Plan the statement afresh at each run (PostgreSQL) instead of reusing a cached plan:
    /// for the claims, whose best plan changes as their tables grow (a plan cached while a
    /// table was small scans the whole of it later).
    pub replan: bool,
}

impl Stmt {
    pub fn new(sql: impl Into<Cow<'static, str>>) -> Self {
        Self {
            sql: sql.into(),
            params: Vec::new(),
            must_change: None,
            fences: false,
            replan: false,
        }
    }

    pub fn bind(mut self, value: impl Into<Value>) -> Self {
        self.params.push(value.into());
        self
    }

    pub fn must_change(mut self, conflict: String) -> Self {
        self.must_change = Some(conflict);
        self
    }

    /// See [`Stmt::replan`].
    pub fn replanned(mut self) -> Self {
        self.replan = true;
        self
    }

    /// Like `must_change`, for a statement that only changes its row while the work it
    /// finishes is still claimed by the caller: an unchanged row rolls the unit back with
    /// [`Error::LostClaim`] (another worker took the work over after the lease ended).
    pub fn fence(mut self, what: String) -> Self {
        self.must_change = Some(what);
        self.fences = true;
        self
    }
}

/// One result row, read by column name.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub names: Arc<[String]>,
    pub values: Vec<Value>,
}

impl Row {
    fn value(&self, col: &str) -> Result<&Value> {
        self.names
            .iter()
            .position(|n| n == col)
            .and_then(|i| self.values.get(i))
            .ok_or_else(|| Error::Decode(format!("no column {col:?} in the result")))
    }

    pub fn opt_text(&self, col: &str) -> Result<Option<String>> {
        match self.value(col)? {
            Value::Text(v) => Ok(v.clone()),
            Value::Int(None) => Ok(None),
            Value::Int(Some(_)) => Err(Error::Decode(format!(
                "column {col:?} holds an integer, text was expected"
            ))),
        }
    }

    pub fn text(&self, col: &str) -> Result<String> {
        self.opt_text(col)?
            .ok_or_else(|| Error::Decode(format!("column {col:?} is NULL")))
    }

    pub fn opt_int(&self, col: &str) -> Result<Option<i64>> {
        match self.value(col)? {
            Value::Int(v) => Ok(*v),
            Value::Text(None) => Ok(None),
            Value::Text(Some(_)) => Err(Error::Decode(format!(
                "column {col:?} holds text, an integer was expected"
            ))),
        }
    }

    pub fn int(&self, col: &str) -> Result<i64> {
        self.opt_int(col)?
            .ok_or_else(|| Error::Decode(format!("column {col:?} is NULL")))
    }
}

/// Checks a statement's effect inside a transaction; see [`Stmt::must_change`].
pub(crate) fn check_changed(stmt: &Stmt, rows_affected: u64) -> Result<()> {
    match &stmt.must_change {
        Some(what) if rows_affected == 0 && stmt.fences => Err(Error::LostClaim(what.clone())),
        Some(conflict) if rows_affected == 0 => Err(Error::Conflict(conflict.clone())),
        _ => Ok(()),
    }
}

/// The database behind a [`crate::Store`].
#[derive(Clone, Debug)]
pub(crate) enum Db {
    Sqlite(sqlite::Sqlite),
    Postgres(postgres::Postgres),
}

impl Db {
    /// All rows of a query (or of a statement with `RETURNING`).
    pub async fn fetch(&self, stmt: Stmt) -> Result<Vec<Row>> {
        match self {
            Db::Sqlite(db) => db.fetch(stmt).await,
            Db::Postgres(db) => db.fetch(stmt).await,
        }
    }

    pub async fn fetch_optional(&self, stmt: Stmt) -> Result<Option<Row>> {
        Ok(self.fetch(stmt).await?.into_iter().next())
    }

    /// Runs one statement; returns how many rows it changed.
    pub async fn execute(&self, stmt: Stmt) -> Result<u64> {
        match self {
            Db::Sqlite(db) => db.execute(stmt).await,
            Db::Postgres(db) => db.execute(stmt).await,
        }
    }

    /// Runs every statement in one transaction, all or nothing; returns each one's changed-row
    /// count.
    pub async fn transaction(&self, stmts: Vec<Stmt>) -> Result<Vec<u64>> {
        match self {
            Db::Sqlite(db) => db.transaction(stmts).await,
            Db::Postgres(db) => db.transaction(stmts).await,
        }
    }

    /// Applies migration `version` (a script of several statements) unless it is recorded as
    /// applied; returns whether it ran. Concurrent starters are serialised.
    pub async fn migrate(&self, version: i64, script: String) -> Result<bool> {
        match self {
            Db::Sqlite(db) => db.migrate(version, script).await,
            Db::Postgres(db) => db.migrate(version, script).await,
        }
    }

    pub async fn close(&self) {
        match self {
            Db::Sqlite(db) => db.close().await,
            Db::Postgres(db) => db.close().await,
        }
    }
}

/// The bookkeeping table the migration runner reads and writes, on both databases.
pub(crate) const MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS concord_migrations \
    (version BIGINT NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL)";
pub(crate) const MIGRATION_APPLIED: &str =
    "SELECT version FROM concord_migrations WHERE version = $1";
pub(crate) const MIGRATION_RECORD: &str =
    "INSERT INTO concord_migrations (version, applied_at) VALUES ($1, $2)";

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> Row {
        Row {
            names: vec!["a".to_string(), "b".to_string(), "c".to_string()].into(),
            values: vec![
                Value::Int(Some(7)),
                Value::Text(Some("x".into())),
                Value::Text(None),
            ],
        }
    }

    #[test]
    fn rows_are_read_by_name_with_clear_errors() {
        let r = row();
        assert_eq!(r.int("a").unwrap(), 7);
        assert_eq!(r.text("b").unwrap(), "x");
        assert_eq!(
            r.opt_int("c").unwrap(),
            None,
            "an untyped NULL reads as any type"
        );
        assert_eq!(r.opt_text("c").unwrap(), None);
        assert!(
            r.text("c")
                .unwrap_err()
                .to_string()
                .contains("\"c\" is NULL")
        );
        assert!(r.text("a").unwrap_err().to_string().contains("integer"));
        assert!(r.int("b").unwrap_err().to_string().contains("holds text"));
        assert!(
            r.int("zz")
                .unwrap_err()
                .to_string()
                .contains("no column \"zz\"")
        );
    }

    #[test]
    fn must_change_turns_an_unchanged_row_into_a_conflict() {
        let s = Stmt::new("UPDATE t SET a = 1").must_change("gone".into());
        assert!(matches!(check_changed(&s, 0), Err(Error::Conflict(m)) if m == "gone"));
        assert!(check_changed(&s, 1).is_ok());
        assert!(check_changed(&Stmt::new("UPDATE t SET a = 1"), 0).is_ok());
        let f = Stmt::new("UPDATE t SET a = 1 WHERE claim = 'x'").fence("taken".into());
        assert!(matches!(check_changed(&f, 0), Err(Error::LostClaim(m)) if m == "taken"));
        assert!(check_changed(&f, 1).is_ok());
    }
}
