//! FHIR R4 (JSON), the resources clinical usage is made of: `Procedure` (its `focalDevice`, the
//! implanted device), `Device` (`udiCarrier`: device identifier, lot, serial, expiry),
//! `SupplyDelivery` (supplies delivered to a patient or a location), `SupplyRequest`, and
//! `Bundle`s of them.
//!
//! [`read`] checks what the hub uses of each resource (required elements, codes from their
//! required value sets, types) and reports every problem with its path
//! (`Procedure.focalDevice[0].manipulated`). [`Resource::redacted`] writes the copy the hub
//! keeps: the same resource with only the elements read, the patient and encounter references
//! replaced by keyed pseudonyms, and no narrative, notes, displays or names. Pure: no I/O.

use concord_model::phi::{IdentifierKind, Pseudonymizer};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Map, Value, json};

/// One problem, where and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// FHIRPath-like: `Bundle.entry[2].resource.status`.
    pub path: String,
    /// `required`, `value_set`, `type`, `reference`.
    pub rule: &'static str,
    pub message: String,
}

/// A reference as the hub uses it: `Type/id` (relative, absolute or `urn:uuid:`), or a
/// logical identifier. Displays are never kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Reference {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
}

impl Reference {
    /// The referenced id when it points at `kind` (`Device/abc` → `abc`).
    pub fn id_of(&self, kind: &str) -> Option<&str> {
        let r = self.reference.as_deref()?;
        let (t, id) = r.rsplit_once('/')?;
        (t == kind || t.ends_with(&format!("/{kind}"))).then_some(id)
    }
}

