//! The simulated EHR: a surgical case (patient, encounter, procedure, the supplies and implants
//! used) is charged as an HL7 v2.7 DFT^P03 sent over MLLP to the hub, one message per case,
//! waiting for the ACK like a real interface engine. Its own model is patient-centred (names,
//! dates of birth, MRNs: exactly what the hub must not keep), its charge codes are its own
//! chargemaster's, and implants carry the label's GS1 UDI.
//!
//! The same case can go as a FHIR R4 Bundle instead ([`EhrClient::post_bundle`]: Patient,
//! Devices with UDIs, the Procedure with its focal devices, SupplyDeliveries), posted to the
//! hub's `/v1/fhir/Bundle` with the EHR's key.
//!
//! `POST /ehr/cases` records a case and sends it; `GET /ehr/cases` lists what was sent with the
//! ACK code the hub answered. [`EhrClient::resend`] sends a case's message again with the same
//! control id, as an EHR does when it missed the ACK.

use std::{sync::Arc, time::Duration};

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::post,
};
use concord_formats::hl7::{self, Delimiters, ack::escape, mllp};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::{
    common::{SystemState, applied, error, system_router},
    wire::{Fields, Invalid, JsonBody},
};

/// A supply or implant used in a case, in the EHR's words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SupplyUse {
    /// The EHR's chargemaster code.
    pub charge_code: String,
    pub description: String,
    pub quantity: u32,
    /// The implant's UDI as scanned from its label (GS1 element string), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub udi: Option<String>,
}

/// A surgical case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Case {
    pub case_id: String,
    pub mrn: String,
    pub patient_name: String,
    /// YYYYMMDD.
    pub birth_date: String,
    pub encounter: String,
    /// The EHR's facility code (the hub maps it to a GLN).
    pub facility: String,
    /// Department (the stock location and cost center), e.g. `CATH`.
    pub department: String,
    /// Hospital service (the service line), e.g. `CAR`.
    pub service: String,
    /// CPT code of the procedure.
    pub procedure: String,
    /// YYYYMMDDHHMMSS.
    pub performed_at: String,
    pub supplies: Vec<SupplyUse>,
}

/// A case sent, with the ACK code the hub answered (`None`: no answer).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Sent {
    pub case_id: String,
    pub control_id: String,
    pub ack: Option<String>,
    pub sends: u32,
}

#[derive(Default)]
struct Ledger {
    /// Each case's message, by control id, and what happened to it.
    sent: Vec<(Sent, String)>,
    next: u64,
}

/// Drives the EHR in-process; shares its state with its HTTP routes.
#[derive(Clone)]
pub struct EhrClient {
    common: Arc<SystemState>,
    mllp: Arc<Mutex<Option<String>>>,
    ledger: Arc<Mutex<Ledger>>,
    /// The hub's FHIR URL and the EHR's key.
    fhir: Arc<Mutex<Option<(String, String)>>>,
    http: reqwest::Client,
}

impl std::fmt::Debug for EhrClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EhrClient")
            .field("mllp", &self.mllp.lock())
            .finish_non_exhaustive()
    }
}

/// HL7 escapes for text the EHR writes into a field (standard delimiters).
fn esc(text: &str) -> String {
    escape(text, &Delimiters::default())
}

