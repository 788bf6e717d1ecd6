//! Reads, the inbox's first write, and work claiming. Everything that changes business state
//! goes through `commit` instead.

use chrono::{DateTime, Utc};
use concord_model::{Facility, Item, Supplier};
use serde::de::DeserializeOwned;

use crate::{
    AttemptRecord, ContractVersionHead, ContractVersionRecord, DeliveryRecord, DeliveryStatus,
    Dialect, Error, EventRecord, ExceptionFilter, ExceptionRecord, InboxInsert, InboxRecord,
    InboxStatus, NewEvent, NewInbound, Result, Store, TimelineEntry, Timer,
    db::{Row, Stmt},
    from_micros, to_micros,
};

pub(crate) fn parse_json<T: DeserializeOwned>(table: &'static str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|source| Error::Corrupt { table, source })
}

fn opt_u16(row: &Row, col: &str) -> Result<Option<u16>> {
    Ok(row.opt_int(col)?.map(|v| v as u16))
}

pub(crate) const INBOX_COLS: &str = "id, system, message_type, dedupe_key, correlation_id, received_at, content_type, body, \
    original_body, status, response_status, response_body, error, received_by, claim";

pub(crate) fn inbox_row(row: &Row) -> Result<InboxRecord> {
    let status: String = row.text("status")?;
    Ok(InboxRecord {
        id: row.text("id")?,
        system: row.text("system")?,
        message_type: row.text("message_type")?,
        dedupe_key: row.text("dedupe_key")?,
        correlation_id: row.text("correlation_id")?,
        received_at: from_micros(row.int("received_at")?),
        content_type: row.text("content_type")?,
        body: row.text("body")?,
        original_body: row.opt_text("original_body")?,
        status: status.parse().map_err(|e: String| Error::Conflict(e))?,
        response_status: opt_u16(row, "response_status")?,
        response_body: row.opt_text("response_body")?,
        error: row.opt_text("error")?,
        received_by: row.opt_text("received_by")?,
        claim: row.opt_text("claim")?,
    })
}

pub(crate) const DELIVERY_COLS: &str = "seq, id, event_id, target, message_type, subject, idempotency_key, correlation_id, \
    required, payload, status, attempts, next_attempt_at, last_error, created_at, updated_at, claim";

pub(crate) fn delivery_row(row: &Row) -> Result<DeliveryRecord> {
    let status: String = row.text("status")?;
    let payload: String = row.text("payload")?;
    Ok(DeliveryRecord {
        seq: row.int("seq")?,
        id: row.text("id")?,
        event_id: row.text("event_id")?,
        target: row.text("target")?,
        message_type: row.text("message_type")?,
        subject: row.text("subject")?,
        idempotency_key: row.text("idempotency_key")?,
        correlation_id: row.text("correlation_id")?,
        required: row.int("required")? != 0,
        payload: parse_json("deliveries", &payload)?,
        status: status.parse().map_err(|e: String| Error::Conflict(e))?,
        attempts: row.int("attempts")? as u32,
        next_attempt_at: from_micros(row.int("next_attempt_at")?),
        last_error: row.opt_text("last_error")?,
        created_at: from_micros(row.int("created_at")?),
        updated_at: from_micros(row.int("updated_at")?),
        claim: row.opt_text("claim")?,
    })
}

pub(crate) const CONTRACT_COLS: &str =
    "contract_id, version, status, digest, data, correlation_id, created_at, updated_at";

/// The columns of a [`ContractVersionHead`]: a version without its document.
const CONTRACT_HEAD_COLS: &str = "contract_id, version, status, digest, correlation_id";

pub(crate) const ATTEMPT_COLS: &str =
    "delivery_id, attempt, at, outcome, status_code, latency_us, error";

pub(crate) fn attempt_row(r: &Row) -> Result<AttemptRecord> {
    Ok(AttemptRecord {
        delivery_id: r.text("delivery_id")?,
        attempt: r.int("attempt")? as u32,
        at: from_micros(r.int("at")?),
        outcome: r.text("outcome")?,
        status_code: opt_u16(r, "status_code")?,
        latency_us: r.int("latency_us")?,
        error: r.opt_text("error")?,
    })
}

fn contract_head_row(row: &Row) -> Result<ContractVersionHead> {
    Ok(ContractVersionHead {
        contract_id: row.text("contract_id")?,
        version: row.int("version")? as u32,
        status: row.text("status")?,
        digest: row.text("digest")?,
        correlation_id: row.text("correlation_id")?,
    })
}

pub(crate) fn contract_row(row: &Row) -> Result<ContractVersionRecord> {
    let data: String = row.text("data")?;
    Ok(ContractVersionRecord {
        contract_id: row.text("contract_id")?,
        version: row.int("version")? as u32,
        status: row.text("status")?,
        digest: row.text("digest")?,
        data: parse_json("contract_versions", &data)?,
        correlation_id: row.text("correlation_id")?,
        created_at: from_micros(row.int("created_at")?),
        updated_at: from_micros(row.int("updated_at")?),
    })
}

