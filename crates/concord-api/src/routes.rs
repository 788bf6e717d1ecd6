//! The `/v1` routes and the health endpoints.

use std::collections::HashMap;

use axum::{
    Json, Router,
    body::Bytes,
    extract::{DefaultBodyLimit, Extension, Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode},
    middleware,
    response::{IntoResponse, Response},
    routing::{MethodRouter, delete, get, post, put},
};
use chrono::{NaiveDate, Utc};
use concord_engine::{
    API_SYSTEM, Hub, Inbound, InboundAnswer, MasterRecord, Rejection, requisitions::ApprovalInput,
};
use concord_model::{Gln, Gtin, PriceQuery, access::Principal, price::LookupError};
use concord_store::{DeliveryStatus, InboxStatus};
use serde_json::{Value, json};

use crate::{
    access::{self, Gate, ROUTES, RouteSpec},
    governance, openapi,
    problem::{ApiError, problem_response},
    suppliers,
};

pub(crate) type ApiResult<T = Response> = Result<T, ApiError>;

pub fn router(hub: Hub) -> Router {
    let max_body = hub.config().hub.max_body_bytes;
    let gate_for = Gate::for_routes(&hub);
    let mut router = Router::new();
    for spec in ROUTES {
        let gated =
            handler(spec).route_layer(middleware::from_fn_with_state(gate_for(spec), access::gate));
        router = router.route(spec.path, gated);
    }
    let edge = crate::edge::Edge::new(hub.config());
    let console = crate::console::router(hub.clone());
    router
        .fallback(not_found)
        .with_state(hub)
        .merge(console)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn_with_state(edge, crate::edge::edge))
}

/// The handler of each route in the table. A table entry without a handler panics here, when
/// the router is built: every test builds it.
fn handler(spec: &RouteSpec) -> MethodRouter<Hub> {
    match (spec.method.as_str(), spec.path) {
        ("GET", "/healthz") => get(healthz),
        ("GET", "/readyz") => get(readyz),
        ("GET", "/metrics") => get(metrics),
        ("POST", "/v1/inbound/{system}/{message_type}") => post(inbound),
        ("POST", "/v1/contracts") => post_canonical("contract"),
        ("GET", "/v1/contracts/{id}") => get(get_contract),
        ("POST", "/v1/requisitions") => post_canonical("requisition"),
        ("GET", "/v1/requisitions/{id}") => get(get_requisition),
        ("POST", "/v1/requisitions/{id}/approve") => post(approve_requisition),
        ("POST", "/v1/requisitions/{id}/reject") => post(reject_requisition),
        ("PUT", "/v1/suppliers/{id}") => put(put_supplier),
        ("POST", "/v1/supplier-onboardings") => post_canonical("supplier_onboarding"),
        ("GET", "/v1/supplier-onboardings/{id}") => get(suppliers::get_onboarding),
        ("POST", "/v1/supplier-onboardings/{id}/approve") => post(suppliers::approve_onboarding),
        ("POST", "/v1/supplier-onboardings/{id}/reject") => post(suppliers::reject_onboarding),
        ("POST", "/v1/suppliers/{id}/bank-changes") => post(suppliers::request_bank_change),
        ("GET", "/v1/bank-changes/{id}") => get(suppliers::get_bank_change),
        ("POST", "/v1/bank-changes/{id}/approve") => post(suppliers::approve_bank_change),
        ("POST", "/v1/bank-changes/{id}/reject") => post(suppliers::reject_bank_change),
        ("POST", "/v1/fhir/{resource_type}") => post(crate::clinical::post_fhir),
        ("PUT", "/v1/stock/{facility}/{location}/{gtin}") => put(crate::clinical::put_stock),
        ("GET", "/v1/stock") => get(crate::clinical::list_stock),
        ("GET", "/v1/usages/{id}") => get(crate::clinical::get_usage),
        ("GET", "/v1/crosswalks") => get(suppliers::list_crosswalks),
        ("GET", "/v1/crosswalks/conflicts") => get(suppliers::list_crosswalk_conflicts),
        ("PUT", "/v1/crosswalks/{system}/{entity_type}/{external_id}") => {
            put(suppliers::put_crosswalk)
        }
        ("DELETE", "/v1/crosswalks/{system}/{entity_type}/{external_id}") => {
            delete(suppliers::delete_crosswalk)
        }
        ("GET", "/v1/exclusions") => get(suppliers::search_exclusions),
        ("POST", "/v1/reconciliations") => post(suppliers::run_reconciliation),
        ("GET", "/v1/reconciliations") => get(suppliers::list_reconciliations),
        ("GET", "/v1/reconciliations/{id}") => get(suppliers::get_reconciliation),
        ("POST", "/v1/reconciliations/{id}/repair") => post(suppliers::repair_reconciliation),
        ("PUT", "/v1/items/{gtin}") => put(put_item),
        ("PUT", "/v1/facilities/{gln}") => put(put_facility),
        ("GET", "/v1/prices") => get(get_price),
        ("GET", "/v1/deliveries") => get(list_deliveries),
        ("GET", "/v1/deliveries/{id}") => get(get_delivery),
        ("POST", "/v1/deliveries/{id}/replay") => post(replay_delivery),
        ("GET", "/v1/transactions/{correlation_id}") => get(get_transaction),
        ("GET", "/v1/exceptions") => get(list_exceptions),
        ("POST", "/v1/exceptions/{id}/resolve") => post(resolve_exception),
        ("GET", "/v1/purchase-orders/{id}") => get(get_purchase_order),
        ("GET", "/v1/quarantine") => get(list_quarantine),
        ("GET", "/v1/quarantine/{id}") => get(get_quarantined),
        ("POST", "/v1/quarantine/{id}/replay") => post(replay_quarantined),
        ("POST", "/v1/keys") => post(governance::create_key),
        ("GET", "/v1/keys") => get(governance::list_keys),
        ("DELETE", "/v1/keys/{id}") => delete(governance::revoke_key),
        ("GET", "/v1/audit") => get(governance::list_audit),
        ("GET", "/v1/audit/verify") => get(governance::verify_audit),
        ("GET", "/v1/openapi.json") => get(openapi::openapi_json),
        ("GET", "/v1/docs") => get(openapi::docs_page),
        ("GET", "/v1/schemas") => get(openapi::schemas_json),
        (method, path) => panic!("the route table names {method} {path}, which has no handler"),
    }
}

