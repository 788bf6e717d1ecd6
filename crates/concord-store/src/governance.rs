//! API keys and the audit log: reads, and the sealer that chains audit entries.

use chrono::{DateTime, Utc};
use concord_model::audit::{AuditFields, SealedEntry, entry_hash};
use serde::Serialize;
use serde_json::Value;

use crate::{
    Error, Result, Store,
    db::{Row, Stmt},
    from_micros,
};

/// An API key as stored (without its hash).
#[derive(Debug, Clone, Serialize)]
pub struct ApiKeyRecord {
    pub id: String,
    pub name: String,
    pub role: String,
    pub system: Option<String>,
    /// The person the key belongs to (approvals are made in their name).
    pub user: Option<String>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// An audit entry to append with the change it witnesses.
#[derive(Debug, Clone, Serialize)]
pub struct NewAuditEntry {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub correlation_id: Option<String>,
    pub before_digest: Option<String>,
    pub after_digest: Option<String>,
    pub detail: Value,
}

/// An audit entry as read back; `chain_seq` and `hash` are `None` until sealed.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord {
    pub seq: i64,
    pub chain_seq: Option<i64>,
    #[serde(flatten)]
    pub entry: NewAuditEntry,
    pub prev_hash: Option<String>,
    pub hash: Option<String>,
}

/// Which audit entries to list.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub action: Option<String>,
    pub actor: Option<String>,
    pub subject: Option<String>,
    pub correlation_id: Option<String>,
    pub since: Option<DateTime<Utc>>,
    /// Entries with `seq` below this (paging backwards from the newest).
    pub before_seq: Option<i64>,
    pub limit: u32,
}

/// The whole chain as stored, for verification.
#[derive(Debug, Clone)]
pub struct AuditChain {
    pub entries: Vec<SealedEntry>,
    pub head_seq: i64,
    pub head_hash: String,
    /// Entries appended but not sealed yet.
    pub unsealed: i64,
}

const KEY_COLS: &str =
    "id, name, role, system, user_id, created_at, created_by, expires_at, revoked_at";

fn key_row(r: &Row) -> Result<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id: r.text("id")?,
        name: r.text("name")?,
        role: r.text("role")?,
        system: r.opt_text("system")?,
        user: r.opt_text("user_id")?,
        created_at: from_micros(r.int("created_at")?),
        created_by: r.text("created_by")?,
        expires_at: r.opt_int("expires_at")?.map(from_micros),
        revoked_at: r.opt_int("revoked_at")?.map(from_micros),
    })
}

const AUDIT_COLS: &str = "seq, chain_seq, at, actor, action, subject, correlation_id, \
    before_digest, after_digest, detail, prev_hash, hash";

fn audit_fields(r: &Row) -> Result<AuditFields> {
    Ok(AuditFields {
        at: r.int("at")?,
        actor: r.text("actor")?,
        action: r.text("action")?,
        subject: r.text("subject")?,
        correlation_id: r.opt_text("correlation_id")?,
        before_digest: r.opt_text("before_digest")?,
        after_digest: r.opt_text("after_digest")?,
        detail: r.text("detail")?,
    })
}

fn audit_row(r: &Row) -> Result<AuditRecord> {
    let f = audit_fields(r)?;
    Ok(AuditRecord {
        seq: r.int("seq")?,
        chain_seq: r.opt_int("chain_seq")?,
        entry: NewAuditEntry {
            at: from_micros(f.at),
            detail: serde_json::from_str(&f.detail).map_err(|source| Error::Corrupt {
                table: "audit_log",
                source,
            })?,
            actor: f.actor,
            action: f.action,
            subject: f.subject,
            correlation_id: f.correlation_id,
            before_digest: f.before_digest,
            after_digest: f.after_digest,
        },
        prev_hash: r.opt_text("prev_hash")?,
        hash: r.opt_text("hash")?,
    })
}

impl Store {
    /// The key whose SHA-256 is `hash`, revoked or not (the caller decides).
    pub async fn api_key_by_hash(&self, hash: &str) -> Result<Option<ApiKeyRecord>> {
        let sql = format!("SELECT {KEY_COLS} FROM api_keys WHERE hash = $1");
        self.db
            .fetch_optional(Stmt::new(sql).bind(hash))
            .await?
            .as_ref()
            .map(key_row)
            .transpose()
    }

    pub async fn api_key(&self, id: &str) -> Result<Option<ApiKeyRecord>> {
        let sql = format!("SELECT {KEY_COLS} FROM api_keys WHERE id = $1");
        self.db
            .fetch_optional(Stmt::new(sql).bind(id))
            .await?
            .as_ref()
            .map(key_row)
            .transpose()
    }

