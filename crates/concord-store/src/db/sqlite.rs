//! SQLite on a writer thread of its own, with group commit, and reader threads beside it.
//!
//! One connection lives on one dedicated OS thread, the writer. Callers send it whole units of
//! work (a statement, a transaction's statements, a migration) and await the answer, so a unit
//! costs one hand-off however many statements it holds. The thread takes every unit waiting in
//! its queue and runs them inside one `BEGIN IMMEDIATE … COMMIT`, and the units that arrive
//! while they run join them before the commit: concurrent units share one commit (the costly
//! part: every page the transaction touched goes to the WAL), yet each is still all or nothing
//! (a failure re-runs the group unit by unit, see [`run_group`]), and no answer leaves before
//! the commit that makes it true.
//!
//! Queries (`SELECT`) go to [`READERS`] reader threads instead, each with a connection of its
//! own (WAL lets them read while the writer writes). Since no write is answered before its
//! commit, a query sees every write any caller has been told of; and it no longer waits for
//! the writer's group, nor makes that group longer.
//!
//! Why one writing connection: SQLite has one writer at a time anyway, and a single writer can
//! never meet `SQLITE_BUSY` on a lock upgrade inside this process. (`busy_timeout` covers
//! another process, such as a CLI command, holding the file.)

use std::{
    borrow::Cow,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
        mpsc,
    },
    thread,
    time::Instant,
};

use rusqlite::{
    Connection, OpenFlags, ToSql, params_from_iter,
    types::{Null, ToSqlOutput, ValueRef},
};
use tokio::sync::oneshot;

use super::{
    MIGRATION_APPLIED, MIGRATION_RECORD, MIGRATIONS_TABLE, Row, Stmt, Value, check_changed,
};
use crate::{Error, Result};

/// How many queued units one commit may take at most, so one answer never waits on an
/// unbounded group.
const MAX_GROUP: usize = 512;

/// How long one transaction keeps taking units that arrive while it runs, so a steady stream
/// of work still reaches a commit.
const MAX_GROUP_TIME: std::time::Duration = std::time::Duration::from_millis(5);

/// How many threads answer queries beside the writer, each on a connection of its own.
const READERS: usize = 2;

/// A handle on the SQLite thread and its readers; cheap to clone.
#[derive(Clone)]
pub(crate) struct Sqlite {
    jobs: mpsc::Sender<Message>,
    /// Queries go here, to the reader threads (see [`reader`]).
    reads: mpsc::Sender<ReadMessage>,
    path: Arc<str>,
    stats: Arc<Counters>,
}

/// What the SQLite thread has done since it started, counted as it goes (see [`ThreadStats`]).
#[derive(Default)]
struct Counters {
    groups: AtomicU64,
    units: AtomicU64,
    busy_us: AtomicU64,
    reads: AtomicU64,
}

/// How the SQLite thread's work has been grouped: how many transactions it ran, how many
/// units they held, and how long it was busy running them. Every unit waits for the group
/// before it and then for its own, so units per group and busy time per group are what an
/// answer's latency is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThreadStats {
    pub groups: u64,
    pub units: u64,
    pub busy: std::time::Duration,
    /// Queries the reader threads answered (they are not among `units`).
    pub reads: u64,
}

impl std::fmt::Debug for Sqlite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sqlite").field("path", &self.path).finish()
    }
}

enum Work {
    Fetch(Stmt),
    Execute(Stmt),
    Transaction(Vec<Stmt>),
    Migrate { version: i64, script: String },
}

enum Output {
    Rows(Vec<Row>),
    Changed(u64),
    AllChanged(Vec<u64>),
    Migrated(bool),
}

type Reply = oneshot::Sender<Result<Output>>;

enum Message {
    Job(Work, Reply),
    Close(oneshot::Sender<()>),
}

enum ReadMessage {
    Fetch(Stmt, Reply),
    Close(oneshot::Sender<()>),
}

/// The file path in a `sqlite://path?options` or `sqlite:path` URL.
fn path_of(url: &str) -> Result<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| Error::UnsupportedUrl(url.to_string()))?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() {
        return Err(Error::UnsupportedUrl(url.to_string()));
    }
    Ok(path)
}