async fn not_found(uri: axum::http::Uri) -> Response {
    if uri.path() == "/console" || uri.path().starts_with("/console/") {
        return crate::console::not_found_page(uri.path());
    }
    ApiError(Rejection::not_found(
        "no such route; the API lives under /v1",
    ))
    .into_response()
}

async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// A worker that has not gone round its loop for this long is reported as not running.
const WORKER_STALE: std::time::Duration = std::time::Duration::from_secs(30);

async fn readyz(State(hub): State<Hub>) -> Response {
    let store = hub.store();
    let not_ready = |reason: String| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "not_ready", "reason": reason})),
        )
            .into_response()
    };
    let v = match (store.ping().await, store.schema_version().await) {
        (Ok(()), Ok(v)) if v >= concord_store::SCHEMA_VERSION => v,
        (Ok(()), Ok(v)) => {
            return not_ready(format!(
                "schema version {v}, expected {}",
                concord_store::SCHEMA_VERSION
            ));
        }
        (Err(e), _) | (_, Err(e)) => return not_ready(format!("store unreachable: {e}")),
    };
    match hub.workers_not_running(WORKER_STALE) {
        None => Json(
            json!({"status": "ready", "schema_version": v, "workers": concord_engine::hub::WORKERS}),
        )
        .into_response(),
        Some(reason) => not_ready(reason),
    }
}

async fn metrics(State(hub): State<Hub>) -> ApiResult {
    let text = hub.render_metrics().await?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .filter(|s| !s.is_empty())
}

