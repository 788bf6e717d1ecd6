//! The door: the one table of every route and what it needs ([`ROUTES`]), and the middleware
//! that authenticates, authorises, rate-limits and times every request against it.
//!
//! The router is built from this table (see `routes::router`), each route with its own gate
//! holding its entry, so a route cannot exist without a rule; an entry without a handler panics
//! when the router is built, which every test does. Only health and readiness are open.

use std::{collections::HashMap, sync::Arc, time::Duration};

use axum::{
    extract::{RawPathParams, Request, State},
    http::{HeaderValue, Method, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use concord_engine::{Hub, Rejection, breaker::RateLimiter, governance::AuthError};
use concord_model::access::{Access, Principal, Scope, authorize};
use parking_lot::Mutex;

use crate::problem::ApiError;

/// One route: its method and path (axum syntax), what it requires, what it does, and the shape
/// of what it takes and gives (from which the OpenAPI document is generated).
#[derive(Debug, Clone)]
pub struct RouteSpec {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    pub summary: &'static str,
    /// The JSON body it takes: a schema name in the OpenAPI components.
    pub body: Option<&'static str>,
    /// Its query parameters.
    pub query: &'static [Param],
    /// Its success status and the schema name of that answer's body.
    pub answer: (u16, &'static str),
    /// Set when the route is on its way out (see `docs/api-versioning.md`).
    pub deprecation: Option<Deprecation>,
}

/// A query parameter.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub required: bool,
    pub description: &'static str,
}

const fn param(name: &'static str, required: bool, description: &'static str) -> Param {
    Param {
        name,
        required,
        description,
    }
}

/// When a route was deprecated, when it goes away, and what replaces it: sent as the
/// `Deprecation` (RFC 9745), `Sunset` (RFC 8594) and `Link: rel="successor-version"` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deprecation {
    /// Unix seconds.
    pub since: i64,
    /// Unix seconds; at least six months after `since` (the policy).
    pub sunset: i64,
    pub successor: &'static str,
}

const fn route(
    method: Method,
    path: &'static str,
    access: Access,
    summary: &'static str,
) -> RouteSpec {
    RouteSpec {
        method,
        path,
        access,
        summary,
        body: None,
        query: &[],
        answer: (200, "Object"),
        deprecation: None,
    }
}

impl RouteSpec {
    const fn takes(mut self, schema: &'static str) -> Self {
        self.body = Some(schema);
        self
    }

    const fn query(mut self, query: &'static [Param]) -> Self {
        self.query = query;
        self
    }

    const fn answers(mut self, status: u16, schema: &'static str) -> Self {
        self.answer = (status, schema);
        self
    }

    /// The deprecation headers this route's answers carry, if any.
    pub fn deprecation_headers(&self) -> Vec<(header::HeaderName, HeaderValue)> {
        let Some(d) = self.deprecation else {
            return Vec::new();
        };
        let http_date = |secs: i64| {
            chrono::DateTime::from_timestamp(secs, 0)
                .unwrap_or_default()
                .format("%a, %d %b %Y %H:%M:%S GMT")
                .to_string()
        };
        [
            (
                header::HeaderName::from_static("deprecation"),
                format!("@{}", d.since),
            ),
            (
                header::HeaderName::from_static("sunset"),
                http_date(d.sunset),
            ),
            (
                header::LINK,
                format!("<{}>; rel=\"successor-version\"", d.successor),
            ),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name, HeaderValue::from_str(&value).ok()?)))
        .collect()
    }
}

use Access::{ClinicalInbound, Open, OwnInbound, Scope as Needs};

const LIMIT: Param = param("limit", false, "At most this many (1 to 1000, default 100)");

/// The answer of `GET /metrics`: Prometheus text, not a JSON schema.
pub const PROMETHEUS_TEXT: &str = "PrometheusText";

