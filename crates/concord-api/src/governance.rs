//! Keys and the audit log over HTTP.

use std::collections::HashMap;

use axum::{
    Json,
    body::Bytes,
    extract::{Extension, Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use concord_engine::{Hub, governance::NewKey};
use concord_model::{
    FieldError,
    access::{Principal, Role},
    audit::verify,
};
use concord_store::AuditFilter;
use serde_json::json;

use crate::{
    problem::ApiError,
    routes::{ApiResult, limit, parse_body},
};

/// `{"name", "role", "system"?, "expires_at"? (RFC 3339) | "expires_in_days"?}`
pub(crate) async fn create_key(
    State(hub): State<Hub>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let value = parse_body(&headers, &body)?;
    let mut errors = Vec::new();
    let text = |field: &str| {
        value
            .get(field)
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let name = text("name").unwrap_or_default();
    let role = match text("role").map(|r| r.parse::<Role>()) {
        Some(Ok(role)) => Some(role),
        Some(Err(e)) => {
            errors.push(FieldError::new("role", "enum", e));
            None
        }
        None => {
            errors.push(FieldError::new("role", "required", "a key needs a role"));
            None
        }
    };
    let expires_at = match (text("expires_at"), value.get("expires_in_days")) {
        (Some(at), _) => match DateTime::parse_from_rfc3339(&at) {
            Ok(at) => Some(at.with_timezone(&Utc)),
            Err(e) => {
                errors.push(FieldError::new(
                    "expires_at",
                    "rfc3339",
                    format!("{at:?} is not an RFC 3339 time: {e}"),
                ));
                None
            }
        },
        (None, Some(days)) => match days.as_u64().filter(|d| (1..=3650).contains(d)) {
            Some(days) => Some(Utc::now() + chrono::Duration::days(days as i64)),
            None => {
                errors.push(FieldError::new(
                    "expires_in_days",
                    "range",
                    "expires_in_days must be a whole number from 1 to 3650",
                ));
                None
            }
        },
        (None, None) => None,
    };
    let (Some(role), true) = (role, errors.is_empty()) else {
        return Err(ApiError::bad_request(
            "validation",
            "the key request is invalid",
            errors,
        ));
    };
    let created = hub
        .create_key(
            NewKey {
                name,
                role,
                system: text("system"),
                user: text("user"),
                expires_at,
            },
            &principal.actor(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

pub(crate) async fn list_keys(State(hub): State<Hub>) -> ApiResult {
    let keys = hub.store().api_keys().await?;
    Ok(Json(json!({"keys": keys})).into_response())
}

pub(crate) async fn revoke_key(
    State(hub): State<Hub>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult {
    let key = hub.revoke_key(&id, &principal.actor()).await?;
    Ok(Json(json!({"key": key})).into_response())
}

/// `?action=&actor=&subject=&correlation_id=&since=<RFC 3339>&before_seq=&limit=`
pub(crate) async fn list_audit(
    State(hub): State<Hub>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let since = match q.get("since") {
        None => None,
        Some(s) => Some(
            DateTime::parse_from_rfc3339(s)
                .map_err(|e| {
                    ApiError::field(
                        400,
                        "since",
                        "rfc3339",
                        format!("{s:?} is not an RFC 3339 time: {e}"),
                    )
                })?
                .with_timezone(&Utc),
        ),
    };
    let before_seq = match q.get("before_seq") {
        None => None,
        Some(s) => Some(s.parse::<i64>().map_err(|_| {
            ApiError::field(
                400,
                "before_seq",
                "integer",
                format!("{s:?} is not a whole number"),
            )
        })?),
    };
    let filter = AuditFilter {
        action: q.get("action").cloned(),
        actor: q.get("actor").cloned(),
        subject: q.get("subject").cloned(),
        correlation_id: q.get("correlation_id").cloned(),
        since,
        before_seq,
        limit: limit(&q)?,
    };
    let entries = hub.store().audit_entries(&filter).await?;
    Ok(Json(json!({"entries": entries})).into_response())
}

pub(crate) async fn verify_audit(State(hub): State<Hub>) -> ApiResult<Response> {
    let chain = hub.store().audit_chain().await?;
    let findings = verify(&chain.entries, chain.head_seq, &chain.head_hash);
    let messages: Vec<String> = findings.iter().map(ToString::to_string).collect();
    Ok(Json(json!({
        "intact": findings.is_empty(),
        "sealed": chain.entries.len(),
        "unsealed": chain.unsealed,
        "findings": findings,
        "messages": messages,
    }))
    .into_response())
}