pub(crate) fn answer(a: InboundAnswer) -> Response {
    let mut response = if a.status >= 400 {
        problem_response(a.status, a.body)
    } else {
        (
            StatusCode::from_u16(a.status).unwrap_or(StatusCode::ACCEPTED),
            Json(a.body),
        )
            .into_response()
    };
    if a.replayed {
        response
            .headers_mut()
            .insert("Idempotent-Replayed", HeaderValue::from_static("true"));
    }
    response
}

pub(crate) fn check_json_content_type(headers: &HeaderMap) -> ApiResult<String> {
    let content_type = header(headers, "content-type").unwrap_or_else(|| "application/json".into());
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json" || essence.ends_with("+json") {
        Ok(content_type)
    } else {
        Err(ApiError(Rejection::new(
            415,
            "unsupported_media_type",
            "Unsupported media type",
            format!("expected application/json, got {content_type:?}"),
        )))
    }
}

/// X12 comes as `application/edi-x12` (RFC 1767), or as plain text from simpler gateways.
fn check_x12_content_type(headers: &HeaderMap) -> ApiResult<String> {
    let content_type = header(headers, "content-type").unwrap_or_default();
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if ["application/edi-x12", "text/plain"].contains(&essence.as_str()) {
        Ok(content_type)
    } else {
        Err(ApiError(Rejection::new(
            415,
            "unsupported_media_type",
            "Unsupported media type",
            format!(
                "an X12 interchange is sent as application/edi-x12 (or text/plain), got {content_type:?}"
            ),
        )))
    }
}

/// The transaction's correlation id: the caller's `X-Correlation-Id`, else the trace id of a
/// valid W3C `traceparent` (so the hub's deliveries continue the caller's trace; an invalid
/// one is ignored, as the spec says), else none and the hub makes one.
fn correlation_id(headers: &HeaderMap) -> Option<String> {
    header(headers, "x-correlation-id")
        .filter(|c| c.len() <= 128)
        .or_else(|| {
            let trace =
                concord_engine::trace::TraceParent::parse(&header(headers, "traceparent")?)?;
            Some(concord_engine::trace::correlation_for(&trace))
        })
}

async fn receive(
    hub: &Hub,
    principal: &Principal,
    system: String,
    message_type: String,
    headers: &HeaderMap,
    body: Bytes,
) -> ApiResult {
    let content_type = if message_type == concord_engine::x12_inbound::X12 {
        check_x12_content_type(headers)?
    } else {
        check_json_content_type(headers)?
    };
    let idempotency_key = header(headers, "idempotency-key");
    if idempotency_key.as_ref().is_some_and(|k| k.len() > 255) {
        return Err(ApiError::field(
            400,
            "Idempotency-Key",
            "max_length",
            "Idempotency-Key must be at most 255 characters".into(),
        ));
    }
    let message = Inbound {
        system,
        message_type,
        idempotency_key,
        correlation_id: correlation_id(headers),
        content_type,
        body: body.to_vec(),
        actor: Some(principal.actor()),
    };
    Ok(answer(hub.receive(message).await?))
}