/// Every route of the API.
pub const ROUTES: &[RouteSpec] = &[
    route(Method::GET, "/healthz", Open, "Liveness").answers(200, "Health"),
    route(
        Method::GET,
        "/readyz",
        Open,
        "Readiness: store reachable and migrated",
    )
    .answers(200, "Health"),
    route(
        Method::GET,
        "/metrics",
        Needs(Scope::MetricsRead),
        "Prometheus metrics (text exposition 0.0.4): requests, deliveries, queues, circuits, and the business gauges",
    )
    .answers(200, PROMETHEUS_TEXT),
    route(
        Method::POST,
        "/v1/inbound/{system}/{message_type}",
        OwnInbound,
        "A connected system's native message",
    )
    .takes("NativeMessage")
    .answers(202, "Receipt"),
    route(
        Method::POST,
        "/v1/fhir/{resource_type}",
        ClinicalInbound,
        "A FHIR R4 SupplyDelivery, SupplyRequest, Procedure, Device or Bundle from the clinical system (its integration key); checked, stored redacted, usages recorded",
    )
    .takes("FhirResource")
    .answers(202, "Receipt"),
    route(
        Method::POST,
        "/v1/contracts",
        Needs(Scope::ContractsWrite),
        "Submit a canonical contract version",
    )
    .takes("Contract")
    .answers(202, "Receipt"),
    route(
        Method::GET,
        "/v1/contracts/{id}",
        Needs(Scope::ContractsRead),
        "A contract's versions and propagation",
    ),
    route(
        Method::POST,
        "/v1/requisitions",
        Needs(Scope::RequisitionsWrite),
        "Submit a requisition: priced against contracts and decided by policy at once",
    )
    .takes("Requisition")
    .answers(201, "RequisitionAnswer"),
    route(
        Method::GET,
        "/v1/requisitions/{id}",
        Needs(Scope::TransactionsRead),
        "A requisition, its decision and its approval steps",
    ),
    route(
        Method::POST,
        "/v1/requisitions/{id}/approve",
        Needs(Scope::RequisitionsApprove),
        "Approve the current approval step (an approver of the step, never the requester)",
    )
    .takes("ApprovalComment"),
    route(
        Method::POST,
        "/v1/requisitions/{id}/reject",
        Needs(Scope::RequisitionsApprove),
        "Reject the requisition at the current approval step, with a reason",
    )
    .takes("RejectionReason"),
    route(
        Method::PUT,
        "/v1/suppliers/{id}",
        Needs(Scope::MasterWrite),
        "Upsert a supplier",
    )
    .takes("Supplier")
    .answers(200, "Supplier"),
    route(
        Method::PUT,
        "/v1/items/{gtin}",
        Needs(Scope::MasterWrite),
        "Upsert an item",
    )
    .takes("Item")
    .answers(200, "Item"),
    route(
        Method::PUT,
        "/v1/facilities/{gln}",
        Needs(Scope::MasterWrite),
        "Upsert a facility",
    )
    .takes("Facility")
    .answers(200, "Facility"),
    route(
        Method::POST,
        "/v1/supplier-onboardings",
        Needs(Scope::SuppliersRequest),
        "Submit a new supplier: identifiers checked, screened for duplicates and exclusions, then held or queued for approval",
    )
    .takes("Supplier"),
    route(
        Method::GET,
        "/v1/supplier-onboardings/{id}",
        Needs(Scope::MasterRead),
        "An onboarding's stage, its screening findings (exclusion hits, duplicate candidates with scores) and decisions",
    ),
    route(
        Method::POST,
        "/v1/supplier-onboardings/{id}/approve",
        Needs(Scope::SuppliersApprove),
        "Approve a screened supplier (never the submitter): it is created in the ERP and propagated",
    )
    .takes("ApprovalComment"),
    route(
        Method::POST,
        "/v1/supplier-onboardings/{id}/reject",
        Needs(Scope::SuppliersApprove),
        "Reject a supplier onboarding, with a reason",
    )
    .takes("RejectionReason"),
    route(
        Method::POST,
        "/v1/suppliers/{id}/bank-changes",
        Needs(Scope::SuppliersRequest),
        "Ask for a change of payment method, bank account or remit-to address; in force after two approvals by two other people",
    )
    .takes("BankChangeRequest"),
    route(
        Method::GET,
        "/v1/bank-changes/{id}",
        Needs(Scope::MasterRead),
        "A payment-detail change: old and new details (account masked), approvals, stage",
    ),
    route(
        Method::POST,
        "/v1/bank-changes/{id}/approve",
        Needs(Scope::SuppliersApprove),
        "Approve a payment-detail change (not the requester, not twice by one person); the second approval applies it",
    )
    .takes("ApprovalComment"),
    route(
        Method::POST,
        "/v1/bank-changes/{id}/reject",
        Needs(Scope::SuppliersApprove),
        "Reject a payment-detail change, with a reason",
    )
    .takes("RejectionReason"),
    route(
        Method::GET,
        "/v1/crosswalks",
        Needs(Scope::MasterRead),
        "The id maps between each system and canonical ids, and how many conflicts are open",
    )
    .query(&[
        param("system", false, "a system's id"),
        param("entity_type", false, "supplier, item, purchase_order, …"),
        param("canonical_id", false, "the canonical id"),
        param("external_id", false, "the system's id"),
        LIMIT,
    ]),
    route(
        Method::GET,
        "/v1/crosswalks/conflicts",
        Needs(Scope::MasterRead),
        "External ids something tried to map to a second canonical id (the first mapping is kept)",
    )
    .query(&[param("status", false, "open (default) or resolved"), LIMIT]),
    route(
        Method::PUT,
        "/v1/crosswalks/{system}/{entity_type}/{external_id}",
        Needs(Scope::MasterWrite),
        "Map a system's id to a canonical id (overwrites; resolves the id's open conflicts); audited",
    )
    .takes("CrosswalkMapping"),
    route(
        Method::DELETE,
        "/v1/crosswalks/{system}/{entity_type}/{external_id}",
        Needs(Scope::MasterWrite),
        "Remove a mapping (resolves its open conflicts); audited",
    ),
    route(
        Method::PUT,
        "/v1/stock/{facility}/{location}/{gtin}",
        Needs(Scope::MasterWrite),
        "Set a shelf: on hand, par level, reorder point, bill-only (a count, or new levels); audited",
    )
    .takes("StockLevelInput"),
    route(
        Method::GET,
        "/v1/stock",
        Needs(Scope::MasterRead),
        "Stock per facility, location and item, with the replenishment still open",
    )
    .query(&[param("facility", false, "a facility's GLN"), LIMIT]),
    route(
        Method::GET,
        "/v1/usages/{id}",
        Needs(Scope::TransactionsRead),
        "A clinical usage: its item, facility, stage, stock after it, cost and requisitions",
    ),
    route(
        Method::GET,
        "/v1/exclusions",
        Needs(Scope::MasterRead),
        "Screen a name and/or NPI against the imported exclusion lists (OIG LEIE, SAM)",
    )
    .query(&[
        param("name", false, "a business or person name (normalised before matching)"),
        param("npi", false, "a National Provider Identifier"),
    ]),
    route(
        Method::POST,
        "/v1/reconciliations",
        Needs(Scope::MasterWrite),
        "Run a reconciliation now: each system's view against the canonical state",
    )
    .takes("Object"),
    route(
        Method::GET,
        "/v1/reconciliations",
        Needs(Scope::MasterRead),
        "Reconciliation runs, newest first, with their counts",
    )
    .query(&[LIMIT]),
    route(
        Method::GET,
        "/v1/reconciliations/{id}",
        Needs(Scope::MasterRead),
        "A run's findings (missing, extra, different per system and entity type); CSV with ?format=csv",
    )
    .query(&[param("format", false, "json (default) or csv")]),
    route(
        Method::POST,
        "/v1/reconciliations/{id}/repair",
        Needs(Scope::MasterWrite),
        "Re-publish the canonical version for a run's missing and different records (all, or by system, entity type, keys); audited",
    )
    .takes("RepairRequest"),
    route(
        Method::GET,
        "/v1/prices",
        Needs(Scope::PricesRead),
        "The contract price for an item at a facility",
    )
    .query(&[
        param("item", true, "GTIN-14 of the item (check digit verified)"),
        param(
            "facility",
            true,
            "GLN of the buying facility (check digit verified)",
        ),
        param(
            "quantity",
            false,
            "Quantity bought, for price breaks (default 1)",
        ),
        param(
            "date",
            false,
            "Pricing date, YYYY-MM-DD (default today, UTC)",
        ),
    ])
    .answers(200, "Price"),
    route(
        Method::GET,
        "/v1/deliveries",
        Needs(Scope::DeliveriesRead),
        "Outbox rows, by status",
    )
    .query(&[
        param(
            "status",
            false,
            "pending, in_flight, delivered or dead (default all)",
        ),
        param("target", false, "one target system's deliveries"),
        LIMIT,
    ]),
    route(
        Method::GET,
        "/v1/deliveries/{id}",
        Needs(Scope::DeliveriesRead),
        "One delivery and its attempts",
    ),
    route(
        Method::POST,
        "/v1/deliveries/{id}/replay",
        Needs(Scope::DeliveriesReplay),
        "Queue a delivery again",
    )
    .answers(202, "Object"),
    route(
        Method::GET,
        "/v1/transactions/{correlation_id}",
        Needs(Scope::TransactionsRead),
        "A transaction's lineage",
    ),
    route(
        Method::GET,
        "/v1/exceptions",
        Needs(Scope::ExceptionsRead),
        "Open or resolved exceptions: the workbench's list, by type, facility, supplier and age",
    )
    .query(&[
        param("status", false, "open (default) or resolved"),
        param("type", false, "the exception kind, e.g. invoice_price_variance, backorder"),
        param("facility", false, "the facility's GLN"),
        param("supplier", false, "the canonical supplier id"),
        param("min_age", false, "only exceptions at least this old: 30m, 24h, 7d"),
        param("contract", false, "a contract's exceptions (any version)"),
        param(
            "workflow",
            false,
            "contract, requisition, purchase_order or invoice",
        ),
        param("subject", false, "what it is about, e.g. purchase_order:PO-1"),
        LIMIT,
    ]),
    route(
        Method::POST,
        "/v1/exceptions/{id}/resolve",
        Needs(Scope::ExceptionsResolve),
        "Resolve an exception with an action (accept_variance, request_credit_memo, reject_invoice, retry, acknowledge); audited, and the workflow resumes",
    )
    .takes("WorkbenchAction"),
    route(
        Method::GET,
        "/v1/purchase-orders/{id}",
        Needs(Scope::TransactionsRead),
        "A purchase order's status in operations' words, its lines' progress, invoices, open exceptions and the lineage of every document (the hub's or the ERP's PO number)",
    ),
    route(
        Method::GET,
        "/v1/quarantine",
        Needs(Scope::QuarantineRead),
        "Quarantined inbound messages",
    )
    .query(&[LIMIT]),
    route(
        Method::GET,
        "/v1/quarantine/{id}",
        Needs(Scope::QuarantineRead),
        "One quarantined message",
    ),
    route(
        Method::POST,
        "/v1/quarantine/{id}/replay",
        Needs(Scope::QuarantineReplay),
        "Replay a quarantined message, optionally fixed (the body replaces the message)",
    )
    .takes("NativeMessage")
    .answers(202, "Receipt"),
    route(
        Method::POST,
        "/v1/keys",
        Needs(Scope::KeysManage),
        "Create an API key (shown once)",
    )
    .takes("NewKey")
    .answers(201, "CreatedKey"),
    route(
        Method::GET,
        "/v1/keys",
        Needs(Scope::KeysManage),
        "List API keys (never their secrets)",
    ),
    route(
        Method::DELETE,
        "/v1/keys/{id}",
        Needs(Scope::KeysManage),
        "Revoke an API key",
    ),
    route(
        Method::GET,
        "/v1/audit",
        Needs(Scope::AuditRead),
        "The audit log, newest first, filterable",
    )
    .query(&[
        param("actor", false, "Only entries by this actor"),
        param("action", false, "Only this action, e.g. key.created"),
        param("subject", false, "Only entries about this subject"),
        param("correlation_id", false, "Only entries of this transaction"),
        param("since", false, "RFC 3339 time: entries at or after it"),
        param(
            "before_seq",
            false,
            "Entries before this sequence number (paging)",
        ),
        LIMIT,
    ]),
    route(
        Method::GET,
        "/v1/audit/verify",
        Needs(Scope::AuditRead),
        "Verify the audit hash chain",
    ),
    route(
        Method::GET,
        "/v1/openapi.json",
        Needs(Scope::ApiDocs),
        "This document (OpenAPI 3.1)",
    ),
    route(
        Method::GET,
        "/v1/docs",
        Needs(Scope::ApiDocs),
        "The API reference, as a page for people",
    ),
    route(
        Method::GET,
        "/v1/schemas",
        Needs(Scope::ApiDocs),
        "The JSON Schemas of the canonical model and of every event type",
    ),
];

