//! The operations console: HTML pages served by the hub itself (no separate server, no
//! script, the stylesheet embedded in the binary), signed in with the same API keys and bearer
//! tokens as the API (part 2's identities), each page allowed by the same scopes as the API
//! routes it mirrors.
//!
//! [`PAGES`] is the console's route table, like the API's `ROUTES`: the router is built from
//! it and each page is wrapped in a gate holding its entry, so a page cannot exist without a
//! rule. The gate finds the session, checks the credential again (a revoked key ends its
//! sessions within the key cache's few seconds), authorises, refuses cross-site posts, and
//! turns an error answer into an HTML page. Every form carries the session's CSRF token and
//! [`Form`] is the only way a handler reads one, so no action skips the check.
//!
//! Sessions live in memory: a restart signs everyone out, which is the safe direction.

mod contracts;
mod deliveries;
mod exceptions;
pub(crate) mod html;
mod master;
mod overview;
mod systems;
mod transactions;

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Bytes,
    extract::{FromRequest, Query, Request, State},
    http::{HeaderValue, Method, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Redirect, Response},
    routing::{MethodRouter, get, post},
};
use concord_engine::{Hub, Rejection};
use concord_model::{
    Secret,
    access::{Access, Principal, Scope, authorize},
};
use parking_lot::Mutex;

use crate::problem::ApiError;
use html::{NavLink, esc, frame, respond};

/// One console page or action: method, path, what it needs, and its place in the navigation.
#[derive(Debug, Clone)]
pub struct PageSpec {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    /// The navigation label, for the pages listed there.
    pub nav: Option<&'static str>,
}

const fn page(method: Method, path: &'static str, access: Access) -> PageSpec {
    PageSpec {
        method,
        path,
        access,
        nav: None,
    }
}

const fn nav(path: &'static str, scope: Scope, label: &'static str) -> PageSpec {
    PageSpec {
        method: Method::GET,
        path,
        access: Access::Scope(scope),
        nav: Some(label),
    }
}

use Access::{Open, Scope as Needs};

/// Every page and action of the console. Reads need the API's read scopes, actions the scopes
/// of the API routes they stand for.
pub const PAGES: &[PageSpec] = &[
    page(Method::GET, "/console", Open),
    page(Method::GET, "/console/sign-in", Open),
    page(Method::POST, "/console/sign-in", Open),
    page(Method::POST, "/console/sign-out", Open),
    page(Method::GET, "/console/assets/console.css", Open),
    nav("/console/overview", Scope::MetricsRead, "Overview"),
    nav(
        "/console/transactions",
        Scope::TransactionsRead,
        "Transactions",
    ),
    page(
        Method::GET,
        "/console/transactions/{correlation_id}",
        Needs(Scope::TransactionsRead),
    ),
    nav("/console/exceptions", Scope::ExceptionsRead, "Exceptions"),
    page(
        Method::POST,
        "/console/exceptions/resolve",
        Needs(Scope::ExceptionsResolve),
    ),
    nav("/console/deliveries", Scope::DeliveriesRead, "Deliveries"),
    page(
        Method::POST,
        "/console/deliveries/replay",
        Needs(Scope::DeliveriesReplay),
    ),
    page(
        Method::POST,
        "/console/deliveries/pause",
        Needs(Scope::DeliveriesReplay),
    ),
    page(
        Method::POST,
        "/console/deliveries/resume",
        Needs(Scope::DeliveriesReplay),
    ),
    nav("/console/contracts", Scope::ContractsRead, "Contracts"),
    nav("/console/master-data", Scope::MasterRead, "Master data"),
    page(
        Method::POST,
        "/console/master-data/reconcile",
        Needs(Scope::MasterWrite),
    ),
    page(
        Method::POST,
        "/console/master-data/repair",
        Needs(Scope::MasterWrite),
    ),
    nav("/console/systems", Scope::MetricsRead, "Systems"),
    page(
        Method::POST,
        "/console/systems/{system}/test",
        Needs(Scope::DeliveriesReplay),
    ),
];

const COOKIE: &str = "concord_session";
/// A session ends after this long without a request…
const IDLE: Duration = Duration::from_secs(60 * 60);
/// …and after this long in any case.
const LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);
/// Bounded memory: past this many sessions the oldest are dropped.
const MAX_SESSIONS: usize = 10_000;

struct Session {
    /// The API key or bearer token signed in with, checked again on every request.
    credential: Secret,
    csrf: String,
    started: Instant,
    seen: Instant,
}