async fn inbound(
    State(hub): State<Hub>,
    Extension(principal): Extension<Principal>,
    Path((system, message_type)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    if system == API_SYSTEM {
        return Err(Rejection::not_found(
            "the canonical API is POST /v1/contracts and POST /v1/requisitions",
        )
        .into());
    }
    receive(&hub, &principal, system, message_type, &headers, body).await
}

/// `POST /v1/contracts` and `POST /v1/requisitions`: the canonical API's messages, through the
/// same pipeline as a system's native ones (no mapping).
fn post_canonical(message_type: &'static str) -> MethodRouter<Hub> {
    post(
        move |State(hub): State<Hub>,
              Extension(principal): Extension<Principal>,
              headers: HeaderMap,
              body: Bytes| async move {
            let system = API_SYSTEM.to_string();
            receive(
                &hub,
                &principal,
                system,
                message_type.into(),
                &headers,
                body,
            )
            .await
        },
    )
}

/// A view, or a 404 naming what was not found (`what`: "contract C-1").
pub(crate) fn found(view: Option<Value>, what: String) -> ApiResult {
    match view {
        Some(view) => Ok(Json(view).into_response()),
        None => Err(Rejection::not_found(format!("no {what}")).into()),
    }
}

/// A GTIN in a path, check digit verified.
pub(crate) fn path_gtin(gtin: &str) -> ApiResult<Gtin> {
    Gtin::parse(gtin).map_err(|e| ApiError::field(400, "gtin", "check_digit", format!("path: {e}")))
}

async fn get_contract(State(hub): State<Hub>, Path(id): Path<String>) -> ApiResult {
    found(hub.contract_view(&id).await?, format!("contract {id}"))
}

async fn get_requisition(State(hub): State<Hub>, Path(id): Path<String>) -> ApiResult {
    found(
        hub.requisition_view(&id).await?,
        format!("requisition {id}"),
    )
}

/// The optional text field of a decision body (an empty body is fine for an approval).
pub(crate) fn decision_text(
    headers: &HeaderMap,
    body: &Bytes,
    field: &'static str,
    required: bool,
) -> ApiResult<Option<String>> {
    let value = if body.is_empty() && !required {
        Value::Null
    } else {
        parse_body(headers, body)?
    };
    let text = value.get(field).and_then(Value::as_str).map(str::trim);
    match text {
        Some(t) if t.len() > 2000 => Err(ApiError::field(
            422,
            field,
            "max_length",
            format!("{field} is at most 2000 characters"),
        )),
        Some(t) if !t.is_empty() => Ok(Some(t.to_string())),
        _ if required => Err(ApiError::field(
            422,
            field,
            "required",
            format!("a {field} is required"),
        )),
        _ => Ok(None),
    }
}

async fn approve_requisition(
    State(hub): State<Hub>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let comment = decision_text(&headers, &body, "comment", false)?;
    let view = hub
        .act_on_requisition(&id, &principal, ApprovalInput::Approve { comment })
        .await?;
    Ok(Json(view).into_response())
}

async fn reject_requisition(
    State(hub): State<Hub>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let reason = decision_text(&headers, &body, "reason", true)?.unwrap_or_default();
    let view = hub
        .act_on_requisition(&id, &principal, ApprovalInput::Reject { reason })
        .await?;
    Ok(Json(view).into_response())
}

pub(crate) fn parse_body(headers: &HeaderMap, body: &Bytes) -> ApiResult<Value> {
    check_json_content_type(headers)?;
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(
            "malformed_json",
            format!(
                "the body is not valid JSON: line {}, column {}: {e}",
                e.line(),
                e.column()
            ),
            vec![],
        )
    })
}

/// Upserts a master record whose key in the path must match the body.
async fn put_master(
    hub: &Hub,
    principal: &Principal,
    entity: &str,
    key_field: &str,
    key: String,
    headers: &HeaderMap,
    body: Bytes,
) -> ApiResult {
    let value = parse_body(headers, &body)?;
    let record = MasterRecord::parse(entity, &value).map_err(ApiError::from)?;
    if record.key() != key {
        return Err(ApiError::field(
            422,
            key_field,
            "path_mismatch",
            format!(
                "{key_field} {} in the body differs from {key} in the path",
                record.key()
            ),
        ));
    }
    hub.upsert_master(record, vec![], &principal.actor())
        .await?;
    Ok((StatusCode::OK, Json(value)).into_response())
}

async fn put_supplier(
    State(hub): State<Hub>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    put_master(&hub, &principal, "supplier", "id", id, &headers, body).await
}

async fn put_item(
    State(hub): State<Hub>,
    Extension(principal): Extension<Principal>,
    Path(gtin): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let gtin = path_gtin(&gtin)?;
    put_master(
        &hub,
        &principal,
        "item",
        "gtin",
        gtin.to_string(),
        &headers,
        body,
    )
    .await
}

async fn put_facility(
    State(hub): State<Hub>,
    Extension(principal): Extension<Principal>,
    Path(gln): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let gln = Gln::parse(&gln)
        .map_err(|e| ApiError::field(400, "gln", "check_digit", format!("path: {e}")))?;
    put_master(
        &hub,
        &principal,
        "facility",
        "gln",
        gln.to_string(),
        &headers,
        body,
    )
    .await
}

