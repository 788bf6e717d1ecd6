//! Service level objectives from config (`[slo.NAME]`), checked by a worker: each objective's
//! items over its window are judged by `concord_model::slo::evaluate`; every item newly past the
//! objective opens a `slo_breach` exception and emits `org.concord.slo.breached.v1`, delivered
//! like any canonical event to the systems with an outbound route for `slo_breach` (an alert
//! webhook: retried, dead-lettered and replayable like every delivery, so an alert is not lost).
//! When the item is done at last, its breach exception resolves itself. The latest status of
//! each objective (burn rate included) is kept for `/metrics` and the console.

use std::{collections::BTreeMap, collections::HashSet, time::Duration};

use chrono::{DateTime, Utc};
use concord_model::{
    events::SLO_BREACHED,
    requisition::parse_duration,
    slo::{SloBreached, SloItem, SloStatus, evaluate},
};
use concord_store::{ExceptionFilter, NewDelivery, NewException, Write};
use serde::Deserialize;
use serde_json::json;

use crate::{
    Hub,
    error::Result,
    hub::{event, new_id, timeline},
};

/// The exception a breach opens.
pub const BREACH_EXCEPTION: &str = "slo_breach";
/// The message type alert webhooks subscribe to.
pub const BREACH_MESSAGE: &str = "slo_breach";

/// What an objective is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SloKind {
    /// A contract version is active (or superseded) within the objective of its submission.
    ContractPropagation,
    /// A PO's 850 is acknowledged (997/999, or an 855) within the objective of leaving.
    PoAcknowledgement,
    /// An exception of the listed kinds is resolved within the objective of opening.
    ExceptionResolution,
}

impl SloKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SloKind::ContractPropagation => "contract propagation",
            SloKind::PoAcknowledgement => "PO acknowledgement",
            SloKind::ExceptionResolution => "exception resolution",
        }
    }
}

/// One `[slo.NAME]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SloConfig {
    pub kind: SloKind,
    /// How long an item may take: `15m`, `24h`, `5d`.
    pub objective: String,
    /// The share of items that must meet it (the error budget is the rest).
    #[serde(default = "default_target")]
    pub target: f64,
    /// How far back items are judged (by when they started).
    #[serde(default = "default_window")]
    pub window: String,
    /// For `exception_resolution`: the exception kinds counted, by prefix (`invoice_`).
    #[serde(default)]
    pub exception_kinds: Vec<String>,
}

fn default_target() -> f64 {
    0.99
}

fn default_window() -> String {
    "7d".into()
}

impl SloConfig {
    /// The objective as a duration (checked by [`SloConfig::check`] at start).
    pub fn within(&self) -> chrono::Duration {
        parse_duration(&self.objective).unwrap_or_else(|| chrono::Duration::days(1))
    }

    fn window(&self) -> chrono::Duration {
        parse_duration(&self.window).unwrap_or_else(|| chrono::Duration::days(7))
    }

    pub(crate) fn check(&self, at: &str, problem: &mut impl FnMut(String, String)) {
        for (field, value) in [("objective", &self.objective), ("window", &self.window)] {
            if parse_duration(value).is_none() {
                problem(
                    format!("{at}.{field}"),
                    format!("{value:?} is not a duration such as 15m, 24h or 5d"),
                );
            }
        }
        if !(self.target > 0.0 && self.target <= 1.0) {
            problem(
                format!("{at}.target"),
                format!(
                    "{} must be above 0 and at most 1 (0.99: one in a hundred may miss)",
                    self.target
                ),
            );
        }
        if self
            .exception_kinds
            .iter()
            .any(|k| BREACH_EXCEPTION.starts_with(k.as_str()))
        {
            problem(
                format!("{at}.exception_kinds"),
                format!("must not count {BREACH_EXCEPTION} itself"),
            );
        }
        match (self.kind, self.exception_kinds.is_empty()) {
            (SloKind::ExceptionResolution, true) => problem(
                format!("{at}.exception_kinds"),
                "name the exception kinds counted, by prefix (e.g. [\"invoice_\"])".into(),
            ),
            (SloKind::ExceptionResolution, false) | (_, true) => {}
            (_, false) => problem(
                format!("{at}.exception_kinds"),
                "only an exception_resolution objective counts exception kinds".into(),
            ),
        }
        // An item breaches between the objective and the end of the window: a window barely
        // longer than the objective could let a breach pass between two checks.
        if self.window().num_seconds() < 2 * self.within().num_seconds() {
            problem(
                format!("{at}.window"),
                "must be at least twice the objective".into(),
            );
        }
    }
}

