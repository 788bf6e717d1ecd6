//! Master-data reads and writes of part 5: duplicate-detection candidates, exclusion lists,
//! crosswalk listing and conflicts, reconciliation runs and findings.

use chrono::{DateTime, Utc};
use concord_model::{
    Supplier,
    screening::{Exclusion, normalize_name},
};
use serde::Serialize;
use serde_json::Value;

use crate::{
    Crosswalk, Result, Store,
    db::{Row, Stmt},
    from_micros,
    read::parse_json,
    to_micros,
};

/// Rows per multi-row `INSERT` of exclusions: 7 parameters each stays far below both
/// databases' limits (SQLite 32,766, PostgreSQL 65,535) while saving a round trip per row.
pub(crate) const EXCLUSIONS_PER_STATEMENT: usize = 500;

/// The duplicate-detection keys of a supplier: the first word of its normalised name and its
/// 5-digit ZIP. Candidates share the TIN or one of these; the scoring itself is in the model.
pub fn supplier_keys(s: &Supplier) -> (Option<String>, Option<String>) {
    // An empty name key matches only other empty ones (names of punctuation alone).
    let name = normalize_name(&s.name);
    // Never NULL once written (NULL marks rows from before this column, still to be keyed).
    let name_key = Some(name.split(' ').next().unwrap_or_default().to_string());
    let zip = s
        .address
        .as_ref()
        .map(|a| a.zip.chars().take(5).collect::<String>());
    (name_key, zip)
}

/// Inserts a supplier, or updates it keeping the payment details stored: done in the
/// statement, so an update read before a payment change committed cannot put the old details
/// back.
pub(crate) fn upsert_supplier(s: &Supplier, at: DateTime<Utc>, dialect: crate::Dialect) -> Stmt {
    let (name_key, zip) = supplier_keys(s);
    let keep_payment = match dialect {
        crate::Dialect::Sqlite => {
            "CASE WHEN json_extract(suppliers.data, '$.payment') IS NULL THEN excluded.data \
             ELSE json_set(excluded.data, '$.payment', json(json_extract(suppliers.data, '$.payment'))) END"
        }
        crate::Dialect::Postgres => {
            "CASE WHEN COALESCE(suppliers.data::jsonb -> 'payment', 'null'::jsonb) = 'null'::jsonb \
             THEN excluded.data \
             ELSE (excluded.data::jsonb || jsonb_build_object('payment', suppliers.data::jsonb -> 'payment'))::text END"
        }
    };
    Stmt::new(format!(
        "INSERT INTO suppliers (id, tin, name_key, zip, data, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (id) DO UPDATE SET tin = excluded.tin, name_key = excluded.name_key, zip = excluded.zip, \
         data = {keep_payment}, updated_at = excluded.updated_at"
    ))
    .bind(s.id.clone())
    .bind(s.tin.clone())
    .bind(name_key)
    .bind(zip)
    .bind(serde_json::to_string(s).expect("canonical types serialise"))
    .bind(to_micros(at))
}

pub(crate) fn set_supplier_payment(
    id: &str,
    payment: &concord_model::PaymentDetails,
    at: DateTime<Utc>,
    dialect: crate::Dialect,
) -> Stmt {
    let sql = match dialect {
        crate::Dialect::Sqlite => {
            "UPDATE suppliers SET data = json_set(data, '$.payment', json($2)), updated_at = $3 WHERE id = $1"
        }
        crate::Dialect::Postgres => {
            "UPDATE suppliers SET data = (data::jsonb || jsonb_build_object('payment', $2::jsonb))::text, \
             updated_at = $3 WHERE id = $1"
        }
    };
    Stmt::new(sql)
        .bind(id)
        .bind(serde_json::to_string(payment).expect("payment details serialise"))
        .bind(to_micros(at))
        .must_change(format!("no supplier {id}"))
}

