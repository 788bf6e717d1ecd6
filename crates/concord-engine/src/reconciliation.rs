//! Reconciliation: reads each system's view of suppliers and items (the `views` of its config,
//! through the system's own API and a mapping) and each trading partner's latest 832 catalog
//! (against the items the master says it supplies: vendor part and unit), compares it with the
//! canonical state
//! (`concord_model::reconcile`, pure) and stores a run with its findings: missing, extra and
//! different records per system and entity type. A repair re-publishes the canonical version
//! to the system through the outbox (audited); extra records are the system's to remove or
//! canonical's to adopt, so they are reported, not repaired.
//!
//! Runs on demand (`POST /v1/reconciliations`) and, with `[hub] reconcile_every`, on a
//! schedule.

use std::{collections::BTreeMap, time::Duration};

use chrono::Utc;
use concord_model::{
    access::Principal,
    events,
    reconcile::{self, FindingKind},
};
use concord_store::{NewDelivery, ReconciliationFinding, ReconciliationRun, Write};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    error::{Rejection, Result},
    hub::{Hub, event, new_id, timeline},
    mapping::Direction,
};

/// One record as a view mapping answers it.
#[derive(Debug, Deserialize)]
struct ViewRecord {
    external_id: String,
    record: Value,
}

/// Which findings a repair request covers (every condition optional).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepairRequest {
    #[serde(default)]
    pub system: Option<String>,
    #[serde(default)]
    pub entity_type: Option<String>,
    /// Canonical keys (supplier ids, GTINs); all repairable findings when absent.
    #[serde(default)]
    pub keys: Option<Vec<String>>,
}

impl concord_model::error::Validate for RepairRequest {
    fn validate(&self) -> Vec<concord_model::FieldError> {
        vec![]
    }
}

/// Records by canonical id, as `reconcile::compare` takes them.
type Canonical = BTreeMap<String, Value>;

/// The `workflows` kind holding each trading partner's latest 832 catalog (id: the partner).
pub const CATALOG_KIND: &str = "supplier_catalog";

/// A partner's catalog as kept.
#[derive(Debug, Deserialize)]
struct StoredCatalog {
    supplier_id: String,
    catalog: concord_formats::x12::sets::Catalog,
}

/// A supplier's catalog item as reconciliation compares it: the fields that must agree with
/// the item master (the vendor part the supplier is ordered by, the unit it sells in). A
/// supplier's own description is its business.
fn catalog_record(item: &concord_formats::x12::sets::CatalogItem) -> Value {
    let mut record = json!({});
    if let Some(vp) = item.id("VN") {
        record["vendor_part"] = json!(vp);
    }
    if let Some(uom) = &item.uom {
        record["uom"] = json!(uom);
    }
    record
}

impl Hub {
    /// Each partner's latest catalog against the items the master says it supplies.
    async fn reconcile_catalogs(
        &self,
        run_id: &str,
        items: &Canonical,
    ) -> Result<Vec<(String, Vec<ReconciliationFinding>)>> {
        let mut out = vec![];
        for partner in self.config().partners.keys() {
            let Some(stored) = self
                .store()
                .workflow::<StoredCatalog>(CATALOG_KIND, partner)
                .await?
            else {
                continue;
            };
            let ours: Canonical = items
                .iter()
                .filter(|(_, i)| i["supplier_id"] == stored.supplier_id.as_str())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let mut theirs = BTreeMap::new();
            let mut unreadable = vec![];
            for (n, item) in stored.catalog.items.iter().enumerate() {
                match item.gtin() {
                    Some(gtin) => {
                        theirs.insert(gtin.to_string(), catalog_record(item));
                    }
                    // By position: LIN01 is optional and need not be unique.
                    None => unreadable.push((n + 1, item.line.clone())),
                }
            }
            let mut findings: Vec<ReconciliationFinding> = reconcile::compare(&ours, &theirs)
                .into_iter()
                .map(|f| ReconciliationFinding {
                    run_id: run_id.into(),
                    system: partner.clone(),
                    entity_type: "item".into(),
                    detail: json!({"source": "832", "catalog": stored.catalog.number,
                        "differences": f.differences}),
                    entity_key: f.key,
                    kind: f.kind.as_str().into(),
                    repaired_at: None,
                    repaired_by: None,
                })
                .collect();
            // A line without a GTIN cannot be matched to the item master: reported as extra.
            for (n, line) in unreadable {
                findings.push(ReconciliationFinding {
                    run_id: run_id.into(),
                    system: partner.clone(),
                    entity_type: "item".into(),
                    entity_key: format!("catalog line {n} (LIN01 {line:?})"),
                    kind: FindingKind::Extra.as_str().into(),
                    detail: json!({"source": "832", "catalog": stored.catalog.number,
                        "reason": "the catalog line names no GTIN (UK, EN or UP)"}),
                    repaired_at: None,
                    repaired_by: None,
                });
            }
            out.push((partner.clone(), findings));
        }
        Ok(out)
    }

