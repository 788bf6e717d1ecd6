//! What the operations console reads: bounded, indexed queries (a page must answer in
//! milliseconds with a million events stored), each returning plain rows the console shapes.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::{
    AttemptRecord, ContractVersionRecord, DeliveryRecord, EventRecord, ExceptionRecord,
    InboxRecord, Result, Store,
    db::Stmt,
    from_micros,
    read::{
        ATTEMPT_COLS, CONTRACT_COLS, DELIVERY_COLS, EVENT_COLS, EXCEPTION_COLUMNS, INBOX_COLS,
        attempt_row, contract_row, delivery_row, event_row, exception_row, inbox_row, parse_json,
    },
    to_micros,
};

/// Everything stored under one correlation id, at most this many of each kind.
const LINEAGE_MAX: i64 = 500;

/// A target an operator paused: deliveries to it wait until it is resumed.
#[derive(Debug, Clone, Serialize)]
pub struct PausedTarget {
    pub target: String,
    pub paused_at: DateTime<Utc>,
    pub actor: String,
    pub reason: String,
}

/// Delivery attempts to one target with one outcome since some instant.
#[derive(Debug, Clone, Serialize)]
pub struct AttemptSummary {
    pub target: String,
    pub outcome: String,
    pub count: i64,
    pub last_at: DateTime<Utc>,
}

/// One transaction's raw messages, canonical events, deliveries and their attempts, each in
/// the order it happened (at most 500 of each).
#[derive(Debug, Clone)]
pub struct Lineage {
    pub inbox: Vec<InboxRecord>,
    pub events: Vec<EventRecord>,
    pub deliveries: Vec<DeliveryRecord>,
    pub attempts: Vec<AttemptRecord>,
}

/// A transaction found by a search key.
#[derive(Debug, Clone, Serialize)]
pub struct TransactionRef {
    pub correlation_id: String,
    pub subject: String,
    pub at: DateTime<Utc>,
}

impl Store {
    pub async fn paused_targets(&self) -> Result<Vec<PausedTarget>> {
        let rows = self
            .db
            .fetch(Stmt::new(
                "SELECT target, paused_at, actor, reason FROM paused_targets ORDER BY target",
            ))
            .await?;
        rows.iter()
            .map(|r| {
                Ok(PausedTarget {
                    target: r.text("target")?,
                    paused_at: from_micros(r.int("paused_at")?),
                    actor: r.text("actor")?,
                    reason: r.text("reason")?,
                })
            })
            .collect()
    }

    /// Canonical events per time bucket since `since` (the bucket's start, count), oldest
    /// first; empty buckets are left out.
    pub async fn event_counts(
        &self,
        since: DateTime<Utc>,
        bucket: chrono::Duration,
    ) -> Result<Vec<(DateTime<Utc>, i64)>> {
        let width = bucket.num_microseconds().unwrap_or(i64::MAX).max(1);
        let rows = self
            .db
            .fetch(
                Stmt::new(
                    "SELECT time / $2 AS b, COUNT(*) AS n FROM events WHERE time >= $1 \
                     GROUP BY time / $2 ORDER BY 1",
                )
                .bind(to_micros(since))
                .bind(width),
            )
            .await?;
        rows.iter()
            .map(|r| Ok((from_micros(r.int("b")? * width), r.int("n")?)))
            .collect()
    }

