//! The requisition part of the demo: the purchasing suite's webhook sends requisitions priced
//! against the contracts just activated; the policy approves one, refuses an off-contract one
//! (pointing at the on-contract alternative), and sends a large one with a price above contract
//! up the approval chain, where the manager and then the director approve it.
//!
//! Each approved requisition then runs to payment: a PO in the ERP sandbox, an 850 to the EDI
//! supplier sandbox, its 997/855/856/810 back, the warehouse's receipt, three-way match and the
//! payment release. The large one is half backordered and its first invoice overbilled: the
//! backorder exception closes when the rest arrives, and an AP clerk accepts the variance in the
//! exception workbench.

use anyhow::{Context, Result, bail};
use concord_engine::Hub;
use concord_model::{Gln, Gtin, PriceAnswer, PriceQuery, access::Role};
use concord_sandbox::{Sandbox, SupplierRules};
use serde_json::{Value, json};

use crate::seed;

/// What the scenario showed, for the summary and `--once`'s verdict.
pub struct Outcome {
    pub lines: Vec<String>,
    pub as_expected: bool,
}

/// An item to requisition, in its unit, and its contract price (when it has one).
pub(crate) struct Pick {
    pub gtin: String,
    pub uom: String,
    pub contract_price: Option<rust_decimal::Decimal>,
}

/// Every item on contract at facility 0 with the EDI partner's supplier (supplier 1: the
/// partner trades for it, so what is ordered must be its), in item order, at its contract price.
pub(crate) fn items_on_contract(hub: &Hub) -> Result<Vec<Pick>> {
    let prices = hub.prices();
    let facility = Gln::parse(&seed::facility_gln(0))?;
    let date = chrono::Utc::now().date_naive();
    let mut found = Vec::new();
    for i in 0..seed::N_ITEMS {
        let query = PriceQuery {
            item: Gtin::parse(&seed::item_gtin(i))?,
            facility: facility.clone(),
            quantity: 1,
            date,
        };
        if let Ok(PriceAnswer::OnContract {
            unit_price,
            uom,
            contract_id,
            ..
        }) = prices.lookup(&query)
            && prices
                .contract(&contract_id)
                .is_some_and(|c| c.supplier_id == seed::supplier_id(1))
        {
            found.push(Pick {
                gtin: seed::item_gtin(i),
                uom: uom.to_string(),
                contract_price: Some(unit_price),
            });
        }
    }
    Ok(found)
}

/// An item on contract at facility 0, and one on no contract at all for which a contract offers
/// an alternative.
fn pick_items(hub: &Hub) -> Result<(Pick, Pick)> {
    let prices = hub.prices();
    let facility = Gln::parse(&seed::facility_gln(0))?;
    let date = chrono::Utc::now().date_naive();
    let on = items_on_contract(hub)?.into_iter().next();
    let mut off = None;
    for i in 0..seed::N_ITEMS {
        let gtin = seed::item_gtin(i);
        let query = PriceQuery {
            item: Gtin::parse(&gtin)?,
            facility: facility.clone(),
            quantity: 1,
            date,
        };
        if let Ok(PriceAnswer::OffContract { alternatives }) = prices.lookup(&query)
            && !alternatives.is_empty()
            && prices
                .contracts_not_admitting(&query.item, &facility, date)
                .is_empty()
        {
            let uom = prices.item(&query.item).map(|i| i.uom.to_string());
            off = Some(Pick {
                gtin,
                uom: uom.unwrap_or_else(|| "EA".into()),
                contract_price: None,
            });
            break;
        }
    }
    match (on, off) {
        (Some(on), Some(off)) => Ok((on, off)),
        _ => bail!("the seeded contracts left no on-contract and off-contract item at facility 0"),
    }
}

/// The purchasing suite's native requisition webhook body.
fn native(number: &str, lines: &[(&str, u32, &str, &str)]) -> Value {
    json!({
        "eventType": "REQUISITION_SUBMITTED",
        "eventId": format!("PS-EVT-{number}"),
        "requisition": {
            "reqNumber": number,
            "requestedBy": {"userId": "u-17"},
            "shipTo": {"locationGln": seed::facility_gln(0)},
            "costCenter": "CC-4W",
            "lines": lines.iter().enumerate().map(|(n, (gtin, qty, unit, price))| json!({
                "lineNo": n + 1, "itemGtin": gtin, "qty": qty, "unit": unit,
                "price": {"amount": price, "currency": "USD"}
            })).collect::<Vec<_>>()
        }
    })
}

