//! The master-data part of the demo (part 5). An OIG LEIE exclusion list is imported; the
//! vendor portal submits four new suppliers, one on the list, one with an existing supplier's
//! TIN, one whose name is nearly an existing supplier's. A person rejects the excluded one and
//! the duplicate, clears the near-namesake (a different company) and approves the clean ones:
//! each is created in the ERP, which numbers it, then sent to purchasing and AP. An AP clerk
//! asks for a new bank account for one of them; it reaches the ERP after two approvals. Then the
//! ERP's item master drifts, reconciliation finds it, and a repair puts it right.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use concord_engine::{Hub, import::ImportKind};
use concord_model::{access::Role, screening::ExclusionList};
use concord_sandbox::Sandbox;
use serde_json::{Value, json};

use crate::{demo::demo_key, seed};

/// A few rows in the OIG's published format; the business on row 3 registers below.
const LEIE_SAMPLE: &str = "LASTNAME,FIRSTNAME,MIDNAME,BUSNAME,GENERAL,SPECIALTY,UPIN,NPI,DOB,ADDRESS,CITY,STATE,ZIP,EXCLTYPE,EXCLDATE,REINDATE,WAIVERDATE,WVRSTATE
SMITH,JOHN,A,,IND- LIC HC SERV PRO,NURSE/NURSES AIDE,,0000000000,19600101,123 MAIN ST,ANYTOWN,OH,43210,1128a1,20200115,00000000,00000000,
DOE,JANE,,,IND- LIC HC SERV PRO,PHARMACIST,,0000000000,19700202,5 OAK AVE,AUSTIN,TX,73301,1128b4,20210301,20230301,00000000,
,,,SHADY MEDICAL SUPPLY LLC,DME - SUPPLIER,,,0000000000,,1 ELM ST,DAYTON,OH,45402,1128a1,20190610,00000000,00000000,
";

fn registration(id: &str, name: &str, ein: &str, street: &str, zip: &str) -> Value {
    json!({
        "registrationId": id,
        "company": {"legalName": name, "ein": ein},
        "mailing": {"street": street, "city": "Columbus", "stateCode": "OH", "postalCode": zip},
        "banking": {"method": "ACH", "routing": "011000015", "account": "4400123456"}
    })
}

pub struct Outcome {
    pub lines: Vec<String>,
    pub as_expected: bool,
}

async fn get(client: &reqwest::Client, url: String) -> Result<Value> {
    Ok(client.get(&url).send().await?.json().await?)
}

async fn post_as(key: &str, url: String, body: Value) -> Result<(u16, Value)> {
    let r = reqwest::Client::new()
        .post(url)
        .bearer_auth(key)
        .json(&body)
        .send()
        .await?;
    let status = r.status().as_u16();
    Ok((status, r.json().await.unwrap_or(Value::Null)))
}

