//! Transactions: found by correlation id, contract, PO, requisition, invoice, supplier or
//! facility; one transaction's lineage with every step, raw message, canonical event and
//! delivery attempt.

use std::collections::HashMap;

use axum::{
    extract::{Extension, Path, Query, State},
    response::{IntoResponse, Redirect, Response},
};
use concord_engine::Rejection;
use concord_model::{Phi, access::Scope};

use super::{
    Console, Viewer,
    html::{esc, link, table, url_part, when},
};
use crate::routes::ApiResult;

/// What a transaction can be searched by: the form's choices, each a search key kind (the
/// correlation id goes straight to the lineage).
const SEARCH_BY: [(&str, &str); 7] = [
    ("correlation", "Correlation id"),
    ("purchase_order", "PO number"),
    ("contract", "Contract"),
    ("requisition", "Requisition"),
    ("invoice", "Invoice number"),
    ("supplier", "Supplier"),
    ("facility", "Facility (GLN)"),
];

const RESULTS: u32 = 100;

pub(super) async fn search(
    State(console): State<Console>,
    Extension(viewer): Extension<Viewer>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let by = q.get("by").map(String::as_str).unwrap_or("purchase_order");
    let Some((by, _)) = SEARCH_BY.iter().find(|(k, _)| *k == by) else {
        return Err(Rejection::new(
            400,
            "validation",
            "Unknown search",
            format!("by must be one of {}", SEARCH_BY.map(|(k, _)| k).join(", ")),
        )
        .into());
    };
    let text = q.get("q").map(|s| s.trim()).filter(|s| !s.is_empty());
    if let Some(t) = text
        && t.len() > 128
    {
        return Err(Rejection::new(
            400,
            "validation",
            "Search too long",
            "search for at most 128 characters",
        )
        .into());
    }
    if *by == "correlation"
        && let Some(id) = text
    {
        return Ok(
            Redirect::to(&format!("/console/transactions/{}", url_part(id))).into_response(),
        );
    }
    let store = console.hub.store();
    let (found, heading) = match text {
        Some(t) => (
            store.find_transactions(by, t, RESULTS).await?,
            format!("Transactions for {} {}", by.replace('_', " "), t),
        ),
        None => (
            store.recent_transactions(50).await?,
            "Latest transactions".to_string(),
        ),
    };
    let mut body = String::from(
        "<form class=\"filters\" method=\"get\" action=\"/console/transactions\"><label>Search by<select name=\"by\" id=\"by\">",
    );
    for (key, label) in SEARCH_BY {
        let selected = if key == *by { " selected" } else { "" };
        body.push_str(&format!(
            "<option value=\"{key}\"{selected}>{label}</option>"
        ));
    }
    body.push_str(&format!(
        "</select></label><label>For<input name=\"q\" id=\"q\" value=\"{}\"></label>\
         <button type=\"submit\" id=\"search\">Search</button></form><h2>{}</h2>",
        esc(text.unwrap_or("")),
        esc(&heading)
    ));
    let rows: Vec<Vec<String>> = found
        .iter()
        .map(|t| {
            vec![
                link(
                    &format!("/console/transactions/{}", url_part(&t.correlation_id)),
                    &t.correlation_id,
                ),
                esc(&t.subject),
                when(t.at),
            ]
        })
        .collect();
    body.push_str(&table(
        "transactions",
        &["Correlation id", "Subject", "At"],
        &rows,
        "Nothing found.",
    ));
    Ok(viewer.page("Transactions", "/console/transactions", &body))
}

/// Pretty JSON in a `<pre>`, escaped.
fn json_block(value: &serde_json::Value) -> String {
    format!(
        "<pre>{}</pre>",
        esc(&serde_json::to_string_pretty(value).unwrap_or_default())
    )
}

