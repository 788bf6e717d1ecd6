//! What every simulated system shares: the call log, the effect log, the idempotency store, the
//! fault switchboard, and the `/_sandbox/*` admin routes that expose them.
//!
//! Each system module only writes its business handlers. [`system_router`] wraps them in one
//! middleware, [`business_gate`], which is the single place where faults are injected, calls are
//! recorded and `Idempotency-Key` is honoured, so the four systems cannot drift apart on those
//! rules.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    body::{Body, Bytes, to_bytes},
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::wire::{Invalid, JsonBody};

/// The header a client sends so that a retried write is applied at most once.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// Set on a response that was replayed from the idempotency store rather than produced by
/// applying the request again (the name Stripe uses), so a client can tell the two apart.
pub const REPLAYED: &str = "idempotent-replayed";

/// Largest request or response body the idempotency store buffers. The native documents are a
/// few kilobytes; this only guards against a runaway client.
const MAX_BODY: usize = 4 * 1024 * 1024;

/// Faults to inject into a system's business routes, changeable at runtime.
///
/// Missing fields take their [`Default`] values when read from JSON, so
/// `PUT /_sandbox/faults {"outage":true}` is enough to take a system down.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Probability (0.0..=1.0) that a business call answers 500 without being applied. A
    /// probability, not money, so `f64` is the right type.
    pub error_rate: f64,
    /// Added before answering every business call, faulted or not.
    pub latency_ms: u64,
    /// Answer 503 to every business call.
    pub outage: bool,
    /// With `outage`, the outage heals by itself this long after the faults were set.
    pub outage_for_ms: Option<u64>,
    /// When above zero, every Nth business call (counted from when the faults were set) answers
    /// 429 with `Retry-After`.
    pub throttle_every: u32,
    /// The `Retry-After` value, in seconds, sent with a 429.
    pub retry_after_secs: u64,
}

impl Default for Faults {
    /// No faults at all. Written by hand because `retry_after_secs` defaults to 1, not 0: a
    /// `Retry-After: 0` would invite a client to hammer the system.
    fn default() -> Self {
        Faults {
            error_rate: 0.0,
            latency_ms: 0,
            outage: false,
            outage_for_ms: None,
            throttle_every: 0,
            retry_after_secs: 1,
        }
    }
}

/// One business call as the system received it, with the status it answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedCall {
    /// When the call arrived (the log itself is in the order calls finished).
    pub at: DateTime<Utc>,
    pub method: String,
    /// The URI path, without the query string.
    pub path: String,
    pub idempotency_key: Option<String>,
    /// The W3C `traceparent` the caller sent, if any (the hub sends one with every delivery).
    #[serde(default)]
    pub traceparent: Option<String>,
    pub status: u16,
}

/// One state change a system applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Effect {
    pub at: DateTime<Utc>,
    /// The key of the request that applied it; `None` for writes sent without one and for
    /// in-process writes.
    pub idempotency_key: Option<String>,
    /// What happened, e.g. `price_agreement.posted`.
    pub kind: String,
    /// The system's own identifier of the object changed, e.g. `PA-C-100-1`.
    pub object_id: String,
}

/// The state every system carries besides its business data.
#[derive(Debug)]
pub(crate) struct SystemState {
    pub(crate) name: &'static str,
    calls: Mutex<Vec<RecordedCall>>,
    effects: Mutex<Vec<Effect>>,
    /// One slot per key. The async mutex inside is held while the first request with that key
    /// is applied, so a concurrent repeat waits for the stored answer instead of applying the
    /// write a second time.
    idempotency: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<StoredResponse>>>>>,
    faults: Mutex<FaultState>,
}

impl SystemState {
    pub(crate) fn new(name: &'static str) -> Arc<SystemState> {
        Arc::new(SystemState {
            name,
            calls: Mutex::default(),
            effects: Mutex::default(),
            idempotency: Mutex::default(),
            faults: Mutex::new(FaultState::new(Faults::default())),
        })
    }

    pub(crate) fn calls(&self) -> Vec<RecordedCall> {
        self.calls.lock().clone()
    }

    pub(crate) fn effects(&self) -> Vec<Effect> {
        self.effects.lock().clone()
    }