    /// Runs one reconciliation now and stores it; answers the finished run. A run that fails
    /// part-way is recorded as `failed` with the reason, never left `running`.
    pub async fn reconcile(&self, trigger: &str, actor: &str) -> Result<ReconciliationRun> {
        let started = Utc::now();
        let id = new_id("rec");
        match self.reconcile_run(&id, started, trigger, actor).await {
            Ok(run) => Ok(run),
            Err(e) => {
                let failed = ReconciliationRun {
                    id,
                    started_at: started,
                    finished_at: Some(Utc::now()),
                    trigger: trigger.into(),
                    actor: actor.into(),
                    status: "failed".into(),
                    summary: json!({"error": e.to_string()}),
                };
                if let Err(again) = self
                    .commit(vec![Write::SaveReconciliationRun(failed)])
                    .await
                {
                    tracing::error!(error = %again, "recording a failed reconciliation run failed");
                }
                Err(e)
            }
        }
    }

    async fn reconcile_run(
        &self,
        id: &str,
        started: chrono::DateTime<Utc>,
        trigger: &str,
        actor: &str,
    ) -> Result<ReconciliationRun> {
        let mut run = ReconciliationRun {
            id: id.to_string(),
            started_at: started,
            finished_at: None,
            trigger: trigger.into(),
            actor: actor.into(),
            status: "running".into(),
            summary: json!({}),
        };
        self.commit(vec![Write::SaveReconciliationRun(run.clone())])
            .await?;
        let mut writes = vec![];
        let mut summary = serde_json::Map::new();
        let mut failed = false;
        // The canonical side, read once per run and entity type whatever the number of views.
        let mut canonical: BTreeMap<String, Canonical> = BTreeMap::new();
        let catalogs = !self.config().partners.is_empty();
        for entity in self
            .config()
            .systems
            .values()
            .flat_map(|s| s.views.keys().map(String::as_str))
            .chain(catalogs.then_some("item"))
        {
            if !canonical.contains_key(entity) {
                canonical.insert(entity.to_string(), self.canonical(entity).await?);
            }
        }
        for (system_id, system) in &self.config().systems {
            for entity in system.views.keys() {
                let counts = match self
                    .reconcile_view(&run.id, system_id, entity, &canonical[entity.as_str()])
                    .await
                {
                    Ok(findings) => count_into(findings, &mut writes),
                    Err(error) => {
                        failed = true;
                        tracing::warn!(system = %system_id, entity = %entity, error = %error, "reconciliation could not read the system");
                        json!({"error": error})
                    }
                };
                summary
                    .entry(system_id.clone())
                    .or_insert_with(|| json!({}))[entity] = counts;
            }
        }
        let no_items = Canonical::new();
        let items = canonical.get("item").unwrap_or(&no_items);
        for (partner, findings) in self.reconcile_catalogs(&run.id, items).await? {
            let counts = count_into(findings, &mut writes);
            summary.entry(partner).or_insert_with(|| json!({}))["item"] = counts;
        }
        let now = Utc::now();
        run.finished_at = Some(now);
        run.status = if failed { "partial" } else { "completed" }.into();
        run.summary = Value::Object(summary);
        writes.push(Write::SaveReconciliationRun(run.clone()));
        writes.push(Write::Event(event(
            events::RECONCILIATION_COMPLETED,
            format!("reconciliation:{}", run.id),
            &run.id,
            now,
            events::ReconciliationCompleted {
                run_id: run.id.clone(),
                summary: run.summary.clone(),
            },
        )));
        writes.push(crate::governance::audit(
            actor,
            "reconciliation.run",
            format!("reconciliation:{}", run.id),
            None,
            None,
            None,
            json!({"trigger": trigger, "status": run.status, "summary": run.summary}),
        ));
        self.commit(writes).await?;
        Ok(run)
    }