/// `$1` → `?1`: SQLite would read `$1` as a *named* parameter numbered by first appearance,
/// while `?1` is positional, which is what `$1` means on PostgreSQL.
///
/// And `LIMIT $n` → `LIMIT (?n + 0)`: SQLite (3.51) plans with the value bound to a bare
/// parameter in a `LIMIT`, so each new binding expires the statement and the next step parses
/// and plans it again, at every run of every statement with a limit (the delivery claim, the
/// largest statement there is, spent 6 % of this thread so under load). It does not look into
/// an expression. The statements are written once for both databases; this is SQLite's quirk,
/// so it is handled here.
fn positional(sql: &str) -> Cow<'_, str> {
    let bytes = sql.as_bytes();
    if !bytes.contains(&b'$') {
        return Cow::Borrowed(sql);
    }
    // Byte-wise, copying the runs between markers: this runs for every statement executed.
    let mut out = String::with_capacity(sql.len() + 16);
    let (mut start, mut i) = (0, 0);
    while i + 1 < bytes.len() {
        if bytes[i] != b'$' || !bytes[i + 1].is_ascii_digit() {
            i += 1;
            continue;
        }
        let end = i
            + 1
            + bytes[i + 1..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
        let number = &sql[i + 1..end];
        out.push_str(&sql[start..i]);
        if sql[..i].ends_with("LIMIT ") {
            out.push_str("(?");
            out.push_str(number);
            out.push_str(" + 0)");
        } else {
            out.push('?');
            out.push_str(number);
        }
        (start, i) = (end, end);
    }
    out.push_str(&sql[start..]);
    Cow::Owned(out)
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Int(Some(v)) => ToSqlOutput::from(*v),
            Value::Text(Some(s)) => ToSqlOutput::from(s.as_str()),
            Value::Int(None) | Value::Text(None) => ToSqlOutput::from(Null),
        })
    }
}

impl Sqlite {
    /// Opens (creating if needed) the file, sets WAL and the pragmas, and starts the thread.
    pub fn open(url: &str, cache_mib: Option<u32>) -> Result<Self> {
        let path = path_of(url)?;
        let conn = connection(path, OpenFlags::SQLITE_OPEN_CREATE)?;
        // WAL: readers never block the writer; NORMAL: a commit is durable against a process
        // crash (what the crash test proves), fsync happens at checkpoints.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        if let Some(mib) = cache_mib {
            // Negative: KiB rather than pages. A bulk writer also checkpoints less often: with
            // inserts spread over the indexes, each checkpoint rewrites the same hot pages.
            conn.pragma_update(None, "cache_size", -i64::from(mib) * 1024)?;
            conn.pragma_update(None, "wal_autocheckpoint", 25_000)?;
        }
        let (jobs, queue) = mpsc::channel();
        let stats = Arc::new(Counters::default());
        // The readers open after the writer has put the file in WAL mode, which is what lets
        // them read while it writes.
        let (reads, read_queue) = mpsc::channel();
        let read_queue = Arc::new(std::sync::Mutex::new(read_queue));
        for n in 0..READERS {
            let conn = connection(path, OpenFlags::empty())?;
            // A reader never writes: should a statement that writes reach one, SQLite refuses
            // it rather than run it outside the writer's transactions.
            conn.pragma_update(None, "query_only", "ON")?;
            let (queue, writer, counters) = (read_queue.clone(), jobs.clone(), stats.clone());
            thread::Builder::new()
                .name(format!("concord-sqlite-read-{n}"))
                .spawn(move || reader(conn, &queue, &writer, &counters))
                .map_err(Error::Thread)?;
        }
        let counters = stats.clone();
        thread::Builder::new()
            .name("concord-sqlite".into())
            .spawn(move || worker(conn, queue, &counters))
            .map_err(Error::Thread)?;
        Ok(Self {
            jobs,
            reads,
            path: Arc::from(path),
            stats,
        })
    }

    pub fn stats(&self) -> ThreadStats {
        ThreadStats {
            groups: self.stats.groups.load(Ordering::Relaxed),
            units: self.stats.units.load(Ordering::Relaxed),
            busy: std::time::Duration::from_micros(self.stats.busy_us.load(Ordering::Relaxed)),
            reads: self.stats.reads.load(Ordering::Relaxed),
        }
    }

    async fn call(&self, work: Work) -> Result<Output> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Message::Job(work, reply))
            .map_err(|_| Error::Closed)?;
        answer.await.map_err(|_| Error::Closed)?
    }

    /// A query (`SELECT …`) goes to a reader thread: it reads what has been committed, which
    /// is all that any caller has been told of (no answer leaves the writer before its
    /// commit), and it neither waits for nor lengthens the writer's group. Anything else (a
    /// statement with `RETURNING`, such as a claim) runs on the writer.
    pub async fn fetch(&self, stmt: Stmt) -> Result<Vec<Row>> {
        let work = if is_query(&stmt.sql) {
            let (reply, answer) = oneshot::channel();
            self.reads
                .send(ReadMessage::Fetch(stmt, reply))
                .map_err(|_| Error::Closed)?;
            answer.await.map_err(|_| Error::Closed)??
        } else {
            self.call(Work::Fetch(stmt)).await?
        };
        match work {
            Output::Rows(rows) => Ok(rows),
            _ => unreachable!("a fetch answers with rows"),
        }
    }

    pub async fn execute(&self, stmt: Stmt) -> Result<u64> {
        match self.call(Work::Execute(stmt)).await? {
            Output::Changed(n) => Ok(n),
            _ => unreachable!("an execute answers with a count"),
        }
    }

    pub async fn transaction(&self, stmts: Vec<Stmt>) -> Result<Vec<u64>> {
        match self.call(Work::Transaction(stmts)).await? {
            Output::AllChanged(n) => Ok(n),
            _ => unreachable!("a transaction answers with counts"),
        }
    }

    pub async fn migrate(&self, version: i64, script: String) -> Result<bool> {
        match self.call(Work::Migrate { version, script }).await? {
            Output::Migrated(ran) => Ok(ran),
            _ => unreachable!("a migration answers whether it ran"),
        }
    }

    /// Finishes the queued work, then closes the connection (which checkpoints the WAL).
    /// Later calls fail with [`Error::Closed`].
    pub async fn close(&self) {
        // The readers first: the last connection to close is the one that checkpoints the
        // WAL and removes it.
        for _ in 0..READERS {
            let (done, closed) = oneshot::channel();
            if self.reads.send(ReadMessage::Close(done)).is_ok() {
                let _ = closed.await;
            }
        }
        let (done, closed) = oneshot::channel();
        if self.jobs.send(Message::Close(done)).is_ok() {
            let _ = closed.await;
        }
    }
}

