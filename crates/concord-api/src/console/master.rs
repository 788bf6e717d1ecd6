//! Master data: reconciliation runs (run one now, each run's findings per system and entity
//! type, the CSV, repair selected findings) and open crosswalk conflicts.

use std::collections::HashMap;

use axum::{
    extract::{Extension, Query, State},
    response::Response,
};
use concord_engine::reconciliation::RepairRequest;
use concord_model::access::Scope;

use super::{
    Console, Form, Viewer,
    html::{esc, link, table, url_part},
    notice,
};
use crate::routes::ApiResult;

pub(super) async fn page(
    State(console): State<Console>,
    Extension(viewer): Extension<Viewer>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    render(&console, &viewer, q.get("run").cloned(), None).await
}

async fn render(
    console: &Console,
    viewer: &Viewer,
    run: Option<String>,
    notice_html: Option<String>,
) -> ApiResult<Response> {
    let store = console.hub.store();
    let may_write = viewer.can(Scope::MasterWrite);
    let mut body = notice_html.unwrap_or_default();
    body.push_str("<h2>Reconciliation</h2>");
    if may_write {
        body.push_str(&format!(
            "<form method=\"post\" action=\"/console/master-data/reconcile\">{}\
             <button type=\"submit\" id=\"reconcile\">Run a reconciliation now</button></form>",
            viewer.csrf_field()
        ));
    }
    let runs = store.reconciliation_runs(20).await?;
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            vec![
                link(
                    &format!("/console/master-data?run={}", url_part(&r.id)),
                    &r.id,
                ),
                esc(&r.started_at.format("%Y-%m-%d %H:%M:%S UTC").to_string()),
                esc(&r.trigger),
                esc(&r.status),
                format!("<code>{}</code>", esc(&r.summary.to_string())),
            ]
        })
        .collect();
    body.push_str(&table(
        "runs",
        &["Run", "Started", "Trigger", "Status", "Counts"],
        &rows,
        "No reconciliation has run yet.",
    ));
    let shown = run.or_else(|| runs.first().map(|r| r.id.clone()));
    if let Some(run_id) = shown {
        let findings = store.reconciliation_findings(&run_id).await?;
        body.push_str(&format!(
            "<h2>Findings of {}</h2><p>{}</p>",
            esc(&run_id),
            link(
                &format!("/v1/reconciliations/{}?format=csv", url_part(&run_id)),
                "Download as CSV (API key)"
            )
        ));
        let rows: Vec<Vec<String>> = findings
            .iter()
            .map(|f| {
                let key = format!("{}|{}|{}", f.system, f.entity_type, f.entity_key);
                let pick = if may_write && f.repaired_at.is_none() && f.kind != "extra" {
                    format!(
                        "<input type=\"checkbox\" name=\"id\" value=\"{}\">",
                        esc(&key)
                    )
                } else {
                    String::new()
                };
                let fields: Vec<String> = f.detail["differences"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|d| {
                        format!(
                            "{}: {} ≠ {}",
                            esc(d["field"].as_str().unwrap_or("")),
                            esc(&d["canonical"].to_string()),
                            esc(&d["system"].to_string())
                        )
                    })
                    .collect();
                vec![
                    pick,
                    esc(&f.system),
                    esc(&f.entity_type),
                    esc(&f.entity_key),
                    esc(&f.kind),
                    fields.join("<br>"),
                    f.repaired_by
                        .as_deref()
                        .map(|b| format!("repaired by {}", esc(b)))
                        .unwrap_or_default(),
                ]
            })
            .collect();
        let table_html = table(
            "findings",
            &[
                "",
                "System",
                "Entity",
                "Key",
                "Kind",
                "Differences",
                "Repair",
            ],
            &rows,
            "Every system agrees with the canonical state.",
        );
        if may_write {
            body.push_str(&format!(
                "<form method=\"post\" action=\"/console/master-data/repair\">{}\
                 <input type=\"hidden\" name=\"run\" value=\"{}\">{table_html}\
                 <button type=\"submit\" id=\"repair\">Re-publish the canonical version of the selected</button></form>",
                viewer.csrf_field(),
                esc(&run_id)
            ));
        } else {
            body.push_str(&table_html);
        }
    }
    body.push_str("<h2>Open crosswalk conflicts</h2>");
    let conflicts = store.crosswalk_conflicts("open", 200).await?;
    let rows: Vec<Vec<String>> = conflicts
        .iter()
        .map(|c| {
            vec![
                esc(&c.system),
                esc(&c.entity_type),
                esc(&c.external_id),
                esc(&c.existing_canonical_id),
                esc(&c.proposed_canonical_id),
                esc(&c.detected_at.format("%Y-%m-%d %H:%M UTC").to_string()),
            ]
        })
        .collect();
    body.push_str(&table(
        "conflicts",
        &["System", "Entity", "External id", "Mapped to", "Also claimed by", "Detected"],
        &rows,
        "No open conflicts. (A person resolves one with PUT /v1/crosswalks/{system}/{entity}/{id}.)",
    ));
    Ok(viewer.page("Master data", "/console/master-data", &body))
}

pub(super) async fn reconcile(
    State(console): State<Console>,
    Extension(viewer): Extension<Viewer>,
    _form: Form,
) -> ApiResult<Response> {
    let run = console.hub.reconcile("console", &viewer.actor()).await?;
    let text = notice(
        run.status == "completed",
        &[format!("Run {} {}: {}", run.id, run.status, run.summary)],
    );
    render(&console, &viewer, Some(run.id), Some(text)).await
}

pub(super) async fn repair(
    State(console): State<Console>,
    Extension(viewer): Extension<Viewer>,
    form: Form,
) -> ApiResult<Response> {
    let run = form.get("run").unwrap_or_default().to_string();
    let picked = form.all("id");
    if picked.is_empty() {
        let text = notice(false, &["Select at least one first.".to_string()]);
        return render(&console, &viewer, Some(run), Some(text)).await;
    }
    // One repair per system and entity type, naming its keys: the run's findings are read
    // once per group, not once per pick.
    let mut groups: std::collections::BTreeMap<(String, String), Vec<String>> = Default::default();
    for id in picked {
        let mut parts = id.splitn(3, '|');
        if let (Some(system), Some(entity), Some(key)) = (parts.next(), parts.next(), parts.next())
        {
            groups
                .entry((system.into(), entity.into()))
                .or_default()
                .push(key.into());
        }
    }
    let mut lines = vec![];
    let mut all_ok = true;
    for ((system, entity), keys) in groups {
        let request = RepairRequest {
            system: Some(system),
            entity_type: Some(entity),
            keys: Some(keys),
        };
        let answer = console
            .hub
            .repair(&run, &viewer.principal, &request)
            .await?;
        for r in answer["repairs"].as_array().into_iter().flatten() {
            let outcome = r["result"]["outcome"].as_str().unwrap_or("?");
            all_ok &= outcome == "republished";
            lines.push(format!(
                "{} {} {}: {outcome}",
                r["system"].as_str().unwrap_or(""),
                r["entity_type"].as_str().unwrap_or(""),
                r["key"].as_str().unwrap_or("")
            ));
        }
    }
    render(&console, &viewer, Some(run), Some(notice(all_ok, &lines))).await
}