pub async fn run(
    hub: &Hub,
    sandbox: &Sandbox,
    client: &reqwest::Client,
    hub_url: &str,
) -> Result<Outcome> {
    let (on, off) = pick_items(hub)?;
    let on_price = on.contract_price.unwrap_or_default().to_string();
    let over = on.contract_price.unwrap_or_default() + rust_decimal::Decimal::ONE;
    let webhook = format!("{hub_url}/v1/inbound/purchasing/requisition");
    let mut lines = vec![];
    let mut as_expected = true;
    let mut submit = async |number: &str, body: Value, expected: &str| -> Result<Value> {
        let answer: Value = client
            .post(&webhook)
            .json(&body)
            .send()
            .await
            .context("posting a requisition webhook")?
            .json()
            .await?;
        let decision = answer["decision"].as_str().unwrap_or("?").to_string();
        as_expected &= decision == expected;
        let reason = answer["reasons"][0]
            .as_str()
            .unwrap_or("every line on contract at the contract price");
        lines.push(format!("  {number:<11} {decision:<15} {reason}"));
        Ok(answer)
    };
    submit(
        "REQ-DEMO-1",
        native("REQ-DEMO-1", &[(&on.gtin, 5, &on.uom, &on_price)]),
        "approved",
    )
    .await?;
    // What became of the POs, told after the decisions.
    let mut po_lines = vec![];
    let (mut po_ok, story) = follow_po(client, hub_url, "PO-REQ-DEMO-1-1").await?;
    po_lines.push(format!("  REQ-DEMO-1  → PO-REQ-DEMO-1-1 {story}"));
    // The supplier is short of this item from now on, and bills the first half too high.
    sandbox.supplier_client().set_rules(SupplierRules {
        backorder: [on.gtin.clone()].into(),
        overbill: [on.gtin.clone()].into(),
        backorder_ms: 1500,
        ..SupplierRules::default()
    });
    submit(
        "REQ-DEMO-2",
        native("REQ-DEMO-2", &[(&off.gtin, 10, &off.uom, "15.00")]),
        "refused",
    )
    .await?;
    let big = submit(
        "REQ-DEMO-3",
        native(
            "REQ-DEMO-3",
            &[(&on.gtin, 2_500, &on.uom, &over.to_string())],
        ),
        "needs_approval",
    )
    .await?;
    // The chain the config gives CC-4W: its manager (u-50), then the director above it (u-90).
    let approvers: Vec<String> = big["approvers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect();
    let mut status = String::new();
    for user in &approvers {
        let key = crate::demo::demo_key(
            hub,
            &format!("demo approver {user}"),
            Role::Approver,
            None,
            Some(user),
        )
        .await?;
        let view: Value = reqwest::Client::new()
            .post(format!("{hub_url}/v1/requisitions/REQ-DEMO-3/approve"))
            .bearer_auth(&key)
            .json(&json!({"comment": "price agreed with the supplier for this order"}))
            .send()
            .await?
            .json()
            .await?;
        status = view["status"].as_str().unwrap_or("?").to_string();
        let next = match view["approval"]["current_step"].as_str() {
            Some(level) => format!(" (next: {level})"),
            None => String::new(),
        };
        lines.push(format!(
            "  REQ-DEMO-3  approved by {user:<6} → {status}{next}"
        ));
    }
    as_expected &= approvers.len() == 2 && status == "approved";
    let (resolved, story) = work_the_variance(hub, client, hub_url, "PO-REQ-DEMO-3-1").await?;
    po_ok &= resolved;
    po_lines.push(format!("  REQ-DEMO-3  → PO-REQ-DEMO-3-1 {story}"));
    let (paid, story) = follow_po(client, hub_url, "PO-REQ-DEMO-3-1").await?;
    po_ok &= paid;
    po_lines.push(format!("              {story}"));
    lines.append(&mut po_lines);
    Ok(Outcome {
        lines,
        as_expected: as_expected && po_ok,
    })
}

/// How long a PO may take from approval to payment in the demo.
const PO_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);

/// Waits until the PO is paid (or the deadline passes) and tells its story from its documents.
async fn follow_po(client: &reqwest::Client, hub_url: &str, po: &str) -> Result<(bool, String)> {
    let deadline = std::time::Instant::now() + PO_DEADLINE;
    loop {
        let view: Value = client
            .get(format!("{hub_url}/v1/purchase-orders/{po}"))
            .send()
            .await?
            .json()
            .await?;
        let status = view["status"].as_str().unwrap_or("not placed").to_string();
        if status == "paid" || std::time::Instant::now() > deadline {
            let documents: Vec<String> = view["documents"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|d| d["document"] != "erp_purchase_order" || d["direction"] == "in")
                .map(|d| match d["document"].as_str().unwrap_or("?") {
                    "erp_purchase_order" => {
                        format!("ERP {}", view["erp_po"].as_str().unwrap_or("?"))
                    }
                    other => other.to_string(),
                })
                .collect();
            return Ok((
                status == "paid",
                format!("{status}: {}", documents.join(" → ")),
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Waits for the PO's price variance and accepts it in the workbench as an AP clerk would.
async fn work_the_variance(
    hub: &Hub,
    client: &reqwest::Client,
    hub_url: &str,
    po: &str,
) -> Result<(bool, String)> {
    let deadline = std::time::Instant::now() + PO_DEADLINE;
    let exception = loop {
        let list: Value = client
            .get(format!(
                "{hub_url}/v1/exceptions?type=invoice_price_variance"
            ))
            .send()
            .await?
            .json()
            .await?;
        let found = list["exceptions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["detail"]["po_number"] == po)
            .cloned();
        match found {
            Some(e) => break e,
            None if std::time::Instant::now() > deadline => {
                return Ok((false, "no price variance was raised".into()));
            }
            None => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
        }
    };
    let backorders: Value = client
        .get(format!("{hub_url}/v1/exceptions?type=backorder"))
        .send()
        .await?
        .json()
        .await?;
    let backordered = backorders["exceptions"]
        .as_array()
        .is_some_and(|l| l.iter().any(|e| e["detail"]["po_number"] == po));
    let clerk =
        crate::demo::demo_key(hub, "demo AP clerk u-60", Role::ApClerk, None, Some("u-60")).await?;
    let id = exception["id"].as_str().unwrap_or_default();
    let answer: Value = reqwest::Client::new()
        .post(format!("{hub_url}/v1/exceptions/{id}/resolve"))
        .bearer_auth(&clerk)
        .json(&json!({"action": "accept_variance", "reason": "surcharge confirmed with the supplier's rep"}))
        .send()
        .await?
        .json()
        .await?;
    let resolved = answer["exception"]["status"] == "resolved";
    Ok((
        resolved && backordered,
        format!(
            "half backordered (exception opened), invoice {} blocked: {}; accepted by u-60 in the workbench",
            exception["detail"]["invoice"].as_str().unwrap_or("?"),
            exception["detail"]["detail"].as_str().unwrap_or("?")
        ),
    ))
}
