//! The requisition part of the demo: the purchasing suite's webhook sends requisitions priced
//! against the contracts just activated; the policy approves one, refuses an off-contract one
//! (pointing at the on-contract alternative), and sends a large one with a price above contract
//! up the approval chain, where the manager and then the director approve it.

use anyhow::{Context, Result, bail};
use concord_engine::Hub;
use concord_model::{Gln, Gtin, PriceAnswer, PriceQuery, access::Role};
use serde_json::{Value, json};

use crate::seed;

/// What the scenario showed, for the summary and `--once`'s verdict.
pub struct Outcome {
    pub lines: Vec<String>,
    pub as_expected: bool,
}

/// An item to requisition, in its unit, and its contract price (when it has one).
struct Pick {
    gtin: String,
    uom: String,
    contract_price: Option<rust_decimal::Decimal>,
}

/// An item on contract at facility 0, and one on no contract at all for which a contract offers
/// an alternative.
fn pick_items(hub: &Hub) -> Result<(Pick, Pick)> {
    let prices = hub.prices();
    let facility = Gln::parse(&seed::facility_gln(0))?;
    let date = chrono::Utc::now().date_naive();
    let mut on = None;
    let mut off = None;
    for i in 0..seed::N_ITEMS {
        let gtin = seed::item_gtin(i);
        let query = PriceQuery {
            item: Gtin::parse(&gtin)?,
            facility: facility.clone(),
            quantity: 1,
            date,
        };
        match prices.lookup(&query) {
            Ok(PriceAnswer::OnContract {
                unit_price, uom, ..
            }) if on.is_none() => {
                on = Some(Pick {
                    gtin,
                    uom: uom.to_string(),
                    contract_price: Some(unit_price),
                })
            }
            Ok(PriceAnswer::OffContract { alternatives })
                if off.is_none()
                    && !alternatives.is_empty()
                    && prices
                        .contracts_not_admitting(&query.item, &facility, date)
                        .is_empty() =>
            {
                let uom = prices.item(&query.item).map(|i| i.uom.to_string());
                off = Some(Pick {
                    gtin,
                    uom: uom.unwrap_or_else(|| "EA".into()),
                    contract_price: None,
                })
            }
            _ => {}
        }
        if on.is_some() && off.is_some() {
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

pub async fn run(hub: &Hub, client: &reqwest::Client, hub_url: &str) -> Result<Outcome> {
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
    Ok(Outcome { lines, as_expected })
}