/// The first coding of a CodeableConcept (code and system; displays are not kept).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Code {
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Udi {
    pub device_identifier: Option<String>,
    /// The human-readable barcode string (GS1: `(01)…(17)…(10)…(21)…`).
    pub carrier_hrf: Option<String>,
    pub issuer: Option<String>,
    pub entry_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Device {
    pub id: Option<String>,
    pub status: Option<String>,
    pub udi: Vec<Udi>,
    pub lot_number: Option<String>,
    pub serial_number: Option<String>,
    pub expiration_date: Option<String>,
    pub manufacturer: Option<String>,
    pub model_number: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FocalDevice {
    pub action: Option<Code>,
    pub manipulated: Reference,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Procedure {
    pub id: Option<String>,
    pub status: String,
    pub code: Option<Code>,
    pub subject: Reference,
    pub encounter: Option<Reference>,
    pub performed: Option<String>,
    pub location: Option<Reference>,
    pub focal_devices: Vec<FocalDevice>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SupplyDelivery {
    pub id: Option<String>,
    pub status: Option<String>,
    pub patient: Option<Reference>,
    pub quantity: Option<Decimal>,
    pub item_code: Option<Code>,
    pub item_reference: Option<Reference>,
    pub occurrence: Option<String>,
    pub destination: Option<Reference>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SupplyRequest {
    pub id: Option<String>,
    pub status: Option<String>,
    pub item_code: Option<Code>,
    pub item_reference: Option<Reference>,
    pub quantity: Decimal,
    pub deliver_to: Option<Reference>,
    pub occurrence: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "resourceType")]
pub enum Resource {
    Device(Device),
    Procedure(Procedure),
    SupplyDelivery(SupplyDelivery),
    SupplyRequest(SupplyRequest),
    /// A Bundle's entries: their `fullUrl` and resource.
    Bundle {
        entries: Vec<(Option<String>, Resource)>,
    },
    /// Another resource type inside a Bundle: not used, not kept.
    Other {
        resource_type: String,
    },
}

/// The resource types `POST /v1/fhir/{type}` takes.
pub const TYPES: &[&str] = &[
    "SupplyDelivery",
    "SupplyRequest",
    "Procedure",
    "Device",
    "Bundle",
];

const DEVICE_STATUS: &[&str] = &["active", "inactive", "entered-in-error", "unknown"];
const UDI_ENTRY_TYPE: &[&str] = &[
    "barcode",
    "rfid",
    "manual",
    "card",
    "self-reported",
    "unknown",
];
const PROCEDURE_STATUS: &[&str] = &[
    "preparation",
    "in-progress",
    "not-done",
    "on-hold",
    "stopped",
    "completed",
    "entered-in-error",
    "unknown",
];
const DELIVERY_STATUS: &[&str] = &["in-progress", "completed", "abandoned", "entered-in-error"];
const REQUEST_STATUS: &[&str] = &[
    "draft",
    "active",
    "suspended",
    "cancelled",
    "completed",
    "entered-in-error",
    "unknown",
];
const BUNDLE_TYPE: &[&str] = &[
    "document",
    "message",
    "transaction",
    "transaction-response",
    "batch",
    "batch-response",
    "history",
    "searchset",
    "collection",
];

/// Reads one element of an object, collecting problems.
struct Reader<'a> {
    problems: &'a mut Vec<Problem>,
}

impl Reader<'_> {
    fn problem(&mut self, path: String, rule: &'static str, message: String) {
        self.problems.push(Problem {
            path,
            rule,
            message,
        });
    }

    fn string(&mut self, obj: &Map<String, Value>, at: &str, name: &str) -> Option<String> {
        match obj.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            Some(Value::String(_)) => {
                self.problem(
                    format!("{at}.{name}"),
                    "type",
                    format!("{at}.{name} is an empty string (FHIR forbids them)"),
                );
                None
            }
            Some(other) => {
                self.problem(
                    format!("{at}.{name}"),
                    "type",
                    format!("{at}.{name} must be a string, not {}", kind(other)),
                );
                None
            }
        }
    }

    fn code(
        &mut self,
        obj: &Map<String, Value>,
        at: &str,
        name: &str,
        allowed: &[&str],
        required: bool,
    ) -> Option<String> {
        let value = self.string(obj, at, name);
        match &value {
            None if required && !obj.contains_key(name) => self.problem(
                format!("{at}.{name}"),
                "required",
                format!("{at}.{name} is required"),
            ),
            Some(v) if !allowed.contains(&v.as_str()) => self.problem(
                format!("{at}.{name}"),
                "value_set",
                format!("{at}.{name} {v:?} is not one of {}", allowed.join(", ")),
            ),
            _ => {}
        }
        value
    }

    fn object<'v>(&mut self, value: &'v Value, at: &str) -> Option<&'v Map<String, Value>> {
        match value {
            Value::Object(o) => Some(o),
            other => {
                self.problem(
                    at.to_string(),
                    "type",
                    format!("{at} must be an object, not {}", kind(other)),
                );
                None
            }
        }
    }

    fn array<'v>(&mut self, obj: &'v Map<String, Value>, at: &str, name: &str) -> &'v [Value] {
        match obj.get(name) {
            None | Some(Value::Null) => &[],
            Some(Value::Array(items)) => items,
            Some(other) => {
                self.problem(
                    format!("{at}.{name}"),
                    "type",
                    format!("{at}.{name} must be an array, not {}", kind(other)),
                );
                &[]
            }
        }
    }

    fn reference(&mut self, obj: &Map<String, Value>, at: &str, name: &str) -> Option<Reference> {
        let value = obj.get(name)?;
        let path = format!("{at}.{name}");
        let r = self.object(value, &path)?;
        let reference = self.string(r, &path, "reference");
        let identifier = r
            .get("identifier")
            .and_then(|i| i.get("value"))
            .and_then(Value::as_str)
            .map(str::to_string);
        if reference.is_none() && identifier.is_none() && !r.contains_key("display") {
            self.problem(
                path.clone(),
                "reference",
                format!("{path} has neither a reference, an identifier nor a display"),
            );
        }
        Some(Reference {
            reference,
            identifier,
        })
    }

    fn codeable(&mut self, obj: &Map<String, Value>, at: &str, name: &str) -> Option<Code> {
        let value = obj.get(name)?;
        let path = format!("{at}.{name}");
        let c = self.object(value, &path)?;
        let codings = self.array(c, &path, "coding");
        let first = codings.first()?;
        let coding = self.object(first, &format!("{path}.coding[0]"))?;
        let at = format!("{path}.coding[0]");
        let code = self.string(coding, &at, "code")?;
        Some(Code {
            code,
            system: self.string(coding, &at, "system"),
        })
    }

    fn quantity(&mut self, obj: &Map<String, Value>, at: &str, name: &str) -> Option<Decimal> {
        let value = obj.get(name)?;
        let path = format!("{at}.{name}");
        let q = self.object(value, &path)?;
        match q.get("value") {
            Some(Value::Number(n)) => match n.to_string().parse::<Decimal>() {
                Ok(d) => Some(d),
                Err(_) => {
                    self.problem(
                        format!("{path}.value"),
                        "type",
                        format!("{path}.value {n} is not a decimal"),
                    );
                    None
                }
            },
            None => {
                self.problem(
                    format!("{path}.value"),
                    "required",
                    format!("{path}.value is required here"),
                );
                None
            }
            Some(other) => {
                self.problem(
                    format!("{path}.value"),
                    "type",
                    format!("{path}.value must be a number, not {}", kind(other)),
                );
                None
            }
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reads a resource (or Bundle); every problem comes back, each with its path.
pub fn read(value: &Value) -> Result<Resource, Vec<Problem>> {
    let mut problems = vec![];
    let resource = read_at(value, None, &mut problems);
    match resource {
        Some(r) if problems.is_empty() => Ok(r),
        _ => Err(problems),
    }
}

fn read_at(value: &Value, at: Option<&str>, problems: &mut Vec<Problem>) -> Option<Resource> {
    let mut r = Reader { problems };
    let obj = r.object(value, at.unwrap_or("resource"))?;
    let Some(resource_type) = obj.get("resourceType").and_then(Value::as_str) else {
        r.problem(
            format!(
                "{}resourceType",
                at.map(|a| format!("{a}.")).unwrap_or_default()
            ),
            "required",
            "resourceType is required".into(),
        );
        return None;
    };
    let at = at.map_or_else(|| resource_type.to_string(), str::to_string);
    let at = at.as_str();
    let id = r.string(obj, at, "id");
    Some(match resource_type {
        "Device" => {
            let status = r.code(obj, at, "status", DEVICE_STATUS, false);
            let mut udi = vec![];
            for (i, carrier) in r.array(obj, at, "udiCarrier").iter().enumerate() {
                let path = format!("{at}.udiCarrier[{i}]");
                let Some(c) = r.object(carrier, &path) else {
                    continue;
                };
                let u = Udi {
                    device_identifier: r.string(c, &path, "deviceIdentifier"),
                    carrier_hrf: r.string(c, &path, "carrierHRF"),
                    issuer: r.string(c, &path, "issuer"),
                    entry_type: r.code(c, &path, "entryType", UDI_ENTRY_TYPE, false),
                };
                if u.device_identifier.is_none() && u.carrier_hrf.is_none() {
                    r.problem(
                        path.clone(),
                        "required",
                        format!("{path} has neither a deviceIdentifier nor a carrierHRF"),
                    );
                }
                udi.push(u);
            }
            Resource::Device(Device {
                id,
                status,
                udi,
                lot_number: r.string(obj, at, "lotNumber"),
                serial_number: r.string(obj, at, "serialNumber"),
                expiration_date: r.string(obj, at, "expirationDate"),
                manufacturer: r.string(obj, at, "manufacturer"),
                model_number: r.string(obj, at, "modelNumber"),
            })
        }
        "Procedure" => {
            let status = r
                .code(obj, at, "status", PROCEDURE_STATUS, true)
                .unwrap_or_default();
            let subject = r.reference(obj, at, "subject");
            if subject.is_none() && !obj.contains_key("subject") {
                r.problem(
                    format!("{at}.subject"),
                    "required",
                    format!("{at}.subject is required"),
                );
            }
            let mut focal_devices = vec![];
            for (i, fd) in r.array(obj, at, "focalDevice").iter().enumerate() {
                let path = format!("{at}.focalDevice[{i}]");
                let Some(f) = r.object(fd, &path) else {
                    continue;
                };
                let action = r.codeable(f, &path, "action");
                match r.reference(f, &path, "manipulated") {
                    Some(manipulated) => focal_devices.push(FocalDevice {
                        action,
                        manipulated,
                    }),
                    None if !f.contains_key("manipulated") => r.problem(
                        format!("{path}.manipulated"),
                        "required",
                        format!("{path}.manipulated is required"),
                    ),
                    None => {}
                }
            }
            Resource::Procedure(Procedure {
                id,
                status,
                code: r.codeable(obj, at, "code"),
                subject: subject.unwrap_or_default(),
                encounter: r.reference(obj, at, "encounter"),
                performed: r.string(obj, at, "performedDateTime").or_else(|| {
                    obj.get("performedPeriod")
                        .and_then(|p| p.get("start"))
                        .and_then(Value::as_str)
                        .map(str::to_string)
                }),
                location: r.reference(obj, at, "location"),
                focal_devices,
            })
        }
        "SupplyDelivery" => {
            let status = r.code(obj, at, "status", DELIVERY_STATUS, false);
            let (mut quantity, mut item_code, mut item_reference) = (None, None, None);
            if let Some(item) = obj.get("suppliedItem") {
                let path = format!("{at}.suppliedItem");
                if let Some(i) = r.object(item, &path) {
                    quantity = r.quantity(i, &path, "quantity");
                    item_code = r.codeable(i, &path, "itemCodeableConcept");
                    item_reference = r.reference(i, &path, "itemReference");
                }
            }
            Resource::SupplyDelivery(SupplyDelivery {
                id,
                status,
                patient: r.reference(obj, at, "patient"),
                quantity,
                item_code,
                item_reference,
                occurrence: r.string(obj, at, "occurrenceDateTime"),
                destination: r.reference(obj, at, "destination"),
            })
        }
        "SupplyRequest" => {
            let status = r.code(obj, at, "status", REQUEST_STATUS, false);
            let item_code = r.codeable(obj, at, "itemCodeableConcept");
            let item_reference = r.reference(obj, at, "itemReference");
            if !obj.contains_key("itemCodeableConcept") && !obj.contains_key("itemReference") {
                r.problem(
                    format!("{at}.item[x]"),
                    "required",
                    format!("{at}.item[x] (itemCodeableConcept or itemReference) is required"),
                );
            }
            let quantity = r.quantity(obj, at, "quantity");
            if !obj.contains_key("quantity") {
                r.problem(
                    format!("{at}.quantity"),
                    "required",
                    format!("{at}.quantity is required"),
                );
            }
            Resource::SupplyRequest(SupplyRequest {
                id,
                status,
                item_code,
                item_reference,
                quantity: quantity.unwrap_or_default(),
                deliver_to: r.reference(obj, at, "deliverTo"),
                occurrence: r.string(obj, at, "occurrenceDateTime"),
            })
        }
        "Bundle" => {
            r.code(obj, at, "type", BUNDLE_TYPE, true);
            let entries_raw = r.array(obj, at, "entry").to_vec();
            let mut entries = vec![];
            for (i, entry) in entries_raw.iter().enumerate() {
                let path = format!("{at}.entry[{i}]");
                let Some(e) = r.object(entry, &path) else {
                    continue;
                };
                let full_url = r.string(e, &path, "fullUrl");
                let Some(resource) = e.get("resource") else {
                    continue;
                };
                let kind = resource.get("resourceType").and_then(Value::as_str);
                let read = match kind {
                    Some(t) if TYPES.contains(&t) && t != "Bundle" => {
                        read_at(resource, Some(&format!("{path}.resource")), r.problems)
                    }
                    Some(t) => Some(Resource::Other {
                        resource_type: t.to_string(),
                    }),
                    None => {
                        r.problem(
                            format!("{path}.resource.resourceType"),
                            "required",
                            "resourceType is required".into(),
                        );
                        None
                    }
                };
                if let Some(resource) = read {
                    entries.push((full_url, resource));
                }
            }
            Resource::Bundle { entries }
        }
        other => {
            r.problem(
                format!("{at}.resourceType"),
                "value_set",
                format!("{other} is not one of {}", TYPES.join(", ")),
            );
            return None;
        }
    })
}

fn pseudonymous(r: &Reference, kind: IdentifierKind, p: &Pseudonymizer) -> Value {
    let id = r
        .reference
        .as_deref()
        .map(|s| s.rsplit('/').next().unwrap_or(s))
        .or(r.identifier.as_deref());
    match id {
        Some(id) => {
            let prefix = match kind {
                IdentifierKind::Patient => "Patient",
                IdentifierKind::Encounter => "Encounter",
            };
            json!({"reference": format!("{prefix}/{}", p.pseudonymize(kind, id))})
        }
        None => json!({}),
    }
}

fn plain(r: &Reference) -> Value {
    let mut out = Map::new();
    if let Some(x) = &r.reference {
        out.insert("reference".into(), json!(x));
    }
    if let Some(x) = &r.identifier {
        out.insert("identifier".into(), json!({"value": x}));
    }
    Value::Object(out)
}

fn codeable(c: &Code) -> Value {
    let mut coding = json!({"code": c.code});
    if let Some(s) = &c.system {
        coding["system"] = json!(s);
    }
    json!({"coding": [coding]})
}

/// Drops the keys whose value is null, so the copy reads like a resource that never had them.
fn compact(mut v: Value) -> Value {
    if let Value::Object(m) = &mut v {
        m.retain(|_, x| !x.is_null());
    }
    v
}

impl Resource {
    /// The copy the hub keeps (see the module's doc); it reads back as the same resource,
    /// with pseudonyms in place of the patient and encounter.
    pub fn redacted(&self, p: &Pseudonymizer) -> Value {
        match self {
            Resource::Device(d) => compact(json!({
                "resourceType": "Device", "id": d.id, "status": d.status,
                "udiCarrier": d.udi.iter().map(|u| compact(json!({"deviceIdentifier": u.device_identifier,
                    "carrierHRF": u.carrier_hrf, "issuer": u.issuer, "entryType": u.entry_type}))).collect::<Vec<_>>(),
                "lotNumber": d.lot_number, "serialNumber": d.serial_number,
                "expirationDate": d.expiration_date, "manufacturer": d.manufacturer,
                "modelNumber": d.model_number,
            })),
            Resource::Procedure(x) => compact(json!({
                "resourceType": "Procedure", "id": x.id, "status": x.status,
                "code": x.code.as_ref().map(codeable),
                "subject": pseudonymous(&x.subject, IdentifierKind::Patient, p),
                "encounter": x.encounter.as_ref().map(|e| pseudonymous(e, IdentifierKind::Encounter, p)),
                "performedDateTime": x.performed,
                "location": x.location.as_ref().map(plain),
                "focalDevice": x.focal_devices.iter().map(|f| compact(json!({
                    "action": f.action.as_ref().map(codeable), "manipulated": plain(&f.manipulated)}))).collect::<Vec<_>>(),
            })),
            Resource::SupplyDelivery(x) => {
                let item = compact(json!({
                    "quantity": x.quantity.map(|q| json!({"value": decimal(q)})),
                    "itemCodeableConcept": x.item_code.as_ref().map(codeable),
                    "itemReference": x.item_reference.as_ref().map(plain),
                }));
                compact(json!({
                    "resourceType": "SupplyDelivery", "id": x.id, "status": x.status,
                    "patient": x.patient.as_ref().map(|r| pseudonymous(r, IdentifierKind::Patient, p)),
                    "suppliedItem": (item != json!({})).then_some(item),
                    "occurrenceDateTime": x.occurrence,
                    "destination": x.destination.as_ref().map(plain),
                }))
            }
            Resource::SupplyRequest(x) => compact(json!({
                "resourceType": "SupplyRequest", "id": x.id, "status": x.status,
                "itemCodeableConcept": x.item_code.as_ref().map(codeable),
                "itemReference": x.item_reference.as_ref().map(plain),
                "quantity": {"value": decimal(x.quantity)},
                "deliverTo": x.deliver_to.as_ref().map(plain),
                "occurrenceDateTime": x.occurrence,
            })),
            Resource::Bundle { entries } => json!({
                "resourceType": "Bundle", "type": "collection",
                "entry": entries.iter().filter(|(_, r)| !matches!(r, Resource::Other { .. }))
                    .map(|(url, r)| compact(json!({"fullUrl": url, "resource": r.redacted(p)})))
                    .collect::<Vec<_>>(),
            }),
            Resource::Other { resource_type } => json!({ "resourceType": resource_type }),
        }
    }
}

/// A decimal as a JSON number.
fn decimal(d: Decimal) -> Value {
    serde_json::from_str(&d.normalize().to_string()).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use concord_model::redact::Secret;

    fn p() -> Pseudonymizer {
        Pseudonymizer::new(Secret::new("k".repeat(32))).unwrap()
    }

    fn bundle() -> Value {
        json!({
          "resourceType": "Bundle", "type": "collection",
          "entry": [
            {"fullUrl": "urn:uuid:pt-1", "resource": {"resourceType": "Patient", "id": "pt-1",
              "name": [{"family": "Doe", "given": ["Jane"]}], "birthDate": "1980-02-14"}},
            {"fullUrl": "urn:uuid:dev-1", "resource": {"resourceType": "Device", "id": "dev-1", "status": "active",
              "udiCarrier": [{"deviceIdentifier": "00614141999996", "carrierHRF": "(01)00614141999996(17)281231(10)LOT42(21)SN7", "entryType": "barcode"}],
              "lotNumber": "LOT42", "serialNumber": "SN7", "expirationDate": "2028-12-31",
              "patient": {"reference": "Patient/pt-1", "display": "Jane Doe"}}},
            {"fullUrl": "urn:uuid:proc-1", "resource": {"resourceType": "Procedure", "id": "proc-1", "status": "completed",
              "text": {"status": "generated", "div": "<div>Jane Doe had a stent</div>"},
              "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "92928", "display": "PCI"}]},
              "subject": {"reference": "Patient/MRN12345", "display": "Jane Doe"},
              "performedDateTime": "2026-11-21T09:30:00Z",
              "location": {"reference": "Location/CATH-MERCY"},
              "note": [{"text": "Jane tolerated well"}],
              "focalDevice": [{"action": {"coding": [{"code": "implanted"}]}, "manipulated": {"reference": "urn:uuid:dev-1"}}]}}
          ]
        })
    }

    #[test]
    fn a_bundle_reads_and_its_copy_keeps_no_patient_data() {
        let r = read(&bundle()).unwrap();
        let Resource::Bundle { entries } = &r else {
            panic!("{r:?}")
        };
        assert_eq!(entries.len(), 3);
        assert!(
            matches!(&entries[0].1, Resource::Other { resource_type } if resource_type == "Patient")
        );
        let kept = r.redacted(&p()).to_string();
        for phi in ["Doe", "Jane", "1980-02-14", "MRN12345", "tolerated"] {
            assert!(!kept.contains(phi), "{phi} in {kept}");
        }
        assert!(kept.contains("Patient/pt_"), "{kept}");
        // The copy reads back as the same devices and procedure.
        let again = read(&serde_json::from_str(&kept).unwrap()).unwrap();
        let Resource::Bundle { entries: e2 } = again else {
            panic!()
        };
        assert_eq!(e2.len(), 2);
        assert_eq!(e2[0].1, entries[1].1);
        let (Resource::Procedure(a), Resource::Procedure(b)) = (&e2[1].1, &entries[2].1) else {
            panic!()
        };
        assert_eq!(
            (&a.code, &a.focal_devices, &a.location),
            (&b.code, &b.focal_devices, &b.location)
        );
        // And redacting the copy again changes nothing.
        assert_eq!(
            read(&serde_json::from_str(&kept).unwrap())
                .unwrap()
                .redacted(&p())
                .to_string(),
            kept
        );
    }

    #[test]
    fn problems_name_their_paths() {
        let bad = json!({"resourceType": "Bundle", "type": "pile", "entry": [
            {"resource": {"resourceType": "Procedure", "status": "done", "focalDevice": [{"action": {}}]}},
            {"resource": {"resourceType": "SupplyRequest", "quantity": {"value": "ten"}}},
            {"resource": {"resourceType": "Device", "udiCarrier": [{"entryType": "laser"}]}}
        ]});
        let problems = read(&bad).unwrap_err();
        let paths: Vec<(&str, &str)> = problems.iter().map(|p| (p.path.as_str(), p.rule)).collect();
        for expected in [
            ("Bundle.type", "value_set"),
            ("Bundle.entry[0].resource.status", "value_set"),
            ("Bundle.entry[0].resource.subject", "required"),
            (
                "Bundle.entry[0].resource.focalDevice[0].manipulated",
                "required",
            ),
            ("Bundle.entry[1].resource.item[x]", "required"),
            ("Bundle.entry[1].resource.quantity.value", "type"),
            (
                "Bundle.entry[2].resource.udiCarrier[0].entryType",
                "value_set",
            ),
            ("Bundle.entry[2].resource.udiCarrier[0]", "required"),
        ] {
            assert!(paths.contains(&expected), "{expected:?} not in {paths:?}");
        }
    }

    #[test]
    fn a_reference_names_its_target() {
        let r = Reference {
            reference: Some("http://ehr.example/fhir/Device/abc".into()),
            identifier: None,
        };
        assert_eq!(r.id_of("Device"), Some("abc"));
        assert_eq!(r.id_of("Patient"), None);
    }
}