/// Inserts or updates exclusion entries, several rows per statement.
pub(crate) fn upsert_exclusions(
    entries: &[Exclusion],
    at: DateTime<Utc>,
    dialect: crate::Dialect,
    out: &mut Vec<Stmt>,
) {
    let (per_statement, entries): (usize, Vec<&Exclusion>) = match dialect {
        // In-process SQLite gains little past a few dozen rows per statement (BENCHMARKS.md),
        // and takes a key twice in one statement as row by row: the last wins.
        crate::Dialect::Sqlite => (50, entries.iter().collect()),
        // PostgreSQL saves round trips with many, but refuses one statement touching a row
        // twice (ON CONFLICT DO UPDATE): the last entry of a key is kept, as row by row.
        crate::Dialect::Postgres => {
            let mut last = std::collections::HashMap::new();
            for (i, e) in entries.iter().enumerate() {
                last.insert((e.list, e.key.as_str()), i);
            }
            let kept = entries
                .iter()
                .enumerate()
                .filter(|(i, e)| last.get(&(e.list, e.key.as_str())) == Some(i))
                .map(|(_, e)| e)
                .collect();
            (EXCLUSIONS_PER_STATEMENT, kept)
        }
    };
    for chunk in entries.chunks(per_statement.max(1)) {
        let mut sql = String::with_capacity(160 + chunk.len() * 40);
        sql.push_str(
            "INSERT INTO exclusions (list, entry_key, npi, business_key, person_key, data, imported_at) VALUES ",
        );
        let mut stmt_params = Vec::with_capacity(chunk.len() * 7);
        for (i, e) in chunk.iter().enumerate() {
            let n = i * 7;
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!(
                "(${}, ${}, ${}, ${}, ${}, ${}, ${})",
                n + 1,
                n + 2,
                n + 3,
                n + 4,
                n + 5,
                n + 6,
                n + 7
            ));
            stmt_params.push((e, e.business_key(), e.person_key()));
        }
        sql.push_str(
            " ON CONFLICT (list, entry_key) DO UPDATE SET npi = excluded.npi, business_key = excluded.business_key, \
             person_key = excluded.person_key, data = excluded.data, imported_at = excluded.imported_at",
        );
        let mut stmt = Stmt::new(sql);
        let at = to_micros(at);
        for (e, business, person) in stmt_params {
            stmt = stmt
                .bind(e.list.as_str())
                .bind(e.key.clone())
                .bind(e.npi.clone())
                .bind(business)
                .bind(person)
                .bind(serde_json::to_string(e).expect("exclusions serialise"))
                .bind(at);
        }
        out.push(stmt);
    }
}

/// Maps an external id unless it is mapped already; a mapping to a different canonical id is
/// not overwritten but recorded as a conflict (re-opened if it was resolved before).
pub(crate) fn learn_crosswalk(c: Crosswalk, at: DateTime<Utc>, out: &mut Vec<Stmt>) {
    out.push(
        Stmt::new(
            "INSERT INTO crosswalk_conflicts (system, entity_type, external_id, proposed_canonical_id, \
             existing_canonical_id, status, detected_at) \
             SELECT system, entity_type, external_id, $4, canonical_id, 'open', $5 FROM crosswalks \
             WHERE system = $1 AND entity_type = $2 AND external_id = $3 AND canonical_id <> $4 \
             ON CONFLICT (system, entity_type, external_id, proposed_canonical_id) DO UPDATE SET \
             status = 'open', existing_canonical_id = excluded.existing_canonical_id, \
             detected_at = excluded.detected_at, resolution = NULL",
        )
        .bind(c.system.clone())
        .bind(c.entity_type.clone())
        .bind(c.external_id.clone())
        .bind(c.canonical_id.clone())
        .bind(to_micros(at)),
    );
    out.push(
        Stmt::new(
            "INSERT INTO crosswalks (system, entity_type, external_id, canonical_id, updated_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (system, entity_type, external_id) DO NOTHING",
        )
        .bind(c.system)
        .bind(c.entity_type)
        .bind(c.external_id)
        .bind(c.canonical_id)
        .bind(to_micros(at)),
    );
}

/// A person's mapping: overwrites, and resolves the external id's open conflicts with
/// `resolution`.
pub(crate) fn set_crosswalk(
    c: Crosswalk,
    resolution: &Value,
    at: DateTime<Utc>,
    out: &mut Vec<Stmt>,
) {
    out.push(resolve_conflicts(
        &c.system,
        &c.entity_type,
        &c.external_id,
        resolution,
    ));
    out.push(
        Stmt::new(
            "INSERT INTO crosswalks (system, entity_type, external_id, canonical_id, updated_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (system, entity_type, external_id) \
             DO UPDATE SET canonical_id = excluded.canonical_id, updated_at = excluded.updated_at",
        )
        .bind(c.system)
        .bind(c.entity_type)
        .bind(c.external_id)
        .bind(c.canonical_id)
        .bind(to_micros(at)),
    );
}

pub(crate) fn resolve_conflicts(
    system: &str,
    entity_type: &str,
    external_id: &str,
    resolution: &Value,
) -> Stmt {
    Stmt::new(
        "UPDATE crosswalk_conflicts SET status = 'resolved', resolution = $4 \
         WHERE system = $1 AND entity_type = $2 AND external_id = $3 AND status = 'open'",
    )
    .bind(system)
    .bind(entity_type)
    .bind(external_id)
    .bind(resolution.to_string())
}