/// The console's shared state: the hub and the signed-in sessions.
#[derive(Clone)]
pub(crate) struct Console {
    hub: Hub,
    sessions: Arc<Mutex<HashMap<String, Session>>>,
    /// Cookies are `Secure` when the hub serves HTTPS (or its public origin is https).
    secure: bool,
    /// `[api] public_origin`: forms are accepted from it as well as from the hub's own host.
    public_origin: Option<String>,
}

/// Who is looking at a page: the principal, and the token their forms must carry.
#[derive(Clone)]
pub(crate) struct Viewer {
    pub principal: Principal,
    pub csrf: String,
}

impl Viewer {
    pub fn can(&self, scope: Scope) -> bool {
        self.principal.role.has(scope)
    }

    pub fn actor(&self) -> String {
        self.principal.actor()
    }

    /// The page in the console's frame, with the navigation this viewer may use.
    pub fn page(&self, title: &str, active: &str, body: &str) -> Response {
        let links: Vec<NavLink> = PAGES
            .iter()
            .filter_map(|p| {
                let label = p.nav?;
                authorize(&self.principal, p.access, None).ok()?;
                Some(NavLink {
                    path: p.path,
                    label,
                })
            })
            .collect();
        let who = format!("{} · {}", self.principal.id, self.principal.role);
        respond(
            StatusCode::OK,
            frame(title, &links, active, Some((&who, &self.csrf)), body),
        )
    }

    /// The hidden field every form of this viewer carries.
    pub fn csrf_field(&self) -> String {
        format!(
            "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
            esc(&self.csrf)
        )
    }
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The console's routes, built from [`PAGES`].
pub(crate) fn router(hub: Hub) -> Router {
    let api = &hub.config().api;
    let public_origin = api.public_origin.clone();
    let console = Console {
        secure: api.tls.is_some()
            || public_origin
                .as_deref()
                .is_some_and(|o| o.starts_with("https://")),
        public_origin,
        hub,
        sessions: Arc::default(),
    };
    let mut router = Router::new();
    for spec in PAGES {
        let gate = PageGate {
            spec,
            console: console.clone(),
        };
        router = router.route(
            spec.path,
            handler(spec).route_layer(middleware::from_fn_with_state(gate, page_gate)),
        );
    }
    router.with_state(console)
}

fn handler(spec: &PageSpec) -> MethodRouter<Console> {
    match (spec.method.as_str(), spec.path) {
        ("GET", "/console") => get(|| async { Redirect::to("/console/overview") }),
        ("GET", "/console/sign-in") => get(sign_in_page),
        ("POST", "/console/sign-in") => post(sign_in),
        ("POST", "/console/sign-out") => post(sign_out),
        ("GET", "/console/assets/console.css") => get(stylesheet),
        ("GET", "/console/overview") => get(overview::page),
        ("GET", "/console/transactions") => get(transactions::search),
        ("GET", "/console/transactions/{correlation_id}") => get(transactions::lineage),
        ("GET", "/console/exceptions") => get(exceptions::page),
        ("POST", "/console/exceptions/resolve") => post(exceptions::resolve),
        ("GET", "/console/deliveries") => get(deliveries::page),
        ("POST", "/console/deliveries/replay") => post(deliveries::replay),
        ("POST", "/console/deliveries/pause") => post(deliveries::pause),
        ("POST", "/console/deliveries/resume") => post(deliveries::resume),
        ("GET", "/console/contracts") => get(contracts::page),
        ("GET", "/console/master-data") => get(master::page),
        ("POST", "/console/master-data/reconcile") => post(master::reconcile),
        ("POST", "/console/master-data/repair") => post(master::repair),
        ("GET", "/console/systems") => get(systems::page),
        ("POST", "/console/systems/{system}/test") => post(systems::test),
        (method, path) => panic!("the console's table names {method} {path}, which has no handler"),
    }
}

#[derive(Clone)]
struct PageGate {
    spec: &'static PageSpec,
    console: Console,
}

fn session_token(request: &Request) -> Option<String> {
    request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == COOKIE).then(|| value.to_string())
        })
}

/// A post from another site's page (its `Origin` is neither this host nor the configured
/// public origin) is refused: together with the `SameSite=Strict` cookie and the form token, no
/// other site can act in an operator's name.
fn cross_site(request: &Request, public_origin: Option<&str>) -> bool {
    let Some(origin) = request.headers().get(header::ORIGIN) else {
        return false;
    };
    if public_origin.is_some_and(|p| origin.as_bytes() == p.trim_end_matches('/').as_bytes()) {
        return false;
    }
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let origin = origin.to_str().unwrap_or("");
    let origin_host = origin.split_once("://").map(|(_, h)| h).unwrap_or("");
    origin_host != host
}

