//! Deliveries: dead letters and queues per system, replay one or many (the API's `POST
//! /v1/deliveries/{id}/replay`), pause and resume a target for a maintenance window.

use std::collections::{BTreeMap, HashMap};

use axum::{
    extract::{Extension, Query, State},
    response::Response,
};
use concord_engine::Rejection;
use concord_model::{Phi, access::Scope};
use concord_store::DeliveryStatus;

use super::{
    Console, Form, Viewer, back_field, for_each_selected,
    html::{age, esc, link, table, url_part, when},
    notice,
};
use crate::routes::ApiResult;

const MAX_LISTED: u32 = 200;

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
    let store = console.hub.store();
    // The operational views: what is dead, waiting or being sent. Delivered work is found by
    // its transaction (a million rows are no list to read).
    let status = match q.get("status").map(String::as_str) {
        None | Some("") | Some("dead") => DeliveryStatus::Dead,
        Some("pending") => DeliveryStatus::Pending,
        Some("in_flight") => DeliveryStatus::InFlight,
        Some(other) => {
            return Err(Rejection::new(
                400,
                "validation",
                "Unknown status",
                format!(
                    "status {other:?} must be dead, pending or in_flight; find delivered work by its transaction"
                ),
            )
            .into());
        }
    };
    let target = q.get("target").map(|t| t.trim()).filter(|t| !t.is_empty());
    if let Some(t) = target
        && !console.hub.config().systems.contains_key(t)
    {
        return Err(Rejection::not_found(format!("no system {t:?} is configured")).into());
    }
    let may_act = viewer.can(Scope::DeliveriesReplay);
    let mut body = notice.unwrap_or_default();

    // Per system: what waits, what is dead, and whether it is paused.
    let queue = store.open_delivery_counts().await?;
    let paused = store.paused_targets().await?;
    let mut per: BTreeMap<&str, [i64; 3]> = console
        .hub
        .config()
        .systems
        .keys()
        .map(|s| (s.as_str(), [0; 3]))
        .collect();
    for (t, s, n) in &queue {
        if let Some(c) = per.get_mut(t.as_str()) {
            let i = match s.as_str() {
                "pending" => 0,
                "in_flight" => 1,
                _ => 2,
            };
            c[i] += n;
        }
    }
    let rows: Vec<Vec<String>> = per
        .iter()
        .map(|(system, [pending, in_flight, dead])| {
            let pause = paused.iter().find(|p| p.target == *system);
            let state = match pause {
                Some(p) => format!(
                    "<span class=\"warn\">paused</span> {} ago by {}: {}",
                    age(chrono::Utc::now() - p.paused_at),
                    esc(&p.actor),
                    esc(&p.reason)
                ),
                None => "delivering".into(),
            };
            let control = match (may_act, pause) {
                (false, _) => String::new(),
                (true, Some(_)) => format!(
                    "<form method=\"post\" action=\"/console/deliveries/resume\">{}\
                     <input type=\"hidden\" name=\"target\" value=\"{}\">\
                     <button type=\"submit\" id=\"resume-{1}\">Resume</button></form>",
                    viewer.csrf_field(),
                    esc(system)
                ),
                (true, None) => format!(
                    "<form method=\"post\" action=\"/console/deliveries/pause\">{}\
                     <input type=\"hidden\" name=\"target\" value=\"{}\">\
                     <input name=\"reason\" placeholder=\"why (maintenance window…)\" required>\
                     <button type=\"submit\" class=\"secondary\" id=\"pause-{1}\">Pause</button></form>",
                    viewer.csrf_field(),
                    esc(system)
                ),
            };
            vec![
                link(
                    &format!("/console/deliveries?status=dead&target={}", url_part(system)),
                    system,
                ),
                pending.to_string(),
                in_flight.to_string(),
                dead.to_string(),
                state,
                control,
            ]
        })
        .collect();
    body.push_str(&table(
        "targets",
        &["System", "Pending", "In flight", "Dead", "State", ""],
        &rows,
        "No systems are configured.",
    ));

    body.push_str(
        "<h2>Deliveries</h2><form class=\"filters\" method=\"get\" action=\"/console/deliveries\">\
         <label>Status<select name=\"status\">",
    );
    for s in ["dead", "pending", "in_flight"] {
        let selected = if s == status.as_str() {
            " selected"
        } else {
            ""
        };
        body.push_str(&format!("<option{selected}>{s}</option>"));
    }
    body.push_str(
        "</select></label><label>System<select name=\"target\"><option value=\"\">any</option>",
    );
    for system in console.hub.config().systems.keys() {
        let selected = if Some(system.as_str()) == target {
            " selected"
        } else {
            ""
        };
        body.push_str(&format!("<option{selected}>{}</option>", esc(system)));
    }
    body.push_str("</select></label><button type=\"submit\">Show</button></form>");

    let deliveries = store
        .list_deliveries(Some(status), target, MAX_LISTED)
        .await?;
    let replayable = may_act && status == DeliveryStatus::Dead;
    let rows: Vec<Vec<String>> = deliveries
        .iter()
        .map(|d| {
            let mut row = Vec::with_capacity(8);
            if replayable {
                row.push(format!(
                    "<input type=\"checkbox\" name=\"id\" value=\"{0}\" aria-label=\"select {0}\">",
                    esc(&d.id)
                ));
            }
            row.extend([
                esc(&d.target),
                esc(&d.message_type),
                esc(&d.subject),
                d.attempts.to_string(),
                when(d.updated_at),
                esc(&d
                    .last_error
                    .as_deref()
                    .map(|e| Phi(e).to_string())
                    .unwrap_or_default()),
                link(
                    &format!("/console/transactions/{}", url_part(&d.correlation_id)),
                    "lineage",
                ),
            ]);
            row
        })
        .collect();
    let mut headers = if replayable { vec![""] } else { vec![] };
    headers.extend([
        "Target",
        "Type",
        "Subject",
        "Attempts",
        "Updated",
        "Last error",
        "",
    ]);
    let listing = table("deliveries", &headers, &rows, "No deliveries match.");
    if replayable && !deliveries.is_empty() {
        body.push_str(&format!(
            "<form method=\"post\" action=\"/console/deliveries/replay\">{}{}{listing}\
             <div class=\"actions\"><button type=\"submit\" id=\"replay\">Replay selected</button></div></form>",
            viewer.csrf_field(),
            back_field(q)
        ));
    } else {
        body.push_str(&listing);
    }
    Ok(viewer.page("Deliveries", "/console/deliveries", &body))
}