/// A mapping as listed by the crosswalk API.
#[derive(Debug, Clone, Serialize)]
pub struct CrosswalkEntry {
    pub system: String,
    pub entity_type: String,
    pub external_id: String,
    pub canonical_id: String,
    pub updated_at: DateTime<Utc>,
}

/// One external id that something tried to map to a second canonical id.
#[derive(Debug, Clone, Serialize)]
pub struct CrosswalkConflict {
    pub system: String,
    pub entity_type: String,
    pub external_id: String,
    pub existing_canonical_id: String,
    pub proposed_canonical_id: String,
    pub status: String,
    pub detected_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution: Option<Value>,
}

/// Which crosswalk rows to list (every condition optional).
#[derive(Debug, Clone, Default)]
pub struct CrosswalkFilter {
    pub system: Option<String>,
    pub entity_type: Option<String>,
    pub canonical_id: Option<String>,
    pub external_id: Option<String>,
    pub limit: u32,
}

/// A reconciliation run as stored.
#[derive(Debug, Clone, Serialize)]
pub struct ReconciliationRun {
    pub id: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub trigger: String,
    pub actor: String,
    pub status: String,
    pub summary: Value,
}

/// One difference a run found.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReconciliationFinding {
    pub run_id: String,
    pub system: String,
    pub entity_type: String,
    pub entity_key: String,
    /// `missing` (canonical has it, the system not), `extra` (the system has it, canonical
    /// not) or `different`.
    pub kind: String,
    pub detail: Value,
    pub repaired_at: Option<DateTime<Utc>>,
    pub repaired_by: Option<String>,
}

pub(crate) fn save_run(run: &ReconciliationRun) -> Stmt {
    Stmt::new(
        "INSERT INTO reconciliation_runs (id, started_at, finished_at, trigger, actor, status, summary) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO UPDATE SET finished_at = excluded.finished_at, \
         status = excluded.status, summary = excluded.summary",
    )
    .bind(run.id.clone())
    .bind(to_micros(run.started_at))
    .bind(run.finished_at.map(to_micros))
    .bind(run.trigger.clone())
    .bind(run.actor.clone())
    .bind(run.status.clone())
    .bind(run.summary.to_string())
}

