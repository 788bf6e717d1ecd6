//! The clinical part of the demo (part 6). The EHR charges a cardiac case over MLLP: a
//! guidewire from the cath lab's shelf (by chargemaster code), a stent on consignment (by the
//! UDI scanned from its label) and a balloon the hub has never heard of. The shelf drops to its
//! reorder point and a replenishment order goes out; the stent becomes a bill-only order; both
//! costs are posted to the ERP against the cath lab; the balloon waits in the workbench. The
//! EHR, having missed an ACK, sends the case again: nothing happens twice. No patient name,
//! date of birth or MRN is stored.

use anyhow::{Context, Result};
use chrono::Utc;
use concord_engine::Hub;
use concord_model::{
    Gln, Gtin,
    access::Role,
    price::{PriceAnswer, PriceQuery},
};
use concord_sandbox::{
    Sandbox,
    ehr::{Case, SupplyUse},
};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::{demo_suppliers::until, seed};

pub struct Outcome {
    pub lines: Vec<String>,
    pub as_expected: bool,
}

/// Two items on contract at the facility for under 1,000 (so their orders need no approver).
fn priced_items(hub: &Hub, facility: &Gln) -> Vec<(Gtin, Decimal)> {
    let prices = hub.prices();
    (0..seed::N_ITEMS)
        .filter_map(|i| {
            let gtin = Gtin::parse(&seed::item_gtin(i)).ok()?;
            let query = PriceQuery {
                item: gtin.clone(),
                facility: facility.clone(),
                quantity: 1,
                date: Utc::now().date_naive(),
            };
            match prices.lookup(&query) {
                Ok(PriceAnswer::OnContract { unit_price, .. })
                    if unit_price < Decimal::from(80) =>
                {
                    Some((gtin, unit_price))
                }
                _ => None,
            }
        })
        .take(2)
        .collect()
}

/// PUTs each body to its path on the hub; any refusal stops the demo.
async fn put_all(
    client: &reqwest::Client,
    hub_url: &str,
    puts: Vec<(String, Value)>,
) -> Result<()> {
    for (path, body) in puts {
        let r = client
            .put(format!("{hub_url}{path}"))
            .json(&body)
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "PUT {path}: {}", r.text().await?);
    }
    Ok(())
}