pub(crate) const EXCEPTION_COLUMNS: &str = "id, kind, subject, status, correlation_id, detail, created_at, \
     resolved_at, facility, supplier, resolution";

pub(crate) fn exception_row(row: &Row) -> Result<ExceptionRecord> {
    let detail: String = row.text("detail")?;
    Ok(ExceptionRecord {
        id: row.text("id")?,
        kind: row.text("kind")?,
        subject: row.text("subject")?,
        status: row.text("status")?,
        correlation_id: row.text("correlation_id")?,
        detail: parse_json("exceptions", &detail)?,
        created_at: from_micros(row.int("created_at")?),
        resolved_at: row.opt_int("resolved_at")?.map(from_micros),
        facility: row.opt_text("facility")?,
        supplier: row.opt_text("supplier")?,
        resolution: row
            .opt_text("resolution")?
            .map(|r| parse_json("exceptions", &r))
            .transpose()?,
    })
}

impl Store {
    // ---- inbox -------------------------------------------------------------------------------

    /// Stores a raw inbound message before anything else happens to it. A repeat of its dedupe
    /// key stores nothing and returns the first message instead.
    pub async fn insert_inbox(&self, m: NewInbound) -> Result<InboxInsert> {
        let at = to_micros(m.received_at);
        let (claim, lease_until) = match m.claim {
            Some(c) => (Some(c.token), Some(to_micros(c.lease_until))),
            None => (None, None),
        };
        let inserted = self.db.execute(Stmt::new(
            "INSERT INTO inbox (id, system, message_type, dedupe_key, correlation_id, received_at, content_type, \
             body, status, updated_at, received_by, original_body, claim, lease_until) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'received', $6, $9, $10, $11, $12) \
             ON CONFLICT (dedupe_key) DO NOTHING",
        )
        .bind(m.id)
        .bind(m.system)
        .bind(m.message_type)
        .bind(m.dedupe_key.clone())
        .bind(m.correlation_id)
        .bind(at)
        .bind(m.content_type)
        .bind(m.body)
        .bind(m.received_by)
        .bind(m.original_body)
        .bind(claim)
        .bind(lease_until)).await?;
        if inserted == 1 {
            return Ok(InboxInsert::Inserted);
        }
        let sql = format!("SELECT {INBOX_COLS} FROM inbox WHERE dedupe_key = $1");
        let row = self
            .db
            .fetch_optional(Stmt::new(sql).bind(m.dedupe_key.clone()))
            .await?
            .ok_or_else(|| {
                Error::Conflict(format!(
                    "inbox key {} was refused as a duplicate but is not stored",
                    m.dedupe_key
                ))
            })?;
        Ok(InboxInsert::Duplicate(Box::new(inbox_row(&row)?)))
    }

    pub async fn inbox(&self, id: &str) -> Result<Option<InboxRecord>> {
        let sql = format!("SELECT {INBOX_COLS} FROM inbox WHERE id = $1");
        let row = self.db.fetch_optional(Stmt::new(sql).bind(id)).await?;
        row.as_ref().map(inbox_row).transpose()
    }

    pub async fn list_inbox(&self, status: InboxStatus, limit: u32) -> Result<Vec<InboxRecord>> {
        let sql = format!(
            "SELECT {INBOX_COLS} FROM inbox WHERE status = $1 ORDER BY received_at, id LIMIT $2"
        );
        let rows = self
            .db
            .fetch(Stmt::new(sql).bind(status.as_str()).bind(i64::from(limit)))
            .await?;
        rows.iter().map(inbox_row).collect()
    }

    /// Messages of one system and type in a status, oldest first.
    pub async fn list_inbox_of(
        &self,
        system: &str,
        message_type: &str,
        status: InboxStatus,
        limit: u32,
    ) -> Result<Vec<InboxRecord>> {
        let sql = format!(
            "SELECT {INBOX_COLS} FROM inbox WHERE status = $1 AND system = $2 AND message_type = $3 \
             ORDER BY received_at, id LIMIT $4"
        );
        let rows = self
            .db
            .fetch(
                Stmt::new(sql)
                    .bind(status.as_str())
                    .bind(system)
                    .bind(message_type)
                    .bind(i64::from(limit)),
            )
            .await?;
        rows.iter().map(inbox_row).collect()
    }

