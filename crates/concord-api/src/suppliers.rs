//! Handlers of part 5: supplier onboarding decisions, payment-detail changes, crosswalks,
//! exclusion search and reconciliation. Each parses and checks at the edge and calls the hub
//! with the principal as the actor.

use std::collections::HashMap;

use axum::{
    Json,
    body::Bytes,
    extract::{Extension, Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::IntoResponse,
};
use chrono::Utc;
use concord_engine::{
    Hub, Rejection, bank_changes::BankChangeInput, onboarding::OnboardingInput,
    reconciliation::RepairRequest,
};
use concord_model::{access::Principal, parse_canonical, screening};
use concord_store::{Crosswalk, CrosswalkFilter};
use serde_json::{Value, json};

use crate::{
    problem::ApiError,
    routes::{ApiResult, decision_text, found, limit, parse_body},
};

pub(crate) async fn get_onboarding(State(hub): State<Hub>, Path(id): Path<String>) -> ApiResult {
    found(
        hub.onboarding_view(&id).await?,
        format!("supplier onboarding {id}"),
    )
}

pub(crate) async fn approve_onboarding(
    State(hub): State<Hub>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    decision_text(&headers, &body, "comment", false)?;
    let view = hub
        .act_on_onboarding(&id, &principal, OnboardingInput::Approve)
        .await?;
    Ok(Json(view).into_response())
}

pub(crate) async fn reject_onboarding(
    State(hub): State<Hub>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let reason = decision_text(&headers, &body, "reason", true)?.unwrap_or_default();
    let view = hub
        .act_on_onboarding(&id, &principal, OnboardingInput::Reject { reason })
        .await?;
    Ok(Json(view).into_response())
}

pub(crate) async fn request_bank_change(
    State(hub): State<Hub>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let body = parse_body(&headers, &body)?;
    let view = hub.request_bank_change(&id, &principal, &body).await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

pub(crate) async fn get_bank_change(State(hub): State<Hub>, Path(id): Path<String>) -> ApiResult {
    found(
        hub.bank_change_view(&id).await?,
        format!("bank-detail change {id}"),
    )
}

pub(crate) async fn approve_bank_change(
    State(hub): State<Hub>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    decision_text(&headers, &body, "comment", false)?;
    let view = hub
        .act_on_bank_change(&id, &principal, BankChangeInput::Approve)
        .await?;
    Ok(Json(view).into_response())
}

pub(crate) async fn reject_bank_change(
    State(hub): State<Hub>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let reason = decision_text(&headers, &body, "reason", true)?.unwrap_or_default();
    let view = hub
        .act_on_bank_change(&id, &principal, BankChangeInput::Reject { reason })
        .await?;
    Ok(Json(view).into_response())
}

pub(crate) fn text_param(q: &HashMap<String, String>, name: &str) -> Option<String> {
    q.get(name)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

pub(crate) async fn list_crosswalks(
    State(hub): State<Hub>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let filter = CrosswalkFilter {
        system: text_param(&q, "system"),
        entity_type: text_param(&q, "entity_type"),
        canonical_id: text_param(&q, "canonical_id"),
        external_id: text_param(&q, "external_id"),
        limit: limit(&q)?,
    };
    let crosswalks = hub.store().list_crosswalks(&filter).await?;
    let open_conflicts = hub.store().open_crosswalk_conflicts().await?;
    Ok(Json(json!({"crosswalks": crosswalks, "open_conflicts": open_conflicts})).into_response())
}

pub(crate) async fn list_crosswalk_conflicts(
    State(hub): State<Hub>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let status = text_param(&q, "status").unwrap_or_else(|| "open".into());
    if !["open", "resolved"].contains(&status.as_str()) {
        return Err(ApiError::field(
            400,
            "status",
            "enum",
            "status is open or resolved".into(),
        ));
    }
    let conflicts = hub.store().crosswalk_conflicts(&status, limit(&q)?).await?;
    Ok(Json(json!({"conflicts": conflicts})).into_response())
}

/// The system must be configured: a crosswalk to a system the hub does not know is a typo.
fn known_system(hub: &Hub, system: &str) -> ApiResult<()> {
    if system == "concord" || hub.config().knows_system(system) {
        Ok(())
    } else {
        Err(ApiError::field(
            404,
            "system",
            "unknown_system",
            format!("no system {system:?} in the config"),
        ))
    }
}

pub(crate) async fn put_crosswalk(
    State(hub): State<Hub>,
    Extension(principal): Extension<Principal>,
    Path((system, entity_type, external_id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    known_system(&hub, &system)?;
    let body = parse_body(&headers, &body)?;
    let canonical_id = body
        .get("canonical_id")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| {
            ApiError::field(
                422,
                "canonical_id",
                "required",
                "canonical_id is required".into(),
            )
        })?
        .to_string();
    let mut errors = vec![];
    concord_model::master::check_id("canonical_id", &canonical_id, &mut errors);
    if let Some(e) = errors.into_iter().next() {
        return Err(ApiError::field(422, "canonical_id", &e.rule, e.message));
    }
    let before = hub
        .set_crosswalk(
            Crosswalk {
                system: system.clone(),
                entity_type: entity_type.clone(),
                external_id: external_id.clone(),
                canonical_id: canonical_id.clone(),
            },
            &principal.actor(),
            principal.user.as_deref(),
        )
        .await?;
    Ok(Json(json!({"system": system, "entity_type": entity_type,
        "external_id": external_id, "canonical_id": canonical_id, "previous": before}))
    .into_response())
}

pub(crate) async fn delete_crosswalk(
    State(hub): State<Hub>,
    Extension(principal): Extension<Principal>,
    Path((system, entity_type, external_id)): Path<(String, String, String)>,
) -> ApiResult {
    hub.delete_crosswalk(&system, &entity_type, &external_id, &principal.actor())
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Screening as a search: who on the exclusion lists matches a name (and NPI).
pub(crate) async fn search_exclusions(
    State(hub): State<Hub>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let name = text_param(&q, "name");
    let npi = match text_param(&q, "npi") {
        Some(n) => Some(
            concord_model::Npi::parse(&n)
                .map_err(|e| ApiError::field(400, "npi", "npi", e.to_string()))?
                .to_string(),
        ),
        None => None,
    };
    if name.is_none() && npi.is_none() {
        return Err(ApiError::field(
            400,
            "name",
            "required",
            "give a name, an npi or both".into(),
        ));
    }
    let name = name.unwrap_or_default();
    let keys = if name.is_empty() {
        vec![]
    } else {
        screening::lookup_keys(&name)
    };
    let entries = hub
        .store()
        .exclusion_candidates(npi.as_deref(), &keys)
        .await?;
    let hits = screening::screen(&name, npi.as_deref(), &entries, Utc::now().date_naive());
    let lists: HashMap<String, i64> = hub.store().exclusion_counts().await?.into_iter().collect();
    Ok(Json(json!({"hits": hits, "lists": lists})).into_response())
}

pub(crate) async fn run_reconciliation(
    State(hub): State<Hub>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    // The run takes no options yet: the body is `{}` (a JSON body, so that a stray request
    // without one starts nothing).
    let value = parse_body(&headers, &body)?;
    if value.as_object().is_none_or(|o| !o.is_empty()) {
        return Err(ApiError::field(
            422,
            "",
            "no_fields",
            "a reconciliation run takes the body {}".into(),
        ));
    }
    let run = hub.reconcile("on_demand", &principal.actor()).await?;
    let view = hub.reconciliation_view(&run.id).await?.unwrap_or_default();
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

pub(crate) async fn list_reconciliations(
    State(hub): State<Hub>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let runs = hub.store().reconciliation_runs(limit(&q)?).await?;
    Ok(Json(json!({"runs": runs})).into_response())
}

/// A run with its findings: JSON, or CSV with `?format=csv` (or `Accept: text/csv`).
pub(crate) async fn get_reconciliation(
    State(hub): State<Hub>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> ApiResult {
    let csv = match q.get("format").map(String::as_str) {
        None => headers
            .get(header::ACCEPT)
            .and_then(|a| a.to_str().ok())
            .is_some_and(|a| a.contains("text/csv")),
        Some("csv") => true,
        Some("json") => false,
        Some(other) => {
            return Err(ApiError::field(
                400,
                "format",
                "enum",
                format!("format {other:?}: json or csv"),
            ));
        }
    };
    let unknown = || ApiError::from(Rejection::not_found(format!("no reconciliation run {id}")));
    if !csv {
        let view = hub.reconciliation_view(&id).await?.ok_or_else(unknown)?;
        return Ok(Json(view).into_response());
    }
    if hub.store().reconciliation_run(&id).await?.is_none() {
        return Err(unknown());
    }
    let findings = hub.store().reconciliation_findings(&id).await?;
    let mut response = concord_engine::reconciliation::findings_csv(&findings).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{id}.csv\"")) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

pub(crate) async fn repair_reconciliation(
    State(hub): State<Hub>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let request: RepairRequest = if body.is_empty() {
        RepairRequest::default()
    } else {
        parse_canonical(&parse_body(&headers, &body)?).map_err(Rejection::invalid)?
    };
    let answer = hub.repair(&id, &principal, &request).await?;
    Ok(Json(answer).into_response())
}