/// Polls `url` until `done` holds (or 20 s pass); answers the last document.
pub(crate) async fn until(
    client: &reqwest::Client,
    url: String,
    done: impl Fn(&Value) -> bool,
) -> Result<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = get(client, url.clone()).await?;
        if done(&v) || Instant::now() > deadline {
            return Ok(v);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn run(
    hub: &Hub,
    sandbox: &Sandbox,
    client: &reqwest::Client,
    hub_url: &str,
    data_dir: &std::path::Path,
) -> Result<Outcome> {
    let mut lines = vec![];
    let mut ok = true;

    // 1. The exclusion list, as `concord import exclusions` loads it.
    let summary = crate::import::import_into(
        hub.store(),
        ImportKind::Exclusions(ExclusionList::Leie),
        LEIE_SAMPLE.as_bytes(),
        LEIE_SAMPLE.len() as u64,
        &data_dir.join("leie.errors.csv"),
    )
    .await
    .context("importing the exclusion list")?;
    lines.push(format!(
        "  exclusion list (OIG LEIE format) imported: {} entries",
        summary.applied
    ));

    // 2. The vendor portal submits four suppliers.
    let portal = sandbox.portal_client();
    let submissions = [
        registration(
            "P-2001",
            "Buckeye Surgical Supply LLC",
            "31-4159265",
            "200 High Street",
            "43215",
        ),
        registration(
            "P-2002",
            "Shady Medical Supply, Inc.",
            "31-2718281",
            "1 Elm Street",
            "45402",
        ),
        registration(
            "P-2003",
            "Supplier Two Medical Inc",
            &seed::supplier_tin(2),
            "9 Rich Street",
            "43215",
        ),
        registration(
            "P-2004",
            "Supplier 003 Medical Group",
            "31-1414213",
            "77 Long Street",
            "43215",
        ),
    ];
    for r in submissions {
        let id = r["registrationId"].as_str().unwrap_or_default().to_string();
        let (status, answer) = portal
            .register(r)
            .await
            .map_err(|e| anyhow::anyhow!("the portal refused its own registration: {e}"))?;
        let findings = &answer["findings"];
        let why = match (
            findings["exclusion_hits"].as_array().map_or(0, Vec::len),
            findings["duplicates"].as_array().and_then(|d| d.first()),
        ) {
            (n, _) if n > 0 => format!(
                "exclusion list: {}",
                findings["exclusion_hits"][0]["name"].as_str().unwrap_or("")
            ),
            (_, Some(d)) => format!(
                "likely duplicate of {} (score {}, {})",
                d["supplier_id"].as_str().unwrap_or(""),
                d["score"],
                d["reasons"]
                    .as_array()
                    .map(|r| r
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", "))
                    .unwrap_or_default()
            ),
            _ => "no findings".into(),
        };
        lines.push(format!(
            "  S-{id}  {:<17} {why}  (hub answered {})",
            answer["status"].as_str().unwrap_or("?"),
            status.map_or("nothing".into(), |s| s.to_string())
        ));
    }

    // 3. A person decides the holds in the workbench, then approves.
    let approver = demo_key(
        hub,
        "demo approver u-70",
        Role::Approver,
        None,
        Some("u-70"),
    )
    .await?;
    let decide = |id: &'static str, action: &'static str, reason: &'static str| {
        let approver = approver.clone();
        async move {
            let list = get(
                client,
                format!("{hub_url}/v1/exceptions?subject=supplier_onboarding:{id}"),
            )
            .await?;
            let exc = &list["exceptions"][0];
            let (_, answer) = post_as(
                &approver,
                format!(
                    "{hub_url}/v1/exceptions/{}/resolve",
                    exc["id"].as_str().unwrap_or("none")
                ),
                json!({"action": action, "reason": reason}),
            )
            .await?;
            let line = format!(
                "  {id}  {} → {action} by u-70 → {}",
                exc["kind"].as_str().unwrap_or("?"),
                answer["onboarding"]["status"].as_str().unwrap_or("?")
            );
            anyhow::Ok((line, answer["exception"]["status"] == "resolved"))
        }
    };
    for (id, action, reason) in [
        ("S-P-2002", "reject_supplier", "excluded by the OIG"),
        (
            "S-P-2003",
            "reject_supplier",
            "already supplier S-002 (same TIN)",
        ),
        (
            "S-P-2004",
            "clear",
            "a different company; confirmed with S-003's rep",
        ),
    ] {
        let (line, resolved) = decide(id, action, reason).await?;
        lines.push(line);
        ok &= resolved;
    }
    for id in ["S-P-2001", "S-P-2004"] {
        let (status, _) = post_as(
            &approver,
            format!("{hub_url}/v1/supplier-onboardings/{id}/approve"),
            json!({}),
        )
        .await?;
        let view = until(
            client,
            format!("{hub_url}/v1/supplier-onboardings/{id}"),
            |v| v["stage"] == "active",
        )
        .await?;
        let vendor = view["erp_vendor"].as_str().unwrap_or("-").to_string();
        let ap = until(client, sandbox.ap.url(&format!("/ap/payees/{id}")), |v| {
            v["erpVendorNumber"] == vendor.as_str()
        })
        .await?;
        let in_purchasing = get(
            client,
            sandbox
                .purchasing
                .url(&format!("/catalog/v2/suppliers/{id}")),
        )
        .await?;
        let done = status == 200
            && view["stage"] == "active"
            && ap["erpVendorNumber"] == vendor.as_str()
            && in_purchasing["erpVendor"] == vendor.as_str();
        ok &= done;
        lines.push(format!(
            "  {id}  approved by u-70 → ERP vendor {vendor} → purchasing {} · AP {}",
            if in_purchasing["erpVendor"] == vendor.as_str() {
                "yes"
            } else {
                "NO"
            },
            if ap["erpVendorNumber"] == vendor.as_str() {
                "yes"
            } else {
                "NO"
            },
        ));
    }

    // 4. A new bank account: asked for by an AP clerk, applied after two other approvals.
    let clerk = demo_key(hub, "demo AP clerk u-31", Role::ApClerk, None, Some("u-31")).await?;
    let second = demo_key(
        hub,
        "demo approver u-90",
        Role::Approver,
        None,
        Some("u-90"),
    )
    .await?;
    let (_, change) = post_as(
        &clerk,
        format!("{hub_url}/v1/suppliers/S-P-2001/bank-changes"),
        json!({"payment": {"method": "ach", "bank": {"routing_number": "021000021", "account_number": "7700654321"}},
               "reason": "supplier's letter of 2 Nov; call-back to the number on file done"}),
    )
    .await?;
    let change_id = change["id"].as_str().unwrap_or("none").to_string();
    let approve = format!("{hub_url}/v1/bank-changes/{change_id}/approve");
    let (own, _) = post_as(&clerk, approve.clone(), json!({})).await?;
    let (_, first) = post_as(&approver, approve.clone(), json!({})).await?;
    let vendor = get(
        client,
        format!("{hub_url}/v1/supplier-onboardings/S-P-2001"),
    )
    .await?["erp_vendor"]
        .as_str()
        .unwrap_or("-")
        .to_string();
    let erp_vendor_url = sandbox.erp.url(&format!("/api/vendors/{vendor}"));
    let before = get(client, erp_vendor_url.clone()).await?["bankAccount"].clone();
    let (_, second_answer) = post_as(&second, approve, json!({})).await?;
    let after = until(client, erp_vendor_url, |v| v["bankAccount"] == "7700654321").await?;
    let bank_ok = own == 403
        && first["stage"] == "pending_approval"
        && before == "4400123456"
        && second_answer["stage"] == "approved"
        && after["bankAccount"] == "7700654321";
    ok &= bank_ok;
    lines.push(format!(
        "  bank change {} for S-P-2001 ({}): requester's own approval {own}; u-70 → {}; ERP still has the old account: {}; u-90 → {}; ERP now {}",
        change_id,
        change["new"]["bank"]["account_number"].as_str().unwrap_or(""),
        first["status"].as_str().unwrap_or("?"),
        before == "4400123456",
        second_answer["status"].as_str().unwrap_or("?"),
        if after["bankAccount"] == "7700654321" { "has the new one" } else { "DOES NOT" },
    ));

    // 5. The ERP's item master drifts; reconciliation finds it and a repair puts it right.
    let drifted: Vec<String> = (0..3).map(seed::item_gtin).collect();
    for (n, gtin) in drifted.iter().enumerate() {
        let body = if n == 2 {
            json!({"description": "PATIENT EXAM GLOVE", "baseUom": "CS", "materialGroup": "42132203"})
        } else {
            json!({"description": format!("LOCAL NAME {n}"), "baseUom": "EA", "materialGroup": "42132203"})
        };
        client
            .put(sandbox.erp.url(&format!("/api/materials/{gtin}")))
            .json(&body)
            .send()
            .await?;
    }
    let run = client
        .post(format!("{hub_url}/v1/reconciliations"))
        .json(&json!({}))
        .send()
        .await?
        .json::<Value>()
        .await?;
    let summary = &run["run"]["summary"]["erp"];
    lines.push(format!(
        "  reconciliation {}: items {} · suppliers {}",
        run["run"]["id"].as_str().unwrap_or("?"),
        summary["item"],
        summary["supplier"]
    ));
    for f in run["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["kind"] == "different")
    {
        let fields: Vec<String> = f["detail"]["differences"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| {
                format!(
                    "{}: {} ≠ {}",
                    d["field"].as_str().unwrap_or(""),
                    d["canonical"],
                    d["system"]
                )
            })
            .collect();
        lines.push(format!(
            "    {} {} different: {}",
            f["entity_type"].as_str().unwrap_or(""),
            f["entity_key"].as_str().unwrap_or(""),
            fields.join("; ")
        ));
    }
    let run_id = run["run"]["id"].as_str().unwrap_or("none").to_string();
    let repaired = client
        .post(format!("{hub_url}/v1/reconciliations/{run_id}/repair"))
        .json(&json!({"entity_type": "item"}))
        .send()
        .await?
        .json::<Value>()
        .await?;
    let n_repairs = repaired["repairs"].as_array().map_or(0, Vec::len);
    // Every repair delivered before the next run looks (none of the drifted names is left).
    let drifted_names = ["LOCAL NAME 0", "LOCAL NAME 1", "PATIENT EXAM GLOVE"];
    let mut restored = true;
    for gtin in &drifted {
        let m = until(
            client,
            sandbox.erp.url(&format!("/api/materials/{gtin}")),
            |m| !drifted_names.iter().any(|d| m["description"] == *d),
        )
        .await?;
        restored &= !drifted_names.iter().any(|d| m["description"] == *d);
    }
    let rerun = client
        .post(format!("{hub_url}/v1/reconciliations"))
        .json(&json!({}))
        .send()
        .await?
        .json::<Value>()
        .await?;
    let items_left = rerun["run"]["summary"]["erp"]["item"]["different"]
        .as_u64()
        .unwrap_or(99)
        + rerun["run"]["summary"]["erp"]["item"]["missing"]
            .as_u64()
            .unwrap_or(99);
    let recon_ok =
        summary["item"]["different"] == 3 && n_repairs == 3 && restored && items_left == 0;
    ok &= recon_ok;
    lines.push(format!(
        "  repaired {n_repairs} items (re-published through the outbox, audited); next run: {items_left} item differences"
    ));
    Ok(Outcome {
        lines,
        as_expected: ok,
    })
}