    /// Attempts per target and outcome since `since`, with the latest of each.
    pub async fn attempt_summary(&self, since: DateTime<Utc>) -> Result<Vec<AttemptSummary>> {
        let rows = self
            .db
            .fetch(
                Stmt::new(
                    "SELECT d.target AS target, a.outcome AS outcome, COUNT(*) AS n, MAX(a.at) AS last_at \
                     FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id \
                     WHERE a.at >= $1 GROUP BY d.target, a.outcome ORDER BY 1, 2",
                )
                .bind(to_micros(since)),
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(AttemptSummary {
                    target: r.text("target")?,
                    outcome: r.text("outcome")?,
                    count: r.int("n")?,
                    last_at: from_micros(r.int("last_at")?),
                })
            })
            .collect()
    }

    /// Sync latency of the newest deliveries acknowledged since `since`, at most `limit`: the
    /// subject (whose prefix names the workflow) and the time from the event to the target's
    /// answer. Read through the attempts' time index, not the deliveries'.
    pub async fn sync_latencies(
        &self,
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<(String, chrono::Duration)>> {
        let rows = self
            .db
            .fetch(
                Stmt::new(
                    "SELECT d.subject AS subject, a.at - d.created_at AS us \
                     FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id \
                     WHERE a.at >= $1 AND a.outcome = 'delivered' ORDER BY a.at DESC LIMIT $2",
                )
                .bind(to_micros(since))
                .bind(i64::from(limit)),
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.text("subject")?,
                    chrono::Duration::microseconds(r.int("us")?),
                ))
            })
            .collect()
    }

    /// Transactions recorded under a search key (`("invoice", "INV-7")`), newest first.
    pub async fn find_transactions(
        &self,
        kind: &str,
        value: &str,
        limit: u32,
    ) -> Result<Vec<TransactionRef>> {
        let rows = self
            .db
            .fetch(
                Stmt::new(
                    "SELECT correlation_id, subject, at FROM search_keys WHERE kind = $1 AND value = $2 \
                     ORDER BY at DESC LIMIT $3",
                )
                .bind(kind)
                .bind(value)
                .bind(i64::from(limit)),
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(TransactionRef {
                    correlation_id: r.text("correlation_id")?,
                    subject: r.text("subject")?,
                    at: from_micros(r.int("at")?),
                })
            })
            .collect()
    }

    /// The newest transactions (by their latest canonical event), at most `limit`.
    pub async fn recent_transactions(&self, limit: u32) -> Result<Vec<TransactionRef>> {
        // The newest events, then one row per transaction: bounded by the window, not the table.
        let rows = self
            .db
            .fetch(
                Stmt::new(
                    "SELECT correlation_id, subject, time FROM events ORDER BY seq DESC LIMIT $1",
                )
                .bind(i64::from(limit) * 8),
            )
            .await?;
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for r in &rows {
            let correlation_id = r.text("correlation_id")?;
            if seen.insert(correlation_id.clone()) {
                out.push(TransactionRef {
                    correlation_id,
                    subject: r.text("subject")?,
                    at: from_micros(r.int("time")?),
                });
            }
            if out.len() >= limit as usize {
                break;
            }
        }
        Ok(out)
    }

    /// Contract versions changed most recently, at most `limit`.
    pub async fn recent_contract_versions(&self, limit: u32) -> Result<Vec<ContractVersionRecord>> {
        let rows = self
            .db
            .fetch(
                Stmt::new(format!(
                    "SELECT {CONTRACT_COLS} FROM contract_versions \
                     ORDER BY updated_at DESC, contract_id, version LIMIT $1"
                ))
                .bind(i64::from(limit)),
            )
            .await?;
        rows.iter().map(contract_row).collect()
    }

    /// Everything stored under one correlation id besides the timeline's steps: its lineage.
    pub async fn lineage(&self, correlation_id: &str) -> Result<Lineage> {
        let fetch = |sql: String| Stmt::new(sql).bind(correlation_id).bind(LINEAGE_MAX);
        let inbox = self
            .db
            .fetch(fetch(format!(
                "SELECT {INBOX_COLS} FROM inbox WHERE correlation_id = $1 ORDER BY received_at, id LIMIT $2"
            )))
            .await?;
        let events = self
            .db
            .fetch(fetch(format!(
                "SELECT {EVENT_COLS} FROM events WHERE correlation_id = $1 ORDER BY seq LIMIT $2"
            )))
            .await?;
        let deliveries = self
            .db
            .fetch(fetch(format!(
                "SELECT {DELIVERY_COLS} FROM deliveries WHERE correlation_id = $1 ORDER BY seq LIMIT $2"
            )))
            .await?;
        // Every attempt of those deliveries in one read, not one per delivery.
        let attempts = self
            .db
            .fetch(fetch(format!(
                "SELECT {} FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id \
                 WHERE d.correlation_id = $1 ORDER BY d.seq, a.attempt LIMIT $2",
                ATTEMPT_COLS
                    .split(", ")
                    .map(|c| format!("a.{c} AS {c}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
            .await?;
        Ok(Lineage {
            inbox: inbox.iter().map(inbox_row).collect::<Result<_>>()?,
            events: events.iter().map(event_row).collect::<Result<_>>()?,
            deliveries: deliveries.iter().map(delivery_row).collect::<Result<_>>()?,
            attempts: attempts.iter().map(attempt_row).collect::<Result<_>>()?,
        })
    }

    /// Queued, in-flight and dead deliveries per target (delivered ones are not counted: the
    /// status index keeps this to the rows that still need something).
    pub async fn open_delivery_counts(&self) -> Result<Vec<(String, String, i64)>> {
        let rows = self
            .db
            .fetch(Stmt::new(
                "SELECT target, status, COUNT(*) AS n FROM deliveries \
                 WHERE status IN ('pending', 'in_flight', 'dead') GROUP BY target, status ORDER BY 1, 2",
            ))
            .await?;
        rows.iter()
            .map(|r| Ok((r.text("target")?, r.text("status")?, r.int("n")?)))
            .collect()
    }

    // ---- what service level objectives judge (bounded by their window) --------------------

    /// Contract versions submitted since `since`, oldest first.
    pub async fn contract_versions_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<ContractVersionRecord>> {
        let rows = self
            .db
            .fetch(
                Stmt::new(format!(
                    "SELECT {CONTRACT_COLS} FROM contract_versions WHERE created_at >= $1 \
                     ORDER BY created_at"
                ))
                .bind(to_micros(since)),
            )
            .await?;
        rows.iter().map(contract_row).collect()
    }

    /// Exceptions opened since `since`, open or resolved, oldest first.
    pub async fn exceptions_since(&self, since: DateTime<Utc>) -> Result<Vec<ExceptionRecord>> {
        let rows = self
            .db
            .fetch(
                Stmt::new(format!(
                    "SELECT {EXCEPTION_COLUMNS} FROM exceptions WHERE created_at >= $1 ORDER BY created_at, id"
                ))
                .bind(to_micros(since)),
            )
            .await?;
        rows.iter().map(exception_row).collect()
    }

    /// The state of each workflow of `kind` changed since `since`.
    pub async fn workflows_since(
        &self,
        kind: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<(String, serde_json::Value)>> {
        let rows = self
            .db
            .fetch(
                Stmt::new("SELECT id, state FROM workflows WHERE kind = $1 AND updated_at >= $2")
                    .bind(kind)
                    .bind(to_micros(since)),
            )
            .await?;
        rows.iter()
            .map(|r| {
                let state = r.text("state")?;
                Ok((r.text("id")?, parse_json("workflows", &state)?))
            })
            .collect()
    }
}