    pub async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>> {
        let sql = format!("SELECT {KEY_COLS} FROM api_keys ORDER BY created_at, id");
        self.db
            .fetch(Stmt::new(sql))
            .await?
            .iter()
            .map(key_row)
            .collect()
    }

    /// Newest first.
    pub async fn audit_entries(&self, f: &AuditFilter) -> Result<Vec<AuditRecord>> {
        let sql = format!(
            "SELECT {AUDIT_COLS} FROM audit_log WHERE ($1 = '' OR action = $1) AND ($2 = '' OR actor = $2) \
             AND ($3 = '' OR subject = $3) AND at >= $4 AND seq < $5 \
             AND ($7 = '' OR correlation_id = $7) ORDER BY seq DESC LIMIT $6"
        );
        let rows = self
            .db
            .fetch(
                Stmt::new(sql)
                    .bind(f.action.clone().unwrap_or_default())
                    .bind(f.actor.clone().unwrap_or_default())
                    .bind(f.subject.clone().unwrap_or_default())
                    .bind(f.since.map_or(i64::MIN, crate::to_micros))
                    .bind(f.before_seq.unwrap_or(i64::MAX))
                    .bind(i64::from(f.limit))
                    .bind(f.correlation_id.clone().unwrap_or_default()),
            )
            .await?;
        rows.iter().map(audit_row).collect()
    }

    /// Seals up to `max` appended entries in append order, chaining each to the one before.
    /// Returns how many were sealed. Safe with several sealers (several hub instances): the
    /// head moves only from the position this sealer read, else nothing is written.
    pub async fn seal_audit(&self, max: u32) -> Result<usize> {
        let head = self
            .db
            .fetch_optional(Stmt::new(
                "SELECT chain_seq, hash FROM audit_head WHERE id = 1",
            ))
            .await?
            .ok_or_else(|| Error::Decode("the audit head row is missing".into()))?;
        let (head_seq, head_hash) = (head.int("chain_seq")?, head.text("hash")?);
        let sql = format!(
            "SELECT {AUDIT_COLS} FROM audit_log WHERE chain_seq IS NULL ORDER BY seq LIMIT $1"
        );
        let rows = self.db.fetch(Stmt::new(sql).bind(i64::from(max))).await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let mut stmts = Vec::with_capacity(rows.len() + 1);
        let (mut seq, mut prev) = (head_seq, head_hash);
        for row in &rows {
            seq += 1;
            let hash = entry_hash(seq, &prev, &audit_fields(row)?);
            stmts.push(
                Stmt::new(
                    "UPDATE audit_log SET chain_seq = $1, prev_hash = $2, hash = $3 \
                     WHERE seq = $4 AND chain_seq IS NULL",
                )
                .bind(seq)
                .bind(prev.clone())
                .bind(hash.clone())
                .bind(row.int("seq")?)
                .must_change("another sealer sealed this entry first".into()),
            );
            prev = hash;
        }
        stmts.insert(
            0,
            Stmt::new(
                "UPDATE audit_head SET chain_seq = $1, hash = $2 WHERE id = 1 AND chain_seq = $3",
            )
            .bind(seq)
            .bind(prev)
            .bind(head_seq)
            .must_change("another sealer moved the audit head first".into()),
        );
        match self.db.transaction(stmts).await {
            Ok(_) => Ok(rows.len()),
            Err(Error::Conflict(_)) => Ok(0), // the other sealer did it; nothing lost
            Err(e) => Err(e),
        }
    }

    /// Every sealed entry in chain order, the head, and how many wait to be sealed.
    pub async fn audit_chain(&self) -> Result<AuditChain> {
        let head = self
            .db
            .fetch_optional(Stmt::new(
                "SELECT chain_seq, hash FROM audit_head WHERE id = 1",
            ))
            .await?
            .ok_or_else(|| Error::Decode("the audit head row is missing".into()))?;
        let sql = format!(
            "SELECT {AUDIT_COLS} FROM audit_log WHERE chain_seq IS NOT NULL ORDER BY chain_seq"
        );
        let rows = self.db.fetch(Stmt::new(sql)).await?;
        let entries = rows
            .iter()
            .map(|r| {
                Ok(SealedEntry {
                    chain_seq: r.int("chain_seq")?,
                    prev_hash: r.opt_text("prev_hash")?.unwrap_or_default(),
                    hash: r.opt_text("hash")?.unwrap_or_default(),
                    fields: audit_fields(r)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let unsealed = self
            .db
            .fetch_optional(Stmt::new(
                "SELECT COUNT(*) AS n FROM audit_log WHERE chain_seq IS NULL",
            ))
            .await?
            .map_or(Ok(0), |r| r.int("n"))?;
        Ok(AuditChain {
            entries,
            head_seq: head.int("chain_seq")?,
            head_hash: head.text("hash")?,
            unsealed,
        })
    }
}
