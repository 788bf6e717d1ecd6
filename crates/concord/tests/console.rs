//! The operations console over real HTTP: sign-in with API keys, every page, the actions
//! (replay, pause and resume, resolve, test connection), and who may do what.

mod common;

use std::time::Duration;

use common::*;
use concord_model::access::Role;
use concord_sandbox::Faults;
use concord_store::testing::Backend;
use reqwest::{StatusCode, header};

on_both_backends!(an_operator_replays_a_failed_propagation_and_pauses_the_erp,);

/// `application/x-www-form-urlencoded` bodies, as a browser posts a form.
trait FormBody {
    fn form_body(self, pairs: &[(&str, &str)]) -> Self;
}

impl FormBody for reqwest::RequestBuilder {
    fn form_body(self, pairs: &[(&str, &str)]) -> Self {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        self.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
    }
}

/// A browser without the browser: keeps the session cookie and the form token.
struct Console {
    url: String,
    client: reqwest::Client,
    cookie: Option<String>,
    csrf: Option<String>,
}

struct Page {
    status: StatusCode,
    headers: header::HeaderMap,
    html: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

impl Console {
    fn new(t: &TestHub) -> Console {
        Console {
            url: t.url.clone(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookie: None,
            csrf: None,
        }
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let request = match &self.cookie {
            Some(c) => request.header(header::COOKIE, c),
            None => request,
        };
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let html = response.text().await.unwrap();
        if let Some(token) = html
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
        {
            self.csrf = Some(token.to_string());
        }
        Page {
            status,
            headers,
            html,
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        let request = self.client.get(format!("{}{path}", self.url));
        self.send(request).await
    }

    /// Posts a form with this session's token added.
    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let mut pairs: Vec<(&str, &str)> = fields.to_vec();
        let csrf = self.csrf.clone().unwrap_or_default();
        pairs.push(("csrf", &csrf));
        let request = self
            .client
            .post(format!("{}{path}", self.url))
            .form_body(&pairs);
        self.send(request).await
    }

    async fn sign_in(&mut self, credential: &str) -> Page {
        let page = self
            .send(
                self.client
                    .post(format!("{}/console/sign-in", self.url))
                    .form_body(&[("credential", credential), ("next", "/console/overview")]),
            )
            .await;
        if let Some(cookie) = page.headers.get(header::SET_COOKIE) {
            let cookie = cookie.to_str().unwrap();
            self.cookie = Some(cookie.split(';').next().unwrap().to_string());
        }
        page
    }

    /// A page that must render: 200, HTML, the console's policy, no script anywhere.
    async fn page(&mut self, path: &str) -> String {
        let page = self.get(path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.html);
        assert!(
            page.headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let csp = page.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(
            csp.contains("default-src 'none'") && !csp.contains("script-src"),
            "{csp}"
        );
        assert!(!page.html.contains("<script"), "{path}");
        page.html
    }
}

async fn an_operator_replays_a_failed_propagation_and_pauses_the_erp(backend: Backend) {
    let Some(t) = spawn_hub(backend, |c| c.delivery.max_attempts = 2).await else {
        return;
    };
    t.seed().await;
    let dead = fail_contract_propagation(&t, "C-CON-1").await;
    let mut c = Console::new(&t);

    // The door: no session goes to sign-in (and comes back after); a wrong key is refused.
    let page = c.get("/console/deliveries?status=dead").await;
    assert_eq!(page.status, 303);
    assert_eq!(
        page.location(),
        "/console/sign-in?next=%2Fconsole%2Fdeliveries%3Fstatus%3Ddead"
    );
    let page = c.sign_in("ck_nope_nope").await;
    assert_eq!(page.status, 401);
    assert!(page.html.contains("not signed in"), "{}", page.html);
    assert!(c.cookie.is_none());
    let operator = make_key(&t.hub, Role::Operator, None).await;
    let page = c.sign_in(&operator).await;
    assert_eq!(page.status, 303, "{}", page.html);
    assert_eq!(page.location(), "/console/overview");
    let set = page.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(
        set.contains("HttpOnly")
            && set.contains("SameSite=Strict")
            && set.contains("Path=/console"),
        "{set}"
    );

    // The overview shows the failure: one dead letter, the open exception, the ERP's errors.
    let html = c.page("/console/overview").await;
    assert!(html.contains("dead letters"), "{html}");
    assert!(html.contains("contract_propagation_failed"), "{html}");
    assert!(html.contains("<svg"), "the throughput chart");
    assert!(
        html.contains("Service level objectives"),
        "the demo config's objectives"
    );
    let html = c.page("/console/overview?range=hour").await;
    assert!(html.contains("class=\"active\">hour"), "{html}");

    // Deliveries: the dead letter is listed; a form without the session's token is refused.
    let html = c.page("/console/deliveries?status=dead").await;
    assert!(html.contains(&dead), "{html}");
    let forged = c
        .send(
            c.client
                .post(format!("{}/console/deliveries/replay", c.url))
                .form_body(&[("id", dead.as_str()), ("csrf", "forged")]),
        )
        .await;
    assert_eq!(forged.status, 403, "{}", forged.html);
    let cross_site = c
        .send(
            c.client
                .post(format!("{}/console/deliveries/replay", c.url))
                .header(header::ORIGIN, "https://evil.example")
                .form_body(&[
                    ("id", dead.as_str()),
                    ("csrf", c.csrf.clone().unwrap().as_str()),
                ]),
        )
        .await;
    assert_eq!(cross_site.status, 403);
    assert_eq!(
        t.contract_status("C-CON-1", 1).await.as_deref(),
        Some("pending")
    );

    // The lineage of the contract, found by its id: raw message, event, the dead attempts.
    let html = c.page("/console/transactions?by=contract&q=C-CON-1").await;
    let correlation = html
        .split("/console/transactions/")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a transaction found by contract")
        .to_string();
    let html = c
        .page(&format!("/console/transactions/{correlation}"))
        .await;
    for expected in [
        "contract.version.submitted",
        "C-CON-1",
        "erp",
        "dead",
        "Messages received",
    ] {
        assert!(html.contains(expected), "lineage lacks {expected}: {html}");
    }

    // Resolved in bulk from the workbench page: each selected exception's outcome is told.
    let html = c
        .page("/console/exceptions?type=contract_propagation_failed")
        .await;
    let exception = html
        .split("name=\"id\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a selectable exception")
        .to_string();
    let html = c
        .post(
            "/console/exceptions/resolve",
            &[
                ("id", &exception),
                ("id", "exc_nope"),
                ("action", "acknowledge"),
                ("reason", "the ERP team is on it"),
                ("back", "type=contract_propagation_failed"),
            ],
        )
        .await
        .html;
    assert!(html.contains("1 of 2 resolved with acknowledge."), "{html}");
    assert!(html.contains("exc_nope: no exception exc_nope"), "{html}");
    assert!(
        html.contains("0 exception(s)"),
        "the page comes back filtered: {html}"
    );
    let html = c
        .post(
            "/console/exceptions/resolve",
            &[("id", &exception), ("action", "acknowledge")],
        )
        .await
        .html;
    assert!(
        html.contains("Nothing was resolved"),
        "a reason is required: {html}"
    );

    // Replayed from the console once the ERP is back: the contract activates, the exception
    // closes itself.
    t.sandbox.erp.set_faults(Faults::default());
    let html = c
        .post("/console/deliveries/replay", &[("id", &dead)])
        .await
        .html;
    assert!(html.contains("1 of 1 queued again"), "{html}");
    t.wait_status("C-CON-1", 1, "active").await;
    let html = c.page("/console/contracts?id=C-CON-1").await;
    assert!(html.contains("active version 1"), "{html}");
    let html = c
        .page("/console/exceptions?type=contract_propagation_failed")
        .await;
    assert!(html.contains("0 exception(s)"), "{html}");

    // Paused for a maintenance window: version 2 waits, nothing dies; resumed, it goes out.
    let html = c
        .post(
            "/console/deliveries/pause",
            &[("target", "erp"), ("reason", "ERP upgrade 02:00-04:00")],
        )
        .await
        .html;
    assert!(html.contains("erp is paused"), "{html}");
    let again = c
        .post(
            "/console/deliveries/pause",
            &[("target", "erp"), ("reason", "again")],
        )
        .await;
    assert_eq!(again.status, 409, "{}", again.html);
    assert!(again.html.contains("already paused"), "{}", again.html);
    let (s, body) = t
        .post(
            "/v1/contracts",
            contract("C-CON-1", 2, &[(ITEM_2, "4.50")], &[]),
        )
        .await;
    assert_eq!(s, 202, "{body}");
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (_, pending) = t.get("/v1/deliveries?status=pending&target=erp").await;
    assert_eq!(
        pending["deliveries"].as_array().unwrap().len(),
        1,
        "{pending}"
    );
    assert_ne!(
        t.contract_status("C-CON-1", 2).await.as_deref(),
        Some("active")
    );
    let html = c.page("/console/systems").await;
    assert!(html.contains("paused</span> by"), "{html}");
    let html = c
        .post("/console/deliveries/resume", &[("target", "erp")])
        .await
        .html;
    assert!(html.contains("erp is delivering again"), "{html}");
    let again = c
        .post("/console/deliveries/resume", &[("target", "erp")])
        .await;
    assert_eq!(again.status, 409, "{}", again.html);
    t.wait_status("C-CON-1", 2, "active").await;

    // Test connection reaches the ERP sandbox; an unknown system is a clear 404 page.
    let html = c.post("/console/systems/erp/test", &[]).await.html;
    assert!(html.contains("erp answered HTTP"), "{html}");
    let page = c.post("/console/systems/nowhere/test", &[]).await;
    assert_eq!(page.status, 404);
    assert!(page.html.contains("no system"), "{}", page.html);

    // Both actions were audited in the operator's name.
    for action in ["target.paused", "target.resumed"] {
        let (_, audit) = t.get(&format!("/v1/audit?action={action}")).await;
        assert_eq!(
            audit["entries"].as_array().map(Vec::len),
            Some(1),
            "{action}: {audit}"
        );
    }

    // Signed out, the session is gone.
    let page = c.post("/console/sign-out", &[]).await;
    assert_eq!(page.status, 303);
    assert_eq!(c.get("/console/overview").await.status, 303);
    t.shutdown().await;
}

/// Every console page for every role: allowed pages render, others are refused with a page
/// that says why, and no action answers a 5xx, even with an empty form.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_pages_follow_the_roles() {
    let Some(t) = spawn_hub(Backend::Sqlite, |_| {}).await else {
        return;
    };
    t.seed().await;
    for role in Role::ALL {
        if role == Role::Integration {
            // Systems sign in to nothing here: no page is theirs.
            let mut c = Console::new(&t);
            let key = make_key(&t.hub, role, Some("erp")).await;
            assert_eq!(c.sign_in(&key).await.status, 303);
            assert_eq!(c.get("/console/overview").await.status, 403);
            continue;
        }
        let mut c = Console::new(&t);
        let key = make_key(&t.hub, role, None).await;
        assert_eq!(c.sign_in(&key).await.status, 303, "{role}");
        for page in concord_api::console::PAGES {
            let path = page
                .path
                .replace("{correlation_id}", "corr-unknown")
                .replace("{system}", "erp");
            let allowed = match page.access {
                concord_model::access::Access::Scope(s) => role.has(s),
                _ => true,
            };
            let answer = if page.method == reqwest::Method::GET {
                c.get(&path).await
            } else if page.path == "/console/sign-in" || page.path == "/console/sign-out" {
                continue;
            } else {
                c.post(&path, &[]).await
            };
            let status = answer.status.as_u16();
            assert!(
                status < 500,
                "{role} {} {path}: {status} {}",
                page.method,
                answer.html
            );
            if allowed {
                assert_ne!(
                    status, 403,
                    "{role} {} {path}: {}",
                    page.method, answer.html
                );
            } else {
                assert_eq!(status, 403, "{role} {} {path}", page.method);
                assert!(answer.html.contains("lacks the scope"), "{}", answer.html);
            }
        }
    }
    t.shutdown().await;
}