/// The middleware's state for one route: the route's entry in the table, the hub, and the
/// token buckets (per principal and per system) that every route shares.
#[derive(Clone)]
pub(crate) struct Gate {
    spec: &'static RouteSpec,
    hub: Hub,
    limiters: Arc<Mutex<Buckets>>,
}

impl Gate {
    /// One gate per route, all sharing `limiters`.
    pub fn for_routes(hub: &Hub) -> impl Fn(&'static RouteSpec) -> Gate + use<> {
        let limiters: Arc<Mutex<Buckets>> = Arc::default();
        let hub = hub.clone();
        move |spec| Gate {
            spec,
            hub: hub.clone(),
            limiters: limiters.clone(),
        }
    }

    /// Takes a token from each bucket the principal draws on; on refusal, how long to wait.
    /// Buckets are found by `&str` (no allocation once a caller has one), principals and systems
    /// in separate maps.
    fn take(&self, principal: &Principal) -> Result<(), Duration> {
        let limits = &self.hub.config().api;
        if limits.rate_limit_per_principal == 0 && limits.rate_limit_per_system == 0 {
            return Ok(());
        }
        let now = std::time::Instant::now();
        let mut buckets = self.limiters.lock();
        if buckets.principals.len() + buckets.systems.len() > 100_000 {
            // Bounded memory; a cleared bucket starts full.
            buckets.principals.clear();
            buckets.systems.clear();
        }
        fn bucket<'a>(
            map: &'a mut HashMap<String, RateLimiter>,
            key: &str,
            rate: u32,
            now: std::time::Instant,
        ) -> &'a mut RateLimiter {
            if !map.contains_key(key) {
                map.insert(key.to_string(), RateLimiter::new(rate, now));
            }
            map.get_mut(key).expect("just inserted")
        }
        let Buckets {
            principals,
            systems,
        } = &mut *buckets;
        bucket(
            principals,
            &principal.id,
            limits.rate_limit_per_principal,
            now,
        )
        .take(now)?;
        if let Some(system) = &principal.system {
            bucket(systems, system, limits.rate_limit_per_system, now).take(now)?;
        }
        Ok(())
    }
}

