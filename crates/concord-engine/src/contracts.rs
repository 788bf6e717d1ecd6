//! The contract-to-catalog driver: resolves a submitted contract's supplier and items, stores the
//! version as `pending`, and turns the pure workflow's actions (deliver, activate, open an
//! exception, set a timer) into writes committed together with the state.

use std::time::Duration;

use chrono::{DateTime, Utc};
use concord_model::{
    Contract, ContractStatus, FieldError, Gtin, Supplier,
    error::Validate,
    events,
    workflow::contract::{
        self as wf, ActivationReason, ContractAction, ContractEvent, ContractPropagation,
        TargetSpec, VersionStatus,
    },
};
use concord_store::{Crosswalk, NewDelivery, NewException, Timer, Write};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    error::{Rejection, Result},
    hub::{Hub, event, new_id, timeline},
    inbound::InboundContext,
    mapping::Direction,
};

pub const WORKFLOW_KIND: &str = "contract";
pub(crate) const FALLBACK_TIMER: &str = "contract_fallback";

/// A contract as a system submits it: the canonical contract, except that the supplier and the
/// items may be given by the sender's own references, resolved by the hub.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ContractSubmission {
    id: String,
    version: u32,
    #[serde(default)]
    supplier_id: Option<String>,
    /// The sender's reference to the supplier, when it does not know the canonical id.
    #[serde(default)]
    supplier: Option<SupplierRef>,
    status: ContractStatus,
    effective_date: chrono::NaiveDate,
    expiration_date: chrono::NaiveDate,
    #[serde(default)]
    eligibility: concord_model::Eligibility,
    lines: Vec<LineSubmission>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct SupplierRef {
    external_id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    tin: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct LineSubmission {
    #[serde(default)]
    gtin: Option<String>,
    #[serde(default)]
    vendor_part: Option<String>,
    uom: concord_model::Uom,
    price_breaks: Vec<concord_model::PriceBreak>,
}

/// How a submitted line names its item, before any lookup.
enum ItemRef<'a> {
    Gtin(Gtin),
    VendorPart(&'a str),
}

impl LineSubmission {
    /// The line's item reference (a GTIN wins over a vendor part), or why it has none usable.
    fn item_ref(&self, i: usize) -> Result<ItemRef<'_>, FieldError> {
        match (&self.gtin, &self.vendor_part) {
            (Some(raw), _) => Gtin::parse(raw).map(ItemRef::Gtin).map_err(|e| {
                FieldError::new(format!("lines[{i}].gtin"), "check_digit", e.to_string())
            }),
            (None, Some(part)) => Ok(ItemRef::VendorPart(part)),
            (None, None) => Err(FieldError::new(
                format!("lines[{i}]"),
                "required",
                "a line needs a gtin or a vendor_part",
            )),
        }
    }
}

fn missing_supplier() -> FieldError {
    FieldError::new(
        "supplier_id",
        "required",
        "give supplier_id or a supplier reference",
    )
}

fn parse_submission(canonical: &Value) -> Result<ContractSubmission, Rejection> {
    serde_path_to_error::deserialize(canonical).map_err(|e| {
        let path = e.path().to_string();
        Rejection::invalid(vec![FieldError::new(
            if path == "." { String::new() } else { path },
            "format",
            e.into_inner().to_string(),
        )])
    })
}