/// Authenticates the session, authorises the page, counts it for `/metrics`, and renders any
/// error answer as a page.
async fn page_gate(State(gate): State<PageGate>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let spec = gate.spec;
    let console = &gate.console;
    let response = async {
        if spec.method == Method::POST
            && cross_site(&request, console.public_origin.as_deref())
        {
            return error_page(None, 403, "Refused", "a form from another site may not act here");
        }
        if spec.access == Access::Open {
            return next.run(request).await;
        }
        let back = format!(
            "/console/sign-in?next={}",
            html::url_part(
                request
                    .uri()
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/console")
            )
        );
        let Some((credential, csrf)) = session_token(&request).and_then(|t| console.touch(&t))
        else {
            return Redirect::to(&back).into_response();
        };
        let principal = match console.hub.authenticate(credential.expose()).await {
            Ok(p) => p,
            Err(e) => {
                if let Some(t) = session_token(&request) {
                    console.sessions.lock().remove(&t);
                }
                tracing::info!(reason = %e, "a console session ended: its credential no longer holds");
                return Redirect::to(&back).into_response();
            }
        };
        let viewer = Viewer { principal, csrf };
        if let Err(denied) = authorize(&viewer.principal, spec.access, None) {
            let route = format!("{} {}", spec.method, spec.path);
            console
                .hub
                .audit_denied(&viewer.actor(), &route, 403, &denied.to_string())
                .await;
            return error_page(
                Some(&viewer),
                403,
                "Not allowed",
                &format!("{denied}: ask an administrator for a role that may use this page"),
            );
        }
        request.extensions_mut().insert(viewer.clone());
        let response = next.run(request).await;
        as_page(Some(&viewer), response).await
    }
    .await;
    console.hub.metrics().observe_request(
        spec.method.as_str(),
        spec.path,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// A problem JSON answer (the handlers share the API's errors) turned into a page.
async fn as_page(viewer: Option<&Viewer>, response: Response) -> Response {
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if !is_problem {
        return response;
    }
    let status = response.status().as_u16();
    let body = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let problem: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let text = |k: &str| problem[k].as_str().unwrap_or("").to_string();
    error_page(viewer, status, &text("title"), &text("detail"))
}

/// The answer to a `/console/…` path no page has: a page, not problem JSON.
pub(crate) fn not_found_page(path: &str) -> Response {
    error_page(
        None,
        404,
        "No such page",
        &format!("the console has no page {path}"),
    )
}

fn error_page(viewer: Option<&Viewer>, status: u16, title: &str, detail: &str) -> Response {
    let body = format!(
        "<div class=\"notice error\" id=\"error\"><strong>{}</strong><p>{}</p></div>\
         <p><a href=\"/console\">Back to the overview</a></p>",
        esc(title),
        esc(detail)
    );
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = match viewer {
        Some(v) => v.page(title, "", &body),
        None => respond(status, frame(title, &[], "", None, &body)),
    };
    *response.status_mut() = status;
    response
}

impl Console {
    /// The session's credential and CSRF token, if it is live; marks it seen.
    fn touch(&self, token: &str) -> Option<(Secret, String)> {
        let mut sessions = self.sessions.lock();
        let now = Instant::now();
        let live = sessions
            .get(token)
            .is_some_and(|s| now - s.seen < IDLE && now - s.started < LIFETIME);
        if !live {
            sessions.remove(token);
            return None;
        }
        let session = sessions.get_mut(token)?;
        session.seen = now;
        Some((session.credential.clone(), session.csrf.clone()))
    }

    fn start_session(&self, credential: &str) -> String {
        let token = random_token();
        let now = Instant::now();
        let mut sessions = self.sessions.lock();
        sessions.retain(|_, s| now - s.seen < IDLE && now - s.started < LIFETIME);
        if sessions.len() >= MAX_SESSIONS {
            let oldest = sessions
                .iter()
                .min_by_key(|(_, s)| s.seen)
                .map(|(t, _)| t.clone());
            if let Some(t) = oldest {
                sessions.remove(&t);
            }
        }
        sessions.insert(
            token.clone(),
            Session {
                credential: Secret::new(credential),
                csrf: random_token(),
                started: now,
                seen: now,
            },
        );
        token
    }

    fn cookie(&self, value: &str, max_age: u64) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{COOKIE}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
        ))
        .expect("a cookie of hex and fixed text")
    }
}

