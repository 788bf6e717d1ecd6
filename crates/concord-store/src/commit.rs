//! The unit of work: every business state change is a list of [`Write`]s applied in one
//! transaction, so state, canonical events and outbox rows can never disagree.

use chrono::{DateTime, Utc};
use concord_model::{Facility, Item, Supplier, screening::Exclusion};
use serde_json::Value;

use crate::{
    Crosswalk, DeliveryStatus, InboxStatus, NewDelivery, NewEvent, NewException,
    ReconciliationFinding, ReconciliationRun, Result, Store, TimelineEntry, Timer, db::Stmt,
    to_micros,
};

/// How one delivery attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// The target acknowledged (2xx).
    Delivered,
    /// Failed; try again at `next_attempt_at`.
    Retry,
    /// Failed for good (attempts exhausted or a permanent refusal): dead-lettered.
    Dead,
}

impl DeliveryOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryOutcome::Delivered => "delivered",
            DeliveryOutcome::Retry => "retry",
            DeliveryOutcome::Dead => "dead",
        }
    }
}

/// One write in a unit of work.
#[derive(Debug, Clone)]
pub enum Write {
    Event(NewEvent),
    Delivery(NewDelivery),
    InsertContractVersion {
        contract_id: String,
        version: u32,
        status: String,
        digest: String,
        data: Value,
        correlation_id: String,
        at: DateTime<Utc>,
    },
    SetContractStatus {
        contract_id: String,
        version: u32,
        status: String,
        at: DateTime<Utc>,
    },
    Workflow {
        kind: String,
        id: String,
        state: Value,
        at: DateTime<Utc>,
    },
    Timeline(TimelineEntry),
    /// Opens an exception unless one of the same kind is already open for the subject.
    OpenException(NewException),
    ResolveExceptions {
        kind: String,
        subject: String,
        at: DateTime<Utc>,
    },
    /// Resolves one open exception by id, recording how (the workbench). Rolls the unit back
    /// with a conflict when it is not open any more.
    ResolveException {
        id: String,
        resolution: Value,
        at: DateTime<Utc>,
    },
    Crosswalk(Crosswalk, DateTime<Utc>),
    Timer(Timer),
    DeleteTimer {
        id: String,
    },
    /// Records a received message's answer (processed or quarantined). Fenced by `claim`:
    /// rolls the unit back with [`crate::Error::LostClaim`] when the message is no longer
    /// received under that claim (another worker took it over and answers it).
    InboxDone {
        id: String,
        claim: Option<String>,
        status: InboxStatus,
        response_status: u16,
        response_body: String,
        error: Option<String>,
        at: DateTime<Utc>,
    },
    /// Checks, inside a unit that processing commits before its answer (an X12 interchange's
    /// acknowledgements), that the message is still received under `claim`; fenced like
    /// `InboxDone`.
    InboxStillClaimed {
        id: String,
        claim: Option<String>,
    },
    /// Takes a quarantined message back to `received` under a new claim, for a replay. Rolls
    /// the unit back with a conflict when it is not quarantined (a replay already took it).
    ReclaimInbox {
        id: String,
        claim: crate::Claim,
        at: DateTime<Utc>,
    },
    /// Replaces a quarantined message's body with a fixed one, keeping the first original.
    FixInboxBody {
        id: String,
        body: String,
        at: DateTime<Utc>,
    },
    /// Inserts a supplier, or updates one keeping the payment details stored (those change
    /// only through `SetSupplierPayment`, after two approvals).
    UpsertSupplier(Supplier, DateTime<Utc>),
    UpsertItem(Item, DateTime<Utc>),
    UpsertFacility(Facility, DateTime<Utc>),
    /// Records an attempt and moves the delivery to its next status. Fenced by `claim`: rolls
    /// the unit back with [`crate::Error::LostClaim`] when the delivery is no longer held under
    /// that claim (its lease ended and another worker took it; every claim has its own token).
    DeliveryResult {
        delivery_id: String,
        claim: Option<String>,
        attempt: u32,
        outcome: DeliveryOutcome,
        at: DateTime<Utc>,
        status_code: Option<u16>,
        latency_us: i64,
        error: Option<String>,
        next_attempt_at: DateTime<Utc>,
    },
    /// Puts a dead (or any) delivery back in the queue now, keeping its idempotency key.
    ReplayDelivery {
        id: String,
        at: DateTime<Utc>,
    },
    /// Stores a new API key: only its SHA-256 is kept.
    InsertApiKey {
        key: crate::ApiKeyRecord,
        hash: String,
    },
    /// Revokes a key (kept for the audit trail, refused from now on).
    RevokeApiKey {
        id: String,
        at: DateTime<Utc>,
    },
    /// Appends an audit entry; the sealer chains it shortly after.
    Audit(crate::NewAuditEntry),
    /// Stops claiming deliveries to `target` until it is resumed (a maintenance window); what
    /// is queued for it waits, nothing is dropped. Pausing a paused target keeps the first pause.
    PauseTarget {
        target: String,
        actor: String,
        reason: String,
        at: DateTime<Utc>,
    },
    /// Claims deliveries to `target` again.
    ResumeTarget {
        target: String,
    },
    /// What the console finds a transaction by: `(kind, value)` pairs such as
    /// `("supplier", "S-1")`; a pair already recorded for the transaction is kept.
    SearchKeys {
        correlation_id: String,
        subject: String,
        keys: Vec<(&'static str, String)>,
        at: DateTime<Utc>,
    },
    /// Hands a claimed delivery back without an attempt (circuit open), to be tried at `until`;
    /// fenced by `claim` like `DeliveryResult`.
    Postpone {
        id: String,
        claim: Option<String>,
        until: DateTime<Utc>,
        reason: String,
    },
    /// One shelf, stored whole (the usage workflow's decrement, a count, new levels).
    Stock(crate::StockLevel),
    /// Changes a supplier's payment details and nothing else: the only write that does
    /// (`UpsertSupplier` keeps the stored ones). Rolls back with a conflict for an unknown
    /// supplier.
    SetSupplierPayment {
        supplier_id: String,
        payment: concord_model::PaymentDetails,
        at: DateTime<Utc>,
    },
    /// Inserts or updates exclusion-list entries (keyed by list and entry key).
    UpsertExclusions {
        entries: Vec<Exclusion>,
        at: DateTime<Utc>,
    },
    /// A person's mapping: overwrites whatever was mapped and resolves the external id's open
    /// conflicts with `resolution`. (`Crosswalk` never overwrites: it records a conflict.)
    SetCrosswalk {
        crosswalk: Crosswalk,
        resolution: Value,
        at: DateTime<Utc>,
    },
    /// Removes a mapping and resolves its open conflicts with `resolution`.
    DeleteCrosswalk {
        system: String,
        entity_type: String,
        external_id: String,
        resolution: Value,
    },
    /// Starts or finishes a reconciliation run.
    SaveReconciliationRun(ReconciliationRun),
    ReconciliationFinding(ReconciliationFinding),
    /// Marks a finding repaired; rolls the unit back with a conflict when it is unknown or
    /// was repaired already.
    FindingRepaired {
        run_id: String,
        system: String,
        entity_type: String,
        entity_key: String,
        by: String,
        at: DateTime<Utc>,
    },
}

/// What a commit did that callers may need.
#[derive(Debug, Clone, Default)]
pub struct CommitReceipt {
    /// How many `OpenException` writes opened a new exception (0 when one was already open).
    pub exceptions_opened: usize,
}

impl Store {
    /// Applies every write in one transaction.
    pub async fn commit(&self, writes: Vec<Write>) -> Result<CommitReceipt> {
        self.commit_in(writes, None).await
    }