    pub(crate) fn count_effects(&self, kind: &str) -> usize {
        self.effects
            .lock()
            .iter()
            .filter(|e| e.kind == kind)
            .count()
    }

    /// Keys that appear on more than one effect, each once, in order of first appearance.
    pub(crate) fn duplicate_effects(&self) -> Vec<String> {
        let effects = self.effects.lock();
        let mut seen: HashMap<&str, usize> = HashMap::new();
        let mut duplicates = Vec::new();
        for key in effects.iter().filter_map(|e| e.idempotency_key.as_deref()) {
            let count = seen.entry(key).or_default();
            *count += 1;
            if *count == 2 {
                duplicates.push(key.to_owned());
            }
        }
        duplicates
    }

    pub(crate) fn record_effect(
        &self,
        idempotency_key: Option<String>,
        kind: &str,
        object_id: String,
    ) {
        self.effects.lock().push(Effect {
            at: Utc::now(),
            idempotency_key,
            kind: kind.to_owned(),
            object_id,
        });
    }

    /// Replaces the faults. The throttle counter restarts, so "every Nth call" counts from now,
    /// and a self-healing outage starts its clock now.
    pub(crate) fn set_faults(&self, faults: Faults) {
        tracing::info!(system = self.name, ?faults, "faults set");
        *self.faults.lock() = FaultState::new(faults);
    }

    /// The faults in force, with a self-healing outage that is due already healed.
    pub(crate) fn faults(&self) -> Faults {
        let mut state = self.faults.lock();
        state.heal_if_due(Instant::now());
        state.faults.clone()
    }

    /// Sleeps for the configured latency, then decides whether this business call is answered
    /// by a fault instead of the handler.
    async fn injected_fault(&self) -> Option<Response> {
        let latency = self.faults.lock().faults.latency_ms;
        if latency > 0 {
            tokio::time::sleep(Duration::from_millis(latency)).await;
        }
        let injected = self.faults.lock().decide(Instant::now());
        injected.map(Injected::into_response)
    }

    fn slot(&self, key: &str) -> Arc<tokio::sync::Mutex<Option<StoredResponse>>> {
        self.idempotency
            .lock()
            .entry(key.to_owned())
            .or_default()
            .clone()
    }

    /// Runs the handler, honouring `Idempotency-Key` on writes.
    ///
    /// Only a response that applied something (one carrying [`Applied`]) is stored: a rejected
    /// write changed nothing, so the client may fix the cause (seed the vendor, say) and retry
    /// with the same key.
    async fn serve_idempotently(&self, key: Option<String>, req: Request, next: Next) -> Response {
        let key = match key {
            Some(key) if is_write(req.method()) => key,
            _ => {
                let response = next.run(req).await;
                if let Some(applied) = response.extensions().get::<Applied>() {
                    self.record_effect(None, applied.kind, applied.object_id.clone());
                }
                return response;
            }
        };

        let (parts, body) = req.into_parts();
        let body = match to_bytes(body, MAX_BODY).await {
            Ok(body) => body,
            Err(err) => return error(StatusCode::BAD_REQUEST, format!("unreadable body: {err}")),
        };
        let fingerprint = Fingerprint::of(&parts.method, parts.uri.path(), &body);

        let slot = self.slot(&key);
        let mut stored = slot.lock().await;
        if let Some(stored) = stored.as_ref() {
            if stored.fingerprint != fingerprint {
                // The IETF Idempotency-Key draft's answer to a key reused for a different
                // payload. Replaying the first answer instead would silently drop the new
                // write, hiding exactly the hub bug this sandbox exists to catch.
                return Invalid::new(
                    "Idempotency-Key",
                    "Idempotency-Key was already used for a different request",
                )
                .into_response();
            }
            return stored.replay();
        }

        let response = next.run(Request::from_parts(parts, Body::from(body))).await;
        let Some(applied) = response.extensions().get::<Applied>().cloned() else {
            return response;
        };
        self.record_effect(Some(key), applied.kind, applied.object_id);
        let (parts, body) = response.into_parts();
        let body = to_bytes(body, MAX_BODY).await.unwrap_or_default();
        *stored = Some(StoredResponse {
            fingerprint,
            status: parts.status,
            content_type: parts.headers.get(header::CONTENT_TYPE).cloned(),
            body: body.clone(),
        });
        Response::from_parts(parts, Body::from(body))
    }
}