impl Hub {
    /// The items of one objective over its window.
    async fn slo_items(&self, slo: &SloConfig, now: DateTime<Utc>) -> Result<Vec<SloItem>> {
        let since = now - slo.window();
        let store = self.store();
        Ok(match slo.kind {
            SloKind::ContractPropagation => store
                .contract_versions_since(since)
                .await?
                .into_iter()
                .map(|v| SloItem {
                    id: format!("{}:v{}", v.contract_id, v.version),
                    correlation_id: v.correlation_id,
                    started: v.created_at,
                    done: contract_done(&v.status).then_some(v.updated_at),
                })
                .collect(),
            SloKind::ExceptionResolution => store
                .exceptions_since(since)
                .await?
                .into_iter()
                // A breach is never an item of an objective (it would breach in turn).
                .filter(|e| e.kind != BREACH_EXCEPTION)
                .filter(|e| slo.exception_kinds.iter().any(|k| e.kind.starts_with(k)))
                .map(|e| SloItem {
                    id: e.id,
                    correlation_id: e.correlation_id,
                    started: e.created_at,
                    done: e.resolved_at,
                })
                .collect(),
            SloKind::PoAcknowledgement => store
                .workflows_since(crate::purchase_orders::WORKFLOW_KIND, since)
                .await?
                .into_iter()
                .filter_map(|(id, state)| {
                    let record: crate::purchase_orders::PurchaseOrderRecord =
                        serde_json::from_value(state).ok()?;
                    let sent = record
                        .documents
                        .iter()
                        .find(|d| d.document == "850" && d.direction == "out")?
                        .at;
                    let acknowledged = acknowledged(&record);
                    (sent >= since).then_some(SloItem {
                        id,
                        correlation_id: record.correlation_id,
                        started: sent,
                        done: acknowledged,
                    })
                })
                .collect(),
        })
    }

    /// Checks every objective once: opens a breach (exception, event, alert deliveries) for
    /// each item newly past its objective, resolves breaches whose item is done, and keeps the
    /// status. Returns how many breaches it opened.
    pub async fn check_slos(&self) -> Result<usize> {
        let now = Utc::now();
        let mut opened = 0;
        for (name, slo) in &self.config().slo {
            let items = self.slo_items(slo, now).await?;
            let status = evaluate(&items, slo.within(), slo.target, now);
            let prefix = format!("slo:{name}:");
            // Open breaches whose item is done at last are over: the item is judged from the
            // window's list, or looked up by id when it started before the window.
            let done: HashSet<&str> = items
                .iter()
                .filter(|i| i.done.is_some())
                .map(|i| i.id.as_str())
                .collect();
            let judged: HashSet<&str> = items.iter().map(|i| i.id.as_str()).collect();
            let open = self
                .store()
                .list_exceptions(&ExceptionFilter {
                    status: "open".into(),
                    kind: Some(BREACH_EXCEPTION.into()),
                    subject_prefix: Some(prefix.clone()),
                    limit: 10_000,
                    ..ExceptionFilter::default()
                })
                .await?;
            let mut over = Vec::new();
            for e in &open {
                let item = &e.subject[prefix.len()..];
                let finished = if judged.contains(item) {
                    done.contains(item)
                } else {
                    self.slo_item_done(slo, item).await?
                };
                if finished {
                    over.push(Write::ResolveExceptions {
                        kind: BREACH_EXCEPTION.into(),
                        subject: e.subject.clone(),
                        at: now,
                    });
                }
            }
            if !over.is_empty() {
                self.commit(over).await?;
            }
            for item in &status.breaching {
                let subject = format!("{prefix}{}", item.id);
                // One breach per item, ever: an operator's resolution is not undone by the
                // next check.
                if self.breach_recorded(&subject).await? {
                    continue;
                }
                match self
                    .commit(self.breach_writes(name, slo, item, &subject, now))
                    .await
                {
                    Ok(_) => {
                        tracing::warn!(slo = %name, item = %item.id, correlation_id = %item.correlation_id, objective = %slo.objective, "service level objective breached");
                        opened += 1;
                    }
                    // Another instance recorded it first (the alert's idempotency key is
                    // unique); the other breaches and objectives are still checked.
                    Err(e) => {
                        tracing::warn!(slo = %name, item = %item.id, error = %e, "recording a breach failed; the next check tries again")
                    }
                }
            }
            self.inner
                .slo_status
                .lock()
                .insert(name.clone(), (status, now));
        }
        Ok(opened)
    }