/// A connection to `path` (with `extra` flags), set up as the writer and the readers share:
/// waiting on another process's lock, statement journals and sorts in memory (a larger page
/// cache was tried and measured slower: SQLite walks the whole cache at the end of every
/// write transaction), prepared statements kept.
fn connection(path: &str, extra: OpenFlags) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | extra,
    )?;
    conn.pragma_update(None, "busy_timeout", 10_000)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.set_prepared_statement_cache_capacity(256);
    Ok(conn)
}

/// Whether a statement only reads: it starts with `SELECT`. (A `WITH` may lead to a write, so
/// it is left to the writer.)
fn is_query(sql: &str) -> bool {
    sql.trim_start()
        .get(..6)
        .is_some_and(|head| head.eq_ignore_ascii_case("select"))
}

/// A reader thread: answers queries on its own connection, one read transaction each, while
/// the writer writes (WAL). The readers share one queue. A statement that turns out not to
/// be read-only (SQLite's own verdict) is handed on to the writer, never run here.
fn reader(
    conn: Connection,
    queue: &std::sync::Mutex<mpsc::Receiver<ReadMessage>>,
    writer: &mpsc::Sender<Message>,
    stats: &Counters,
) {
    loop {
        // Holding the lock while waiting is fine: only one reader can take a message at a time.
        let message = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return, // another reader panicked holding the queue
        };
        match message {
            Ok(ReadMessage::Fetch(stmt, reply)) => {
                match conn.prepare_cached(&positional(&stmt.sql)) {
                    Ok(mut prepared) if prepared.readonly() => {
                        stats.reads.fetch_add(1, Ordering::Relaxed);
                        let _ = reply.send(rows_of(&mut prepared, &stmt).map(Output::Rows));
                    }
                    Ok(_) => {
                        if let Err(mpsc::SendError(Message::Job(_, reply))) =
                            writer.send(Message::Job(Work::Fetch(stmt), reply))
                        {
                            let _ = reply.send(Err(Error::Closed));
                        }
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e.into()));
                    }
                }
            }
            Ok(ReadMessage::Close(done)) => {
                drop(conn);
                let _ = done.send(());
                return;
            }
            Err(_) => return, // every handle is gone
        }
    }
}