/// A posted form, read only after its CSRF token matched the session's: handlers take this
/// extractor, so no action can skip the check.
pub(crate) struct Form {
    pairs: Vec<(String, String)>,
}

impl Form {
    /// The first value of a field, trimmed; `None` when absent or blank.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// Every value of a repeated field (the checked boxes of a bulk action).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn parse(body: &[u8]) -> Form {
        Form {
            pairs: form_urlencoded::parse(body).into_owned().collect(),
        }
    }
}

impl<S: Send + Sync> FromRequest<S> for Form {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let viewer = request.extensions().get::<Viewer>().cloned();
        let body = Bytes::from_request(request, state).await.map_err(|e| {
            ApiError(Rejection::new(
                400,
                "bad_request",
                "The form is unreadable",
                e.to_string(),
            ))
        })?;
        let form = Form::parse(&body);
        let expected = viewer.map(|v| v.csrf);
        if expected.is_none() || form.get("csrf") != expected.as_deref() {
            return Err(ApiError(Rejection::new(
                403,
                "csrf",
                "The form has expired",
                "the form's token does not match this session; reload the page and try again",
            )));
        }
        Ok(form)
    }
}

/// A notice at the top of a page after an action: plain text, escaped here.
pub(crate) fn notice(ok: bool, lines: &[String]) -> String {
    let class = if ok { "" } else { " error" };
    let text: Vec<String> = lines.iter().map(|l| esc(l)).collect();
    format!(
        "<div class=\"notice{class}\" id=\"notice\">{}</div>",
        text.join("<br>")
    )
}

/// Runs `act` for each selected id in turn and reports every outcome: `n of m {what}.`, then
/// each refusal with its reason (an internal failure is logged, not shown).
pub(crate) async fn for_each_selected<F, Fut>(ids: &[&str], what: &str, mut act: F) -> String
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Result<(), concord_engine::EngineError>>,
{
    if ids.is_empty() {
        return notice(false, &["Select at least one first.".to_string()]);
    }
    let mut done = 0;
    let mut lines = vec![String::new()];
    for id in ids {
        match act(id.to_string()).await {
            Ok(()) => done += 1,
            Err(concord_engine::EngineError::Rejected(r)) => {
                lines.push(format!("{id}: {}", r.detail))
            }
            Err(e) => {
                tracing::error!(id = %id, error = %e, "a console action failed");
                lines.push(format!("{id}: the hub could not complete it; it is logged"));
            }
        }
    }
    lines[0] = format!("{done} of {} {what}.", ids.len());
    notice(lines.len() == 1, &lines)
}

/// The listing's query, carried through an action's form so the page comes back as it was.
pub(crate) fn back_field(q: &HashMap<String, String>) -> String {
    let back: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(q.iter())
        .finish();
    format!(
        "<input type=\"hidden\" name=\"back\" value=\"{}\">",
        esc(&back)
    )
}

impl Form {
    /// The listing's query an action's form carried (see [`back_field`]).
    pub fn back(&self) -> HashMap<String, String> {
        form_urlencoded::parse(self.get("back").unwrap_or("").as_bytes())
            .into_owned()
            .collect()
    }
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("console.css"),
    )
        .into_response()
}

/// Where to go after signing in: a console page, never another site.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with("/console/")
                && !n.starts_with("/console//")
                && n.bytes().all(|b| (0x21..0x7f).contains(&b) && b != b'\\') =>
        {
            n.to_string()
        }
        _ => "/console/overview".to_string(),
    }
}

fn sign_in_form(next: &str, problem: Option<&str>) -> String {
    let notice = problem
        .map(|p| format!("<div class=\"notice error\" id=\"error\">{}</div>", esc(p)))
        .unwrap_or_default();
    format!(
        "{notice}<form class=\"signin\" method=\"post\" action=\"/console/sign-in\">\
         <label>API key or bearer token<input type=\"password\" name=\"credential\" id=\"credential\" \
         autocomplete=\"current-password\" required autofocus></label>\
         <input type=\"hidden\" name=\"next\" value=\"{}\">\
         <button type=\"submit\" id=\"sign-in\">Sign in</button>\
         <p class=\"empty\">The same keys and tokens as the API; what you see follows your role.</p></form>",
        esc(next)
    )
}

async fn sign_in_page(Query(q): Query<HashMap<String, String>>) -> Response {
    let next = safe_next(q.get("next").map(String::as_str));
    respond(
        StatusCode::OK,
        frame("Sign in", &[], "", None, &sign_in_form(&next, None)),
    )
}