    /// Claims up to `limit` received messages nobody holds (never claimed, or their lease
    /// ended), oldest first, optionally of one message type: each is then this caller's until
    /// `claim.lease_until`, and its answer commits only with `claim.token` (see
    /// [`crate::Write::InboxDone`]). Messages whose claim token starts with `held_by` (this
    /// instance's own, such as HL7 messages its intake stored but could not queue) count as
    /// free too.
    pub async fn claim_inbox(
        &self,
        now: DateTime<Utc>,
        claim: &crate::Claim,
        message_type: Option<&str>,
        held_by: Option<&str>,
        limit: u32,
    ) -> Result<Vec<InboxRecord>> {
        let lock = self.skip_locked();
        let mut stmt = Stmt::new(String::new())
            .bind(claim.token.as_str())
            .bind(to_micros(claim.lease_until))
            .bind(to_micros(now))
            .bind(i64::from(limit));
        let mut filters = String::new();
        if let Some(t) = message_type {
            stmt = stmt.bind(t);
            filters.push_str(&format!(" AND message_type = ${}", stmt.params.len()));
        }
        let mut free = "COALESCE(lease_until, 0) <= $3".to_string();
        if let Some(prefix) = held_by {
            // substr, not LIKE: the prefix may hold LIKE's wildcards.
            stmt = stmt.bind(prefix).bind(prefix.chars().count() as i64);
            let n = stmt.params.len();
            free = format!(
                "({free} OR substr(claim, 1, CAST(${n} AS INTEGER)) = ${})",
                n - 1
            );
        }
        let picked = self.ids_in(&format!(
            "SELECT id FROM inbox WHERE status = 'received' AND {free}{filters} \
             ORDER BY received_at, id LIMIT $4{lock}"
        ));
        stmt.sql = format!(
            "UPDATE inbox SET claim = $1, lease_until = $2 WHERE {picked} \
             AND status = 'received' RETURNING {INBOX_COLS}"
        )
        .into();
        let rows = self.db.fetch(stmt.replanned()).await?;
        let mut claimed = rows.iter().map(inbox_row).collect::<Result<Vec<_>>>()?;
        claimed.sort_by(|a, b| (a.received_at, &a.id).cmp(&(b.received_at, &b.id)));
        Ok(claimed)
    }

    /// Claims one received message, unless another worker holds it: `None` when it is not
    /// received any more or its lease has not ended.
    pub async fn claim_inbox_message(
        &self,
        id: &str,
        now: DateTime<Utc>,
        claim: &crate::Claim,
    ) -> Result<Option<InboxRecord>> {
        let sql = format!(
            "UPDATE inbox SET claim = $1, lease_until = $2 WHERE id = $3 AND status = 'received' \
             AND COALESCE(lease_until, 0) <= $4 RETURNING {INBOX_COLS}"
        );
        let row = self
            .db
            .fetch_optional(
                Stmt::new(sql)
                    .bind(claim.token.as_str())
                    .bind(to_micros(claim.lease_until))
                    .bind(id)
                    .bind(to_micros(now)),
            )
            .await?;
        row.as_ref().map(inbox_row).transpose()
    }

    /// Ends `claim` on a received message, so any worker may take it up at once.
    pub async fn end_inbox_claim(&self, id: &str, claim: &str) -> Result<()> {
        self.db
            .execute(
                Stmt::new(
                    "UPDATE inbox SET lease_until = NULL WHERE id = $1 AND claim = $2 AND status = 'received'",
                )
                .bind(id)
                .bind(claim),
            )
            .await?;
        Ok(())
    }

    /// Ends every claim on received messages and deliveries in flight not taken by
    /// `this_instance` (a claim token starts with its instance's name), so a restarted hub
    /// takes up what its last run left at once instead of waiting the leases out. Only for a
    /// store one hub process uses (SQLite); on a shared store another instance may be working
    /// on them now, and their leases must run out: there it does nothing.
    pub async fn end_claims_of_previous_run(
        &self,
        now: DateTime<Utc>,
        this_instance: &str,
    ) -> Result<()> {
        if self.dialect() != Dialect::Sqlite {
            return Ok(());
        }
        let not_ours = "(claim IS NULL OR substr(claim, 1, CAST($2 AS INTEGER)) <> $1)";
        let prefix = format!("{this_instance}:");
        let n = prefix.chars().count() as i64;
        self.db
            .transaction(vec![
                Stmt::new(format!(
                    "UPDATE inbox SET lease_until = NULL WHERE status = 'received' AND {not_ours}"
                ))
                .bind(prefix.clone())
                .bind(n),
                Stmt::new(format!(
                    "UPDATE deliveries SET lease_until = $3 WHERE status = 'in_flight' AND lease_until > $3 \
                     AND {not_ours}"
                ))
                .bind(prefix)
                .bind(n)
                .bind(to_micros(now)),
            ])
            .await?;
        Ok(())
    }

    /// `id IN (subquery)` for a claim's UPDATE. On PostgreSQL the ids are matched as an array
    /// (an index lookup each) rather than by a semi-join, which PostgreSQL plans as a scan of
    /// the whole table while its statistics are young (a new database, a table that grew fast).
    fn ids_in(&self, subquery: &str) -> String {
        match self.dialect() {
            Dialect::Postgres => format!("id = ANY(ARRAY({subquery}))"),
            Dialect::Sqlite => format!("id IN ({subquery})"),
        }
    }

