//! Exceptions: filtered by type, facility, supplier, contract, workflow and age; resolved one
//! at a time or in bulk with the workbench's actions (the API's `POST
//! /v1/exceptions/{id}/resolve`, in the signed-in person's name).

use std::collections::HashMap;

use axum::{
    extract::{Extension, Query, State},
    response::Response,
};
use chrono::Utc;
use concord_model::{access::Scope, purchasing::WorkbenchAction};
use serde_json::json;

use super::{
    Console, Form, Viewer, back_field, for_each_selected,
    html::{age, esc, link, table, url_part},
    notice,
};
use crate::routes::{ApiResult, EXCEPTION_WORKFLOWS};

/// The workbench's actions as the form offers them.
const ACTIONS: [(&str, &str); 5] = [
    ("retry", "Retry (match again, resend, replay)"),
    ("accept_variance", "Accept the variance and pay"),
    ("request_credit_memo", "Request a credit memo"),
    ("reject_invoice", "Reject the invoice"),
    ("acknowledge", "Acknowledge (handled outside the hub)"),
];

const MAX_LISTED: u32 = 500;

pub(super) async fn page(
    State(console): State<Console>,
    Extension(viewer): Extension<Viewer>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    render(&console, &viewer, &q, None).await
}

async fn render(
    console: &Console,
    viewer: &Viewer,
    q: &HashMap<String, String>,
    notice: Option<String>,
) -> ApiResult<Response> {
    // The form sends every field; a blank one is no filter.
    let q: HashMap<String, String> = q
        .iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let q = &q;
    let f = crate::routes::exception_filter(q, MAX_LISTED)?;
    let exceptions = console.hub.store().list_exceptions(&f).await?;
    let value = |name: &str| esc(q.get(name).map(String::as_str).unwrap_or(""));
    let mut body = notice.unwrap_or_default();
    body.push_str("<form class=\"filters\" method=\"get\" action=\"/console/exceptions\">");
    body.push_str(&format!(
        "<label>Status<select name=\"status\">{}</select></label>",
        ["open", "resolved"]
            .iter()
            .map(|s| format!(
                "<option{}>{s}</option>",
                if *s == f.status { " selected" } else { "" }
            ))
            .collect::<String>()
    ));
    for (name, label) in [
        ("type", "Type"),
        ("facility", "Facility (GLN)"),
        ("supplier", "Supplier"),
        ("contract", "Contract"),
        ("min_age", "Older than (e.g. 24h)"),
    ] {
        body.push_str(&format!(
            "<label>{label}<input name=\"{name}\" id=\"filter-{name}\" value=\"{}\"></label>",
            value(name)
        ));
    }
    body.push_str("<label>Workflow<select name=\"workflow\"><option value=\"\">any</option>");
    for w in EXCEPTION_WORKFLOWS {
        let selected = if q.get("workflow").map(String::as_str) == Some(w) {
            " selected"
        } else {
            ""
        };
        body.push_str(&format!("<option{selected}>{w}</option>"));
    }
    body.push_str("</select></label><button type=\"submit\" id=\"filter\">Filter</button></form>");

    let can_resolve = viewer.can(Scope::ExceptionsResolve) && f.status == "open";
    let now = Utc::now();
    let rows: Vec<Vec<String>> = exceptions
        .iter()
        .map(|e| {
            let mut row = Vec::with_capacity(8);
            if can_resolve {
                row.push(format!(
                    "<input type=\"checkbox\" name=\"id\" value=\"{0}\" aria-label=\"select {0}\">",
                    esc(&e.id)
                ));
            }
            let mut detail = e.detail.to_string();
            if detail.len() > 300 {
                let cut = (0..=300)
                    .rev()
                    .find(|i| detail.is_char_boundary(*i))
                    .unwrap_or(0);
                detail.truncate(cut);
                detail.push('…');
            }
            row.extend([
                esc(&e.kind),
                esc(&e.subject),
                age(now - e.created_at),
                esc(e.facility.as_deref().unwrap_or("")),
                esc(e.supplier.as_deref().unwrap_or("")),
                format!("<pre>{}</pre>", esc(&detail)),
                link(
                    &format!("/console/transactions/{}", url_part(&e.correlation_id)),
                    "lineage",
                ),
            ]);
            if f.status == "resolved" {
                row.push(format!(
                    "<pre>{}</pre>",
                    esc(&e
                        .resolution
                        .as_ref()
                        .map(|r| r.to_string())
                        .unwrap_or_default())
                ));
            }
            row
        })
        .collect();
    let mut headers = vec![];
    if can_resolve {
        headers.push("");
    }
    headers.extend([
        "Type", "Subject", "Age", "Facility", "Supplier", "Detail", "",
    ]);
    if f.status == "resolved" {
        headers.push("Resolution");
    }
    let listing = table("exceptions", &headers, &rows, "No exceptions match.");
    body.push_str(&format!(
        "<p id=\"count\">{} exception(s){}</p>",
        exceptions.len(),
        if exceptions.len() as u32 >= MAX_LISTED {
            " (the oldest shown; narrow the filters)"
        } else {
            ""
        }
    ));
    if can_resolve && !exceptions.is_empty() {
        body.push_str(&format!(
            "<form method=\"post\" action=\"/console/exceptions/resolve\">{}{}{listing}\
             <div class=\"actions\"><label>Action<select name=\"action\" id=\"action\">{}</select></label>\
             <label>Reason<input name=\"reason\" id=\"reason\" size=\"40\"></label>\
             <button type=\"submit\" id=\"resolve\">Resolve selected</button></div></form>",
            viewer.csrf_field(),
            back_field(q),
            ACTIONS
                .iter()
                .map(|(v, l)| format!("<option value=\"{v}\">{l}</option>"))
                .collect::<String>()
        ));
    } else {
        body.push_str(&listing);
    }
    Ok(viewer.page("Exceptions", "/console/exceptions", &body))
}

/// The selected exceptions resolved with one action and reason; each one's outcome reported.
pub(super) async fn resolve(
    State(console): State<Console>,
    Extension(viewer): Extension<Viewer>,
    form: Form,
) -> ApiResult<Response> {
    let mut request = json!({"action": form.get("action").unwrap_or("")});
    if let Some(reason) = form.get("reason") {
        request["reason"] = json!(reason);
    }
    let text = match concord_model::parse_canonical::<WorkbenchAction>(&request) {
        Err(errors) => notice(
            false,
            &[format!(
                "Nothing was resolved: {}",
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            )],
        ),
        Ok(action) => {
            let what = format!("resolved with {}", action.name());
            for_each_selected(&form.all("id"), &what, |id| {
                let (console, viewer, action) = (&console, &viewer, action.clone());
                async move {
                    console
                        .hub
                        .resolve_exception(&id, &viewer.principal, action)
                        .await
                        .map(drop)
                }
            })
            .await
        }
    };
    render(&console, &viewer, &form.back(), Some(text)).await
}