fn worker(conn: Connection, queue: mpsc::Receiver<Message>, stats: &Counters) {
    let mut group: Vec<(Work, Reply)> = Vec::new();
    loop {
        let mut close = None;
        match queue.recv() {
            Ok(Message::Job(work, reply)) => group.push((work, reply)),
            Ok(Message::Close(done)) => close = Some(done),
            Err(_) => return, // every handle is gone
        }
        while close.is_none() && group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(Message::Job(work, reply)) => group.push((work, reply)),
                Ok(Message::Close(done)) => close = Some(done),
                Err(_) => break,
            }
        }
        if !group.is_empty() {
            let started = Instant::now();
            run_group(&conn, std::mem::take(&mut group), &queue, &mut close, stats);
            stats.groups.fetch_add(1, Ordering::Relaxed);
            stats
                .busy_us
                .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        }
        if let Some(done) = close {
            drop(conn);
            let _ = done.send(());
            return;
        }
    }
}

/// Runs a group of units in one transaction (a lone query or statement runs on its own), and
/// counts the units it held in the end (before answering them).
///
/// Units that arrive while the group runs join it before the commit (up to [`MAX_GROUP`] and
/// [`MAX_GROUP_TIME`]): the commit, which writes every page the transaction touched to the
/// WAL, is the largest fixed cost of a transaction, and this shares it without ever waiting
/// idle for more work. A `Close` that arrives meanwhile ends the absorbing and is handed back
/// through `close`.
///
/// Optimistic: the units run back to back with no savepoints (a savepoint journals every page
/// it touches). Should any unit fail, the whole group is rolled back and each unit is run
/// again in a transaction of its own, so the failure stays with the unit that caused it.
fn run_group(
    conn: &Connection,
    mut group: Vec<(Work, Reply)>,
    queue: &mpsc::Receiver<Message>,
    close: &mut Option<oneshot::Sender<()>>,
    stats: &Counters,
) {
    if let [(Work::Fetch(_) | Work::Execute(_), _)] = group.as_slice() {
        let (work, reply) = group.into_iter().next().expect("one unit");
        stats.units.fetch_add(1, Ordering::Relaxed);
        let _ = reply.send(run_unit(conn, &work));
        return;
    }
    let began = Instant::now();
    let results = in_transaction(conn, || {
        let mut results = Vec::with_capacity(group.len());
        loop {
            for (work, _) in &group[results.len()..] {
                results.push(run_unit(conn, work)?);
            }
            while close.is_none() && group.len() < MAX_GROUP && began.elapsed() < MAX_GROUP_TIME {
                match queue.try_recv() {
                    Ok(Message::Job(work, reply)) => group.push((work, reply)),
                    Ok(Message::Close(done)) => *close = Some(done),
                    Err(_) => break,
                }
            }
            if results.len() == group.len() {
                return Ok(results);
            }
        }
    });
    stats.units.fetch_add(group.len() as u64, Ordering::Relaxed);
    match results {
        Ok(results) => {
            for ((_, reply), result) in group.into_iter().zip(results) {
                let _ = reply.send(Ok(result));
            }
        }
        Err(_) if group.len() > 1 => {
            for (work, reply) in group {
                let _ = reply.send(in_transaction(conn, || run_unit(conn, &work)));
            }
        }
        Err(e) => {
            let (_, reply) = group.into_iter().next().expect("one unit");
            let _ = reply.send(Err(e));
        }
    }
}

/// Runs `f` between `BEGIN IMMEDIATE` and `COMMIT`, rolling back when it fails.
fn in_transaction<T>(conn: &Connection, f: impl FnOnce() -> Result<T>) -> Result<T> {
    conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
    let result = f().and_then(|value| {
        conn.prepare_cached("COMMIT")?.execute([])?;
        Ok(value)
    });
    if result.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    result
}

fn run_unit(conn: &Connection, work: &Work) -> Result<Output> {
    match work {
        Work::Fetch(stmt) => fetch(conn, stmt).map(Output::Rows),
        Work::Execute(stmt) => execute(conn, stmt).map(Output::Changed),
        Work::Transaction(stmts) => stmts
            .iter()
            .map(|s| execute(conn, s))
            .collect::<Result<_>>()
            .map(Output::AllChanged),
        Work::Migrate { version, script } => {
            conn.execute_batch(MIGRATIONS_TABLE)?;
            let applied = fetch(conn, &Stmt::new(MIGRATION_APPLIED).bind(*version))?;
            if !applied.is_empty() {
                return Ok(Output::Migrated(false));
            }
            conn.execute_batch(script)
                .map_err(|source| Error::Migration {
                    version: *version,
                    reason: source.to_string(),
                })?;
            execute(
                conn,
                &Stmt::new(MIGRATION_RECORD)
                    .bind(*version)
                    .bind(chrono::Utc::now().timestamp_micros()),
            )?;
            Ok(Output::Migrated(true))
        }
    }
}