    /// ` FOR UPDATE SKIP LOCKED` on PostgreSQL, where several instances claim from one table
    /// (each passes over the rows another is claiming); nothing on SQLite, whose one writer
    /// claims alone.
    fn skip_locked(&self) -> &'static str {
        match self.dialect() {
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
            Dialect::Sqlite => "",
        }
    }

    // ---- events ------------------------------------------------------------------------------

    pub async fn events_after(&self, after_seq: i64, limit: u32) -> Result<Vec<EventRecord>> {
        let rows = self
            .db
            .fetch(
                Stmt::new(format!(
                    "SELECT {EVENT_COLS} FROM events WHERE seq > $1 ORDER BY seq LIMIT $2"
                ))
                .bind(after_seq)
                .bind(i64::from(limit)),
            )
            .await?;
        rows.iter().map(event_row).collect()
    }
}

pub(crate) const EVENT_COLS: &str = "seq, id, type, source, subject, time, correlation_id, data";

pub(crate) fn event_row(row: &Row) -> Result<EventRecord> {
    let data: String = row.text("data")?;
    Ok(EventRecord {
        seq: row.int("seq")?,
        event: NewEvent {
            id: row.text("id")?,
            event_type: row.text("type")?,
            source: row.text("source")?,
            subject: row.text("subject")?,
            time: from_micros(row.int("time")?),
            correlation_id: row.text("correlation_id")?,
            data: parse_json("events", &data)?,
        },
    })
}

impl Store {
    // ---- deliveries --------------------------------------------------------------------------

    /// Claims up to `limit` deliveries that are due, plus up to `limit` whose lease expired,
    /// leasing them until `claim.lease_until` under `claim.token`; returned in commit order.
    ///
    /// A delivery is due when it is pending and its next attempt time has come, or in flight
    /// with an expired lease (its worker died). It is held back while an earlier delivery to the
    /// same target and subject is still pending or in flight: that is what keeps contract
    /// versions in version order at each target, whichever instance sends them. On
    /// PostgreSQL, `FOR UPDATE SKIP LOCKED` lets several hub instances claim without taking the
    /// same row; the token fences the attempt's result (see [`crate::Write::DeliveryResult`]).
    pub async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        claim: &crate::Claim,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>> {
        let lock = match self.dialect() {
            Dialect::Postgres => " FOR UPDATE OF d SKIP LOCKED",
            Dialect::Sqlite => "",
        };
        let picked = self.ids_in("SELECT id FROM due UNION ALL SELECT id FROM expired");
        // One statement, so the choice and the lease are atomic on both databases. Each branch
        // walks an index in the order it takes rows and stops at the limit.
        // A paused target's rows wait (an operator's maintenance window).
        let earlier_open = "NOT EXISTS (SELECT 1 FROM deliveries e WHERE e.target = d.target \
            AND e.subject = d.subject AND e.seq < d.seq AND e.status IN ('pending', 'in_flight')) \
            AND NOT EXISTS (SELECT 1 FROM paused_targets p WHERE p.target = d.target)";
        // The two branches as CTEs joined by UNION ALL, not `id IN (…) OR id IN (…)`: PostgreSQL
        // plans that OR as a scan of the whole table (every delivery ever made) per claim.
        let sql = format!(
            "WITH due AS (SELECT d.id FROM deliveries d WHERE d.status = 'pending' AND d.next_attempt_at <= $1 \
              AND {earlier_open} ORDER BY d.next_attempt_at, d.seq LIMIT $2{lock}), \
             expired AS (SELECT d.id FROM deliveries d WHERE d.status = 'in_flight' AND d.lease_until <= $1 \
              AND {earlier_open} ORDER BY d.lease_until, d.seq LIMIT $2{lock}) \
             UPDATE deliveries SET status = 'in_flight', lease_until = $3, claim = $4, updated_at = $1 \
             WHERE {picked} RETURNING {DELIVERY_COLS}"
        );
        let rows = self
            .db
            .fetch(
                Stmt::new(sql)
                    .bind(to_micros(now))
                    .bind(i64::from(limit))
                    .bind(to_micros(claim.lease_until))
                    .bind(claim.token.as_str())
                    .replanned(),
            )
            .await?;
        let mut claimed = rows.iter().map(delivery_row).collect::<Result<Vec<_>>>()?;
        claimed.sort_by_key(|d| d.seq); // RETURNING promises no order
        Ok(claimed)
    }

    pub async fn delivery(&self, id: &str) -> Result<Option<DeliveryRecord>> {
        let sql = format!("SELECT {DELIVERY_COLS} FROM deliveries WHERE id = $1");
        let row = self.db.fetch_optional(Stmt::new(sql).bind(id)).await?;
        row.as_ref().map(delivery_row).transpose()
    }