impl Case {
    /// The case as a DFT^P03 (segments end in CR).
    pub fn dft(&self, control_id: &str) -> String {
        let (last, first) = self
            .patient_name
            .split_once(' ')
            .map(|(f, l)| (l, f))
            .unwrap_or((&self.patient_name, ""));
        let mut segments = vec![
            format!(
                "MSH|^~\\&|EHR|{}|CONCORD|HUB|{}||DFT^P03|{control_id}|P|2.7",
                esc(&self.facility),
                self.performed_at
            ),
            format!("EVN|P03|{}", self.performed_at),
            format!(
                "PID|1||{}^^^{}^MR||{}^{}||{}|||||||||||{}",
                esc(&self.mrn),
                esc(&self.facility),
                esc(last),
                esc(first),
                self.birth_date,
                esc(&self.encounter)
            ),
            format!(
                "PV1|1|O|{}^^^{}|||||||{}|||||||||{}",
                esc(&self.department),
                esc(&self.facility),
                esc(&self.service),
                esc(&self.encounter)
            ),
            format!(
                "PR1|1|CPT|{}^^CPT||{}",
                esc(&self.procedure),
                self.performed_at
            ),
        ];
        for (i, s) in self.supplies.iter().enumerate() {
            segments.push(format!(
                "FT1|{}|||{}||CG|{}^{}^CDM|||{}|||{}||||||||||||{}^^CPT",
                i + 1,
                self.performed_at,
                esc(&s.charge_code),
                esc(&s.description),
                s.quantity,
                esc(&self.department),
                esc(&self.procedure)
            ));
            if let Some(udi) = &s.udi {
                segments.push(format!(
                    "PRT|{}|AD||SPLY^Supplied^HL70912||||||{}",
                    i + 1,
                    esc(udi)
                ));
            }
        }
        segments.join("\r") + "\r"
    }
}

impl Case {
    /// The case as a FHIR R4 Bundle: the Patient (the EHR shares it; the hub must not keep
    /// it), each implant as a Device with its UDI, and the Procedure with the implants as focal
    /// devices; supplies without a UDI as SupplyDeliveries to the department.
    pub fn bundle(&self) -> serde_json::Value {
        let location = format!("Location/{}-{}", self.department, self.facility);
        let (family, given) = self
            .patient_name
            .rsplit_once(' ')
            .map(|(g, f)| (f.to_string(), g.to_string()))
            .unwrap_or((self.patient_name.clone(), String::new()));
        let birth = format!(
            "{}-{}-{}",
            self.birth_date.get(..4).unwrap_or(""),
            self.birth_date.get(4..6).unwrap_or(""),
            self.birth_date.get(6..8).unwrap_or("")
        );
        let p = &self.performed_at;
        let performed = format!(
            "{}-{}-{}T{}:{}:{}Z",
            p.get(..4).unwrap_or("1970"),
            p.get(4..6).unwrap_or("01"),
            p.get(6..8).unwrap_or("01"),
            p.get(8..10).unwrap_or("00"),
            p.get(10..12).unwrap_or("00"),
            p.get(12..14).unwrap_or("00")
        );
        let mut entries = vec![
            json!({"fullUrl": format!("urn:uuid:{}-patient", self.case_id), "resource": {
            "resourceType": "Patient", "id": self.mrn, "identifier": [{"value": self.mrn}],
            "name": [{"family": family, "given": [given]}], "birthDate": birth}}),
        ];
        let mut focal = vec![];
        for (i, s) in self.supplies.iter().enumerate() {
            match &s.udi {
                Some(udi) => {
                    let url = format!("urn:uuid:{}-device-{}", self.case_id, i + 1);
                    let di = udi
                        .strip_prefix("(01)")
                        .map(|rest| rest.chars().take(14).collect::<String>());
                    entries.push(json!({"fullUrl": url, "resource": {
                        "resourceType": "Device", "id": format!("{}-{}", self.case_id, i + 1), "status": "active",
                        "udiCarrier": [{"deviceIdentifier": di, "carrierHRF": udi, "entryType": "barcode"}],
                        "patient": {"reference": format!("Patient/{}", self.mrn), "display": self.patient_name}}}));
                    focal.push(json!({"action": {"coding": [{"system": "http://hl7.org/fhir/device-action", "code": "implanted"}]},
                        "manipulated": {"reference": url}}));
                }
                None => entries.push(json!({"fullUrl": format!("urn:uuid:{}-supply-{}", self.case_id, i + 1), "resource": {
                    "resourceType": "SupplyDelivery", "id": format!("{}-{}", self.case_id, i + 1), "status": "completed",
                    "patient": {"reference": format!("Patient/{}", self.mrn), "display": self.patient_name},
                    "suppliedItem": {"quantity": {"value": s.quantity},
                        "itemCodeableConcept": {"coding": [{"code": s.charge_code, "display": s.description}]}},
                    "occurrenceDateTime": performed, "destination": {"reference": location}}})),
            }
        }
        entries.push(json!({"fullUrl": format!("urn:uuid:{}-procedure", self.case_id), "resource": {
            "resourceType": "Procedure", "id": self.case_id, "status": "completed",
            "text": {"status": "generated", "div": format!("<div>{} ({}) had procedure {}</div>", self.patient_name, self.birth_date, self.procedure)},
            "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": self.procedure}]},
            "subject": {"reference": format!("Patient/{}", self.mrn), "display": self.patient_name},
            "encounter": {"reference": format!("Encounter/{}", self.encounter)},
            "performedDateTime": performed, "location": {"reference": location},
            "focalDevice": focal}}));
        json!({"resourceType": "Bundle", "id": format!("bundle-{}", self.case_id), "type": "collection", "entry": entries})
    }
}