/// Checks a contract submission as far as it can be without the store: its shape and types,
/// a supplier named, each line's GTIN check digit (or a vendor part), and the contract's own
/// rules with the references taken as given. What remains (the supplier and items exist) is the
/// store's to say. Pure: `concord test-mappings` runs it on each mapping's samples.
pub fn check_submission(canonical: &Value) -> Result<(), Rejection> {
    let s = parse_submission(canonical)?;
    let mut errors = Vec::new();
    if s.supplier_id.is_none() && s.supplier.is_none() {
        errors.push(missing_supplier());
    }
    let submitted_lines = s.lines.len();
    let mut lines = Vec::new();
    for (i, line) in s.lines.iter().enumerate() {
        match line.item_ref(i) {
            Ok(ItemRef::Gtin(gtin)) => lines.push(concord_model::ContractLine {
                gtin,
                uom: line.uom.clone(),
                price_breaks: line.price_breaks.clone(),
            }),
            Ok(ItemRef::VendorPart(_)) => {} // resolved against the store later
            Err(e) => errors.push(e),
        }
    }
    let provisional = Contract {
        id: s.id,
        version: s.version,
        supplier_id: s.supplier_id.unwrap_or_else(|| "resolved-later".into()),
        status: s.status,
        effective_date: s.effective_date,
        expiration_date: s.expiration_date,
        eligibility: s.eligibility,
        lines,
    };
    errors.extend(
        provisional
            .validate()
            .into_iter()
            // Lines given only by vendor part are not in `provisional`: if any were submitted,
            // "no lines" is not an error yet.
            .filter(|e| !(submitted_lines > 0 && e.path == "lines" && e.rule == "required")),
    );
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Rejection::invalid(errors))
    }
}

/// A contract version's workflow id (`Store::contract_version_heads_with_state` and
/// `contract_versions_with_state` spell it again in SQL to join versions to their workflows).
fn workflow_id(contract_id: &str, version: u32) -> String {
    format!("{contract_id}:{version}")
}

/// The subject of exceptions and deliveries about one contract (all versions share it, which
/// is what keeps versions in order at each target).
fn subject(contract_id: &str) -> String {
    format!("contract:{contract_id}")
}

/// One version of a contract, as exceptions and the audit log name it: `contract:C-1:v2`.
fn version_subject(contract_id: &str, version: u32) -> String {
    format!("{}:v{version}", subject(contract_id))
}

