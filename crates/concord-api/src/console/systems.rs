//! Systems: each configured system, its routes and mappings, its recent traffic, and a button
//! that tests its connection.

use axum::{
    extract::{Extension, Path, State},
    response::Response,
};
use chrono::Utc;
use concord_model::access::Scope;

use super::{
    Console, Form, Viewer,
    html::{esc, table},
    overview::{Range, systems_health},
};
use crate::routes::ApiResult;

pub(super) async fn page(
    State(console): State<Console>,
    Extension(viewer): Extension<Viewer>,
) -> ApiResult<Response> {
    render(&console, &viewer, None).await
}

async fn render(console: &Console, viewer: &Viewer, notice: Option<String>) -> ApiResult<Response> {
    let hub = &console.hub;
    let mut body = notice.unwrap_or_default();
    body.push_str("<h2>Traffic in the last day</h2>");
    let store = hub.store();
    let queue = store.open_delivery_counts().await?;
    let paused = store.paused_targets().await?;
    body.push_str(
        &systems_health(
            console,
            viewer,
            Utc::now() - Range::Day.length(),
            &queue,
            &paused,
        )
        .await?,
    );
    body.push_str("<h2>Configuration</h2>");
    let may_test = viewer.can(Scope::DeliveriesReplay);
    let rows: Vec<Vec<String>> = hub
        .config()
        .systems
        .iter()
        .map(|(name, s)| {
            let list = |items: Vec<String>| {
                if items.is_empty() {
                    "–".to_string()
                } else {
                    items.join("<br>")
                }
            };
            let inbound = list(
                s.inbound
                    .iter()
                    .map(|(t, r)| format!("{} ← <code>{}</code>", esc(t), esc(&r.mapping.display().to_string())))
                    .collect(),
            );
            let outbound = list(
                s.outbound
                    .iter()
                    .map(|(t, r)| format!("{} → <code>{}</code>", esc(t), esc(&r.mapping.display().to_string())))
                    .collect(),
            );
            let test = if may_test && s.base_url.is_some() {
                format!(
                    "<form method=\"post\" action=\"/console/systems/{0}/test\">{1}\
                     <button type=\"submit\" class=\"secondary\" id=\"test-{0}\">Test connection</button></form>",
                    esc(name),
                    viewer.csrf_field()
                )
            } else {
                String::new()
            };
            vec![
                esc(name),
                esc(&s.role),
                esc(s.base_url.as_deref().unwrap_or("–")),
                inbound,
                outbound,
                test,
            ]
        })
        .collect();
    body.push_str(&table(
        "systems",
        &[
            "System",
            "Role",
            "Base URL",
            "Inbound (mapping)",
            "Outbound (mapping)",
            "",
        ],
        &rows,
        "No systems are configured.",
    ));
    Ok(viewer.page("Systems", "/console/systems", &body))
}

pub(super) async fn test(
    State(console): State<Console>,
    Extension(viewer): Extension<Viewer>,
    Path(system): Path<String>,
    _form: Form,
) -> ApiResult<Response> {
    let check = console.hub.test_connection(&system).await?;
    let text = match (&check.status, &check.error) {
        (Some(status), _) => format!(
            "<div class=\"notice\" id=\"notice\">{} answered HTTP {status} in {} ms ({}).</div>",
            esc(&system),
            check.latency_ms,
            esc(&check.url)
        ),
        (None, error) => format!(
            "<div class=\"notice error\" id=\"notice\">{} did not answer after {} ms: {}</div>",
            esc(&system),
            check.latency_ms,
            esc(error.as_deref().unwrap_or("no answer"))
        ),
    };
    render(&console, &viewer, Some(text)).await
}