fn execute(conn: &Connection, stmt: &Stmt) -> Result<u64> {
    let mut prepared = conn.prepare_cached(&positional(&stmt.sql))?;
    let changed = prepared.execute(params_from_iter(stmt.params.iter()))? as u64;
    check_changed(stmt, changed)?;
    Ok(changed)
}

fn fetch(conn: &Connection, stmt: &Stmt) -> Result<Vec<Row>> {
    let mut prepared = conn.prepare_cached(&positional(&stmt.sql))?;
    rows_of(&mut prepared, stmt)
}

/// Runs a prepared query with `stmt`'s parameters and reads every row.
fn rows_of(prepared: &mut rusqlite::Statement<'_>, stmt: &Stmt) -> Result<Vec<Row>> {
    let names: Arc<[String]> = prepared
        .column_names()
        .into_iter()
        .map(String::from)
        .collect();
    let width = names.len();
    let mut rows = prepared.query(params_from_iter(stmt.params.iter()))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let mut values = Vec::with_capacity(width);
        for i in 0..width {
            values.push(match row.get_ref(i)? {
                ValueRef::Null => Value::Text(None),
                ValueRef::Integer(v) => Value::Int(Some(v)),
                ValueRef::Text(bytes) => {
                    Value::Text(Some(String::from_utf8(bytes.to_vec()).map_err(|_| {
                        Error::Decode(format!("column {:?} is not UTF-8", names[i]))
                    })?))
                }
                ValueRef::Real(_) | ValueRef::Blob(_) => {
                    return Err(Error::Decode(format!(
                        "column {:?} is neither integer nor text",
                        names[i]
                    )));
                }
            });
        }
        out.push(Row {
            names: names.clone(),
            values,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollar_parameters_become_positional() {
        assert_eq!(
            positional("SELECT $1, $10 WHERE a = $2 AND b = '$'"),
            "SELECT ?1, ?10 WHERE a = ?2 AND b = '$'"
        );
        assert_eq!(positional("$1 é $2$"), "?1 é ?2$");
        assert_eq!(
            positional("SELECT a FROM t WHERE b > $12 ORDER BY a LIMIT $3"),
            "SELECT a FROM t WHERE b > ?12 ORDER BY a LIMIT (?3 + 0)"
        );
        assert!(matches!(positional("SELECT 1"), Cow::Borrowed(_)));
    }

    /// A statement with a limit runs again with new bindings without being parsed and planned
    /// again (see [`positional`]).
    #[test]
    fn a_statement_with_a_limit_is_not_planned_again_at_each_run() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE t (seq INTEGER PRIMARY KEY, k TEXT, v INTEGER); \
             CREATE INDEX t_open ON t (seq) WHERE v IS NULL; \
             INSERT INTO t (k, v) VALUES ('a', NULL), ('b', 1), ('c', NULL);",
        )
        .unwrap();
        let sql = positional("SELECT k FROM t WHERE v IS NULL AND seq > $1 ORDER BY seq LIMIT $2");
        let mut stmt = conn.prepare(&sql).unwrap();
        let mut seen = Vec::new();
        for limit in 1..=3i64 {
            let rows: Vec<String> = stmt
                .query_map(rusqlite::params![0, limit], |r| r.get(0))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            seen.push(rows.len());
        }
        assert_eq!(seen, [1, 2, 2], "the limit still limits");
        assert_eq!(
            stmt.get_status(rusqlite::StatementStatus::RePrepare),
            0,
            "{sql}"
        );
    }

    #[test]
    fn urls_name_a_file() {
        assert_eq!(path_of("sqlite:///tmp/a.db?mode=rwc").unwrap(), "/tmp/a.db");
        assert_eq!(path_of("sqlite://data/a.db").unwrap(), "data/a.db");
        assert_eq!(path_of("sqlite:a.db").unwrap(), "a.db");
        assert!(path_of("sqlite://?mode=rwc").is_err());
        assert!(path_of("postgres://x").is_err());
    }

    /// A store in a folder of its own, with one table `t (k TEXT PRIMARY KEY, v BIGINT)`.
    async fn scratch() -> (std::path::PathBuf, Sqlite) {
        let dir = std::env::temp_dir().join(format!("concord-sqlite-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = Sqlite::open(&format!("sqlite://{}", dir.join("t.db").display()), None).unwrap();
        db.execute(Stmt::new("CREATE TABLE t (k TEXT PRIMARY KEY, v BIGINT)"))
            .await
            .unwrap();
        (dir, db)
    }

    /// Concurrent units share commits, yet a failing unit leaves no trace and does not take
    /// its neighbours down with it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_unit_in_a_group_rolls_back_alone() {
        let (dir, db) = scratch().await;
        let mut tasks = Vec::new();
        for i in 0..200i64 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                let mut stmts = vec![
                    Stmt::new("INSERT INTO t (k, v) VALUES ($1, $2)")
                        .bind(format!("a{i}"))
                        .bind(i),
                ];
                if i % 3 == 0 {
                    // The second statement changes nothing: the whole unit must vanish.
                    stmts.push(
                        Stmt::new("UPDATE t SET v = 0 WHERE k = 'nobody'")
                            .must_change(format!("unit {i}")),
                    );
                }
                (i, db.transaction(stmts).await)
            }));
        }
        for t in tasks {
            let (i, result) = t.await.unwrap();
            assert_eq!(result.is_err(), i % 3 == 0, "unit {i}: {result:?}");
        }
        let rows = db
            .fetch(Stmt::new("SELECT COUNT(*) AS n, SUM(v) AS s FROM t"))
            .await
            .unwrap();
        let expected: Vec<i64> = (0..200).filter(|i| i % 3 != 0).collect();
        assert_eq!(rows[0].int("n").unwrap(), expected.len() as i64);
        assert_eq!(rows[0].int("s").unwrap(), expected.iter().sum::<i64>());
        db.close().await;
        assert!(matches!(
            db.execute(Stmt::new("SELECT 1")).await,
            Err(Error::Closed)
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn only_plain_queries_go_to_the_readers() {
        assert!(is_query("SELECT 1"));
        assert!(is_query("  select id FROM t"));
        assert!(!is_query("UPDATE t SET v = 1 RETURNING k"));
        assert!(!is_query("WITH x AS (SELECT 1) DELETE FROM t"));
        assert!(!is_query("SEL"));
    }

    /// Every write a caller has been answered for is seen by the next query, although queries
    /// run on other connections; a statement with `RETURNING` still runs on the writer; and
    /// closing closes the readers before the writer, so the last close removes the WAL.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queries_on_the_readers_see_every_answered_write() {
        let (dir, db) = scratch().await;
        let mut tasks = Vec::new();
        for i in 0..200i64 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                for round in 0..3i64 {
                    db.transaction(vec![
                        Stmt::new(
                            "INSERT INTO t (k, v) VALUES ($1, $2) \
                             ON CONFLICT (k) DO UPDATE SET v = excluded.v",
                        )
                        .bind(format!("k{i}"))
                        .bind(round),
                    ])
                    .await
                    .unwrap();
                    let rows = db
                        .fetch(Stmt::new("SELECT v FROM t WHERE k = $1").bind(format!("k{i}")))
                        .await
                        .unwrap();
                    assert_eq!(rows.len(), 1, "k{i} round {round}: the write is not seen");
                    assert_eq!(rows[0].int("v").unwrap(), round, "k{i}: a stale read");
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let before = db.stats();
        assert!(before.reads >= 600, "queries ran on the writer: {before:?}");
        let taken = db
            .fetch(Stmt::new(
                "UPDATE t SET v = 9 WHERE k = 'k7' RETURNING k, v",
            ))
            .await
            .unwrap();
        assert_eq!(taken[0].int("v").unwrap(), 9);
        let after = db.stats();
        assert_eq!(after.reads, before.reads, "a write went to a reader");
        assert_eq!(after.units, before.units + 1);
        let seen = db
            .fetch(Stmt::new("SELECT v FROM t WHERE k = 'k7'"))
            .await
            .unwrap();
        assert_eq!(seen[0].int("v").unwrap(), 9);
        assert!(
            dir.join("t.db-wal").exists(),
            "the WAL is there while the store is open"
        );
        db.close().await;
        assert!(
            !dir.join("t.db-wal").exists(),
            "a reader was still open when the writer closed"
        );
        assert!(matches!(
            db.fetch(Stmt::new("SELECT 1")).await,
            Err(Error::Closed)
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