impl Hub {
    /// Resolves, validates and stores a contract version, then starts its propagation.
    pub(crate) async fn submit_contract(
        &self,
        canonical: &Value,
        ctx: &InboundContext,
        mut lineage: Vec<Write>,
    ) -> Result<crate::inbound::InboundAnswer> {
        let submission = parse_submission(canonical)?;
        let (contract, mut writes) = self.resolve_contract(submission, ctx).await?;
        let errors = contract.validate();
        if !errors.is_empty() {
            return Err(Rejection::invalid(errors).into());
        }
        if contract.status != ContractStatus::Approved {
            return Err(Rejection::invalid(vec![FieldError::new(
                "status",
                "contract_not_approved",
                format!(
                    "only approved contracts are propagated; this one is {:?}",
                    contract.status
                ),
            )])
            .into());
        }
        let now = Utc::now();
        lineage.push(timeline(
            &ctx.correlation_id,
            now,
            "validated",
            json!({"contract_id": contract.id, "version": contract.version}),
        ));
        let data = serde_json::to_value(&contract).expect("contracts serialise");
        let digest = crate::governance::digest_of_json(&data);
        let _guard = self.lock_workflow(&contract.id).await?;
        let existing = self.store().contract_version_heads(&contract.id).await?;
        if let Some(same) = existing.iter().find(|v| v.version == contract.version) {
            if same.digest == digest {
                // The same version again (a resend by another route): no second effect.
                let body = ctx.accepted(&subject(&contract.id), "duplicate_version");
                self.commit(vec![ctx.done(202, &body)]).await?;
                return Ok(crate::inbound::InboundAnswer {
                    status: 202,
                    body,
                    replayed: false,
                });
            }
            return Err(Rejection::new(
                409,
                "version_conflict",
                "This contract version exists with different content",
                format!("contract {} version {} is already stored with other terms; send a higher version", contract.id, contract.version),
            )
            .into());
        }
        let active_version = existing
            .iter()
            .filter(|v| v.status == "active")
            .map(|v| v.version)
            .max();
        let newest_version = existing.iter().map(|v| v.version).max();
        let targets: Vec<TargetSpec> = self
            .config()
            .subscribers("contract")
            .into_iter()
            .map(|(system, required)| TargetSpec { system, required })
            .collect();
        let (state, actions) = wf::apply(
            None,
            ContractEvent::Submitted {
                contract_id: contract.id.clone(),
                version: contract.version,
                targets,
                newest_version,
                fallback: self.config().contracts.fallback.clone(),
                at: now,
            },
        )?;
        let submitted = event(
            events::CONTRACT_VERSION_SUBMITTED,
            subject(&contract.id),
            &ctx.correlation_id,
            now,
            events::ContractVersionSubmitted {
                contract: contract.clone(),
                source_system: ctx.source_system.clone(),
            },
        );
        let event_id = submitted.id.clone();
        writes.push(Write::Event(submitted));
        writes.push(crate::governance::audit(
            &ctx.actor,
            "contract.version.submitted",
            version_subject(&contract.id, contract.version),
            Some(&ctx.correlation_id),
            None,
            Some(digest.clone()),
            json!({"source_system": ctx.source_system, "active_version": active_version}),
        ));
        writes.push(Write::SearchKeys {
            correlation_id: ctx.correlation_id.clone(),
            subject: subject(&contract.id),
            keys: vec![
                ("contract", contract.id.clone()),
                ("supplier", contract.supplier_id.clone()),
            ],
            at: now,
        });
        writes.push(Write::InsertContractVersion {
            contract_id: contract.id.clone(),
            version: contract.version,
            status: VersionStatus::Pending.as_str().into(),
            digest,
            data: data.clone(),
            correlation_id: ctx.correlation_id.clone(),
            at: now,
        });
        lineage.push(timeline(
            &ctx.correlation_id,
            now,
            "committed",
            json!({"contract_id": contract.id, "version": contract.version, "event_id": event_id,
                   "targets": state.targets.keys().collect::<Vec<_>>()}),
        ));
        let mut step = self
            .carry_out(
                &contract,
                &ctx.correlation_id,
                &event_id,
                state,
                actions,
                now,
                None,
            )
            .await?;
        let body = ctx.accepted(&subject(&contract.id), step.state.status.as_str());
        writes.append(&mut lineage);
        writes.append(&mut step.writes);
        writes.push(ctx.done(202, &body));
        self.commit(writes).await?;
        step.apply_to_index(self);
        Ok(crate::inbound::InboundAnswer {
            status: 202,
            body,
            replayed: false,
        })
    }