impl EhrClient {
    pub(crate) fn new(common: Arc<SystemState>) -> Self {
        Self {
            common,
            mllp: Arc::default(),
            ledger: Arc::default(),
            fhir: Arc::default(),
            http: reqwest::Client::new(),
        }
    }

    /// Where the EHR posts FHIR (the hub's `/v1/fhir/Bundle`) and the key it sends.
    pub fn set_fhir(&self, url: String, key: String) {
        *self.fhir.lock() = Some((url, key));
    }

    /// Sends a case as a FHIR Bundle; answers the hub's status and body. The bundle's id is
    /// the case's, so a resend is recognised.
    pub async fn post_bundle(&self, case: &Case) -> (Option<u16>, serde_json::Value) {
        let Some((url, key)) = self.fhir.lock().clone() else {
            return (None, serde_json::Value::Null);
        };
        self.common
            .record_effect(None, "case.posted_fhir", case.case_id.clone());
        crate::common::post_to_hub(
            &self.http,
            &url,
            Some(&key),
            &format!("bundle-{}", case.case_id),
            "application/fhir+json",
            case.bundle().to_string(),
        )
        .await
    }

    pub(crate) fn common(&self) -> &Arc<SystemState> {
        &self.common
    }

    /// Where the EHR's interface sends (the hub's MLLP address, `host:port`).
    pub fn set_mllp(&self, addr: String) {
        *self.mllp.lock() = Some(addr);
    }

    /// Every case sent, in order.
    pub fn sent(&self) -> Vec<Sent> {
        self.ledger
            .lock()
            .sent
            .iter()
            .map(|(s, _)| s.clone())
            .collect()
    }

    /// Charges a case: writes its DFT^P03 with a new control id and sends it.
    pub async fn record_case(&self, case: Case) -> Sent {
        let (control_id, message) = {
            let mut ledger = self.ledger.lock();
            ledger.next += 1;
            let control_id = format!("EHR{:08}", ledger.next);
            let message = case.dft(&control_id);
            ledger.sent.push((
                Sent {
                    case_id: case.case_id.clone(),
                    control_id: control_id.clone(),
                    ack: None,
                    sends: 0,
                },
                message.clone(),
            ));
            (control_id, message)
        };
        self.common
            .record_effect(None, "case.charged", case.case_id.clone());
        self.send(&control_id, &message).await
    }

    /// Sends a case's message again, same control id (the EHR missed the ACK).
    pub async fn resend(&self, control_id: &str) -> Option<Sent> {
        let message = self
            .ledger
            .lock()
            .sent
            .iter()
            .find(|(s, _)| s.control_id == control_id)
            .map(|(_, m)| m.clone())?;
        Some(self.send(control_id, &message).await)
    }