pub(crate) fn insert_finding(f: &ReconciliationFinding) -> Stmt {
    Stmt::new(
        "INSERT INTO reconciliation_findings (run_id, system, entity_type, entity_key, kind, detail) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(f.run_id.clone())
    .bind(f.system.clone())
    .bind(f.entity_type.clone())
    .bind(f.entity_key.clone())
    .bind(f.kind.clone())
    .bind(f.detail.to_string())
}

pub(crate) fn finding_repaired(
    run_id: &str,
    system: &str,
    entity_type: &str,
    entity_key: &str,
    by: &str,
    at: DateTime<Utc>,
) -> Stmt {
    Stmt::new(
        "UPDATE reconciliation_findings SET repaired_at = $5, repaired_by = $6 \
         WHERE run_id = $1 AND system = $2 AND entity_type = $3 AND entity_key = $4 AND repaired_at IS NULL",
    )
    .bind(run_id)
    .bind(system)
    .bind(entity_type)
    .bind(entity_key)
    .bind(to_micros(at))
    .bind(by)
    .must_change(format!(
        "finding {system}/{entity_type}/{entity_key} of run {run_id} is unknown or already repaired"
    ))
}

fn run_row(r: &Row) -> Result<ReconciliationRun> {
    Ok(ReconciliationRun {
        id: r.text("id")?,
        started_at: from_micros(r.int("started_at")?),
        finished_at: r.opt_int("finished_at")?.map(from_micros),
        trigger: r.text("trigger")?,
        actor: r.text("actor")?,
        status: r.text("status")?,
        summary: parse_json("reconciliation_runs", &r.text("summary")?)?,
    })
}

fn finding_row(r: &Row) -> Result<ReconciliationFinding> {
    Ok(ReconciliationFinding {
        run_id: r.text("run_id")?,
        system: r.text("system")?,
        entity_type: r.text("entity_type")?,
        entity_key: r.text("entity_key")?,
        kind: r.text("kind")?,
        detail: parse_json("reconciliation_findings", &r.text("detail")?)?,
        repaired_at: r.opt_int("repaired_at")?.map(from_micros),
        repaired_by: r.opt_text("repaired_by")?,
    })
}

const RUN_COLS: &str = "id, started_at, finished_at, trigger, actor, status, summary";
const FINDING_COLS: &str =
    "run_id, system, entity_type, entity_key, kind, detail, repaired_at, repaired_by";

impl Store {
    /// Suppliers that could be duplicates of `s`: the same TIN, the first word of the
    /// normalised name, or the ZIP (at most `limit`, the model scores them).
    pub async fn supplier_candidates(&self, s: &Supplier, limit: u32) -> Result<Vec<Supplier>> {
        let (name_key, zip) = supplier_keys(s);
        let tin_digits: Option<String> = s
            .tin
            .as_ref()
            .map(|t| t.chars().filter(char::is_ascii_digit).collect());
        // Both spellings of an EIN are accepted on the way in, so look for both.
        let tin_dashed = tin_digits
            .as_ref()
            .filter(|d| d.len() == 9)
            .map(|d| format!("{}-{}", &d[..2], &d[2..]));
        // Same TIN first and without a limit: a likely duplicate must never be cut off by a
        // crowd of suppliers sharing a ZIP or a first word.
        let same_tin =
            Stmt::new("SELECT data FROM suppliers WHERE tin = $1 OR tin = $2 ORDER BY id")
                .bind(tin_digits)
                .bind(tin_dashed);
        let similar = Stmt::new(
            "SELECT data FROM suppliers WHERE name_key = $1 OR zip = $2 ORDER BY id LIMIT $3",
        )
        .bind(name_key)
        .bind(zip)
        .bind(i64::from(limit));
        let mut out: Vec<Supplier> = vec![];
        for stmt in [same_tin, similar] {
            for r in self.db.fetch(stmt).await? {
                let s: Supplier = parse_json("suppliers", &r.text("data")?)?;
                if !out.iter().any(|o| o.id == s.id) {
                    out.push(s);
                }
            }
        }
        Ok(out)
    }

    /// Suppliers written before their duplicate-detection keys existed.
    pub async fn suppliers_without_keys(&self, limit: u32) -> Result<Vec<Supplier>> {
        let stmt =
            Stmt::new("SELECT data FROM suppliers WHERE name_key IS NULL ORDER BY id LIMIT $1")
                .bind(i64::from(limit));
        self.db
            .fetch(stmt)
            .await?
            .iter()
            .map(|r| parse_json("suppliers", &r.text("data")?))
            .collect()
    }

    /// Every canonical supplier, by id.
    pub async fn all_suppliers(&self) -> Result<Vec<Supplier>> {
        let stmt = Stmt::new("SELECT data FROM suppliers ORDER BY id");
        self.db
            .fetch(stmt)
            .await?
            .iter()
            .map(|r| parse_json("suppliers", &r.text("data")?))
            .collect()
    }

    /// Exclusion entries sharing the NPI or one of the normalised name `keys`.
    pub async fn exclusion_candidates(
        &self,
        npi: Option<&str>,
        keys: &[String],
    ) -> Result<Vec<Exclusion>> {
        let mut sql = String::from("SELECT data FROM exclusions WHERE npi = $1");
        let mut stmt_binds: Vec<String> = vec![];
        for k in keys.iter().take(4) {
            let n = stmt_binds.len() + 2;
            sql.push_str(&format!(" OR business_key = ${n} OR person_key = ${n}"));
            stmt_binds.push(k.clone());
        }
        sql.push_str(" ORDER BY list, entry_key LIMIT 200");
        let mut stmt = Stmt::new(sql).bind(npi.map(str::to_string));
        for k in stmt_binds {
            stmt = stmt.bind(k);
        }
        self.db
            .fetch(stmt)
            .await?
            .iter()
            .map(|r| parse_json("exclusions", &r.text("data")?))
            .collect()
    }

    /// How many entries each exclusion list holds.
    pub async fn exclusion_counts(&self) -> Result<Vec<(String, i64)>> {
        let rows = self
            .db
            .fetch(Stmt::new(
                "SELECT list, COUNT(*) AS n FROM exclusions GROUP BY list ORDER BY list",
            ))
            .await?;
        rows.iter()
            .map(|r| Ok((r.text("list")?, r.int("n")?)))
            .collect()
    }

    pub async fn list_crosswalks(&self, f: &CrosswalkFilter) -> Result<Vec<CrosswalkEntry>> {
        let mut sql = String::from(
            "SELECT system, entity_type, external_id, canonical_id, updated_at FROM crosswalks WHERE 1 = 1",
        );
        let mut binds: Vec<String> = vec![];
        for (col, value) in [
            ("system", &f.system),
            ("entity_type", &f.entity_type),
            ("canonical_id", &f.canonical_id),
            ("external_id", &f.external_id),
        ] {
            if let Some(v) = value {
                binds.push(v.clone());
                sql.push_str(&format!(" AND {col} = ${}", binds.len()));
            }
        }
        sql.push_str(&format!(
            " ORDER BY system, entity_type, external_id LIMIT ${}",
            binds.len() + 1
        ));
        let mut stmt = Stmt::new(sql);
        for b in binds {
            stmt = stmt.bind(b);
        }
        let stmt = stmt.bind(i64::from(f.limit));
        self.db
            .fetch(stmt)
            .await?
            .iter()
            .map(|r| {
                Ok(CrosswalkEntry {
                    system: r.text("system")?,
                    entity_type: r.text("entity_type")?,
                    external_id: r.text("external_id")?,
                    canonical_id: r.text("canonical_id")?,
                    updated_at: from_micros(r.int("updated_at")?),
                })
            })
            .collect()
    }

    /// Every mapping of one system and entity type, external id → canonical id (what
    /// reconciliation translates a system's whole view with, in one read).
    pub async fn crosswalk_map(
        &self,
        system: &str,
        entity_type: &str,
    ) -> Result<std::collections::HashMap<String, String>> {
        let stmt = Stmt::new(
            "SELECT external_id, canonical_id FROM crosswalks WHERE system = $1 AND entity_type = $2",
        )
        .bind(system)
        .bind(entity_type);
        self.db
            .fetch(stmt)
            .await?
            .iter()
            .map(|r| Ok((r.text("external_id")?, r.text("canonical_id")?)))
            .collect()
    }

    /// How many conflicts are open.
    pub async fn open_crosswalk_conflicts(&self) -> Result<i64> {
        let row = self
            .db
            .fetch_optional(Stmt::new(
                "SELECT COUNT(*) AS n FROM crosswalk_conflicts WHERE status = 'open'",
            ))
            .await?;
        row.map_or(Ok(0), |r| r.int("n"))
    }

    /// Conflicts with `status` (`open` or `resolved`), newest first.
    pub async fn crosswalk_conflicts(
        &self,
        status: &str,
        limit: u32,
    ) -> Result<Vec<CrosswalkConflict>> {
        let stmt = Stmt::new(
            "SELECT system, entity_type, external_id, existing_canonical_id, proposed_canonical_id, \
             status, detected_at, resolution FROM crosswalk_conflicts WHERE status = $1 \
             ORDER BY detected_at DESC LIMIT $2",
        )
        .bind(status)
        .bind(i64::from(limit));
        self.db
            .fetch(stmt)
            .await?
            .iter()
            .map(|r| {
                Ok(CrosswalkConflict {
                    system: r.text("system")?,
                    entity_type: r.text("entity_type")?,
                    external_id: r.text("external_id")?,
                    existing_canonical_id: r.text("existing_canonical_id")?,
                    proposed_canonical_id: r.text("proposed_canonical_id")?,
                    status: r.text("status")?,
                    detected_at: from_micros(r.int("detected_at")?),
                    resolution: r
                        .opt_text("resolution")?
                        .map(|t| parse_json("crosswalk_conflicts", &t))
                        .transpose()?,
                })
            })
            .collect()
    }

    pub async fn reconciliation_run(&self, id: &str) -> Result<Option<ReconciliationRun>> {
        let row = self
            .db
            .fetch_optional(
                Stmt::new(format!(
                    "SELECT {RUN_COLS} FROM reconciliation_runs WHERE id = $1"
                ))
                .bind(id),
            )
            .await?;
        row.as_ref().map(run_row).transpose()
    }

    pub async fn reconciliation_runs(&self, limit: u32) -> Result<Vec<ReconciliationRun>> {
        let rows = self
            .db
            .fetch(
                Stmt::new(format!(
                    "SELECT {RUN_COLS} FROM reconciliation_runs ORDER BY started_at DESC, id DESC LIMIT $1"
                ))
                .bind(i64::from(limit)),
            )
            .await?;
        rows.iter().map(run_row).collect()
    }

    pub async fn reconciliation_findings(
        &self,
        run_id: &str,
    ) -> Result<Vec<ReconciliationFinding>> {
        let rows = self
            .db
            .fetch(
                Stmt::new(format!(
                    "SELECT {FINDING_COLS} FROM reconciliation_findings WHERE run_id = $1 \
                     ORDER BY system, entity_type, entity_key"
                ))
                .bind(run_id),
            )
            .await?;
        rows.iter().map(finding_row).collect()
    }
}