async fn get_price(State(hub): State<Hub>, Query(q): Query<HashMap<String, String>>) -> ApiResult {
    let required = |name: &str| {
        q.get(name).ok_or_else(|| {
            ApiError::field(
                400,
                name,
                "required",
                format!("query parameter {name} is required"),
            )
        })
    };
    let item = Gtin::parse(required("item")?)
        .map_err(|e| ApiError::field(400, "item", "gtin", e.to_string()))?;
    let facility = Gln::parse(required("facility")?)
        .map_err(|e| ApiError::field(400, "facility", "gln", e.to_string()))?;
    let quantity = match q.get("quantity") {
        None => 1,
        Some(n) => n.parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| {
            ApiError::field(
                400,
                "quantity",
                "positive_integer",
                format!("quantity {n:?} is not a positive whole number"),
            )
        })?,
    };
    let date = match q.get("date") {
        None => Utc::now().date_naive(),
        Some(d) => NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| {
            ApiError::field(400, "date", "date", format!("date {d:?} is not YYYY-MM-DD"))
        })?,
    };
    let answer = hub.prices().lookup(&PriceQuery {
        item,
        facility,
        quantity,
        date,
    });
    match answer {
        Ok(a) => Ok(Json(a).into_response()),
        Err(e @ LookupError::UnknownItem(_)) => {
            Err(ApiError::field(404, "item", "unknown_item", e.to_string()))
        }
        Err(e @ LookupError::UnknownFacility(_)) => Err(ApiError::field(
            404,
            "facility",
            "unknown_facility",
            e.to_string(),
        )),
    }
}

pub(crate) fn limit(q: &HashMap<String, String>) -> ApiResult<u32> {
    match q.get("limit") {
        None => Ok(100),
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|l| (1..=1000).contains(l))
            .ok_or_else(|| {
                ApiError::field(
                    400,
                    "limit",
                    "range",
                    format!("limit {l:?} must be 1 to 1000"),
                )
            }),
    }
}

async fn list_deliveries(
    State(hub): State<Hub>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let status = match q.get("status").map(String::as_str) {
        None | Some("") => None,
        Some(s) => Some(s.parse::<DeliveryStatus>().map_err(|e| {
            ApiError::field(
                400,
                "status",
                "enum",
                format!("{e}; expected pending, in_flight, delivered or dead"),
            )
        })?),
    };
    let target = q
        .get("target")
        .map(String::as_str)
        .filter(|t| !t.is_empty());
    let deliveries = hub
        .store()
        .list_deliveries(status, target, limit(&q)?)
        .await?;
    Ok(Json(json!({"deliveries": deliveries})).into_response())
}

async fn get_delivery(State(hub): State<Hub>, Path(id): Path<String>) -> ApiResult {
    let delivery = hub
        .store()
        .delivery(&id)
        .await?
        .ok_or_else(|| Rejection::not_found(format!("no delivery {id}")))?;
    let attempts = hub.store().attempts(&id).await?;
    Ok(Json(json!({"delivery": delivery, "attempts": attempts})).into_response())
}

async fn replay_delivery(
    State(hub): State<Hub>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult {
    let delivery = hub.replay_delivery(&id, &principal.actor()).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"delivery": delivery}))).into_response())
}

async fn get_transaction(State(hub): State<Hub>, Path(correlation_id): Path<String>) -> ApiResult {
    let timeline = hub.store().timeline(&correlation_id).await?;
    if timeline.is_empty() {
        return Err(Rejection::not_found(format!(
            "no transaction with correlation id {correlation_id}"
        ))
        .into());
    }
    Ok(Json(json!({"correlation_id": correlation_id, "timeline": timeline})).into_response())
}

async fn list_exceptions(
    State(hub): State<Hub>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let filter = exception_filter(&q, limit(&q)?)?;
    let exceptions = hub.store().list_exceptions(&filter).await?;
    Ok(Json(json!({"exceptions": exceptions})).into_response())
}