    /// Finds the canonical supplier and items a submission refers to.
    async fn resolve_contract(
        &self,
        s: ContractSubmission,
        ctx: &InboundContext,
    ) -> Result<(Contract, Vec<Write>)> {
        let mut writes = Vec::new();
        let supplier_id = match (&s.supplier_id, &s.supplier) {
            (Some(id), _) => {
                if !self.supplier_exists(id).await? {
                    return Err(Rejection::invalid(vec![FieldError::new(
                        "supplier_id",
                        "unknown_supplier",
                        format!("supplier {id} is not in the supplier master"),
                    )])
                    .into());
                }
                id.clone()
            }
            (None, Some(reference)) => self.resolve_supplier(reference, ctx, &mut writes).await?,
            (None, None) => return Err(Rejection::invalid(vec![missing_supplier()]).into()),
        };
        let mut lines = Vec::with_capacity(s.lines.len());
        let mut errors = Vec::new();
        for (i, line) in s.lines.into_iter().enumerate() {
            let gtin = match line.item_ref(i) {
                Ok(ItemRef::Gtin(gtin)) if self.item_exists(&gtin).await? => Some(gtin),
                Ok(ItemRef::Gtin(gtin)) => {
                    errors.push(FieldError::new(
                        format!("lines[{i}].gtin"),
                        "unknown_item",
                        format!("item {gtin} is not in the item master"),
                    ));
                    None
                }
                Ok(ItemRef::VendorPart(part)) => {
                    match self.store().item_by_vendor_part(&supplier_id, part).await? {
                        Some(item) => Some(item.gtin),
                        None => {
                            return Err(Rejection {
                            status: 422,
                            kind: "item_unresolved",
                            title: "An item could not be resolved".into(),
                            detail: format!("supplier {supplier_id} part {part:?} matches no item in the item master"),
                            errors: vec![FieldError::new(format!("lines[{i}].vendor_part"), "unknown_vendor_part", format!("no item has vendor part {part:?} of supplier {supplier_id}"))],
                        }
                        .into());
                        }
                    }
                }
                Err(e) => {
                    errors.push(e);
                    None
                }
            };
            if let Some(gtin) = gtin {
                lines.push(concord_model::ContractLine {
                    gtin,
                    uom: line.uom,
                    price_breaks: line.price_breaks,
                });
            }
        }
        if !errors.is_empty() {
            return Err(Rejection::invalid(errors).into());
        }
        let contract = Contract {
            id: s.id,
            version: s.version,
            supplier_id,
            status: s.status,
            effective_date: s.effective_date,
            expiration_date: s.expiration_date,
            eligibility: s.eligibility,
            lines,
        };
        Ok((contract, writes))
    }

    /// Crosswalk first, then the supplier master by TIN, then the ERP's supplier API.
    async fn resolve_supplier(
        &self,
        r: &SupplierRef,
        ctx: &InboundContext,
        writes: &mut Vec<Write>,
    ) -> Result<String> {
        let store = self.store();
        let now = Utc::now();
        if let Some(id) = store
            .crosswalk_to_canonical(&ctx.source_system, "supplier", &r.external_id)
            .await?
        {
            return Ok(id);
        }
        let link = |canonical: &str| {
            Write::Crosswalk(
                Crosswalk {
                    system: ctx.source_system.clone(),
                    entity_type: "supplier".into(),
                    external_id: r.external_id.clone(),
                    canonical_id: canonical.to_string(),
                },
                now,
            )
        };
        if let Some(tin) = &r.tin {
            if let Some(supplier) = store.supplier_by_tin(tin).await? {
                writes.push(link(&supplier.id));
                return Ok(supplier.id);
            }
            let mut lookup_errors = Vec::new();
            for (system_id, system) in &self.config().systems {
                let Some(route) = system.lookups.get("supplier") else {
                    continue;
                };
                match self.lookup_supplier(system_id, route, tin).await {
                    Ok(Some(found)) => {
                        let canonical_id = format!("S-{system_id}-{}", found.external_id);
                        writes.push(Write::UpsertSupplier(
                            Supplier {
                                id: canonical_id.clone(),
                                name: found
                                    .name
                                    .or(r.name.clone())
                                    .unwrap_or_else(|| canonical_id.clone()),
                                tin: Some(tin.clone()),
                                ..Supplier::default()
                            },
                            now,
                        ));
                        writes.push(Write::Crosswalk(
                            Crosswalk {
                                system: system_id.clone(),
                                entity_type: "supplier".into(),
                                external_id: found.external_id.clone(),
                                canonical_id: canonical_id.clone(),
                            },
                            now,
                        ));
                        writes.push(link(&canonical_id));
                        writes.push(timeline(&ctx.correlation_id, now, "supplier_resolved", json!({"via": system_id, "external_id": found.external_id, "canonical_id": canonical_id})));
                        return Ok(canonical_id);
                    }
                    Ok(None) => {}
                    Err(e) => lookup_errors.push(format!("{system_id}: {e}")),
                }
            }
            let mut detail = format!(
                "supplier {:?} (TIN {tin}) is in no crosswalk, not in the supplier master and not found by any supplier lookup",
                r.external_id
            );
            if !lookup_errors.is_empty() {
                detail.push_str(&format!("; lookups failed: {}", lookup_errors.join("; ")));
            }
            return Err(Rejection {
                status: 422,
                kind: "supplier_unresolved",
                title: "The supplier could not be resolved".into(),
                detail,
                errors: vec![FieldError::new(
                    "supplier.external_id",
                    "unknown_supplier",
                    "no crosswalk, master record or ERP vendor matches",
                )],
            }
            .into());
        }
        Err(Rejection {
            status: 422,
            kind: "supplier_unresolved",
            title: "The supplier could not be resolved".into(),
            detail: format!(
                "supplier {:?} is in no crosswalk and carries no TIN to look it up by",
                r.external_id
            ),
            errors: vec![FieldError::new(
                "supplier.tin",
                "required",
                "needed to resolve a supplier without a crosswalk",
            )],
        }
        .into())
    }