    /// Applies every write in one transaction, in `session` when given: the session that holds
    /// the committing step's locks across instances (PostgreSQL), so the commit happens only
    /// while they are held.
    pub async fn commit_in(
        &self,
        writes: Vec<Write>,
        session: Option<&crate::LockSession>,
    ) -> Result<CommitReceipt> {
        let mut stmts = Vec::with_capacity(writes.len() + 2);
        let mut opens_exception = Vec::new();
        for write in writes {
            if matches!(write, Write::OpenException(_)) {
                opens_exception.push(stmts.len());
            }
            statements(write, &mut stmts, self.dialect());
        }
        let changed = match (&self.db, session) {
            (crate::db::Db::Postgres(db), Some(session)) => {
                db.transaction_on(&session.0, stmts).await?
            }
            _ => self.db.transaction(stmts).await?,
        };
        Ok(CommitReceipt {
            exceptions_opened: opens_exception
                .into_iter()
                .map(|i| changed[i] as usize)
                .sum(),
        })
    }
}

fn json(v: &Value) -> String {
    v.to_string()
}

fn ser<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("canonical types serialise")
}

/// The statements of one write, in order. `OpenException` is exactly one statement (its
/// changed-row count says whether an exception was opened).
fn statements(write: Write, out: &mut Vec<Stmt>, dialect: crate::Dialect) {
    match write {
        Write::Event(e) => {
            out.push(
                Stmt::new(
                    "INSERT INTO events (id, type, source, subject, time, correlation_id, data) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(e.id)
                .bind(e.event_type)
                .bind(e.source)
                .bind(e.subject)
                .bind(to_micros(e.time))
                .bind(e.correlation_id)
                .bind(json(&e.data)),
            );
        }
        Write::Delivery(d) => {
            let now = to_micros(Utc::now());
            out.push(Stmt::new(
                "INSERT INTO deliveries (id, event_id, target, message_type, subject, idempotency_key, \
                 correlation_id, required, payload, status, attempts, next_attempt_at, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', 0, $10, $11, $11)",
            )
            .bind(d.id)
            .bind(d.event_id)
            .bind(d.target)
            .bind(d.message_type)
            .bind(d.subject)
            .bind(d.idempotency_key)
            .bind(d.correlation_id)
            .bind(i64::from(d.required))
            .bind(json(&d.payload))
            .bind(to_micros(d.next_attempt_at))
            .bind(now));
        }
        Write::InsertContractVersion {
            contract_id,
            version,
            status,
            digest,
            data,
            correlation_id,
            at,
        } => {
            out.push(Stmt::new(
                "INSERT INTO contract_versions (contract_id, version, status, digest, data, correlation_id, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (contract_id, version) DO NOTHING",
            )
            .bind(contract_id.clone())
            .bind(i64::from(version))
            .bind(status)
            .bind(digest)
            .bind(json(&data))
            .bind(correlation_id)
            .bind(to_micros(at))
            .must_change(format!(
                "contract {contract_id} version {version} is already stored"
            )));
        }
        Write::SetContractStatus {
            contract_id,
            version,
            status,
            at,
        } => {
            out.push(Stmt::new(
                "UPDATE contract_versions SET status = $1, updated_at = $2 WHERE contract_id = $3 AND version = $4",
            )
            .bind(status)
            .bind(to_micros(at))
            .bind(contract_id)
            .bind(i64::from(version)));
        }
        Write::Workflow {
            kind,
            id,
            state,
            at,
        } => {
            out.push(Stmt::new(
                "INSERT INTO workflows (kind, id, state, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (kind, id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
            )
            .bind(kind)
            .bind(id)
            .bind(json(&state))
            .bind(to_micros(at)));
        }
        Write::Timeline(t) => {
            out.push(Stmt::new(
                "INSERT INTO timeline (correlation_id, at, step, detail) VALUES ($1, $2, $3, $4)",
            )
            .bind(t.correlation_id)
            .bind(to_micros(t.at))
            .bind(t.step)
            .bind(json(&t.detail)));
        }
        Write::OpenException(e) => {
            out.push(Stmt::new(
                "INSERT INTO exceptions (id, kind, subject, status, correlation_id, detail, created_at, facility, supplier) \
                 SELECT $1, $2, $3, 'open', $4, $5, $6, $7, $8 WHERE NOT EXISTS \
                 (SELECT 1 FROM exceptions WHERE kind = $2 AND subject = $3 AND status = 'open')",
            )
            .bind(e.id)
            .bind(e.kind)
            .bind(e.subject)
            .bind(e.correlation_id)
            .bind(json(&e.detail))
            .bind(to_micros(e.at))
            .bind(e.facility)
            .bind(e.supplier));
        }
        Write::ResolveException { id, resolution, at } => {
            out.push(
                Stmt::new(
                    "UPDATE exceptions SET status = 'resolved', resolved_at = $1, resolution = $2 \
                 WHERE id = $3 AND status = 'open'",
                )
                .bind(to_micros(at))
                .bind(json(&resolution))
                .bind(id.clone())
                .must_change(format!("exception {id} is not open")),
            );
        }
        Write::ResolveExceptions { kind, subject, at } => {
            out.push(
                Stmt::new(
                    "UPDATE exceptions SET status = 'resolved', resolved_at = $1 \
                 WHERE kind = $2 AND subject = $3 AND status = 'open'",
                )
                .bind(to_micros(at))
                .bind(kind)
                .bind(subject),
            );
        }
        Write::Crosswalk(c, at) => crate::master::learn_crosswalk(c, at, out),
        Write::Timer(t) => {
            out.push(Stmt::new(
                "INSERT INTO timers (id, due_at, kind, subject, correlation_id) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (id) DO UPDATE SET due_at = excluded.due_at, lease_until = NULL",
            )
            .bind(t.id)
            .bind(to_micros(t.due_at))
            .bind(t.kind)
            .bind(t.subject)
            .bind(t.correlation_id));
        }
        Write::DeleteTimer { id } => {
            out.push(Stmt::new("DELETE FROM timers WHERE id = $1").bind(id));
        }
        Write::FixInboxBody { id, body, at } => {
            out.push(
                Stmt::new(
                    "UPDATE inbox SET original_body = COALESCE(original_body, body), body = $1, updated_at = $2 \
                     WHERE id = $3 AND status = 'quarantined'",
                )
                .bind(body)
                .bind(to_micros(at))
                .bind(id),
            );
        }
        Write::InboxDone {
            id,
            claim,
            status,
            response_status,
            response_body,
            error,
            at,
        } => {
            out.push(Stmt::new(
                "UPDATE inbox SET status = $1, response_status = $2, response_body = $3, error = $4, updated_at = $5, \
                 lease_until = NULL WHERE id = $6 AND status = 'received' AND claim IS NOT DISTINCT FROM $7",
            )
            .bind(status.as_str())
            .bind(i64::from(response_status))
            .bind(response_body)
            .bind(error)
            .bind(to_micros(at))
            .bind(id.clone())
            .bind(claim)
            .fence(format!("inbound message {id} is being processed by another worker")));
        }
        Write::InboxStillClaimed { id, claim } => {
            out.push(
                Stmt::new(
                    "UPDATE inbox SET claim = claim WHERE id = $1 AND status = 'received' \
                     AND claim IS NOT DISTINCT FROM $2",
                )
                .bind(id.clone())
                .bind(claim)
                .fence(format!(
                    "inbound message {id} is being processed by another worker"
                )),
            );
        }
        Write::ReclaimInbox { id, claim, at } => {
            out.push(
                Stmt::new(
                    "UPDATE inbox SET status = 'received', claim = $1, lease_until = $2, updated_at = $3 \
                     WHERE id = $4 AND status = 'quarantined'",
                )
                .bind(claim.token)
                .bind(to_micros(claim.lease_until))
                .bind(to_micros(at))
                .bind(id.clone())
                .must_change(format!("message {id} is not quarantined any more")),
            );
        }
        Write::UpsertSupplier(s, at) => out.push(crate::master::upsert_supplier(&s, at, dialect)),
        Write::UpsertItem(i, at) => {
            out.push(Stmt::new(
                "INSERT INTO items (gtin, supplier_id, vendor_part, data, updated_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (gtin) DO UPDATE SET supplier_id = excluded.supplier_id, \
                 vendor_part = excluded.vendor_part, data = excluded.data, updated_at = excluded.updated_at",
            )
            .bind(i.gtin.to_string())
            .bind(i.supplier_id.clone())
            .bind(i.vendor_part.clone())
            .bind(ser(&i))
            .bind(to_micros(at)));
        }
        Write::UpsertFacility(f, at) => {
            out.push(Stmt::new(
                "INSERT INTO facilities (gln, data, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (gln) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
            )
            .bind(f.gln.to_string())
            .bind(ser(&f))
            .bind(to_micros(at)));
        }
        Write::DeliveryResult {
            delivery_id,
            claim,
            attempt,
            outcome,
            at,
            status_code,
            latency_us,
            error,
            next_attempt_at,
        } => {
            let status = match outcome {
                DeliveryOutcome::Delivered => DeliveryStatus::Delivered,
                DeliveryOutcome::Retry => DeliveryStatus::Pending,
                DeliveryOutcome::Dead => DeliveryStatus::Dead,
            };
            // The fence first: a worker that lost its claim records nothing, not even its attempt.
            out.push(Stmt::new(
                "UPDATE deliveries SET status = $1, attempts = $2, next_attempt_at = $3, lease_until = NULL, \
                 last_error = $4, updated_at = $5 WHERE id = $6 AND claim IS NOT DISTINCT FROM $7",
            )
            .bind(status.as_str())
            .bind(i64::from(attempt))
            .bind(to_micros(next_attempt_at))
            .bind(error.clone())
            .bind(to_micros(at))
            .bind(delivery_id.clone())
            .bind(claim)
            .fence(format!("delivery {delivery_id} was taken over by another worker")));
            out.push(Stmt::new(
                "INSERT INTO delivery_attempts (delivery_id, attempt, at, outcome, status_code, latency_us, error) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(delivery_id)
            .bind(i64::from(attempt))
            .bind(to_micros(at))
            .bind(outcome.as_str())
            .bind(status_code.map(i64::from))
            .bind(latency_us)
            .bind(error));
        }
        Write::PauseTarget {
            target,
            actor,
            reason,
            at,
        } => {
            out.push(
                Stmt::new(
                    "INSERT INTO paused_targets (target, paused_at, actor, reason) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (target) DO NOTHING",
                )
                .bind(target)
                .bind(to_micros(at))
                .bind(actor)
                .bind(reason),
            );
        }
        Write::SearchKeys {
            correlation_id,
            subject,
            keys,
            at,
        } => {
            for (kind, value) in keys {
                out.push(
                    Stmt::new(
                        "INSERT INTO search_keys (kind, value, correlation_id, subject, at) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (kind, value, correlation_id) DO NOTHING",
                    )
                    .bind(kind)
                    .bind(value)
                    .bind(correlation_id.clone())
                    .bind(subject.clone())
                    .bind(to_micros(at)),
                );
            }
        }
        Write::ResumeTarget { target } => {
            out.push(Stmt::new("DELETE FROM paused_targets WHERE target = $1").bind(target));
        }
        Write::Postpone {
            id,
            claim,
            until,
            reason,
        } => {
            out.push(
                Stmt::new(
                    "UPDATE deliveries SET status = 'pending', next_attempt_at = $1, lease_until = NULL, last_error = $2 \
                     WHERE id = $3 AND status = 'in_flight' AND claim IS NOT DISTINCT FROM $4",
                )
                .bind(to_micros(until))
                .bind(reason)
                .bind(id.clone())
                .bind(claim)
                .fence(format!("delivery {id} was taken over by another worker")),
            );
        }
        Write::UpsertExclusions { entries, at } => {
            crate::master::upsert_exclusions(&entries, at, dialect, out)
        }
        Write::Stock(level) => out.push(crate::inventory::set_stock(level)),
        Write::SetSupplierPayment {
            supplier_id,
            payment,
            at,
        } => out.push(crate::master::set_supplier_payment(
            &supplier_id,
            &payment,
            at,
            dialect,
        )),
        Write::SetCrosswalk {
            crosswalk,
            resolution,
            at,
        } => crate::master::set_crosswalk(crosswalk, &resolution, at, out),
        Write::DeleteCrosswalk {
            system,
            entity_type,
            external_id,
            resolution,
        } => {
            out.push(crate::master::resolve_conflicts(
                &system,
                &entity_type,
                &external_id,
                &resolution,
            ));
            out.push(
                Stmt::new(
                    "DELETE FROM crosswalks WHERE system = $1 AND entity_type = $2 AND external_id = $3",
                )
                .bind(system.clone())
                .bind(entity_type.clone())
                .bind(external_id.clone())
                .must_change(format!("no crosswalk {system}/{entity_type}/{external_id}")),
            );
        }
        Write::SaveReconciliationRun(run) => out.push(crate::master::save_run(&run)),
        Write::ReconciliationFinding(f) => out.push(crate::master::insert_finding(&f)),
        Write::FindingRepaired {
            run_id,
            system,
            entity_type,
            entity_key,
            by,
            at,
        } => out.push(crate::master::finding_repaired(
            &run_id,
            &system,
            &entity_type,
            &entity_key,
            &by,
            at,
        )),
        Write::InsertApiKey { key, hash } => {
            out.push(
                Stmt::new(
                    "INSERT INTO api_keys (id, hash, name, role, system, user_id, created_at, created_by, expires_at, revoked_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL)",
                )
                .bind(key.id)
                .bind(hash)
                .bind(key.name)
                .bind(key.role)
                .bind(key.system)
                .bind(key.user)
                .bind(to_micros(key.created_at))
                .bind(key.created_by)
                .bind(key.expires_at.map(to_micros)),
            );
        }
        Write::RevokeApiKey { id, at } => {
            out.push(
                Stmt::new(
                    "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                )
                .bind(to_micros(at))
                .bind(id),
            );
        }
        Write::Audit(a) => {
            out.push(
                Stmt::new(
                    "INSERT INTO audit_log (at, actor, action, subject, correlation_id, before_digest, after_digest, detail) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(to_micros(a.at))
                .bind(a.actor)
                .bind(a.action)
                .bind(a.subject)
                .bind(a.correlation_id)
                .bind(a.before_digest)
                .bind(a.after_digest)
                .bind(json(&a.detail)),
            );
        }
        Write::ReplayDelivery { id, at } => {
            out.push(Stmt::new(
                "UPDATE deliveries SET status = 'pending', next_attempt_at = $1, lease_until = NULL, claim = NULL, \
                 updated_at = $1 WHERE id = $2",
            )
            .bind(to_micros(at))
            .bind(id));
        }
    }
}
