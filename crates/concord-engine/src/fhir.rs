//! FHIR R4 intake (`POST /v1/fhir/{type}`): the resource is read and checked at the edge
//! (`concord_formats::fhir`; a problem is a 422 naming its path, and nothing is stored: the
//! sender still holds it, as with an HL7 AR), its redacted copy is stored (pseudonyms for the
//! patient and encounter, no narrative, notes, displays or names), then processed like an HL7
//! charge: a completed Procedure's implanted devices and a completed SupplyDelivery's items
//! become usages (`usage`). SupplyRequests and lone Devices are stored and marked not used.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use concord_formats::fhir::{self, Device, Reference, Resource};
use concord_model::{
    FieldError, Gtin,
    gs1::parse_gs1,
    workflow::usage::{DeviceDetails, ItemReference, Usage},
};
use concord_store::{InboxInsert, InboxRecord, NewInbound, Write};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::{
    error::{Rejection, Result},
    hub::{Hub, new_id, sha256_hex, timeline},
    inbound::{InboundAnswer, InboundContext},
};

/// The inbox's message type of a FHIR resource or Bundle.
pub const FHIR: &str = "fhir";

fn invalid(problems: Vec<fhir::Problem>) -> Rejection {
    let mut r = Rejection::new(
        422,
        "invalid_fhir",
        "The FHIR resource is not valid",
        problems
            .iter()
            .map(|p| format!("{}: {}", p.path, p.message))
            .collect::<Vec<_>>()
            .join("; "),
    );
    r.errors = problems
        .into_iter()
        .map(|p| FieldError::new(p.path, p.rule, p.message))
        .collect();
    r
}

/// A FHIR dateTime or date, as UTC (a date is its midnight).
fn instant(text: Option<&str>) -> Option<DateTime<Utc>> {
    let text = text?;
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc())
        })
}

/// The id at the end of a (pseudonymised) reference: `Patient/pt_…` → `pt_…`.
fn last_part(r: &Reference) -> Option<String> {
    r.reference
        .as_deref()
        .and_then(|s| s.rsplit('/').next())
        .map(str::to_string)
        .or_else(|| r.identifier.clone())
}

/// The facility and stock location a reference names (`Location/CATH-MERCY` → the crosswalk's
/// `CATH-MERCY`, used for both).
fn place(r: Option<&Reference>) -> String {
    r.and_then(|r| r.identifier.clone().or_else(|| last_part(r)))
        .unwrap_or_else(|| "default".into())
}

/// A device's item and production identifiers: the UDI's DI (a GTIN), else the GTIN in its
/// GS1 carrier string; lot, serial and expiry from the resource, else from the carrier.
fn device_item(d: &Device) -> (Option<Gtin>, DeviceDetails) {
    let mut gtin = None;
    let mut details = DeviceDetails {
        lot: d.lot_number.clone(),
        serial: d.serial_number.clone(),
        expiry: d
            .expiration_date
            .as_deref()
            .and_then(|e| NaiveDate::parse_from_str(e.get(..10).unwrap_or(e), "%Y-%m-%d").ok()),
    };
    for udi in &d.udi {
        if let Some(di) = &udi.device_identifier
            && let Ok(g) = Gtin::parse(di)
        {
            gtin.get_or_insert(g);
        }
        if let Some(hrf) = &udi.carrier_hrf
            && let Ok(code) = parse_gs1(hrf)
        {
            if gtin.is_none() {
                gtin = code.gtin.clone();
            }
            details.lot = details.lot.or(code.lot);
            details.serial = details.serial.or(code.serial);
            details.expiry = details.expiry.or(code.expiry);
        }
    }
    (gtin, details)
}

/// The usages in a (redacted) resource or Bundle, and how many resources were not usages.
pub fn usages_of(
    system: &str,
    resource: &Resource,
    fallback_id: &str,
    received_at: DateTime<Utc>,
) -> (Vec<Usage>, usize) {
    let single = [(None, resource.clone())];
    let entries: &[(Option<String>, Resource)] = match resource {
        Resource::Bundle { entries } => entries,
        _ => &single,
    };
    let mut devices: HashMap<String, &Device> = HashMap::new();
    for (url, r) in entries {
        if let Resource::Device(d) = r {
            if let Some(url) = url {
                devices.insert(url.clone(), d);
            }
            if let Some(id) = &d.id {
                devices.insert(format!("Device/{id}"), d);
            }
        }
    }
    let find = |r: &Reference| -> Option<&Device> {
        let reference = r.reference.as_deref()?;
        devices.get(reference).copied().or_else(|| {
            r.id_of("Device")
                .and_then(|id| devices.get(&format!("Device/{id}")).copied())
        })
    };
    let (mut usages, mut not_used) = (vec![], 0);
    for (i, (_, r)) in entries.iter().enumerate() {
        match r {
            Resource::Procedure(p) if p.status == "completed" && !p.focal_devices.is_empty() => {
                let id = p.id.clone().unwrap_or_else(|| format!("{fallback_id}.{i}"));
                for (n, fd) in p.focal_devices.iter().enumerate() {
                    if fd.action.as_ref().is_some_and(|a| a.code != "implanted") {
                        continue;
                    }
                    let device = find(&fd.manipulated);
                    let (gtin, details) = device.map(device_item).unwrap_or_default();
                    let place = place(p.location.as_ref());
                    usages.push(Usage {
                        id: format!("{system}:fhir:Procedure-{id}:{}", n + 1),
                        facility_code: place.clone(),
                        location: place,
                        item: ItemReference {
                            gtin,
                            chargemaster: None,
                            item_number: fd.manipulated.reference.clone(),
                            description: None,
                        },
                        quantity: Decimal::ONE,
                        device: device.map(|_| details),
                        procedure_code: p.code.as_ref().map(|c| c.code.clone()),
                        cost_center: None,
                        service_line: None,
                        patient: last_part(&p.subject),
                        encounter: p.encounter.as_ref().and_then(last_part),
                        occurred_at: instant(p.performed.as_deref()).unwrap_or(received_at),
                    });
                }
            }
            Resource::SupplyDelivery(d) if d.status.as_deref() == Some("completed") => {
                let id = d.id.clone().unwrap_or_else(|| format!("{fallback_id}.{i}"));
                let device = d.item_reference.as_ref().and_then(&find);
                let (gtin, details) = device.map(device_item).unwrap_or_default();
                let place = place(d.destination.as_ref());
                usages.push(Usage {
                    id: format!("{system}:fhir:SupplyDelivery-{id}:1"),
                    facility_code: place.clone(),
                    location: place,
                    item: ItemReference {
                        gtin,
                        chargemaster: d.item_code.as_ref().map(|c| c.code.clone()),
                        item_number: d.item_reference.as_ref().and_then(|r| r.reference.clone()),
                        description: None,
                    },
                    quantity: d.quantity.unwrap_or(Decimal::ONE),
                    device: device.map(|_| details),
                    procedure_code: None,
                    cost_center: None,
                    service_line: None,
                    patient: d.patient.as_ref().and_then(last_part),
                    encounter: None,
                    occurred_at: instant(d.occurrence.as_deref()).unwrap_or(received_at),
                });
            }
            Resource::Device(_) => {}
            _ => not_used += 1,
        }
    }
    (usages, not_used)
}