    async fn send(&self, control_id: &str, message: &str) -> Sent {
        let addr = self.mllp.lock().clone();
        let ack = match addr {
            Some(addr) => exchange(&addr, message).await,
            None => None,
        };
        let mut ledger = self.ledger.lock();
        let entry = ledger
            .sent
            .iter_mut()
            .find(|(s, _)| s.control_id == control_id)
            .expect("a sent case is in the ledger");
        entry.0.ack = ack;
        entry.0.sends += 1;
        entry.0.clone()
    }
}

/// One MLLP exchange: the framed message out, MSA-1 of the ACK back.
async fn exchange(addr: &str, message: &str) -> Option<String> {
    let work = async {
        let mut stream = TcpStream::connect(addr).await.ok()?;
        stream
            .write_all(&mllp::frame(message.as_bytes()))
            .await
            .ok()?;
        let mut deframer = mllp::Deframer::new(64 * 1024);
        let mut chunk = [0u8; 1024];
        let ack = loop {
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            if let Some(mllp::Framed::Message(ack)) = deframer.push(&chunk[..n]).into_iter().next()
            {
                break String::from_utf8_lossy(&ack).to_string();
            }
        };
        let batch = hl7::parse(&ack);
        let msa = batch.messages.first()?.first("MSA")?;
        msa.field(1).value()
    };
    tokio::time::timeout(Duration::from_secs(10), work)
        .await
        .ok()
        .flatten()
}

pub(crate) fn router(client: EhrClient) -> Router {
    let business = Router::new()
        .route("/ehr/cases", post(post_case).get(list_cases))
        .with_state(client.clone());
    system_router(client.common.clone(), business)
}

fn read_case(body: &serde_json::Value) -> Result<Case, Invalid> {
    let f = Fields::root(body)?;
    for name in [
        "caseId",
        "mrn",
        "patientName",
        "birthDate",
        "encounter",
        "facility",
        "department",
        "service",
        "procedure",
        "performedAt",
    ] {
        f.text(name)?;
    }
    serde_json::from_value(body.clone()).map_err(|e| Invalid::new("", format!("not a case: {e}")))
}

async fn post_case(State(ehr): State<EhrClient>, JsonBody(body): JsonBody) -> Response {
    let case = match read_case(&body) {
        Ok(c) => c,
        Err(invalid) => return invalid.into_response(),
    };
    if ehr.mllp.lock().is_none() {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the EHR's interface has no MLLP destination",
        );
    }
    let sent = ehr.record_case(case).await;
    let id = sent.control_id.clone();
    applied("case.sent", id, (StatusCode::CREATED, Json(sent)))
}

async fn list_cases(State(ehr): State<EhrClient>) -> impl IntoResponse {
    Json(json!({ "cases": ehr.sent() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_case_is_written_as_a_dft_with_its_implants() {
        let case = Case {
            case_id: "K-1".into(),
            mrn: "M|1".into(),
            patient_name: "Jane Doe".into(),
            birth_date: "19800214".into(),
            encounter: "V-1".into(),
            facility: "MERCY".into(),
            department: "CATH".into(),
            service: "CAR".into(),
            procedure: "92928".into(),
            performed_at: "20261121093000".into(),
            supplies: vec![SupplyUse {
                charge_code: "IMP-2002".into(),
                description: "Stent".into(),
                quantity: 1,
                udi: Some("(01)00614141000029".into()),
            }],
        };
        let text = case.dft("EHR1");
        let lines: Vec<&str> = text.trim_end().split('\r').collect();
        assert_eq!(lines.len(), 7, "{text}");
        assert!(lines[2].starts_with("PID|1||M\\F\\1^^^MERCY^MR||Doe^Jane||19800214"));
        let ft1: Vec<&str> = lines[5].split('|').collect();
        assert_eq!(
            (ft1[6], ft1[10], ft1[13], ft1[25]),
            ("CG", "1", "CATH", "92928^^CPT")
        );
        assert!(lines[6].ends_with("|(01)00614141000029"));
    }
}