    /// The canonical records of one entity type (`supplier` or `item`) by canonical id.
    async fn canonical(&self, entity: &str) -> Result<Canonical> {
        let records = match entity {
            "supplier" => self
                .store()
                .all_suppliers()
                .await?
                .into_iter()
                .map(|s| (s.id.clone(), serde_json::to_value(s).unwrap_or_default()))
                .collect(),
            _ => self
                .store()
                .all_items()
                .await?
                .into_iter()
                .map(|i| {
                    (
                        i.gtin.to_string(),
                        serde_json::to_value(i).unwrap_or_default(),
                    )
                })
                .collect(),
        };
        Ok(records)
    }

    /// One system's view of one entity type against canonical.
    async fn reconcile_view(
        &self,
        run_id: &str,
        system_id: &str,
        entity: &str,
        ours: &Canonical,
    ) -> std::result::Result<Vec<ReconciliationFinding>, String> {
        let view = self.read_view(system_id, entity).await?;
        let crosswalk = self
            .store()
            .crosswalk_map(system_id, entity)
            .await
            .map_err(|e| e.to_string())?;
        let mut theirs = BTreeMap::new();
        let mut external_of = BTreeMap::new();
        for r in view {
            // A system's id becomes canonical through the crosswalk; without one it is taken
            // as the canonical id itself (the ERP's material number is the GTIN).
            let key = crosswalk
                .get(&r.external_id)
                .cloned()
                .unwrap_or_else(|| r.external_id.clone());
            external_of.insert(key.clone(), r.external_id);
            theirs.insert(key, r.record);
        }
        Ok(reconcile::compare(ours, &theirs)
            .into_iter()
            .map(|f| ReconciliationFinding {
                run_id: run_id.into(),
                system: system_id.into(),
                entity_type: entity.into(),
                detail: json!({"external_id": external_of.get(&f.key), "differences": f.differences}),
                entity_key: f.key,
                kind: f.kind.as_str().into(),
                repaired_at: None,
                repaired_by: None,
            })
            .collect())
    }

