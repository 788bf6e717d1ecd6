//! Contracts: the latest versions and their state; one contract's versions with their
//! propagation to each target and how each became active.

use std::collections::HashMap;

use axum::{
    extract::{Extension, Query, State},
    response::Response,
};
use concord_engine::Rejection;

use super::{
    Console, Viewer,
    html::{esc, link, table, url_part, when},
};
use crate::routes::ApiResult;

const LATEST: u32 = 100;

pub(super) async fn page(
    State(console): State<Console>,
    Extension(viewer): Extension<Viewer>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let id = q.get("id").map(|s| s.trim()).filter(|s| !s.is_empty());
    let mut body = format!(
        "<form class=\"filters\" method=\"get\" action=\"/console/contracts\">\
         <label>Contract<input name=\"id\" id=\"contract-id\" value=\"{}\"></label>\
         <button type=\"submit\">Show</button></form>",
        esc(id.unwrap_or(""))
    );
    match id {
        Some(id) => body.push_str(&one_contract(&console, id).await?),
        None => {
            let versions = console.hub.store().recent_contract_versions(LATEST).await?;
            let rows: Vec<Vec<String>> = versions
                .iter()
                .map(|v| {
                    vec![
                        link(
                            &format!("/console/contracts?id={}", url_part(&v.contract_id)),
                            &v.contract_id,
                        ),
                        v.version.to_string(),
                        status(&v.status),
                        esc(v.data["supplier_id"].as_str().unwrap_or("")),
                        when(v.updated_at),
                    ]
                })
                .collect();
            body.push_str("<h2>Latest changes</h2>");
            body.push_str(&table(
                "contracts",
                &["Contract", "Version", "Status", "Supplier", "Updated"],
                &rows,
                "No contracts yet.",
            ));
        }
    }
    Ok(viewer.page("Contracts", "/console/contracts", &body))
}

fn status(s: &str) -> String {
    let class = match s {
        "active" => "good",
        "failed" | "rejected" => "bad",
        "pending" | "propagating" => "warn",
        _ => "",
    };
    format!("<span class=\"{class}\">{}</span>", esc(s))
}

async fn one_contract(console: &Console, id: &str) -> ApiResult<String> {
    let view = console
        .hub
        .contract_view(id)
        .await?
        .ok_or_else(|| Rejection::not_found(format!("no contract {id}")))?;
    let mut out = format!(
        "<h2>{} — active version {}</h2>",
        esc(id),
        view["active_version"]
            .as_u64()
            .map(|v| v.to_string())
            .unwrap_or_else(|| "none".into())
    );
    let empty = Vec::new();
    for v in view["versions"].as_array().unwrap_or(&empty).iter().rev() {
        let text = |k: &str| v[k].as_str().unwrap_or("").to_string();
        out.push_str(&format!(
            "<h2>Version {} · {} · {}</h2>",
            v["version"],
            status(&text("status")),
            link(
                &format!(
                    "/console/transactions/{}",
                    url_part(&text("correlation_id"))
                ),
                "lineage"
            )
        ));
        let targets = v["propagation"]["targets"].as_object();
        let rows: Vec<Vec<String>> = targets
            .into_iter()
            .flatten()
            .map(|(target, p)| {
                let state = p["state"].as_str().unwrap_or("");
                vec![
                    esc(target),
                    if p["required"].as_bool() == Some(true) {
                        "required"
                    } else {
                        "optional"
                    }
                    .into(),
                    status(state),
                    esc(p["at"].as_str().unwrap_or("")),
                    esc(p["error"].as_str().unwrap_or("")),
                ]
            })
            .collect();
        out.push_str(&table(
            &format!("propagation-{}", v["version"]),
            &["Target", "", "State", "At", "Error"],
            &rows,
            "No propagation recorded.",
        ));
        if let Some(activation) = v["propagation"].get("activation").filter(|a| !a.is_null()) {
            out.push_str(&format!(
                "<p>Activation: <code>{}</code></p>",
                esc(&activation.to_string())
            ));
        }
    }
    Ok(out)
}