    pub(crate) async fn lookup_supplier(
        &self,
        system_id: &str,
        route: &crate::config::LookupRoute,
        tin: &str,
    ) -> Result<Option<FoundSupplier>, String> {
        let system = &self.config().systems[system_id];
        let base = system.base_url.as_deref().unwrap_or_default();
        let request = self
            .http_for(system_id)
            .get(format!("{base}{}", route.path))
            .query(&[(route.query_param.as_str(), tin)])
            .timeout(Duration::from_millis(system.timeout_ms));
        let request = self.with_credentials(system.credentials.as_ref(), request)?;
        let response = request
            .send()
            .await
            .map_err(|e| format!("request failed: {}", crate::error::error_chain(&e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("HTTP {status}"));
        }
        let native: Value = response
            .json()
            .await
            .map_err(|e| format!("answer is not JSON: {e}"))?;
        let mapping = self
            .inner
            .mappings
            .get(system_id, "supplier", Direction::Lookup)
            .ok_or("no lookup mapping")?;
        let candidates = mapping.run(&native).map_err(|e| e.to_string())?;
        let found: Vec<FoundSupplier> = serde_json::from_value(candidates)
            .map_err(|e| format!("lookup mapping output: {e}"))?;
        Ok(found.into_iter().next())
    }

    /// Turns workflow actions into writes (and index changes applied after the commit).
    ///
    /// `versions` is the contract's versions with their workflow states when the caller has
    /// just read them under the contract's lock (an activation supersedes from them); `None`
    /// reads them if an activation needs them.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn carry_out(
        &self,
        contract: &Contract,
        correlation_id: &str,
        event_id: &str,
        state: ContractPropagation,
        actions: Vec<ContractAction>,
        at: DateTime<Utc>,
        versions: Option<&[VersionState]>,
    ) -> Result<Step> {
        let mut step = Step {
            state: state.clone(),
            writes: Vec::new(),
            activate: None,
        };
        let wid = workflow_id(&contract.id, contract.version);
        for action in actions {
            match action {
                ContractAction::Deliver { system } => {
                    let required = state.targets.get(&system).is_some_and(|t| t.required);
                    step.writes.push(Write::Delivery(NewDelivery {
                        id: new_id("dlv"),
                        event_id: event_id.to_string(),
                        target: system.clone(),
                        message_type: "contract".into(),
                        subject: subject(&contract.id),
                        // Stable per (target, contract, version): a replay or a restart sends
                        // the same key, so the target applies it once.
                        idempotency_key: format!(
                            "concord-{system}-contract-{}-v{}",
                            contract.id, contract.version
                        ),
                        correlation_id: correlation_id.to_string(),
                        required,
                        payload: json!({"contract": contract}),
                        next_attempt_at: at,
                    }));
                }
                ContractAction::Activate { reason } => {
                    step.writes.extend(
                        self.activation_writes(contract, correlation_id, &reason, at, versions)
                            .await?,
                    );
                    step.activate = Some(contract.clone());
                }
                ContractAction::OpenException { kind, detail } => {
                    step.writes.push(Write::OpenException(NewException {
                        id: new_id("exc"),
                        kind: kind.to_string(),
                        subject: version_subject(&contract.id, contract.version),
                        correlation_id: correlation_id.to_string(),
                        detail: json!({"contract_id": contract.id, "version": contract.version, "detail": detail}),
                        at,
                        facility: None,
                        supplier: Some(contract.supplier_id.clone()),
                    }));
                    step.writes.push(timeline(
                        correlation_id,
                        at,
                        "exception_opened",
                        json!({"kind": kind, "detail": detail}),
                    ));
                }
                ContractAction::ResolveException { kind } => {
                    step.writes.push(Write::ResolveExceptions {
                        kind: kind.to_string(),
                        subject: version_subject(&contract.id, contract.version),
                        at,
                    });
                    step.writes.push(timeline(
                        correlation_id,
                        at,
                        "exception_resolved",
                        json!({"kind": kind}),
                    ));
                }
                ContractAction::ScheduleFallback { due } => {
                    step.writes.push(Write::Timer(Timer {
                        id: format!("{FALLBACK_TIMER}:{wid}"),
                        due_at: due,
                        kind: FALLBACK_TIMER.into(),
                        subject: wid.clone(),
                        correlation_id: correlation_id.to_string(),
                    }));
                }
            }
        }
        step.writes.push(Write::SetContractStatus {
            contract_id: contract.id.clone(),
            version: contract.version,
            status: state.status.as_str().into(),
            at,
        });
        step.writes.push(Write::Workflow {
            kind: WORKFLOW_KIND.into(),
            id: wid,
            state: serde_json::to_value(&state).expect("state serialises"),
            at,
        });
        Ok(step)
    }