/// The workflows an exception can belong to (its subject's kind).
pub(crate) const EXCEPTION_WORKFLOWS: [&str; 4] =
    ["contract", "requisition", "purchase_order", "invoice"];

/// The workbench's filters from a query, each checked: the API's list and the console's page
/// read the same parameters the same way.
pub(crate) fn exception_filter(
    q: &HashMap<String, String>,
    limit: u32,
) -> ApiResult<concord_store::ExceptionFilter> {
    let text = |name: &str| -> ApiResult<Option<String>> {
        match q.get(name).map(|v| v.trim()) {
            None => Ok(None),
            Some(v) if v.is_empty() || v.len() > 64 => Err(ApiError::field(
                400,
                name,
                "length",
                format!("{name} must be 1 to 64 characters"),
            )),
            Some(v) => Ok(Some(v.to_string())),
        }
    };
    let status = text("status")?.unwrap_or_else(|| "open".into());
    if !["open", "resolved"].contains(&status.as_str()) {
        return Err(ApiError::field(
            400,
            "status",
            "enum",
            format!("status {status:?} must be open or resolved"),
        ));
    }
    let facility = text("facility")?;
    if let Some(gln) = &facility {
        Gln::parse(gln).map_err(|e| ApiError::field(400, "facility", "gln", e.to_string()))?;
    }
    let workflow = text("workflow")?;
    if let Some(w) = &workflow
        && !EXCEPTION_WORKFLOWS.contains(&w.as_str())
    {
        return Err(ApiError::field(
            400,
            "workflow",
            "enum",
            format!("workflow must be one of {}", EXCEPTION_WORKFLOWS.join(", ")),
        ));
    }
    // A contract's exceptions are about its versions (`contract:C-1:2`).
    let subject_prefix = match (text("contract")?, workflow) {
        (Some(c), _) => Some(format!("contract:{c}:")),
        (None, Some(w)) => Some(format!("{w}:")),
        (None, None) => None,
    };
    let created_before = match text("min_age")? {
        None => None,
        Some(age) => {
            let age = concord_model::requisition::parse_duration(&age).ok_or_else(|| {
                ApiError::field(
                    400,
                    "min_age",
                    "duration",
                    format!("min_age {age:?} is not a duration such as 30m, 24h or 7d"),
                )
            })?;
            Some(Utc::now() - age)
        }
    };
    Ok(concord_store::ExceptionFilter {
        status,
        kind: text("type")?,
        subject: text("subject")?,
        subject_prefix,
        facility,
        supplier: text("supplier")?,
        correlation_id: None,
        created_before,
        limit,
    })
}

async fn resolve_exception(
    State(hub): State<Hub>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let body = parse_body(&headers, &body)?;
    let action: concord_model::purchasing::WorkbenchAction =
        concord_model::parse_canonical(&body).map_err(|e| ApiError(Rejection::invalid(e)))?;
    let view = hub.resolve_exception(&id, &principal, action).await?;
    Ok(Json(view).into_response())
}

async fn get_purchase_order(State(hub): State<Hub>, Path(id): Path<String>) -> ApiResult {
    found(
        hub.purchase_order_view(&id).await?,
        format!("purchase order {id}"),
    )
}

async fn list_quarantine(
    State(hub): State<Hub>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let messages = hub
        .store()
        .list_inbox(InboxStatus::Quarantined, limit(&q)?)
        .await?;
    Ok(Json(json!({"messages": messages})).into_response())
}

async fn get_quarantined(State(hub): State<Hub>, Path(id): Path<String>) -> ApiResult {
    let message = hub
        .store()
        .inbox(&id)
        .await?
        .ok_or_else(|| Rejection::not_found(format!("no inbound message {id}")))?;
    Ok(Json(json!({"message": message})).into_response())
}

/// Replays a quarantined message; a JSON body, when given, replaces the message (the fix).
async fn replay_quarantined(
    State(hub): State<Hub>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let fixed = if body.is_empty() {
        None
    } else {
        let value = parse_body(&headers, &body)?;
        Some(value.to_string())
    };
    Ok(answer(
        hub.replay_inbox(&id, fixed, &principal.actor()).await?,
    ))
}