/// How a sandbox system posts to the hub's webhook: with its key and an `Idempotency-Key`,
/// retrying a transient failure (no answer, 5xx, 429) up to five times with the same key, so
/// the hub counts it once. Answers the last status (`None`: never reached) and the answer's
/// JSON (`Null` when there is none).
pub(crate) async fn post_to_hub(
    http: &reqwest::Client,
    url: &str,
    key: Option<&str>,
    idempotency_key: &str,
    content_type: &str,
    body: String,
) -> (Option<u16>, Value) {
    let mut answer = (None, Value::Null);
    for attempt in 0..5u64 {
        let mut request = http
            .post(url)
            .header("Content-Type", content_type)
            .header("Idempotency-Key", idempotency_key)
            .body(body.clone());
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        answer = match request.send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                (Some(status), r.json().await.unwrap_or(Value::Null))
            }
            Err(_) => (None, Value::Null),
        };
        match answer.0 {
            Some(s) if s < 500 && s != 429 => break,
            // No wait after the last attempt: its answer is the answer.
            _ if attempt < 4 => {
                tokio::time::sleep(std::time::Duration::from_millis(100 << attempt)).await
            }
            _ => {}
        }
    }
    answer
}

/// Marks a handler's response as having applied a state change. The middleware turns it into
/// an [`Effect`] carrying the request's idempotency key, and stores the response for repeats.
#[derive(Debug, Clone)]
pub(crate) struct Applied {
    kind: &'static str,
    object_id: String,
}

/// Attaches [`Applied`] to `response`.
pub(crate) fn applied(
    kind: &'static str,
    object_id: String,
    response: impl IntoResponse,
) -> Response {
    let mut response = response.into_response();
    response
        .extensions_mut()
        .insert(Applied { kind, object_id });
    response
}

/// The JSON error body every system uses: `{"error": "..."}`.
pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// The stored record as JSON, or a 404 naming `what`.
pub(crate) fn found<T: Serialize>(record: Option<&T>, what: &str) -> Response {
    match record {
        Some(record) => Json(record).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("{what} not found")),
    }
}

/// Targets refuse a revision older than the one they hold: the hub must deliver revisions in
/// order, and a violation shows up as a 409 in the call log.
pub(crate) fn refuse_stale(
    system: &str,
    id: &str,
    stored: Option<u32>,
    posted: u32,
) -> Option<Response> {
    let stored = stored.filter(|stored| *stored > posted)?;
    tracing::warn!(system, id, posted, stored, "stale revision refused");
    let body = json!({ "error": "stale revision", "currentRevision": stored });
    Some((StatusCode::CONFLICT, Json(body)).into_response())
}

/// Wraps a system's business routes with the admin routes, a JSON 404 fallback and
/// [`business_gate`].
pub(crate) fn system_router(state: Arc<SystemState>, business: Router) -> Router {
    business
        .merge(admin_routes(state.clone()))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such route") })
        .layer(middleware::from_fn_with_state(state, business_gate))
}

/// The middleware in front of every business route: faults, then idempotency, then the
/// handler; the outcome is appended to the call log whatever answered.
///
/// `/_sandbox/*` passes straight through and is not logged: reading the call log must not
/// change it, and a test must be able to lift an outage it injected.
///
/// The work runs in its own task so that it completes even if the client hangs up mid-way.
/// That is how a real system behaves (it commits, the answer is lost), and it keeps the effect
/// log and the idempotency store consistent with the business data.
pub(crate) async fn business_gate(
    State(state): State<Arc<SystemState>>,
    req: Request,
    next: Next,
) -> Response {
    if req.uri().path().starts_with("/_sandbox/") {
        return next.run(req).await;
    }
    let name = state.name;
    let task = tokio::spawn(async move {
        let at = Utc::now();
        let method = req.method().to_string();
        let path = req.uri().path().to_owned();
        let key = idempotency_key(req.headers());
        let traceparent = req
            .headers()
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let response = match state.injected_fault().await {
            Some(fault) => fault,
            None => state.serve_idempotently(key.clone(), req, next).await,
        };
        state.calls.lock().push(RecordedCall {
            at,
            method,
            path,
            idempotency_key: key,
            traceparent,
            status: response.status().as_u16(),
        });
        response
    });
    task.await.unwrap_or_else(|err| {
        tracing::error!(system = name, %err, "business handler failed");
        error(StatusCode::INTERNAL_SERVER_ERROR, "handler failed")
    })
}