impl Hub {
    /// `POST /v1/fhir/{resource_type}` (see the module's doc).
    pub async fn receive_fhir(
        &self,
        resource_type: &str,
        body: &[u8],
        actor: &str,
    ) -> Result<InboundAnswer> {
        let system = self.config().clinical.system.clone();
        let result = self
            .receive_fhir_inner(resource_type, body, actor, &system)
            .await;
        let outcome = match &result {
            Ok(a) if a.replayed => "duplicate",
            Ok(a) if a.status < 400 => "accepted",
            Ok(_) | Err(crate::EngineError::Rejected(_)) => "refused",
            Err(_) => "failed",
        };
        self.metrics().observe_inbound(&system, FHIR, outcome);
        result
    }

    async fn receive_fhir_inner(
        &self,
        resource_type: &str,
        body: &[u8],
        actor: &str,
        system: &str,
    ) -> Result<InboundAnswer> {
        if !fhir::TYPES.contains(&resource_type) {
            return Err(Rejection::not_found(format!(
                "the FHIR intake takes {}, not {resource_type:?}",
                fhir::TYPES.join(", ")
            ))
            .into());
        }
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            Rejection::new(
                400,
                "malformed_json",
                "The body is not JSON",
                format!("line {}, column {}: {e}", e.line(), e.column()),
            )
        })?;
        if value.get("resourceType").and_then(Value::as_str) != Some(resource_type) {
            return Err(invalid(vec![fhir::Problem {
                path: "resourceType".into(),
                rule: "value_set",
                message: format!("this route takes a {resource_type}"),
            }])
            .into());
        }
        let resource = fhir::read(&value).map_err(invalid)?;
        let kept = resource.redacted(&self.inner.pseudonyms).to_string();
        let key = match value.get("id").and_then(Value::as_str) {
            Some(id) => format!("{resource_type}/{id}"),
            None => format!("sha256:{}", sha256_hex(kept.as_bytes())),
        };
        let now = Utc::now();
        let record = NewInbound {
            id: new_id("rcpt"),
            system: system.to_string(),
            message_type: FHIR.into(),
            dedupe_key: format!("{system}:{FHIR}:{key}"),
            correlation_id: new_id("corr"),
            received_at: now,
            content_type: "application/fhir+json".into(),
            body: kept,
            received_by: Some(actor.to_string()),
            original_body: self
                .config()
                .clinical
                .keep_original
                .then(|| crate::inbound::stored_text(body)),
            claim: Some(self.claim(self.work_lease())),
        };
        match self.store().insert_inbox(record.clone()).await? {
            InboxInsert::Duplicate(first) => Ok(crate::inbound::stored_answer(&first)),
            InboxInsert::Inserted => {
                let stored = record.into_received();
                self.process(&stored, body.len()).await
            }
        }
    }

    /// Processes one stored (redacted) FHIR resource: its usages, each through the usage
    /// workflow.
    pub(crate) async fn process_fhir(
        &self,
        record: &InboxRecord,
        ctx: &InboundContext,
        mut lineage: Vec<Write>,
    ) -> Result<InboundAnswer> {
        let value: Value = serde_json::from_str(&record.body).map_err(|e| {
            Rejection::new(
                422,
                "invalid_fhir",
                "The stored resource is not JSON",
                e.to_string(),
            )
        })?;
        let resource = fhir::read(&value).map_err(invalid)?;
        let (usages, not_used) =
            usages_of(&record.system, &resource, &record.id, record.received_at);
        lineage.push(timeline(
            &ctx.correlation_id,
            Utc::now(),
            "mapped",
            json!({"usages": usages.iter().map(|u| &u.id).collect::<Vec<_>>(), "not_usages": not_used}),
        ));
        let subject = format!("fhir:{}", value["resourceType"].as_str().unwrap_or("?"));
        self.record_usages(usages, &subject, ctx, lineage).await
    }
}