    /// The newest deliveries, of one status and one target when given.
    ///
    /// Each condition is written only when given, so `status = $n` can use the status index
    /// (dead letters and the queue are found without reading the delivered rows).
    pub async fn list_deliveries(
        &self,
        status: Option<DeliveryStatus>,
        target: Option<&str>,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>> {
        let mut sql = format!("SELECT {DELIVERY_COLS} FROM deliveries WHERE 1 = 1");
        let mut params: Vec<crate::db::Value> = Vec::new();
        for (column, value) in [("status", status.map(|s| s.as_str())), ("target", target)] {
            if let Some(v) = value {
                params.push(v.to_string().into());
                sql.push_str(&format!(" AND {column} = ${}", params.len()));
            }
        }
        params.push(i64::from(limit).into());
        sql.push_str(&format!(" ORDER BY seq DESC LIMIT ${}", params.len()));
        let mut stmt = Stmt::new(sql);
        stmt.params = params;
        let rows = self.db.fetch(stmt).await?;
        rows.iter().map(delivery_row).collect()
    }

    /// Deliveries per status, for summaries and metrics.
    pub async fn delivery_counts(&self) -> Result<Vec<(String, i64)>> {
        self.status_counts("deliveries").await
    }

    /// Rows of `table` per `status` (the table name is the caller's constant).
    async fn status_counts(&self, table: &'static str) -> Result<Vec<(String, i64)>> {
        let sql =
            format!("SELECT status, COUNT(*) AS n FROM {table} GROUP BY status ORDER BY status");
        let rows = self.db.fetch(Stmt::new(sql)).await?;
        rows.iter()
            .map(|r| Ok((r.text("status")?, r.int("n")?)))
            .collect()
    }

    /// Inbound messages per status (`quarantined` among them), for metrics.
    pub async fn inbox_counts(&self) -> Result<Vec<(String, i64)>> {
        self.status_counts("inbox").await
    }

    /// Open exceptions per kind, with the time the oldest of each kind was opened.
    pub async fn open_exception_counts(&self) -> Result<Vec<(String, i64, DateTime<Utc>)>> {
        let rows = self
            .db
            .fetch(Stmt::new(
                "SELECT kind, COUNT(*) AS n, MIN(created_at) AS oldest FROM exceptions \
                 WHERE status = 'open' GROUP BY kind ORDER BY kind",
            ))
            .await?;
        rows.iter()
            .map(|r| Ok((r.text("kind")?, r.int("n")?, from_micros(r.int("oldest")?))))
            .collect()
    }

    /// Workflows of `kind` counted by the text at `path` in their state (e.g. `["flow",
    /// "stage"]`): the business gauges (requisitions pending approval, POs per stage). The
    /// path is the caller's constant, never input.
    pub async fn workflow_counts(&self, kind: &str, path: &[&str]) -> Result<Vec<(String, i64)>> {
        debug_assert!(
            path.iter()
                .all(|p| p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        );
        let value = match self.dialect() {
            Dialect::Sqlite => format!("json_extract(state, '$.{}')", path.join(".")),
            Dialect::Postgres => format!("(state::jsonb #>> '{{{}}}')", path.join(",")),
        };
        let sql = format!(
            "SELECT COALESCE({value}, '') AS v, COUNT(*) AS n FROM workflows WHERE kind = $1 \
             GROUP BY 1 ORDER BY 1"
        );
        let rows = self.db.fetch(Stmt::new(sql).bind(kind)).await?;
        rows.iter()
            .map(|r| Ok((r.text("v")?, r.int("n")?)))
            .collect()
    }

    /// The workflows of `kind` whose state holds `value` at `path` (the caller's constant,
    /// never input), e.g. a supplier's bank-detail changes, with their states, by id: one
    /// query, a scan of the kind's rows (for kinds with few rows per subject).
    pub async fn workflows_where<T: DeserializeOwned>(
        &self,
        kind: &str,
        path: &[&str],
        value: &str,
    ) -> Result<Vec<(String, T)>> {
        debug_assert!(
            path.iter()
                .all(|p| p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        );
        let extract = match self.dialect() {
            Dialect::Sqlite => format!("json_extract(state, '$.{}')", path.join(".")),
            Dialect::Postgres => format!("(state::jsonb #>> '{{{}}}')", path.join(",")),
        };
        let sql = format!(
            "SELECT id, state FROM workflows WHERE kind = $1 AND {extract} = $2 ORDER BY id"
        );
        let rows = self.db.fetch(Stmt::new(sql).bind(kind).bind(value)).await?;
        rows.iter()
            .map(|r| Ok((r.text("id")?, parse_json("workflows", &r.text("state")?)?)))
            .collect()
    }

    pub async fn attempts(&self, delivery_id: &str) -> Result<Vec<AttemptRecord>> {
        let rows = self
            .db
            .fetch(
                Stmt::new(format!(
                    "SELECT {ATTEMPT_COLS} FROM delivery_attempts WHERE delivery_id = $1 ORDER BY attempt"
                ))
                .bind(delivery_id),
            )
            .await?;
        rows.iter().map(attempt_row).collect()
    }

    // ---- contracts and workflows -------------------------------------------------------------

    pub async fn contract_versions(&self, contract_id: &str) -> Result<Vec<ContractVersionRecord>> {
        self.versions_of(CONTRACT_COLS, contract_row, contract_id)
            .await
    }

    /// A contract's versions without their documents, oldest first: what intake checks a new
    /// version against.
    pub async fn contract_version_heads(
        &self,
        contract_id: &str,
    ) -> Result<Vec<ContractVersionHead>> {
        self.versions_of(CONTRACT_HEAD_COLS, contract_head_row, contract_id)
            .await
    }

    /// A contract's versions, oldest first, as `cols` read by `version_row`.
    async fn versions_of<V>(
        &self,
        cols: &str,
        version_row: fn(&Row) -> Result<V>,
        contract_id: &str,
    ) -> Result<Vec<V>> {
        let rows = self
            .db
            .fetch(
                Stmt::new(format!(
                    "SELECT {cols} FROM contract_versions WHERE contract_id = $1 ORDER BY version"
                ))
                .bind(contract_id),
            )
            .await?;
        rows.iter().map(version_row).collect()
    }

    /// One version of a contract, with its document.
    pub async fn contract_version(
        &self,
        contract_id: &str,
        version: u32,
    ) -> Result<Option<ContractVersionRecord>> {
        self.db
            .fetch_optional(
                Stmt::new(format!(
                    "SELECT {CONTRACT_COLS} FROM contract_versions WHERE contract_id = $1 AND version = $2"
                ))
                .bind(contract_id)
                .bind(version),
            )
            .await?
            .as_ref()
            .map(contract_row)
            .transpose()
    }

    /// A contract's versions, oldest first, each with the state the workflows table keeps for
    /// it under `kind` (a version's workflow id is `{contract_id}:{version}`), in one read: what
    /// the API shows of a contract.
    pub async fn contract_versions_with_state<T: DeserializeOwned>(
        &self,
        contract_id: &str,
        kind: &str,
    ) -> Result<Vec<(ContractVersionRecord, Option<T>)>> {
        self.versions_with_state(CONTRACT_COLS, contract_row, contract_id, kind)
            .await
    }

    /// [`Store::contract_versions_with_state`] without the documents: what a step of the
    /// contract's workflow decides from and what an activation supersedes.
    pub async fn contract_version_heads_with_state<T: DeserializeOwned>(
        &self,
        contract_id: &str,
        kind: &str,
    ) -> Result<Vec<(ContractVersionHead, Option<T>)>> {
        self.versions_with_state(CONTRACT_HEAD_COLS, contract_head_row, contract_id, kind)
            .await
    }

    async fn versions_with_state<V, T: DeserializeOwned>(
        &self,
        cols: &str,
        version_row: fn(&Row) -> Result<V>,
        contract_id: &str,
        kind: &str,
    ) -> Result<Vec<(V, Option<T>)>> {
        let rows = self
            .db
            .fetch(
                Stmt::new(format!(
                    "SELECT {cols}, (SELECT w.state FROM workflows w WHERE w.kind = $2 \
                     AND w.id = contract_versions.contract_id || ':' || contract_versions.version) \
                     AS workflow_state FROM contract_versions WHERE contract_id = $1 ORDER BY version"
                ))
                .bind(contract_id)
                .bind(kind),
            )
            .await?;
        rows.iter()
            .map(|row| {
                let state = match row.opt_text("workflow_state")? {
                    Some(text) => Some(parse_json("workflows", &text)?),
                    None => None,
                };
                Ok((version_row(row)?, state))
            })
            .collect()
    }

    pub async fn contracts_with_status(&self, status: &str) -> Result<Vec<ContractVersionRecord>> {
        let rows = self.db.fetch(Stmt::new(
            format!("SELECT {CONTRACT_COLS} FROM contract_versions WHERE status = $1 ORDER BY contract_id, version"),
        )
        .bind(status)).await?;
        rows.iter().map(contract_row).collect()
    }

    pub async fn contract_status_counts(&self) -> Result<Vec<(String, i64)>> {
        self.status_counts("contract_versions").await
    }

    pub async fn workflow<T: DeserializeOwned>(&self, kind: &str, id: &str) -> Result<Option<T>> {
        let row = self
            .db
            .fetch_optional(
                Stmt::new("SELECT state FROM workflows WHERE kind = $1 AND id = $2")
                    .bind(kind)
                    .bind(id),
            )
            .await?;
        match row {
            Some(r) => Ok(Some(parse_json("workflows", &r.text("state")?)?)),
            None => Ok(None),
        }
    }

    /// Claims up to `limit` timers that are due and not being fired elsewhere (no lease, or
    /// its lease ended), leasing them until `lease_until`. A timer fired to its end is deleted
    /// or rescheduled by its workflow's commit (which clears the lease); one whose instance
    /// died is due again when the lease ends.
    pub async fn claim_timers(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Timer>> {
        let lock = self.skip_locked();
        let picked = self.ids_in(&format!(
            "SELECT id FROM timers WHERE due_at <= $2 AND COALESCE(lease_until, 0) <= $2 \
             ORDER BY due_at LIMIT $3{lock}"
        ));
        let sql = format!(
            "UPDATE timers SET lease_until = $1 WHERE {picked} \
             RETURNING id, due_at, kind, subject, correlation_id"
        );
        let rows = self
            .db
            .fetch(
                Stmt::new(sql)
                    .bind(to_micros(lease_until))
                    .bind(to_micros(now))
                    .bind(i64::from(limit))
                    .replanned(),
            )
            .await?;
        let mut timers = rows
            .iter()
            .map(|r| {
                Ok(Timer {
                    id: r.text("id")?,
                    due_at: from_micros(r.int("due_at")?),
                    kind: r.text("kind")?,
                    subject: r.text("subject")?,
                    correlation_id: r.text("correlation_id")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        timers.sort_by(|a, b| (a.due_at, &a.id).cmp(&(b.due_at, &b.id)));
        Ok(timers)
    }

    // ---- lineage and exceptions --------------------------------------------------------------

    pub async fn timeline(&self, correlation_id: &str) -> Result<Vec<TimelineEntry>> {
        let rows = self.db.fetch(Stmt::new(
            "SELECT correlation_id, at, step, detail FROM timeline WHERE correlation_id = $1 ORDER BY seq",
        )
        .bind(correlation_id)).await?;
        rows.iter()
            .map(|r| {
                let detail: String = r.text("detail")?;
                Ok(TimelineEntry {
                    correlation_id: r.text("correlation_id")?,
                    at: from_micros(r.int("at")?),
                    step: r.text("step")?,
                    detail: parse_json("timeline", &detail)?,
                })
            })
            .collect()
    }

    pub async fn exceptions(&self, status: &str, limit: u32) -> Result<Vec<ExceptionRecord>> {
        self.list_exceptions(&ExceptionFilter {
            status: status.to_string(),
            limit,
            ..ExceptionFilter::default()
        })
        .await
    }

    /// Exceptions by status and, when given, kind, facility, supplier and age; oldest first.
    pub async fn list_exceptions(&self, f: &ExceptionFilter) -> Result<Vec<ExceptionRecord>> {
        let mut sql = format!("SELECT {EXCEPTION_COLUMNS} FROM exceptions WHERE status = $1");
        let mut params: Vec<crate::db::Value> = vec![f.status.clone().into()];
        for (column, value) in [
            ("kind", &f.kind),
            ("subject", &f.subject),
            ("facility", &f.facility),
            ("supplier", &f.supplier),
            ("correlation_id", &f.correlation_id),
        ] {
            if let Some(v) = value {
                params.push(v.clone().into());
                sql.push_str(&format!(" AND {column} = ${}", params.len()));
            }
        }
        if let Some(prefix) = &f.subject_prefix {
            // substr, not LIKE (no wildcards to escape) nor a range (PostgreSQL's collation may
            // not order bytewise); exceptions are few enough to scan.
            params.push(prefix.clone().into());
            params.push(
                i64::try_from(prefix.chars().count())
                    .unwrap_or(i64::MAX)
                    .into(),
            );
            sql.push_str(&format!(
                " AND substr(subject, 1, CAST(${} AS INTEGER)) = ${}",
                params.len(),
                params.len() - 1
            ));
        }
        if let Some(before) = f.created_before {
            params.push(to_micros(before).into());
            sql.push_str(&format!(" AND created_at <= ${}", params.len()));
        }
        params.push(i64::from(f.limit).into());
        sql.push_str(&format!(" ORDER BY created_at, id LIMIT ${}", params.len()));
        let mut stmt = Stmt::new(sql);
        stmt.params = params;
        let rows = self.db.fetch(stmt).await?;
        rows.iter().map(exception_row).collect()
    }

    pub async fn exception(&self, id: &str) -> Result<Option<ExceptionRecord>> {
        let row = self
            .db
            .fetch_optional(
                Stmt::new(format!(
                    "SELECT {EXCEPTION_COLUMNS} FROM exceptions WHERE id = $1"
                ))
                .bind(id),
            )
            .await?;
        row.as_ref().map(exception_row).transpose()
    }

    // ---- crosswalks and master data ----------------------------------------------------------

    /// The canonical id an external id of `system` maps to.
    pub async fn crosswalk_to_canonical(
        &self,
        system: &str,
        entity_type: &str,
        external_id: &str,
    ) -> Result<Option<String>> {
        let row = self.db.fetch_optional(Stmt::new(
            "SELECT canonical_id FROM crosswalks WHERE system = $1 AND entity_type = $2 AND external_id = $3",
        )
        .bind(system)
        .bind(entity_type)
        .bind(external_id)).await?;
        row.map(|r| r.text("canonical_id")).transpose()
    }

    /// The id `system` knows a canonical entity by.
    pub async fn crosswalk_to_external(
        &self,
        system: &str,
        entity_type: &str,
        canonical_id: &str,
    ) -> Result<Option<String>> {
        let row = self.db.fetch_optional(Stmt::new(
            "SELECT external_id FROM crosswalks WHERE system = $1 AND entity_type = $2 AND canonical_id = $3 \
             ORDER BY external_id LIMIT 1",
        )
        .bind(system)
        .bind(entity_type)
        .bind(canonical_id)).await?;
        row.map(|r| r.text("external_id")).transpose()
    }

    /// Canonical documents (the `data` column) of `table`, for the master-data reads below.
    async fn documents<T: DeserializeOwned>(
        &self,
        table: &'static str,
        stmt: Stmt,
    ) -> Result<Vec<T>> {
        self.db
            .fetch(stmt)
            .await?
            .iter()
            .map(|r| parse_json(table, &r.text("data")?))
            .collect()
    }

    async fn document<T: DeserializeOwned>(
        &self,
        table: &'static str,
        stmt: Stmt,
    ) -> Result<Option<T>> {
        Ok(self.documents(table, stmt).await?.into_iter().next())
    }

    pub async fn supplier(&self, id: &str) -> Result<Option<Supplier>> {
        let stmt = Stmt::new("SELECT data FROM suppliers WHERE id = $1").bind(id);
        self.document("suppliers", stmt).await
    }

    pub async fn supplier_by_tin(&self, tin: &str) -> Result<Option<Supplier>> {
        let stmt =
            Stmt::new("SELECT data FROM suppliers WHERE tin = $1 ORDER BY id LIMIT 1").bind(tin);
        self.document("suppliers", stmt).await
    }

    pub async fn item(&self, gtin: &str) -> Result<Option<Item>> {
        let stmt = Stmt::new("SELECT data FROM items WHERE gtin = $1").bind(gtin);
        self.document("items", stmt).await
    }

    pub async fn item_by_vendor_part(
        &self,
        supplier_id: &str,
        vendor_part: &str,
    ) -> Result<Option<Item>> {
        let stmt = Stmt::new("SELECT data FROM items WHERE supplier_id = $1 AND vendor_part = $2")
            .bind(supplier_id)
            .bind(vendor_part);
        self.document("items", stmt).await
    }

    pub async fn facility(&self, gln: &str) -> Result<Option<Facility>> {
        let stmt = Stmt::new("SELECT data FROM facilities WHERE gln = $1").bind(gln);
        self.document("facilities", stmt).await
    }

    pub async fn all_items(&self) -> Result<Vec<Item>> {
        let stmt = Stmt::new("SELECT data FROM items ORDER BY gtin");
        self.documents("items", stmt).await
    }

    pub async fn all_facilities(&self) -> Result<Vec<Facility>> {
        let stmt = Stmt::new("SELECT data FROM facilities ORDER BY gln");
        self.documents("facilities", stmt).await
    }

    // ---- what other instances changed ---------------------------------------------------------

    /// Contract versions whose status changed at or after `since`, oldest change first, with
    /// the document of those now active: how an instance's price index follows the activations
    /// other instances commit, in one query.
    pub async fn contracts_changed_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<crate::ContractChange>> {
        let rows = self
            .db
            .fetch(
                Stmt::new(
                    "SELECT contract_id, version, status, updated_at, \
                     CASE WHEN status = 'active' THEN data END AS data FROM contract_versions \
                     WHERE updated_at >= $1 ORDER BY updated_at, contract_id, version",
                )
                .bind(to_micros(since)),
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(crate::ContractChange {
                    contract_id: r.text("contract_id")?,
                    version: r.int("version")? as u32,
                    status: r.text("status")?,
                    updated_at: from_micros(r.int("updated_at")?),
                    document: r.opt_text("data")?,
                })
            })
            .collect()
    }

    /// Items written at or after `since` (by any instance, or by `concord import`).
    pub async fn items_changed_since(&self, since: DateTime<Utc>) -> Result<Vec<Item>> {
        let stmt = Stmt::new("SELECT data FROM items WHERE updated_at >= $1 ORDER BY updated_at")
            .bind(to_micros(since));
        self.documents("items", stmt).await
    }

    /// Facilities written at or after `since`.
    pub async fn facilities_changed_since(&self, since: DateTime<Utc>) -> Result<Vec<Facility>> {
        let stmt =
            Stmt::new("SELECT data FROM facilities WHERE updated_at >= $1 ORDER BY updated_at")
                .bind(to_micros(since));
        self.documents("facilities", stmt).await
    }
}