fn admin_routes(state: Arc<SystemState>) -> Router {
    Router::new()
        .route(
            "/_sandbox/calls",
            get(|State(s): State<Arc<SystemState>>| async move { Json(s.calls()) }),
        )
        .route(
            "/_sandbox/effects",
            get(|State(s): State<Arc<SystemState>>| async move { Json(s.effects()) }),
        )
        .route(
            "/_sandbox/duplicates",
            get(|State(s): State<Arc<SystemState>>| async move { Json(s.duplicate_effects()) }),
        )
        .route(
            "/_sandbox/faults",
            get(|State(s): State<Arc<SystemState>>| async move { Json(s.faults()) })
                .put(put_faults),
        )
        .with_state(state)
}

async fn put_faults(State(state): State<Arc<SystemState>>, JsonBody(body): JsonBody) -> Response {
    match serde_json::from_value::<Faults>(body) {
        Ok(faults) => {
            state.set_faults(faults);
            Json(state.faults()).into_response()
        }
        Err(err) => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("invalid faults: {err}"),
        ),
    }
}

fn idempotency_key(headers: &HeaderMap) -> Option<String> {
    headers
        .get(IDEMPOTENCY_KEY)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// Reads never need a key; everything else changes state.
fn is_write(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The faults plus what they need to remember between calls.
#[derive(Debug)]
struct FaultState {
    faults: Faults,
    outage_until: Option<Instant>,
    business_calls: u64,
}

impl FaultState {
    fn new(faults: Faults) -> FaultState {
        let outage_until = match (faults.outage, faults.outage_for_ms) {
            (true, Some(ms)) => Some(Instant::now() + Duration::from_millis(ms)),
            _ => None,
        };
        FaultState {
            faults,
            outage_until,
            business_calls: 0,
        }
    }

    /// Lifts a self-healing outage whose time is up, so `GET /_sandbox/faults` shows it gone.
    fn heal_if_due(&mut self, now: Instant) {
        if self.outage_until.is_some_and(|until| now >= until) {
            self.faults.outage = false;
            self.faults.outage_for_ms = None;
            self.outage_until = None;
        }
    }

    /// An outage wins over everything and is not counted as a call the throttle sees.
    fn decide(&mut self, now: Instant) -> Option<Injected> {
        self.heal_if_due(now);
        if self.faults.outage {
            return Some(Injected::Outage);
        }
        self.business_calls += 1;
        let every = u64::from(self.faults.throttle_every);
        if every > 0 && self.business_calls.is_multiple_of(every) {
            return Some(Injected::Throttled {
                retry_after_secs: self.faults.retry_after_secs,
            });
        }
        if self.faults.error_rate > 0.0 && fastrand::f64() < self.faults.error_rate {
            return Some(Injected::Error);
        }
        None
    }
}

enum Injected {
    Outage,
    Throttled { retry_after_secs: u64 },
    Error,
}

impl IntoResponse for Injected {
    fn into_response(self) -> Response {
        match self {
            Injected::Outage => error(
                StatusCode::SERVICE_UNAVAILABLE,
                "system unavailable (injected outage)",
            ),
            Injected::Throttled { retry_after_secs } => {
                let mut response = error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too many requests (injected throttle)",
                );
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
                response
            }
            Injected::Error => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error (injected fault)",
            ),
        }
    }
}

/// What identifies "the same request" for a repeated key: method, path and body. JSON bodies
/// are compared as values, so a client that re-serialises with different spacing still matches.
#[derive(Debug, PartialEq)]
struct Fingerprint {
    method: Method,
    path: String,
    body: BodyPrint,
}

#[derive(Debug, PartialEq)]
enum BodyPrint {
    Json(Value),
    Raw(Bytes),
}

impl Fingerprint {
    fn of(method: &Method, path: &str, body: &Bytes) -> Fingerprint {
        let body = match serde_json::from_slice(body) {
            Ok(value) => BodyPrint::Json(value),
            Err(_) => BodyPrint::Raw(body.clone()),
        };
        Fingerprint {
            method: method.clone(),
            path: path.to_owned(),
            body,
        }
    }
}