async fn sign_in(State(console): State<Console>, body: Bytes) -> Response {
    let form = Form::parse(&body);
    let next = safe_next(form.get("next"));
    let refuse = |why: &str| {
        respond(
            StatusCode::UNAUTHORIZED,
            frame("Sign in", &[], "", None, &sign_in_form(&next, Some(why))),
        )
    };
    let Some(credential) = form.get("credential") else {
        return refuse("enter an API key or a bearer token");
    };
    match console.hub.authenticate(credential).await {
        Ok(principal) => {
            tracing::info!(principal = %principal.actor(), "signed in to the console");
            let token = console.start_session(credential);
            let mut response = Redirect::to(&next).into_response();
            response.headers_mut().insert(
                header::SET_COOKIE,
                console.cookie(&token, LIFETIME.as_secs()),
            );
            response
        }
        Err(e) => {
            console
                .hub
                .audit_denied("anonymous", "POST /console/sign-in", 401, &e.to_string())
                .await;
            refuse(&format!("not signed in: {e}"))
        }
    }
}

async fn sign_out(State(console): State<Console>, request: Request) -> Response {
    if let Some(token) = session_token(&request) {
        let csrf = console.sessions.lock().get(&token).map(|s| s.csrf.clone());
        let body = axum::body::to_bytes(request.into_body(), 64 * 1024)
            .await
            .unwrap_or_default();
        if csrf.is_some() && Form::parse(&body).get("csrf") == csrf.as_deref() {
            console.sessions.lock().remove(&token);
        }
    }
    let mut response = Redirect::to("/console/sign-in").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, console.cookie("", 0));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_is_in_the_table_once_and_only_the_door_is_open() {
        let mut seen = std::collections::HashSet::new();
        for p in PAGES {
            assert!(
                seen.insert((p.method.clone(), p.path)),
                "{} {} twice",
                p.method,
                p.path
            );
            assert!(p.path.starts_with("/console"), "{}", p.path);
            let door = [
                "/console",
                "/console/sign-in",
                "/console/sign-out",
                "/console/assets/console.css",
            ];
            assert_eq!(
                p.access == Access::Open,
                door.contains(&p.path),
                "{}",
                p.path
            );
            assert!(p.nav.is_none() || p.method == Method::GET);
        }
    }

    #[test]
    fn only_the_hub_itself_or_its_public_origin_may_post() {
        let post = |origin: Option<&str>| {
            let mut r = axum::http::Request::builder()
                .method("POST")
                .uri("/console/deliveries/replay")
                .header(header::HOST, "10.0.0.5:8080");
            if let Some(o) = origin {
                r = r.header(header::ORIGIN, o);
            }
            r.body(axum::body::Body::empty()).unwrap()
        };
        let public = Some("https://concord.example.org");
        assert!(
            !cross_site(&post(None), None),
            "no Origin: a non-browser client"
        );
        assert!(!cross_site(&post(Some("http://10.0.0.5:8080")), None));
        assert!(cross_site(&post(Some("https://evil.example")), None));
        assert!(cross_site(&post(Some("null")), None));
        assert!(cross_site(&post(Some("https://concord.example.org")), None));
        assert!(!cross_site(
            &post(Some("https://concord.example.org")),
            public
        ));
        assert!(cross_site(&post(Some("https://evil.example")), public));
    }

    #[test]
    fn an_unknown_console_path_is_a_page() {
        let r = not_found_page("/console/nope");
        assert_eq!(r.status(), 404);
        assert!(
            r.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
    }

    #[test]
    fn sign_in_only_returns_to_console_pages() {
        assert_eq!(
            safe_next(Some("/console/exceptions?type=x")),
            "/console/exceptions?type=x"
        );
        for evil in [
            "https://evil.example/",
            "//evil.example",
            "/console//evil",
            "/v1/keys",
            "/console/\\evil",
            "/console/\nSet-Cookie:x",
            "/console/a b",
        ] {
            assert_eq!(safe_next(Some(evil)), "/console/overview", "{evil}");
        }
        assert_eq!(safe_next(None), "/console/overview");
    }

    #[test]
    fn a_form_reads_repeated_fields_and_trims_values() {
        let f = Form::parse(b"id=a&id=b%20c&reason=+late+&csrf=t&blank=+");
        assert_eq!(f.all("id"), vec!["a", "b c"]);
        assert_eq!(f.get("reason"), Some("late"));
        assert_eq!(f.get("blank"), None);
        assert_eq!(f.get("missing"), None);
    }
}