    /// Activation: the event, the lineage entry, and every lower version superseded.
    async fn activation_writes(
        &self,
        contract: &Contract,
        correlation_id: &str,
        reason: &ActivationReason,
        at: DateTime<Utc>,
        versions: Option<&[VersionState]>,
    ) -> Result<Vec<Write>> {
        let mut writes = vec![
            Write::Event(event(
                events::CONTRACT_ACTIVATED,
                subject(&contract.id),
                correlation_id,
                at,
                events::ContractActivated {
                    contract_id: contract.id.clone(),
                    version: contract.version,
                    activation: reason.clone(),
                },
            )),
            timeline(
                correlation_id,
                at,
                "activated",
                json!({"contract_id": contract.id, "version": contract.version, "activation": reason}),
            ),
            crate::governance::audit(
                crate::governance::SYSTEM_ACTOR,
                "contract.activated",
                version_subject(&contract.id, contract.version),
                Some(correlation_id),
                None,
                Some(crate::governance::digest_of(contract)),
                json!({"activation": reason}),
            ),
        ];
        writes.push(Write::DeleteTimer {
            id: format!(
                "{FALLBACK_TIMER}:{}",
                workflow_id(&contract.id, contract.version)
            ),
        });
        let read;
        let versions = match versions {
            Some(versions) => versions,
            None => {
                read = self.versions_with_state(&contract.id).await?;
                &read
            }
        };
        for (older, state) in versions {
            if older.version >= contract.version
                || older.status == VersionStatus::Superseded.as_str()
            {
                continue;
            }
            let wid = workflow_id(&contract.id, older.version);
            let Some(state) = state.clone() else {
                continue;
            };
            let (state, actions) = wf::apply(
                Some(state),
                ContractEvent::Superseded {
                    by_version: contract.version,
                    at,
                },
            )?;
            for action in actions {
                if let ContractAction::ResolveException { kind } = action {
                    writes.push(Write::ResolveExceptions {
                        kind: kind.into(),
                        subject: version_subject(&contract.id, older.version),
                        at,
                    });
                }
            }
            writes.push(Write::SetContractStatus {
                contract_id: contract.id.clone(),
                version: older.version,
                status: state.status.as_str().into(),
                at,
            });
            writes.push(Write::Workflow {
                kind: WORKFLOW_KIND.into(),
                id: wid,
                state: serde_json::to_value(&state).expect("state serialises"),
                at,
            });
            writes.push(crate::governance::audit(
                crate::governance::SYSTEM_ACTOR,
                "contract.superseded",
                version_subject(&contract.id, older.version),
                Some(&older.correlation_id),
                Some(older.digest.clone()),
                None,
                json!({"by_version": contract.version}),
            ));
            writes.push(timeline(&older.correlation_id, at, "superseded", json!({"contract_id": contract.id, "version": older.version, "by_version": contract.version})));
        }
        Ok(writes)
    }

