//! Reads, the inbox's first write, and work claiming. Everything that changes business state
//! goes through `commit` instead.

use chrono::{DateTime, Utc};
use concord_model::{Facility, Item, Supplier};
use serde::de::DeserializeOwned;
use sqlx::{Row, any::AnyRow};

use crate::{
    AttemptRecord, ContractVersionRecord, DeliveryRecord, DeliveryStatus, Dialect, Error,
    EventRecord, ExceptionRecord, InboxInsert, InboxRecord, InboxStatus, NewEvent, NewInbound,
    Result, Store, TimelineEntry, Timer, from_micros, to_micros,
};

fn parse_json<T: DeserializeOwned>(table: &'static str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|source| Error::Corrupt { table, source })
}

fn opt_u16(row: &AnyRow, col: &str) -> Result<Option<u16>> {
    Ok(row.try_get::<Option<i64>, _>(col)?.map(|v| v as u16))
}

const INBOX_COLS: &str = "id, system, message_type, dedupe_key, correlation_id, received_at, content_type, body, \
    original_body, status, response_status, response_body, error";

fn inbox_row(row: &AnyRow) -> Result<InboxRecord> {
    let status: String = row.try_get("status")?;
    Ok(InboxRecord {
        id: row.try_get("id")?,
        system: row.try_get("system")?,
        message_type: row.try_get("message_type")?,
        dedupe_key: row.try_get("dedupe_key")?,
        correlation_id: row.try_get("correlation_id")?,
        received_at: from_micros(row.try_get("received_at")?),
        content_type: row.try_get("content_type")?,
        body: row.try_get("body")?,
        original_body: row.try_get("original_body")?,
        status: status.parse().map_err(|e: String| Error::Conflict(e))?,
        response_status: opt_u16(row, "response_status")?,
        response_body: row.try_get("response_body")?,
        error: row.try_get("error")?,
    })
}

const DELIVERY_COLS: &str = "seq, id, event_id, target, message_type, subject, idempotency_key, correlation_id, \
    required, payload, status, attempts, next_attempt_at, last_error, created_at, updated_at";

fn delivery_row(row: &AnyRow) -> Result<DeliveryRecord> {
    let status: String = row.try_get("status")?;
    let payload: String = row.try_get("payload")?;
    Ok(DeliveryRecord {
        seq: row.try_get("seq")?,
        id: row.try_get("id")?,
        event_id: row.try_get("event_id")?,
        target: row.try_get("target")?,
        message_type: row.try_get("message_type")?,
        subject: row.try_get("subject")?,
        idempotency_key: row.try_get("idempotency_key")?,
        correlation_id: row.try_get("correlation_id")?,
        required: row.try_get::<i64, _>("required")? != 0,
        payload: parse_json("deliveries", &payload)?,
        status: status.parse().map_err(|e: String| Error::Conflict(e))?,
        attempts: row.try_get::<i64, _>("attempts")? as u32,
        next_attempt_at: from_micros(row.try_get("next_attempt_at")?),
        last_error: row.try_get("last_error")?,
        created_at: from_micros(row.try_get("created_at")?),
        updated_at: from_micros(row.try_get("updated_at")?),
    })
}

fn contract_row(row: &AnyRow) -> Result<ContractVersionRecord> {
    let data: String = row.try_get("data")?;
    Ok(ContractVersionRecord {
        contract_id: row.try_get("contract_id")?,
        version: row.try_get::<i64, _>("version")? as u32,
        status: row.try_get("status")?,
        digest: row.try_get("digest")?,
        data: parse_json("contract_versions", &data)?,
        correlation_id: row.try_get("correlation_id")?,
        created_at: from_micros(row.try_get("created_at")?),
        updated_at: from_micros(row.try_get("updated_at")?),
    })
}

fn exception_row(row: &AnyRow) -> Result<ExceptionRecord> {
    let detail: String = row.try_get("detail")?;
    Ok(ExceptionRecord {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        subject: row.try_get("subject")?,
        status: row.try_get("status")?,
        correlation_id: row.try_get("correlation_id")?,
        detail: parse_json("exceptions", &detail)?,
        created_at: from_micros(row.try_get("created_at")?),
        resolved_at: row
            .try_get::<Option<i64>, _>("resolved_at")?
            .map(from_micros),
    })
}