    async fn read_view(
        &self,
        system_id: &str,
        entity: &str,
    ) -> std::result::Result<Vec<ViewRecord>, String> {
        let system = &self.config().systems[system_id];
        let route = &system.views[entity];
        let base = system.base_url.as_deref().unwrap_or_default();
        let request = self
            .http_for(system_id)
            .get(format!("{base}{}", route.path))
            .timeout(Duration::from_millis(system.timeout_ms.max(30_000)));
        let request = self.with_credentials(system.credentials.as_ref(), request)?;
        let response = request
            .send()
            .await
            .map_err(|e| format!("GET {}: {}", route.path, crate::error::error_chain(&e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("GET {}: HTTP {status}", route.path));
        }
        let native: Value = response
            .json()
            .await
            .map_err(|e| format!("GET {}: answer is not JSON: {e}", route.path))?;
        let mapping = self
            .inner
            .mappings
            .get(system_id, entity, Direction::View)
            .ok_or("no view mapping")?;
        let out = mapping.run(&native).map_err(|e| e.to_string())?;
        serde_json::from_value(out).map_err(|e| {
            format!(
                "{}: the view mapping must answer [{{\"external_id\", \"record\"}}]: {e}",
                route.mapping.display()
            )
        })
    }

    /// A run with its findings.
    pub async fn reconciliation_view(&self, id: &str) -> Result<Option<Value>> {
        let Some(run) = self.store().reconciliation_run(id).await? else {
            return Ok(None);
        };
        let findings = self.store().reconciliation_findings(id).await?;
        Ok(Some(json!({"run": run, "findings": findings})))
    }

    /// Re-publishes the canonical version of each repairable finding the request covers (to
    /// the system it is missing from or different in), audited; answers what was done to each.
    pub async fn repair(
        &self,
        run_id: &str,
        principal: &Principal,
        request: &RepairRequest,
    ) -> Result<Value> {
        if self.store().reconciliation_run(run_id).await?.is_none() {
            return Err(Rejection::not_found(format!("no reconciliation run {run_id}")).into());
        }
        let findings = self.store().reconciliation_findings(run_id).await?;
        let selected: Vec<&ReconciliationFinding> = findings
            .iter()
            .filter(|f| request.system.as_ref().is_none_or(|s| *s == f.system))
            .filter(|f| {
                request
                    .entity_type
                    .as_ref()
                    .is_none_or(|e| *e == f.entity_type)
            })
            .filter(|f| {
                request
                    .keys
                    .as_ref()
                    .is_none_or(|k| k.contains(&f.entity_key))
            })
            .collect();
        if selected.is_empty() {
            return Err(Rejection::not_found(format!(
                "run {run_id} has no finding matching the request"
            ))
            .into());
        }
        let mut outcomes = vec![];
        for f in selected {
            let outcome = match self.repair_one(f, principal).await {
                Ok(delivery) => json!({"outcome": "republished", "delivery": delivery}),
                Err(crate::error::EngineError::Rejected(r)) => {
                    json!({"outcome": "refused", "detail": r.detail})
                }
                Err(e) => return Err(e),
            };
            outcomes.push(json!({"system": f.system, "entity_type": f.entity_type,
                "key": f.entity_key, "kind": f.kind, "result": outcome}));
        }
        Ok(json!({"run_id": run_id, "repairs": outcomes}))
    }

    async fn repair_one(&self, f: &ReconciliationFinding, principal: &Principal) -> Result<String> {
        let refuse = |detail: String| -> crate::error::EngineError {
            Rejection::new(
                409,
                "not_repairable",
                "This finding cannot be repaired here",
                detail,
            )
            .into()
        };
        if f.repaired_at.is_some() {
            return Err(refuse(format!(
                "{} {} in {} was repaired already",
                f.entity_type, f.entity_key, f.system
            )));
        }
        if f.kind == FindingKind::Extra.as_str() {
            return Err(refuse(format!(
                "{} {} exists only in {}: remove it there, or add it to the canonical master",
                f.entity_type, f.entity_key, f.system
            )));
        }
        let Some(route) = self
            .config()
            .systems
            .get(&f.system)
            .and_then(|s| s.outbound.get(&f.entity_type))
        else {
            return Err(refuse(format!(
                "{} has no outbound route for {}: nothing to re-publish through",
                f.system, f.entity_type
            )));
        };
        let record = match f.entity_type.as_str() {
            "supplier" => self
                .store()
                .supplier(&f.entity_key)
                .await?
                .map(|s| serde_json::to_value(s).unwrap_or_default()),
            _ => self
                .store()
                .item(&f.entity_key)
                .await?
                .map(|i| serde_json::to_value(i).unwrap_or_default()),
        }
        .ok_or_else(|| {
            refuse(format!(
                "{} {} is no longer in the canonical master",
                f.entity_type, f.entity_key
            ))
        })?;
        // The finding names the system's id when it knew it; the crosswalk is asked only if not.
        let external = match f.detail["external_id"].as_str() {
            Some(id) => Some(id.to_string()),
            None => {
                self.store()
                    .crosswalk_to_external(&f.system, &f.entity_type, &f.entity_key)
                    .await?
            }
        };
        let now = Utc::now();
        let delivery_id = new_id("dlv");
        let correlation_id = format!("corr_{}", f.run_id);
        let by = principal.actor();
        let mut payload = json!({
            f.entity_type.clone(): record,
            "path_id": external.clone().unwrap_or_else(|| f.entity_key.clone()),
            "repair": {"run_id": f.run_id, "kind": f.kind},
        });
        if f.entity_type == "supplier" {
            payload["erp_vendor"] = json!(external);
        }
        let writes = vec![
            Write::FindingRepaired {
                run_id: f.run_id.clone(),
                system: f.system.clone(),
                entity_type: f.entity_type.clone(),
                entity_key: f.entity_key.clone(),
                by: by.clone(),
                at: now,
            },
            Write::Delivery(NewDelivery {
                id: delivery_id.clone(),
                event_id: format!("reconciliation:{}", f.run_id),
                target: f.system.clone(),
                message_type: f.entity_type.clone(),
                subject: format!("{}:{}", f.entity_type, f.entity_key),
                idempotency_key: format!(
                    "{}:repair:{}:{}:{}",
                    f.system, f.run_id, f.entity_type, f.entity_key
                ),
                correlation_id: correlation_id.clone(),
                required: route.required,
                payload,
                next_attempt_at: now,
            }),
            crate::governance::audit(
                &by,
                "reconciliation.repaired",
                format!("{}:{}", f.entity_type, f.entity_key),
                Some(&correlation_id),
                None,
                None,
                json!({"run_id": f.run_id, "system": f.system, "kind": f.kind, "delivery": delivery_id}),
            ),
            timeline(
                &correlation_id,
                now,
                "repair_queued",
                json!({"system": f.system, "entity_type": f.entity_type, "key": f.entity_key, "delivery": delivery_id}),
            ),
        ];
        self.commit(writes).await?;
        Ok(delivery_id)
    }
}

/// Queues the findings' writes; answers their counts by kind.
fn count_into(findings: Vec<ReconciliationFinding>, writes: &mut Vec<Write>) -> Value {
    let mut counts = json!({"missing": 0, "extra": 0, "different": 0});
    for f in findings {
        counts[&f.kind] = json!(counts[&f.kind].as_u64().unwrap_or(0) + 1);
        writes.push(Write::ReconciliationFinding(f));
    }
    counts
}

/// The findings of a run as CSV (one row each), for a spreadsheet.
pub fn findings_csv(findings: &[ReconciliationFinding]) -> String {
    fn field(s: &str) -> String {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    }
    let mut out =
        String::from("system,entity_type,key,kind,external_id,fields,repaired_at,repaired_by\n");
    for f in findings {
        let fields: Vec<String> = f.detail["differences"]
            .as_array()
            .map(|d| {
                d.iter()
                    .map(|x| {
                        format!(
                            "{}: {} -> {}",
                            x["field"].as_str().unwrap_or(""),
                            x["canonical"],
                            x["system"]
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let row = [
            f.system.clone(),
            f.entity_type.clone(),
            f.entity_key.clone(),
            f.kind.clone(),
            f.detail["external_id"].as_str().unwrap_or("").to_string(),
            fields.join("; "),
            f.repaired_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
            f.repaired_by.clone().unwrap_or_default(),
        ];
        out.push_str(&row.iter().map(|c| field(c)).collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    out
}

/// The scheduled runs (`[hub] reconcile_every`); beats so readiness sees it alive.
pub(crate) async fn run_scheduled(hub: Hub, every: Duration) {
    hub.idle("reconciliation", every).await;
    while !hub.stopping() {
        hub.beat("reconciliation");
        if let Err(e) = hub.reconcile_on_schedule(every).await {
            tracing::error!(error = %e, "scheduled reconciliation failed");
        }
        hub.idle("reconciliation", every).await;
    }
}

impl Hub {
    /// The scheduled run, unless another instance sharing the store made one within the
    /// period already (each instance has the schedule; one run per period is what is meant).
    async fn reconcile_on_schedule(&self, every: Duration) -> Result<()> {
        let _one = self
            .lock_workflow("concord:reconciliation_schedule")
            .await?;
        let period = chrono::Duration::from_std(every).unwrap_or_default();
        let latest = self.store().reconciliation_runs(20).await?;
        let recent = latest
            .iter()
            .any(|r| r.trigger == "schedule" && Utc::now() - r.started_at < period * 9 / 10);
        if recent {
            tracing::debug!("another instance ran the scheduled reconciliation of this period");
            return Ok(());
        }
        self.reconcile("schedule", "concord:scheduler").await?;
        Ok(())
    }
}