pub(super) async fn lineage(
    State(console): State<Console>,
    Extension(viewer): Extension<Viewer>,
    Path(correlation_id): Path<String>,
) -> ApiResult<Response> {
    let hub = &console.hub;
    let store = hub.store();
    let timeline = store.timeline(&correlation_id).await?;
    let lineage = store.lineage(&correlation_id).await?;
    if timeline.is_empty() && lineage.inbox.is_empty() && lineage.events.is_empty() {
        return Err(Rejection::not_found(format!(
            "no transaction with correlation id {correlation_id}"
        ))
        .into());
    }
    let exceptions = store
        .list_exceptions(&concord_store::ExceptionFilter {
            status: "open".into(),
            correlation_id: Some(correlation_id.clone()),
            limit: 100,
            ..Default::default()
        })
        .await?;
    let mut body = format!(
        "<p>Correlation id <code id=\"correlation-id\">{}</code></p>",
        esc(&correlation_id)
    );
    if !exceptions.is_empty() {
        let links: Vec<String> = exceptions
            .iter()
            .map(|e| {
                link(
                    &format!("/console/exceptions?subject={}", url_part(&e.subject)),
                    &format!("{} on {}", e.kind, e.subject),
                )
            })
            .collect();
        body.push_str(&format!(
            "<div class=\"notice error\" id=\"open-exceptions\">Open: {}</div>",
            links.join(", ")
        ));
    }
    body.push_str("<h2>Timeline</h2>");
    let rows: Vec<Vec<String>> = timeline
        .iter()
        .map(|s| vec![when(s.at), esc(&s.step), json_block(&s.detail)])
        .collect();
    body.push_str(&table(
        "timeline",
        &["At", "Step", "Detail"],
        &rows,
        "No steps recorded.",
    ));

    body.push_str("<h2>Messages received (raw)</h2>");
    let rows: Vec<Vec<String>> = lineage
        .inbox
        .iter()
        .map(|m| {
            // Clinical systems' messages may carry patient data: shown only where the operator
            // switched patient data on, like the logs.
            let clinical = hub
                .config()
                .systems
                .get(&m.system)
                .is_some_and(|s| s.role == "ehr");
            let raw = if clinical {
                Phi(&m.body).to_string()
            } else {
                m.body.clone()
            };
            vec![
                when(m.received_at),
                esc(&m.system),
                esc(&m.message_type),
                esc(m.status.as_str()),
                format!("<pre>{}</pre>", esc(&raw)),
            ]
        })
        .collect();
    body.push_str(&table(
        "messages",
        &["Received", "System", "Type", "Status", "Body"],
        &rows,
        "No inbound message carries this correlation id.",
    ));

    body.push_str("<h2>Canonical events</h2>");
    let rows: Vec<Vec<String>> = lineage
        .events
        .iter()
        .map(|e| {
            vec![
                when(e.event.time),
                esc(&e.event.event_type),
                esc(&e.event.subject),
                json_block(&e.event.data),
            ]
        })
        .collect();
    body.push_str(&table(
        "events",
        &["At", "Type", "Subject", "Data"],
        &rows,
        "No events.",
    ));

    body.push_str("<h2>Deliveries</h2>");
    let mut rows = Vec::new();
    for d in &lineage.deliveries {
        let tried: Vec<String> = lineage
            .attempts
            .iter()
            .filter(|a| a.delivery_id == d.id)
            .map(|a| {
                format!(
                    "#{} {} {} {}{}",
                    a.attempt,
                    when(a.at),
                    esc(&a.outcome),
                    a.status_code.map(|c| c.to_string()).unwrap_or_default(),
                    a.error
                        .as_deref()
                        .map(|e| format!(": {}", esc(&Phi(e).to_string())))
                        .unwrap_or_default()
                )
            })
            .collect();
        let replay = if viewer.can(Scope::DeliveriesReplay) && d.status.as_str() == "dead" {
            format!(
                "<form method=\"post\" action=\"/console/deliveries/replay\">{}\
                 <input type=\"hidden\" name=\"id\" value=\"{}\"><button type=\"submit\" class=\"replay\">Replay</button></form>",
                viewer.csrf_field(),
                esc(&d.id)
            )
        } else {
            String::new()
        };
        rows.push(vec![
            esc(&d.target),
            esc(&d.message_type),
            format!(
                "<span class=\"status-{0}\">{0}</span>",
                esc(d.status.as_str())
            ),
            tried.join("<br>"),
            replay,
        ]);
    }
    body.push_str(&table(
        "deliveries",
        &["Target", "Type", "Status", "Attempts", ""],
        &rows,
        "No deliveries.",
    ));
    Ok(viewer.page("Transaction", "/console/transactions", &body))
}