/// Replays the selected deliveries (each keeps its idempotency key).
pub(super) async fn replay(
    State(console): State<Console>,
    Extension(viewer): Extension<Viewer>,
    form: Form,
) -> ApiResult<Response> {
    let actor = viewer.actor();
    let text = for_each_selected(&form.all("id"), "queued again", |id| {
        let (console, actor) = (&console, &actor);
        async move { console.hub.replay_delivery(&id, actor).await.map(drop) }
    })
    .await;
    render(&console, &viewer, &form.back(), Some(text)).await
}

pub(super) async fn pause(
    State(console): State<Console>,
    Extension(viewer): Extension<Viewer>,
    form: Form,
) -> ApiResult<Response> {
    let target = form.get("target").unwrap_or("");
    console
        .hub
        .pause_target(target, &viewer.actor(), form.get("reason").unwrap_or(""))
        .await?;
    let text = notice(
        true,
        &[format!(
            "{target} is paused: its deliveries wait until it is resumed."
        )],
    );
    render(&console, &viewer, &HashMap::new(), Some(text)).await
}

pub(super) async fn resume(
    State(console): State<Console>,
    Extension(viewer): Extension<Viewer>,
    form: Form,
) -> ApiResult<Response> {
    let target = form.get("target").unwrap_or("");
    console.hub.resume_target(target, &viewer.actor()).await?;
    let text = notice(true, &[format!("{target} is delivering again.")]);
    render(&console, &viewer, &HashMap::new(), Some(text)).await
}