pub async fn run(
    hub: &Hub,
    sandbox: &Sandbox,
    client: &reqwest::Client,
    hub_url: &str,
) -> Result<Outcome> {
    let mut lines = vec![];
    let mut ok = true;
    let facility = Gln::parse(&seed::facility_gln(0)).context("the seed's facility")?;
    let items = priced_items(hub, &facility);
    let [(wire, wire_price), (stent, stent_price)] = <[_; 2]>::try_from(items)
        .map_err(|_| anyhow::anyhow!("the seed has no two items on contract at {facility}"))?;

    // The EHR's own codes, mapped once by a person; the shelves of the cath lab.
    put_all(
        client,
        hub_url,
        vec![
            (
                "/v1/crosswalks/ehr/facility/MERCY-E1".to_string(),
                json!({"canonical_id": facility}),
            ),
            (
                "/v1/crosswalks/ehr/item/CDM-5001".to_string(),
                json!({"canonical_id": wire}),
            ),
            (
                format!("/v1/stock/{facility}/CATH/{wire}"),
                json!({"on_hand": 5, "par_level": 12, "reorder_point": 4}),
            ),
            (
                format!("/v1/stock/{facility}/CATH/{stent}"),
                json!({"on_hand": 0, "par_level": 0, "reorder_point": 0, "bill_only": true}),
            ),
        ],
    )
    .await?;
    lines.push(format!(
        "  cath lab at {facility}: guidewire {wire} 5 on the shelf (reorder at 4, par 12); stent {stent} on consignment (bill-only)"
    ));

    let ehr = sandbox.ehr_client();
    let case = Case {
        case_id: "CASE-1001".into(),
        mrn: "MRN-884422".into(),
        patient_name: "Maria Lopez".into(),
        birth_date: "19560312".into(),
        encounter: "ENC-55120".into(),
        facility: "MERCY-E1".into(),
        department: "CATH".into(),
        service: "CAR".into(),
        procedure: "92928".into(),
        performed_at: Utc::now().format("%Y%m%d%H%M%S").to_string(),
        supplies: vec![
            SupplyUse {
                charge_code: "CDM-5001".into(),
                description: "Guidewire".into(),
                quantity: 1,
                udi: None,
            },
            SupplyUse {
                charge_code: "CDM-7002".into(),
                description: "Drug-eluting stent".into(),
                quantity: 1,
                udi: Some(format!("(01){stent}(17)281231(10)LOT7781(21)SN000912")),
            },
            SupplyUse {
                charge_code: "CDM-9999".into(),
                description: "Balloon catheter".into(),
                quantity: 1,
                udi: None,
            },
        ],
    };
    let sent = ehr.record_case(case).await;
    let resent = ehr.resend(&sent.control_id).await;
    lines.push(format!(
        "  EHR → MLLP DFT^P03 {}: ACK {}; sent again (missed ACK): ACK {}",
        sent.control_id,
        sent.ack.as_deref().unwrap_or("none"),
        resent.and_then(|s| s.ack).as_deref().unwrap_or("none")
    ));
    ok &= sent.ack.as_deref() == Some("AA");

    let usage = |line: usize| {
        format!(
            "{hub_url}/v1/usages/ehr:EHR.MERCY-E1:{}:{line}",
            sent.control_id
        )
    };
    let wire_usage = until(client, usage(1), |v| v["stage"] == "consumed").await?;
    let stent_usage = until(client, usage(2), |v| v["stage"] == "consumed").await?;
    let balloon = until(client, usage(3), |v| v["stage"] == "held").await?;
    let replenishment = wire_usage["requisitions"][0]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let bill = stent_usage["requisitions"][0]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let po = |req: &str| format!("{hub_url}/v1/purchase-orders/PO-{req}-1");
    let rep_po = until(client, po(&replenishment), |v| v["erp_po"].is_string()).await?;
    let bill_po = until(client, po(&bill), |v| v["erp_po"].is_string()).await?;
    lines.push(format!(
        "  guidewire: on hand 5 → {} (at the reorder point) → replenishment {replenishment} for {} → PO {} (ERP {})",
        wire_usage["on_hand_after"],
        rep_po["lines"][0]["ordered"].as_str().unwrap_or("?"),
        rep_po["po_number"].as_str().unwrap_or("?"),
        rep_po["erp_po"].as_str().unwrap_or("?"),
    ));
    lines.push(format!(
        "  stent (UDI lot {}, serial {}): bill-only {bill} → PO {} (ERP {})",
        stent_usage["usage"]["device"]["lot"]
            .as_str()
            .unwrap_or("?"),
        stent_usage["usage"]["device"]["serial"]
            .as_str()
            .unwrap_or("?"),
        bill_po["po_number"].as_str().unwrap_or("?"),
        bill_po["erp_po"].as_str().unwrap_or("?"),
    ));
    ok &= wire_usage["on_hand_after"] == 4 && rep_po["erp_po"].is_string();
    ok &= bill_po["erp_po"].is_string();

    let postings = until(client, sandbox.erp.url("/api/cost-postings"), |v| {
        v["costPostings"].as_array().is_some_and(|p| p.len() >= 2)
    })
    .await?;
    let posted: Vec<String> = postings["costPostings"]
        .as_array()
        .map(|p| {
            p.iter()
                .map(|p| {
                    format!(
                        "{} {} {}",
                        p["documentNumber"].as_str().unwrap_or("?"),
                        p["material"].as_str().unwrap_or("?"),
                        p["amount"].as_str().unwrap_or("?")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    lines.push(format!(
        "  ERP cost postings (cost center CATH, service line CAR, CPT 92928): {}",
        posted.join("; ")
    ));
    ok &= posted.len() == 2
        && posted.iter().any(|p| p.ends_with(&wire_price.to_string()))
        && posted.iter().any(|p| p.ends_with(&stent_price.to_string()));
    lines.push(format!(
        "  balloon CDM-9999: {} by {} (map it in the crosswalk, then retry in the workbench)",
        balloon["stage"].as_str().unwrap_or("?"),
        balloon["held_by"][0].as_str().unwrap_or("?")
    ));
    ok &= balloon["held_by"][0] == "usage_item_unresolved";

    // The next case comes as a FHIR Bundle (the Patient in it is not kept): a second stent,
    // and a supply the hub does not know; the EHR posts it twice.
    let key = crate::demo::demo_key(hub, "ehr", Role::Integration, Some("ehr"), None).await?;
    ehr.set_fhir(format!("{hub_url}/v1/fhir/Bundle"), key);
    let place = format!("CATH-{}", "MERCY-E1");
    put_all(
        client,
        hub_url,
        vec![
            (
                format!("/v1/crosswalks/ehr/facility/{place}"),
                json!({"canonical_id": facility}),
            ),
            (
                format!("/v1/stock/{facility}/{place}/{stent}"),
                json!({"on_hand": 0, "par_level": 0, "reorder_point": 0, "bill_only": true}),
            ),
        ],
    )
    .await?;
    let case = Case {
        case_id: "CASE-1002".into(),
        mrn: "MRN-771203".into(),
        patient_name: "Ahmed Karimi".into(),
        birth_date: "19490704".into(),
        encounter: "ENC-55177".into(),
        facility: "MERCY-E1".into(),
        department: "CATH".into(),
        service: "CAR".into(),
        procedure: "92928".into(),
        performed_at: Utc::now().format("%Y%m%d%H%M%S").to_string(),
        supplies: vec![
            SupplyUse {
                charge_code: "CDM-7002".into(),
                description: "Drug-eluting stent".into(),
                quantity: 1,
                udi: Some(format!("(01){stent}(17)281231(10)LOT7790(21)SN000944")),
            },
            SupplyUse {
                charge_code: "CDM-9998".into(),
                description: "Embolic protection filter".into(),
                quantity: 1,
                udi: None,
            },
        ],
    };
    let (first, answer) = ehr.post_bundle(&case).await;
    let (second, again) = ehr.post_bundle(&case).await;
    let words: Vec<String> = answer["usages"]
        .as_array()
        .map(|u| {
            u.iter()
                .map(|u| {
                    format!(
                        "{} {}",
                        u["usage_id"].as_str().unwrap_or("?"),
                        match u["requisitions"][0].as_str() {
                            Some(r) => format!("→ {r}"),
                            None => format!("held by {}", u["held_by"][0].as_str().unwrap_or("?")),
                        }
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    lines.push(format!(
        "  EHR → FHIR Bundle CASE-1002: {} ({}); posted again: {} with the same receipt: {}",
        first.unwrap_or(0),
        words.join("; "),
        second.unwrap_or(0),
        answer["receipt_id"] == again["receipt_id"]
    ));
    ok &= first == Some(202)
        && answer["receipt_id"] == again["receipt_id"]
        && words.len() == 2
        && words.iter().any(|w| w.contains("→ BILL-"))
        && words
            .iter()
            .any(|w| w.contains("held by usage_item_unresolved"));
    Ok(Outcome {
        lines,
        as_expected: ok,
    })
}