    /// Feeds a delivery's final outcome to its contract version's workflow. Returns the writes to
    /// commit with the delivery result.
    pub(crate) async fn contract_delivery_outcome(
        &self,
        contract: &Contract,
        correlation_id: &str,
        event_id: &str,
        target: &str,
        ok: bool,
        error: Option<String>,
    ) -> Result<Step> {
        // One read for the step: this version's state, and what an activation supersedes.
        let versions = self.versions_with_state(&contract.id).await?;
        let state = versions
            .iter()
            .find(|(v, _)| v.version == contract.version)
            .and_then(|(_, state)| state.clone());
        let at = Utc::now();
        let event = if ok {
            ContractEvent::TargetAcknowledged {
                system: target.to_string(),
                at,
            }
        } else {
            ContractEvent::TargetDeadLettered {
                system: target.to_string(),
                error: error.unwrap_or_default(),
                at,
            }
        };
        let (state, actions) = wf::apply(state, event)?;
        self.carry_out(
            contract,
            correlation_id,
            event_id,
            state,
            actions,
            at,
            Some(&versions),
        )
        .await
    }

    /// The contract's versions with their propagation states (see [`VersionState`]).
    async fn versions_with_state(&self, contract_id: &str) -> Result<Vec<VersionState>> {
        Ok(self
            .store()
            .contract_version_heads_with_state(contract_id, WORKFLOW_KIND)
            .await?)
    }

    /// The contract's versions with status and per-target propagation, for the API (one read).
    pub async fn contract_view(&self, contract_id: &str) -> Result<Option<Value>> {
        let versions: Vec<(_, Option<ContractPropagation>)> = self
            .store()
            .contract_versions_with_state(contract_id, WORKFLOW_KIND)
            .await?;
        if versions.is_empty() {
            return Ok(None);
        }
        let mut out = Vec::new();
        for (v, state) in versions {
            out.push(json!({
                "version": v.version,
                "status": v.status,
                "correlation_id": v.correlation_id,
                "created_at": v.created_at,
                "updated_at": v.updated_at,
                "contract": v.data,
                "propagation": state.as_ref().map(|s| json!({"targets": s.targets, "activation": s.activation, "superseded_by": s.superseded_by})),
            }));
        }
        let active = out
            .iter()
            .filter(|v| v["status"] == "active")
            .filter_map(|v| v["version"].as_u64())
            .max();
        Ok(Some(
            json!({"id": contract_id, "active_version": active, "versions": out}),
        ))
    }

