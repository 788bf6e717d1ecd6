//! The console in a real browser: headless Chromium (Debian's package) driven over the W3C
//! WebDriver protocol by chromedriver. An operator signs in, finds the failed contract
//! propagation, replays the dead letter once the ERP is back, and sees the contract become
//! active. Screenshots of the main pages are saved under the test's target directory
//! (`target/tmp/console-screenshots/`).
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (`apt-get install chromium
//! chromium-driver`); without them the test says so and passes, unless
//! `CONCORD_TEST_BROWSER=required` (CI sets it, and installs them first).

mod common;

use std::{path::PathBuf, process::Stdio, time::Duration};

use base64::Engine as _;
use common::*;
use concord_model::access::Role;
use concord_sandbox::Faults;
use concord_store::testing::Backend;
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The W3C name of an element reference in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process and one browser session on it.
struct Browser {
    driver: tokio::process::Child,
    base: String,
    http: reqwest::Client,
}

impl Browser {
    async fn start() -> Browser {
        let port = free_port();
        let driver = tokio::process::Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let http = reqwest::Client::new();
        let url = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if let Ok(r) = http.get(format!("{url}/status")).send().await
                && r.json::<Value>()
                    .await
                    .is_ok_and(|v| v["value"]["ready"] == true)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let answer: Value = http
            .post(format!("{url}/session"))
            .json(&json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": CHROMIUM,
                    "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                             "--disable-dev-shm-usage", "--window-size=1400,1000"]
                }
            }}}))
            .send()
            .await
            .expect("a browser session")
            .json()
            .await
            .unwrap();
        let session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {answer}"));
        Browser {
            driver,
            base: format!("{url}/session/{session}"),
            http,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        assert!(
            answer["value"]["error"].is_null(),
            "WebDriver {path}: {answer}"
        );
        answer["value"].clone()
    }

    async fn go(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    async fn find(&self, css: &str) -> String {
        let found = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        found[ELEMENT].as_str().unwrap().to_string()
    }

    async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        )
        .await;
    }

    async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    async fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None)
            .await
            .as_str()
            .unwrap()
            .to_string()
    }

    /// The page source once it contains `text` (a navigation may still be finishing after a
    /// click); the last source seen when it never does, for the failure message.
    async fn source_with(&self, text: &str) -> String {
        let mut page = String::new();
        for _ in 0..100 {
            page = self.source().await;
            if page.contains(text) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        page
    }

    async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Saves a PNG of the page and checks it is one.
    async fn screenshot(&self, dir: &std::path::Path, name: &str) {
        let data = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().unwrap())
            .unwrap();
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
            "{name}"
        );
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    async fn close(mut self) {
        let _ = self.http.delete(&self.base).send().await;
        let _ = self.driver.kill().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_fixes_a_failed_propagation_in_the_browser() {
    let installed =
        std::path::Path::new(CHROMIUM).exists() && std::path::Path::new(CHROMEDRIVER).exists();
    if !installed {
        assert_ne!(
            std::env::var("CONCORD_TEST_BROWSER").as_deref(),
            Ok("required"),
            "CONCORD_TEST_BROWSER=required but {CHROMIUM} or {CHROMEDRIVER} is missing \
             (apt-get install chromium chromium-driver)"
        );
        eprintln!("skipped: {CHROMIUM} and {CHROMEDRIVER} are not installed");
        return;
    }
    let Some(t) = spawn_hub(Backend::Sqlite, |c| c.delivery.max_attempts = 2).await else {
        return;
    };
    t.seed().await;
    let dead = fail_contract_propagation(&t, "C-WEB-1").await;
    let operator = make_key(&t.hub, Role::Operator, None).await;
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&shots).unwrap();

    let b = Browser::start().await;
    // Signing in: the console sends a stranger to the sign-in page and back.
    b.go(&format!("{}/console/exceptions", t.url)).await;
    assert!(
        b.url().await.contains("/console/sign-in"),
        "{}",
        b.url().await
    );
    b.screenshot(&shots, "sign-in").await;
    b.type_into("#credential", &operator).await;
    b.click("#sign-in").await;
    b.source_with("<h1>Exceptions</h1>").await;
    assert!(
        b.url().await.ends_with("/console/exceptions"),
        "{}: {}",
        b.url().await,
        b.source().await
    );
    let page = b.source_with("contract_propagation_failed").await;
    assert!(page.contains("contract_propagation_failed"), "{page}");
    assert!(page.contains("contract:C-WEB-1:v1"), "{page}");
    b.screenshot(&shots, "exceptions").await;

    b.click("header nav a[href='/console/overview']").await;
    let page = b.source().await;
    assert!(
        page.contains("dead letters") && page.contains("<svg"),
        "{page}"
    );
    b.screenshot(&shots, "overview").await;

    // The ERP is back: the operator replays the dead letter from the deliveries page.
    t.sandbox.erp.set_faults(Faults::default());
    b.click("header nav a[href='/console/deliveries']").await;
    assert!(b.source_with(&dead).await.contains(&dead));
    b.screenshot(&shots, "deliveries").await;
    b.click(&format!("input[name='id'][value='{dead}']")).await;
    b.click("#replay").await;
    let page = b.source_with("1 of 1 queued again").await;
    assert!(page.contains("1 of 1 queued again"), "{page}");
    t.wait_status("C-WEB-1", 1, "active").await;

    // The state changed where the operator looks: the contract is active, the exception gone.
    b.click("header nav a[href='/console/contracts']").await;
    b.type_into("#contract-id", "C-WEB-1").await;
    b.click("form.filters button").await;
    let page = b.source_with("active version 1").await;
    assert!(page.contains("active version 1"), "{page}");
    b.screenshot(&shots, "contracts").await;
    b.click("header nav a[href='/console/exceptions']").await;
    let page = b.source_with("0 exception(s)").await;
    assert!(page.contains("0 exception(s)"), "{page}");

    // The transaction's lineage, found by contract.
    b.click("header nav a[href='/console/transactions']").await;
    b.click("#by option[value='contract']").await;
    b.type_into("#q", "C-WEB-1").await;
    b.click("#search").await;
    let page = b.source_with("Transactions for contract C-WEB-1").await;
    assert!(page.contains("Transactions for contract C-WEB-1"), "{page}");
    b.click("#transactions a").await;
    let page = b.source().await;
    assert!(
        page.contains("contract.version.submitted") && page.contains("delivered"),
        "{page}"
    );
    b.screenshot(&shots, "transaction").await;
    b.click("header nav a[href='/console/systems']").await;
    b.screenshot(&shots, "systems").await;
    b.close().await;
    t.shutdown().await;
}