    /// Whether a breach exception, open or resolved, exists for `subject`.
    async fn breach_recorded(&self, subject: &str) -> Result<bool> {
        for status in ["open", "resolved"] {
            let found = self
                .store()
                .list_exceptions(&ExceptionFilter {
                    status: status.into(),
                    kind: Some(BREACH_EXCEPTION.into()),
                    subject: Some(subject.into()),
                    limit: 1,
                    ..ExceptionFilter::default()
                })
                .await?;
            if !found.is_empty() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Whether one item, looked up by id, is done (a gone item counts as done: nothing is
    /// left to wait for).
    async fn slo_item_done(&self, slo: &SloConfig, item: &str) -> Result<bool> {
        let store = self.store();
        Ok(match slo.kind {
            SloKind::ContractPropagation => {
                let Some((contract, version)) = item.rsplit_once(":v") else {
                    return Ok(true);
                };
                let version: u32 = version.parse().unwrap_or(0);
                store
                    .contract_versions(contract)
                    .await?
                    .iter()
                    .find(|v| v.version == version)
                    .is_none_or(|v| contract_done(&v.status))
            }
            SloKind::ExceptionResolution => store
                .exception(item)
                .await?
                .is_none_or(|e| e.status != "open"),
            SloKind::PoAcknowledgement => store
                .workflow::<crate::purchase_orders::PurchaseOrderRecord>(
                    crate::purchase_orders::WORKFLOW_KIND,
                    item,
                )
                .await?
                .is_none_or(|r| acknowledged(&r).is_some()),
        })
    }

    fn breach_writes(
        &self,
        name: &str,
        slo: &SloConfig,
        item: &concord_model::slo::SloItemRef,
        subject: &str,
        now: DateTime<Utc>,
    ) -> Vec<Write> {
        let exception_id = new_id("exc");
        let data = SloBreached {
            slo: name.into(),
            item: item.id.clone(),
            objective: slo.objective.clone(),
            started: item.started,
            exception_id: exception_id.clone(),
        };
        let breached = event(
            SLO_BREACHED,
            subject.into(),
            &item.correlation_id,
            now,
            &data,
        );
        let mut writes = vec![
            Write::OpenException(NewException {
                id: exception_id,
                kind: BREACH_EXCEPTION.into(),
                subject: subject.into(),
                correlation_id: item.correlation_id.clone(),
                detail: json!({"slo": name, "item": item.id, "objective": slo.objective,
                    "started": item.started}),
                at: now,
                facility: None,
                supplier: None,
            }),
            timeline(
                &item.correlation_id,
                now,
                "slo_breached",
                json!({"slo": name, "item": item.id, "objective": slo.objective}),
            ),
        ];
        for (system, required) in self.config().subscribers(BREACH_MESSAGE) {
            writes.push(Write::Delivery(NewDelivery {
                id: new_id("dlv"),
                event_id: breached.id.clone(),
                target: system.clone(),
                message_type: BREACH_MESSAGE.into(),
                subject: subject.into(),
                // One alert per (target, objective, item), however often it is checked.
                idempotency_key: format!("concord-{system}-slo-{name}-{}", item.id),
                correlation_id: item.correlation_id.clone(),
                required,
                payload: json!({"breach": data}),
                next_attempt_at: now,
            }));
        }
        writes.push(Write::Event(breached));
        writes
    }

    /// Each objective's latest status and when it was checked, by name.
    pub fn slo_statuses(&self) -> BTreeMap<String, (SloStatus, DateTime<Utc>)> {
        self.inner.slo_status.lock().clone()
    }
}

/// A contract version has propagated once it is active, or was superseded (a newer one
/// replaced it: nothing is left to wait for).
fn contract_done(status: &str) -> bool {
    ["active", "superseded"].contains(&status)
}

/// When a PO's 850 was first answered: a 997/999, or an 855 from a partner that sends no 997.
fn acknowledged(record: &crate::purchase_orders::PurchaseOrderRecord) -> Option<DateTime<Utc>> {
    record
        .documents
        .iter()
        .filter(|d| d.direction == "in" && ["997", "999", "855"].contains(&d.document.as_str()))
        .map(|d| d.at)
        .min()
}

/// The worker: checks the objectives every `[hub] slo_check_ms` (a config without any still
/// beats, so readiness sees it alive).
/// What instances sharing a store lock while one of them checks the objectives.
const SLO_CHECKS_LOCK: &str = "concord:slo_checks";

pub(crate) async fn run_slo_checks(hub: Hub, every: Duration) {
    while !hub.stopping() {
        hub.beat("slo_checks");
        if !hub.config().slo.is_empty() {
            // One instance at a time: two checking at once could both record the same breach.
            let checked = async {
                let _one = hub.lock_workflow(SLO_CHECKS_LOCK).await?;
                hub.check_slos().await
            };
            if let Err(e) = checked.await {
                tracing::error!(error = %e, "checking service level objectives failed");
            }
        }
        hub.idle("slo_checks", every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slo(kind: SloKind, objective: &str, target: f64, window: &str, kinds: &[&str]) -> SloConfig {
        SloConfig {
            kind,
            objective: objective.into(),
            target,
            window: window.into(),
            exception_kinds: kinds.iter().map(|k| k.to_string()).collect(),
        }
    }

    fn problems(s: &SloConfig) -> Vec<String> {
        let mut out = Vec::new();
        s.check("slo.x", &mut |path, message| {
            out.push(format!("{path}: {message}"))
        });
        out
    }

    #[test]
    fn a_good_objective_has_no_problems() {
        assert!(problems(&slo(SloKind::ContractPropagation, "15m", 0.99, "7d", &[])).is_empty());
        assert!(
            problems(&slo(
                SloKind::ExceptionResolution,
                "5d",
                0.95,
                "30d",
                &["invoice_"]
            ))
            .is_empty()
        );
    }

    #[test]
    fn every_problem_is_named_with_its_field() {
        let p = problems(&slo(SloKind::PoAcknowledgement, "soon", 1.5, "7d", &["x_"]));
        assert!(p.iter().any(|m| m.starts_with("slo.x.objective:")), "{p:?}");
        assert!(p.iter().any(|m| m.starts_with("slo.x.target:")), "{p:?}");
        assert!(
            p.iter().any(|m| m.starts_with("slo.x.exception_kinds:")),
            "{p:?}"
        );
        let p = problems(&slo(SloKind::ExceptionResolution, "5d", 0.0, "1d", &[]));
        assert!(
            p.iter().any(|m| m.starts_with("slo.x.exception_kinds:")),
            "{p:?}"
        );
        assert!(p.iter().any(|m| m.starts_with("slo.x.window:")), "{p:?}");
        assert!(p.iter().any(|m| m.starts_with("slo.x.target:")), "{p:?}");
        // A breach is never counted as an item (it would breach in turn).
        for kinds in [&[""][..], &["slo"]] {
            let p = problems(&slo(SloKind::ExceptionResolution, "5d", 0.9, "30d", kinds));
            assert!(p.iter().any(|m| m.contains("slo_breach itself")), "{p:?}");
        }
    }
}