impl Store {
    // ---- inbox -------------------------------------------------------------------------------

    /// Stores a raw inbound message before anything else happens to it. A repeat of its dedupe
    /// key stores nothing and returns the first message instead.
    pub async fn insert_inbox(&self, m: NewInbound) -> Result<InboxInsert> {
        let at = to_micros(m.received_at);
        let inserted = sqlx::query(
            "INSERT INTO inbox (id, system, message_type, dedupe_key, correlation_id, received_at, content_type, \
             body, status, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'received', $6) \
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
        .execute(&self.pool)
        .await?
        .rows_affected();
        if inserted == 1 {
            return Ok(InboxInsert::Inserted);
        }
        let sql = format!("SELECT {INBOX_COLS} FROM inbox WHERE dedupe_key = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(m.dedupe_key)
            .fetch_one(&self.pool)
            .await?;
        Ok(InboxInsert::Duplicate(Box::new(inbox_row(&row)?)))
    }

    pub async fn inbox(&self, id: &str) -> Result<Option<InboxRecord>> {
        let sql = format!("SELECT {INBOX_COLS} FROM inbox WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(inbox_row).transpose()
    }

    pub async fn list_inbox(&self, status: InboxStatus, limit: u32) -> Result<Vec<InboxRecord>> {
        let sql = format!(
            "SELECT {INBOX_COLS} FROM inbox WHERE status = $1 ORDER BY received_at, id LIMIT $2"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(status.as_str())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(inbox_row).collect()
    }

    /// Replaces a quarantined message's body with a fixed one, keeping the first original.
    pub async fn fix_inbox_body(&self, id: &str, body: String) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE inbox SET original_body = COALESCE(original_body, body), body = $1, updated_at = $2 \
             WHERE id = $3 AND status = 'quarantined'",
        )
        .bind(body)
        .bind(to_micros(Utc::now()))
        .bind(id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    // ---- events ------------------------------------------------------------------------------

    pub async fn events_after(&self, after_seq: i64, limit: u32) -> Result<Vec<EventRecord>> {
        let rows = sqlx::query(
            "SELECT seq, id, type, source, subject, time, correlation_id, data FROM events \
             WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after_seq)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let data: String = row.try_get("data")?;
                Ok(EventRecord {
                    seq: row.try_get("seq")?,
                    event: NewEvent {
                        id: row.try_get("id")?,
                        event_type: row.try_get("type")?,
                        source: row.try_get("source")?,
                        subject: row.try_get("subject")?,
                        time: from_micros(row.try_get("time")?),
                        correlation_id: row.try_get("correlation_id")?,
                        data: parse_json("events", &data)?,
                    },
                })
            })
            .collect()
    }

    // ---- deliveries --------------------------------------------------------------------------

    /// Claims up to `limit` deliveries that are due, leasing them until `lease_until`.
    ///
    /// A delivery is due when it is pending and its next attempt time has come, or in flight
    /// with an expired lease (its worker died). It is held back while an earlier delivery to the
    /// same target and subject is still pending or in flight: that is what keeps contract
    /// versions in version order at each target. On PostgreSQL, `FOR UPDATE SKIP LOCKED` lets
    /// several hub instances claim without taking the same row.
    pub async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>> {
        let lock = match self.dialect {
            Dialect::Postgres => " FOR UPDATE OF d SKIP LOCKED",
            Dialect::Sqlite => "",
        };
        let sql = format!(
            "SELECT d.id FROM deliveries d WHERE \
             ((d.status = 'pending' AND d.next_attempt_at <= $1) OR (d.status = 'in_flight' AND d.lease_until <= $1)) \
             AND NOT EXISTS (SELECT 1 FROM deliveries e WHERE e.target = d.target AND e.subject = d.subject \
               AND e.seq < d.seq AND e.status IN ('pending', 'in_flight')) \
             ORDER BY d.seq LIMIT $2{lock}"
        );
        let mut tx = self.pool.begin().await?;
        let ids: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(to_micros(now))
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.try_get::<String, _>("id"))
            .collect::<Result<_, _>>()?;
        let mut claimed = Vec::with_capacity(ids.len());
        let select = format!(
            "UPDATE deliveries SET status = 'in_flight', lease_until = $1, updated_at = $2 WHERE id = $3 \
             RETURNING {DELIVERY_COLS}"
        );
        for id in ids {
            let row = sqlx::query(sqlx::AssertSqlSafe(select.clone()))
                .bind(to_micros(lease_until))
                .bind(to_micros(now))
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
            claimed.push(delivery_row(&row)?);
        }
        tx.commit().await?;
        Ok(claimed)
    }

    pub async fn delivery(&self, id: &str) -> Result<Option<DeliveryRecord>> {
        let sql = format!("SELECT {DELIVERY_COLS} FROM deliveries WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(delivery_row).transpose()
    }

    pub async fn list_deliveries(
        &self,
        status: Option<DeliveryStatus>,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>> {
        let sql = format!(
            "SELECT {DELIVERY_COLS} FROM deliveries WHERE ($1 = '' OR status = $1) ORDER BY seq DESC LIMIT $2"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(status.map(|s| s.as_str()).unwrap_or(""))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(delivery_row).collect()
    }

    /// Deliveries per status, for summaries and metrics.
    pub async fn delivery_counts(&self) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n FROM deliveries GROUP BY status ORDER BY status",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("status")?, r.try_get("n")?)))
            .collect()
    }

    pub async fn attempts(&self, delivery_id: &str) -> Result<Vec<AttemptRecord>> {
        let rows = sqlx::query(
            "SELECT delivery_id, attempt, at, outcome, status_code, latency_us, error FROM delivery_attempts \
             WHERE delivery_id = $1 ORDER BY attempt",
        )
        .bind(delivery_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AttemptRecord {
                    delivery_id: r.try_get("delivery_id")?,
                    attempt: r.try_get::<i64, _>("attempt")? as u32,
                    at: from_micros(r.try_get("at")?),
                    outcome: r.try_get("outcome")?,
                    status_code: opt_u16(r, "status_code")?,
                    latency_us: r.try_get("latency_us")?,
                    error: r.try_get("error")?,
                })
            })
            .collect()
    }

    // ---- contracts and workflows -------------------------------------------------------------

    pub async fn contract_versions(&self, contract_id: &str) -> Result<Vec<ContractVersionRecord>> {
        let rows = sqlx::query(
            "SELECT contract_id, version, status, digest, data, correlation_id, created_at, updated_at \
             FROM contract_versions WHERE contract_id = $1 ORDER BY version",
        )
        .bind(contract_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(contract_row).collect()
    }

    pub async fn contracts_with_status(&self, status: &str) -> Result<Vec<ContractVersionRecord>> {
        let rows = sqlx::query(
            "SELECT contract_id, version, status, digest, data, correlation_id, created_at, updated_at \
             FROM contract_versions WHERE status = $1 ORDER BY contract_id, version",
        )
        .bind(status)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(contract_row).collect()
    }

    pub async fn contract_status_counts(&self) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n FROM contract_versions GROUP BY status ORDER BY status",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("status")?, r.try_get("n")?)))
            .collect()
    }

    pub async fn workflow<T: DeserializeOwned>(&self, kind: &str, id: &str) -> Result<Option<T>> {
        let row = sqlx::query("SELECT state FROM workflows WHERE kind = $1 AND id = $2")
            .bind(kind)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(r) => Ok(Some(parse_json(
                "workflows",
                &r.try_get::<String, _>("state")?,
            )?)),
            None => Ok(None),
        }
    }

    pub async fn due_timers(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<Timer>> {
        let rows = sqlx::query(
            "SELECT id, due_at, kind, subject, correlation_id FROM timers WHERE due_at <= $1 ORDER BY due_at LIMIT $2",
        )
        .bind(to_micros(now))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Timer {
                    id: r.try_get("id")?,
                    due_at: from_micros(r.try_get("due_at")?),
                    kind: r.try_get("kind")?,
                    subject: r.try_get("subject")?,
                    correlation_id: r.try_get("correlation_id")?,
                })
            })
            .collect()
    }

    // ---- lineage and exceptions --------------------------------------------------------------

    pub async fn timeline(&self, correlation_id: &str) -> Result<Vec<TimelineEntry>> {
        let rows = sqlx::query(
            "SELECT correlation_id, at, step, detail FROM timeline WHERE correlation_id = $1 ORDER BY seq",
        )
        .bind(correlation_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let detail: String = r.try_get("detail")?;
                Ok(TimelineEntry {
                    correlation_id: r.try_get("correlation_id")?,
                    at: from_micros(r.try_get("at")?),
                    step: r.try_get("step")?,
                    detail: parse_json("timeline", &detail)?,
                })
            })
            .collect()
    }

    pub async fn exceptions(&self, status: &str, limit: u32) -> Result<Vec<ExceptionRecord>> {
        let rows = sqlx::query(
            "SELECT id, kind, subject, status, correlation_id, detail, created_at, resolved_at FROM exceptions \
             WHERE status = $1 ORDER BY created_at, id LIMIT $2",
        )
        .bind(status)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(exception_row).collect()
    }

    // ---- crosswalks and master data ----------------------------------------------------------

    /// The canonical id an external id of `system` maps to.
    pub async fn crosswalk_to_canonical(
        &self,
        system: &str,
        entity_type: &str,
        external_id: &str,
    ) -> Result<Option<String>> {
        let row = sqlx::query(
            "SELECT canonical_id FROM crosswalks WHERE system = $1 AND entity_type = $2 AND external_id = $3",
        )
        .bind(system)
        .bind(entity_type)
        .bind(external_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.try_get("canonical_id")).transpose()?)
    }

    /// The id `system` knows a canonical entity by.
    pub async fn crosswalk_to_external(
        &self,
        system: &str,
        entity_type: &str,
        canonical_id: &str,
    ) -> Result<Option<String>> {
        let row = sqlx::query(
            "SELECT external_id FROM crosswalks WHERE system = $1 AND entity_type = $2 AND canonical_id = $3 \
             ORDER BY external_id LIMIT 1",
        )
        .bind(system)
        .bind(entity_type)
        .bind(canonical_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.try_get("external_id")).transpose()?)
    }

    pub async fn supplier(&self, id: &str) -> Result<Option<Supplier>> {
        let row = sqlx::query("SELECT data FROM suppliers WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| parse_json("suppliers", &r.try_get::<String, _>("data")?))
            .transpose()
    }

    pub async fn supplier_by_tin(&self, tin: &str) -> Result<Option<Supplier>> {
        let row = sqlx::query("SELECT data FROM suppliers WHERE tin = $1 ORDER BY id LIMIT 1")
            .bind(tin)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| parse_json("suppliers", &r.try_get::<String, _>("data")?))
            .transpose()
    }

    pub async fn item(&self, gtin: &str) -> Result<Option<Item>> {
        let row = sqlx::query("SELECT data FROM items WHERE gtin = $1")
            .bind(gtin)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| parse_json("items", &r.try_get::<String, _>("data")?))
            .transpose()
    }

    pub async fn item_by_vendor_part(
        &self,
        supplier_id: &str,
        vendor_part: &str,
    ) -> Result<Option<Item>> {
        let row = sqlx::query("SELECT data FROM items WHERE supplier_id = $1 AND vendor_part = $2")
            .bind(supplier_id)
            .bind(vendor_part)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| parse_json("items", &r.try_get::<String, _>("data")?))
            .transpose()
    }

    pub async fn facility(&self, gln: &str) -> Result<Option<Facility>> {
        let row = sqlx::query("SELECT data FROM facilities WHERE gln = $1")
            .bind(gln)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| parse_json("facilities", &r.try_get::<String, _>("data")?))
            .transpose()
    }

    pub async fn all_items(&self) -> Result<Vec<Item>> {
        let rows = sqlx::query("SELECT data FROM items ORDER BY gtin")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| parse_json("items", &r.try_get::<String, _>("data")?))
            .collect()
    }

    pub async fn all_facilities(&self) -> Result<Vec<Facility>> {
        let rows = sqlx::query("SELECT data FROM facilities ORDER BY gln")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| parse_json("facilities", &r.try_get::<String, _>("data")?))
            .collect()
    }
}