    /// Fires one contract's fallback timer (a stale one, whose workflow is gone, is deleted).
    pub(crate) async fn fire_contract_timer(&self, timer: &Timer) -> Result<()> {
        let Some((contract_id, version)) = timer.subject.rsplit_once(':') else {
            return Ok(());
        };
        let version: u32 = version.parse().unwrap_or(0);
        let _guard = self.lock_workflow(contract_id).await?;
        let versions = self.versions_with_state(contract_id).await?;
        let Some((_, Some(state))) = versions.iter().find(|(v, _)| v.version == version) else {
            self.commit(vec![Write::DeleteTimer {
                id: timer.id.clone(),
            }])
            .await?;
            return Ok(());
        };
        let record = self
            .store()
            .contract_version(contract_id, version)
            .await?
            .ok_or_else(|| {
                concord_store::Error::Decode(format!(
                    "contract {contract_id} version {version} has a workflow but no stored document"
                ))
            })?;
        let contract = Contract::deserialize(&record.data).map_err(|source| {
            concord_store::Error::Corrupt {
                table: "contract_versions",
                source,
            }
        })?;
        let at = Utc::now();
        let (state, actions) = wf::apply(Some(state.clone()), ContractEvent::FallbackDue { at })?;
        let mut step = self
            .carry_out(
                &contract,
                &timer.correlation_id,
                "timer",
                state,
                actions,
                at,
                Some(&versions),
            )
            .await?;
        step.writes.push(Write::DeleteTimer {
            id: timer.id.clone(),
        });
        step.writes.push(timeline(&timer.correlation_id, at, "fallback_timer", json!({"contract_id": contract.id, "version": contract.version, "activated": step.activate.is_some()})));
        self.commit(std::mem::take(&mut step.writes)).await?;
        step.apply_to_index(self);
        Ok(())
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct FoundSupplier {
    pub external_id: String,
    #[serde(default)]
    name: Option<String>,
}

/// A stored version of a contract (without its document) and the state of its propagation
/// workflow.
pub(crate) type VersionState = (
    concord_store::ContractVersionHead,
    Option<ContractPropagation>,
);

/// The writes of one workflow step, and the price-index change to make once they are committed.
pub(crate) struct Step {
    pub state: ContractPropagation,
    pub writes: Vec<Write>,
    pub activate: Option<Contract>,
}

impl Step {
    /// Updates the in-memory price index after the commit succeeded (never before: the index
    /// must not show a price the store does not have).
    pub fn apply_to_index(&self, hub: &Hub) {
        if let Some(contract) = &self.activate {
            let mut prices = hub.inner.prices.write();
            let newer_active = prices
                .active_version(&contract.id)
                .is_some_and(|v| v > contract.version);
            if !newer_active {
                prices.activate(contract.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn submission(lines: Value) -> Value {
        json!({"id": "C-1", "version": 1, "supplier": {"external_id": "V-1"}, "status": "approved",
               "effective_date": "2026-01-01", "expiration_date": "2026-12-31", "lines": lines})
    }

    fn paths(r: Result<(), Rejection>) -> Vec<String> {
        r.unwrap_err().errors.into_iter().map(|e| e.path).collect()
    }

    #[test]
    fn a_submission_is_checked_as_far_as_it_can_be_without_the_store() {
        let line = |gtin: Value, part: Value| {
            json!({"gtin": gtin, "vendor_part": part, "uom": "EA",
                   "price_breaks": [{"min_quantity": 1, "unit_price": "2.00"}]})
        };
        let gtin_line = line(json!("00614141000012"), Value::Null);
        let part_line = line(Value::Null, json!("VP-1"));
        assert!(check_submission(&submission(json!([gtin_line.clone()]))).is_ok());
        // Lines named only by vendor part are resolved later: not "no lines".
        assert!(check_submission(&submission(json!([part_line]))).is_ok());
        assert_eq!(paths(check_submission(&submission(json!([])))), ["lines"]);
        assert_eq!(
            paths(check_submission(&submission(json!([
                gtin_line,
                line(json!("00614141000013"), Value::Null),
                line(Value::Null, Value::Null)
            ])))),
            ["lines[1].gtin", "lines[2]"]
        );
        let mut no_supplier = submission(json!([line(json!("00614141000012"), Value::Null)]));
        no_supplier.as_object_mut().unwrap().remove("supplier");
        assert_eq!(paths(check_submission(&no_supplier)), ["supplier_id"]);
    }
}