/// The first answer to a key, replayed verbatim to every repeat.
#[derive(Debug)]
struct StoredResponse {
    fingerprint: Fingerprint,
    status: StatusCode,
    content_type: Option<HeaderValue>,
    body: Bytes,
}

impl StoredResponse {
    fn replay(&self) -> Response {
        let mut response = (self.status, self.body.clone()).into_response();
        let headers = response.headers_mut();
        match &self.content_type {
            Some(content_type) => headers.insert(header::CONTENT_TYPE, content_type.clone()),
            None => headers.remove(header::CONTENT_TYPE),
        };
        headers.insert(REPLAYED, HeaderValue::from_static("true"));
        response
    }
}

/// Helpers for the systems' tests: send one request through a router without a socket.
#[cfg(test)]
pub(crate) mod testing {
    use axum::{
        Router,
        body::{Body, to_bytes},
        http::{HeaderMap, Method, Request, StatusCode},
    };
    use serde_json::Value;
    use tower::ServiceExt;

    /// What came back: status, headers and the body as JSON (`Null` when empty or not JSON).
    pub(crate) struct Answer {
        pub(crate) status: StatusCode,
        pub(crate) headers: HeaderMap,
        pub(crate) body: Value,
    }

    pub(crate) async fn send(
        router: &Router,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(key) = key {
            request = request.header(super::IDEMPOTENCY_KEY, key);
        }
        let request = match body {
            Some(body) => request
                .header("content-type", "application/json")
                .body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        }
        .expect("valid request");
        let response = router.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use axum::routing::post;
    use serde_json::json;

    use super::testing::send;
    use super::*;

    /// A one-route system whose write answers with a counter, so a replay is distinguishable
    /// from a second application. `?reject` makes it answer 422 without applying anything;
    /// `?slow` makes it take a while first, so concurrent requests overlap.
    fn counter_system() -> (Arc<SystemState>, Router) {
        let state = SystemState::new("test");
        let counter = Arc::new(AtomicU32::new(0));
        let business = Router::new().route(
            "/things",
            post(move |req: Request| async move {
                match req.uri().query() {
                    Some("reject") => return error(StatusCode::UNPROCESSABLE_ENTITY, "rejected"),
                    Some("slow") => tokio::time::sleep(Duration::from_millis(50)).await,
                    _ => {}
                }
                let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                applied(
                    "thing.created",
                    format!("T-{n}"),
                    (StatusCode::CREATED, Json(json!({ "n": n }))),
                )
            })
            .get(|| async { Json(json!({ "ok": true })) }),
        );
        (state.clone(), system_router(state, business))
    }

    #[tokio::test]
    async fn a_repeated_key_replays_the_first_answer_and_applies_nothing() {
        let (state, router) = counter_system();
        let body = json!({ "a": 1 });
        let first = send(
            &router,
            Method::POST,
            "/things",
            Some("k1"),
            Some(body.clone()),
        )
        .await;
        let second = send(&router, Method::POST, "/things", Some("k1"), Some(body)).await;

        assert_eq!(first.status, StatusCode::CREATED);
        assert_eq!(second.status, StatusCode::CREATED);
        assert_eq!(second.body, json!({ "n": 1 }));
        assert_eq!(second.headers[REPLAYED], "true");
        assert!(first.headers.get(REPLAYED).is_none());
        assert_eq!(second.headers[header::CONTENT_TYPE], "application/json");

        let effects = state.effects();
        assert_eq!(effects.len(), 1);
        assert_eq!(effects[0].idempotency_key.as_deref(), Some("k1"));
        assert_eq!(effects[0].object_id, "T-1");
        assert!(state.duplicate_effects().is_empty());
        // Both calls are in the log, with the status each got.
        let calls = state.calls();
        assert_eq!(calls.len(), 2);
        assert!(
            calls
                .iter()
                .all(|c| c.status == 201 && c.idempotency_key.as_deref() == Some("k1"))
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_repeats_of_one_key_apply_once() {
        let (state, router) = counter_system();
        let sends: Vec<_> = (0..8)
            .map(|_| {
                let router = router.clone();
                tokio::spawn(async move {
                    send(
                        &router,
                        Method::POST,
                        "/things?slow",
                        Some("same"),
                        Some(json!({})),
                    )
                    .await
                    .body
                })
            })
            .collect();
        let mut bodies = Vec::new();
        for send in sends {
            bodies.push(send.await.unwrap());
        }
        assert!(bodies.iter().all(|b| *b == json!({ "n": 1 })), "{bodies:?}");
        assert_eq!(state.effects().len(), 1);
    }

    #[tokio::test]
    async fn a_key_reused_for_a_different_body_is_refused() {
        let (state, router) = counter_system();
        send(
            &router,
            Method::POST,
            "/things",
            Some("k"),
            Some(json!({ "rev": 1 })),
        )
        .await;
        let reused = send(
            &router,
            Method::POST,
            "/things",
            Some("k"),
            Some(json!({ "rev": 2 })),
        )
        .await;
        assert_eq!(reused.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reused.body["field"], "Idempotency-Key");
        assert_eq!(state.effects().len(), 1);
    }

    #[tokio::test]
    async fn writes_without_a_key_apply_every_time() {
        let (state, router) = counter_system();
        send(&router, Method::POST, "/things", None, Some(json!({}))).await;
        let second = send(&router, Method::POST, "/things", None, Some(json!({}))).await;
        assert_eq!(second.body, json!({ "n": 2 }));
        let effects = state.effects();
        assert_eq!(effects.len(), 2);
        assert!(effects.iter().all(|e| e.idempotency_key.is_none()));
        assert!(state.duplicate_effects().is_empty());
    }

    #[tokio::test]
    async fn a_rejected_write_is_not_stored_under_its_key() {
        let (state, router) = counter_system();
        let rejected = send(
            &router,
            Method::POST,
            "/things?reject",
            Some("k"),
            Some(json!({})),
        )
        .await;
        assert_eq!(rejected.status, StatusCode::UNPROCESSABLE_ENTITY);
        let retried = send(&router, Method::POST, "/things", Some("k"), Some(json!({}))).await;
        assert_eq!(retried.status, StatusCode::CREATED);
        assert_eq!(state.effects().len(), 1);
    }

    #[test]
    fn duplicate_effects_lists_each_key_applied_twice_once() {
        let state = SystemState::new("test");
        for key in ["a", "b", "a", "a", "c", "b"] {
            state.record_effect(Some(key.to_owned()), "x", "1".to_owned());
        }
        state.record_effect(None, "x", "1".to_owned());
        state.record_effect(None, "x", "1".to_owned());
        assert_eq!(state.duplicate_effects(), ["a", "b"]);
    }

    #[tokio::test]
    async fn an_outage_answers_503_spares_admin_routes_and_heals_by_itself() {
        let (state, router) = counter_system();
        state.set_faults(Faults {
            outage: true,
            outage_for_ms: Some(300),
            ..Faults::default()
        });
        let down = send(&router, Method::POST, "/things", Some("k"), Some(json!({}))).await;
        assert_eq!(down.status, StatusCode::SERVICE_UNAVAILABLE);
        let admin = send(&router, Method::GET, "/_sandbox/faults", None, None).await;
        assert_eq!(admin.status, StatusCode::OK);
        assert_eq!(admin.body["outage"], true);
        assert!(state.effects().is_empty());

        tokio::time::sleep(Duration::from_millis(400)).await;
        let up = send(&router, Method::POST, "/things", Some("k"), Some(json!({}))).await;
        assert_eq!(up.status, StatusCode::CREATED);
        assert!(!state.faults().outage);
        let statuses: Vec<u16> = state.calls().iter().map(|c| c.status).collect();
        assert_eq!(statuses, [503, 201], "admin calls are not logged");
    }

    #[tokio::test]
    async fn an_outage_without_a_duration_lasts_until_lifted() {
        let (state, router) = counter_system();
        state.set_faults(Faults {
            outage: true,
            ..Faults::default()
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let down = send(&router, Method::GET, "/things", None, None).await;
        assert_eq!(down.status, StatusCode::SERVICE_UNAVAILABLE);
        state.set_faults(Faults::default());
        let up = send(&router, Method::GET, "/things", None, None).await;
        assert_eq!(up.status, StatusCode::OK);
    }

    #[tokio::test]
    async fn every_nth_call_is_throttled_with_retry_after() {
        let (state, router) = counter_system();
        state.set_faults(Faults {
            throttle_every: 3,
            ..Faults::default()
        });
        let mut statuses = Vec::new();
        for i in 0..6 {
            let answer = send(
                &router,
                Method::POST,
                "/things",
                Some(&format!("k{i}")),
                Some(json!({})),
            )
            .await;
            if answer.status == StatusCode::TOO_MANY_REQUESTS {
                assert_eq!(answer.headers[header::RETRY_AFTER], "1");
            }
            statuses.push(answer.status.as_u16());
        }
        assert_eq!(statuses, [201, 201, 429, 201, 201, 429]);
        assert_eq!(state.effects().len(), 4, "a throttled write is not applied");

        state.set_faults(Faults {
            throttle_every: 1,
            retry_after_secs: 7,
            ..Faults::default()
        });
        let answer = send(&router, Method::GET, "/things", None, None).await;
        assert_eq!(answer.headers[header::RETRY_AFTER], "7");
    }

    #[tokio::test]
    async fn an_error_rate_of_one_fails_every_call_without_applying_it() {
        let (state, router) = counter_system();
        state.set_faults(Faults {
            error_rate: 1.0,
            ..Faults::default()
        });
        let failed = send(&router, Method::POST, "/things", Some("k"), Some(json!({}))).await;
        assert_eq!(failed.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(state.effects().is_empty());
        assert_eq!(state.calls()[0].status, 500);

        // The retry with the same key is applied: the fault answered before anything happened.
        state.set_faults(Faults::default());
        let retried = send(&router, Method::POST, "/things", Some("k"), Some(json!({}))).await;
        assert_eq!(retried.status, StatusCode::CREATED);
        assert_eq!(state.effects().len(), 1);
    }

    #[tokio::test]
    async fn latency_delays_the_answer() {
        let (state, router) = counter_system();
        state.set_faults(Faults {
            latency_ms: 120,
            ..Faults::default()
        });
        let started = Instant::now();
        let answer = send(&router, Method::GET, "/things", None, None).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert!(started.elapsed() >= Duration::from_millis(120));
    }

    #[tokio::test]
    async fn admin_routes_set_and_show_faults_and_logs() {
        let (state, router) = counter_system();
        // A partial body: every other field takes its default, retry_after_secs included.
        let set = send(
            &router,
            Method::PUT,
            "/_sandbox/faults",
            None,
            Some(json!({ "throttle_every": 1 })),
        )
        .await;
        assert_eq!(set.status, StatusCode::OK);
        assert_eq!(set.body["retry_after_secs"], 1);
        assert_eq!(state.faults().throttle_every, 1);

        let throttled = send(&router, Method::GET, "/things", None, None).await;
        assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);

        let bad = send(
            &router,
            Method::PUT,
            "/_sandbox/faults",
            None,
            Some(json!({ "outage": "yes" })),
        )
        .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);

        send(
            &router,
            Method::PUT,
            "/_sandbox/faults",
            None,
            Some(json!({})),
        )
        .await;
        send(&router, Method::POST, "/things", Some("k"), Some(json!({}))).await;
        let calls = send(&router, Method::GET, "/_sandbox/calls", None, None).await;
        let calls: Vec<RecordedCall> = serde_json::from_value(calls.body).unwrap();
        assert_eq!(calls.len(), 2);
        assert_eq!(
            (calls[1].method.as_str(), calls[1].path.as_str()),
            ("POST", "/things")
        );
        let effects = send(&router, Method::GET, "/_sandbox/effects", None, None).await;
        assert_eq!(effects.body[0]["kind"], "thing.created");
        let duplicates = send(&router, Method::GET, "/_sandbox/duplicates", None, None).await;
        assert_eq!(duplicates.body, json!([]));
    }

    #[tokio::test]
    async fn unknown_routes_answer_json_404_and_are_logged() {
        let (state, router) = counter_system();
        let answer = send(&router, Method::GET, "/nope", None, None).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND);
        assert_eq!(answer.body["error"], "no such route");
        assert_eq!(state.calls()[0].status, 404);
    }
}