/// Token buckets per principal and per system, shared by every route's gate.
#[derive(Default)]
struct Buckets {
    principals: HashMap<String, RateLimiter>,
    systems: HashMap<String, RateLimiter>,
}

fn refuse(status: u16, kind: &'static str, title: &str, detail: String) -> Response {
    let mut response = ApiError(Rejection::new(status, kind, title, detail)).into_response();
    if status == 401 {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"concord\""),
        );
    }
    response
}

fn bearer(request: &Request) -> Option<&str> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Names a path parameter or the query when it holds a control character (NUL above all: no
/// id means one, and PostgreSQL refuses it in text, so it must stop here, at the edge).
fn control_character(params: &RawPathParams, query: Option<&str>) -> Option<String> {
    if let Some((name, _)) = params
        .iter()
        .find(|(_, value)| value.chars().any(char::is_control))
    {
        return Some(format!("path parameter {name} holds a control character"));
    }
    control_character_in_query(query?)
}

/// A control byte in the query, raw or percent-encoded (`%00`, `%1F`, `%7F`).
fn control_character_in_query(query: &str) -> Option<String> {
    let control = |b: u8| b < 0x20 || b == 0x7f;
    let escaped = |w: &[u8]| {
        w[0] == b'%'
            && std::str::from_utf8(&w[1..])
                .ok()
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .is_some_and(control)
    };
    let bytes = query.as_bytes();
    (bytes.iter().any(|b| control(*b)) || bytes.windows(3).any(escaped))
        .then(|| "the query string holds a control character".to_string())
}

/// Every request through a route: counted and timed for `/metrics` under its route template,
/// whatever the gate decided.
pub(crate) async fn gate(
    State(gate): State<Gate>,
    params: RawPathParams,
    request: Request,
    next: Next,
) -> Response {
    let started = std::time::Instant::now();
    let (spec, hub) = (gate.spec, gate.hub.clone());
    let span = tracing::info_span!("request", method = %spec.method, route = spec.path);
    let response = tracing::Instrument::instrument(guard(gate, params, request, next), span).await;
    hub.metrics().observe_request(
        spec.method.as_str(),
        spec.path,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// Authenticates, authorises, rate-limits and bounds the time of one request (and refuses a
/// retired route).
async fn guard(gate: Gate, params: RawPathParams, mut request: Request, next: Next) -> Response {
    let spec = gate.spec;
    let route = || format!("{} {}", spec.method, spec.path);
    if spec.access != Access::Open {
        let principal = match bearer(&request) {
            None => {
                return refuse(
                    401,
                    "unauthenticated",
                    "Authentication required",
                    AuthError::Missing.to_string(),
                );
            }
            Some(token) => match gate.hub.authenticate(token).await {
                Ok(p) => p,
                Err(e) => {
                    gate.hub
                        .audit_denied("anonymous", &route(), 401, &e.to_string())
                        .await;
                    return refuse(
                        401,
                        "unauthenticated",
                        "Authentication failed",
                        e.to_string(),
                    );
                }
            },
        };
        let system = match spec.access {
            Access::ClinicalInbound => Some(gate.hub.config().clinical.system.as_str()),
            _ => params
                .iter()
                .find(|(name, _)| *name == "system")
                .map(|(_, value)| value),
        };
        if let Err(denied) = authorize(&principal, spec.access, system) {
            gate.hub
                .audit_denied(&principal.actor(), &route(), 403, &denied.to_string())
                .await;
            return refuse(403, "forbidden", "Forbidden", denied.to_string());
        }
        if let Err(wait) = gate.take(&principal) {
            let mut response = refuse(
                429,
                "rate_limited",
                "Too many requests",
                format!(
                    "{} is over its request rate; retry after the Retry-After delay",
                    principal.id
                ),
            );
            let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
            if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            return response;
        }
        request.extensions_mut().insert(principal);
    }
    if let Some(d) = spec.deprecation
        && chrono::Utc::now().timestamp() >= d.sunset
    {
        let mut gone = refuse(
            410,
            "gone",
            "This route has been retired",
            format!(
                "{} {} passed its sunset; use {}",
                spec.method, spec.path, d.successor
            ),
        );
        gone.headers_mut().extend(spec.deprecation_headers());
        return gone;
    }
    if let Some(problem) = control_character(&params, request.uri().query()) {
        return refuse(400, "control_character", "The request is invalid", problem);
    }
    let limit = Duration::from_millis(gate.hub.config().api.request_timeout_ms);
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(mut response) if spec.deprecation.is_some() => {
            response.headers_mut().extend(spec.deprecation_headers());
            response
        }
        Ok(response) => response,
        Err(_) => refuse(
            503,
            "request_timeout",
            "The request took too long",
            format!(
                "no answer within {} ms; a repeat with the same Idempotency-Key is safe",
                limit.as_millis()
            ),
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deprecated_route_names_its_dates_and_successor() {
        let mut spec = route(Method::GET, "/v1/old", Needs(Scope::PricesRead), "old");
        assert!(spec.deprecation_headers().is_empty());
        spec.deprecation = Some(Deprecation {
            since: 1_767_225_600,  // 2026-01-01
            sunset: 1_783_036_800, // 2026-07-03
            successor: "/v2/new",
        });
        let headers: Vec<(String, String)> = spec
            .deprecation_headers()
            .into_iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_string()))
            .collect();
        assert_eq!(
            headers,
            vec![
                ("deprecation".into(), "@1767225600".into()),
                ("sunset".into(), "Fri, 03 Jul 2026 00:00:00 GMT".into()),
                ("link".into(), "</v2/new>; rel=\"successor-version\"".into()),
            ]
        );
    }

    #[test]
    fn control_characters_in_ids_and_queries_are_found() {
        assert_eq!(control_character_in_query("a=1&b=%41"), None);
        assert!(control_character_in_query("a=%00").is_some());
        assert!(control_character_in_query("a=x%1fy").is_some());
        assert!(control_character_in_query("a=%7F").is_some());
        assert_eq!(control_character_in_query("a=%2"), None);
    }

    #[test]
    fn every_route_is_in_the_table_once_and_only_health_is_open() {
        let mut seen = std::collections::HashSet::new();
        for r in ROUTES {
            assert!(
                seen.insert((r.method.clone(), r.path)),
                "{} {} twice",
                r.method,
                r.path
            );
            assert_eq!(
                r.access == Access::Open,
                ["/healthz", "/readyz"].contains(&r.path),
                "{} {}",
                r.method,
                r.path
            );
        }
    }
}
