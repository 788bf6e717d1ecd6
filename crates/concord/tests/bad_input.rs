//! Bad input, tried on every route of the table: malformed JSON, oversized bodies, wrong content
//! types, SQL-looking strings, path traversal in ids, invalid UTF-8 (in the body, the path and the
//! query), and a seeded stream of random bodies. Whatever arrives, the answer is never a 5xx,
//! every error is problem JSON whose `status` matches, and afterwards nothing is stored that
//! should not be: no contract, master record, event, delivery or key; what reached an inbox is
//! quarantined, never processed.

mod common;

use common::*;
use concord_api::access::{ROUTES, RouteSpec};
use concord_store::{InboxStatus, testing::Backend};
use reqwest::Method;
use serde_json::Value;

on_both_backends!(every_route_survives_bad_input_and_stores_nothing_it_should_not);

/// Small, so that "oversized" is cheap to send.
const MAX_BODY: usize = 16 * 1024;

/// Hostile values for ids in paths and for query parameters, already percent-encoded.
const HOSTILE: &[&str] = &[
    "%27%20OR%20%271%27%3D%271",               // ' OR '1'='1
    "1%3B%20DROP%20TABLE%20inbox%3B--",        // 1; DROP TABLE inbox;--
    "%2E%2E%2F%2E%2E%2F%2E%2E%2Fetc%2Fpasswd", // ../../../etc/passwd
    "..%5C..%5Cwindows%5Cwin.ini",             // ..\..\windows\win.ini
    "%FF%FE%FD",                               // invalid UTF-8
    "%00",                                     // NUL
    "%E2%80%AE%20rtl",                         // right-to-left override
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
];

/// Bodies that are not what any route wants.
fn bad_bodies() -> Vec<(&'static str, Vec<u8>)> {
    let mut deep = "[".repeat(10_000);
    deep.push_str(&"]".repeat(10_000));
    vec![
        ("application/json", b"{\"id\": ".to_vec()),
        ("application/json", b"not json at all".to_vec()),
        ("application/json", b"\xff\xfe{\"id\":\"x\"}".to_vec()),
        ("application/json", b"{\"id\": \"\\ud800\"}".to_vec()),
        ("application/json", b"{\"id\": 1e999999}".to_vec()),
        ("application/json", deep.into_bytes()),
        ("application/json", b"null".to_vec()),
        ("application/json", b"[]".to_vec()),
        (
            "application/json",
            br#"{"id": "' OR 1=1; DROP TABLE contracts;--", "version": -1, "lines": "x"}"#.to_vec(),
        ),
        (
            "application/json",
            br#"{"gtin": "../../etc/passwd", "gln": "<script>", "name": {"$gt": ""}}"#.to_vec(),
        ),
        (
            "application/json",
            br#"{"id": "x-1", "name": "A\u0000B", "tin": "12-3456789", "gtin": "00614141000012",
                 "gln": "0614141000005", "description": "\u0007", "uom": "EA", "unspsc": "42295105"}"#
                .to_vec(),
        ),
        ("application/json", b"{\"id\": \"x-1\", \"raw\": \"\x00\"}".to_vec()),
        ("application/json", vec![b' '; MAX_BODY + 1]),
        ("text/plain", b"{\"id\": \"C-1\"}".to_vec()),
        ("application/xml", b"<contract id=\"1\"/>".to_vec()),
        ("multipart/form-data; boundary=x", b"--x\r\n\r\n--x--".to_vec()),
    ]
}

/// A seeded stream of random bodies: JSON fragments, wrong types and raw bytes.
fn random_bodies(seed: u64, n: usize) -> Vec<Vec<u8>> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let fragments: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        "\"",
        ":",
        ",",
        "null",
        "true",
        "-0",
        "1e309",
        "\"id\"",
        "\"lines\"",
        "\"version\"",
        "\"\\u0000\"",
        "\"€\"",
        "{\"id\":",
        "[{\"gtin\":\"00614141000012\"}]",
    ];
    (0..n)
        .map(|_| match rng.u8(0..3) {
            0 => (0..rng.usize(1..40))
                .map(|_| fragments[rng.usize(..fragments.len())])
                .collect::<String>()
                .into_bytes(),
            1 => (0..rng.usize(1..200)).map(|_| rng.u8(..)).collect(),
            _ => format!(
                "{{\"id\":{},\"version\":{},\"lines\":{},\"supplier_id\":{}}}",
                ["\"C\"", "7", "[]", "null", "{}"][rng.usize(..5)],
                ["1", "\"1\"", "-5", "1.5", "99999999999999999999"][rng.usize(..5)],
                ["[]", "[{}]", "\"x\"", "[{\"gtin\":\"1\"}]", "null"][rng.usize(..5)],
                ["\"S-1\"", "1", "[]", "\"\"", "null"][rng.usize(..5)],
            )
            .into_bytes(),
        })
        .collect()
}

/// The route's path with every `{param}` replaced by `value` (already encoded).
fn path_with(spec: &RouteSpec, value: &str) -> String {
    spec.path
        .split('/')
        .map(|seg| if seg.starts_with('{') { value } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

fn method(spec: &RouteSpec) -> Method {
    Method::from_bytes(spec.method.as_str().as_bytes()).unwrap()
}

/// Sends one request and checks the answer's shape; returns the status.
async fn send_checked(
    t: &TestHub,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: Option<Vec<u8>>,
    what: &str,
) -> u16 {
    let mut request = t.client.request(method.clone(), format!("{}{path}", t.url));
    if let Some(ct) = content_type {
        request = request.header("content-type", ct);
    }
    if let Some(body) = body {
        request = request.body(body);
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{what}: {method} {path}: no answer: {e}"));
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = response.text().await.unwrap_or_default();
    assert!(
        status < 500,
        "{what}: {method} {path} answered {status}: {text}"
    );
    if status >= 400 {
        assert_eq!(
            content_type, "application/problem+json",
            "{what}: {method} {path} answered {status} without problem JSON: {text}"
        );
        let problem: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!("{what}: {method} {path}: problem is not JSON ({e}): {text}")
        });
        assert_eq!(
            problem["status"], status,
            "{what}: {method} {path}: {problem}"
        );
        assert!(
            problem["type"].is_string() && problem["detail"].is_string(),
            "{what}: {method} {path}: {problem}"
        );
    }
    status
}

async fn every_route_survives_bad_input_and_stores_nothing_it_should_not(backend: Backend) {
    let Some(t) = spawn_hub(backend, |c| c.hub.max_body_bytes = MAX_BODY).await else {
        return;
    };
    let keys_before = t.hub.store().api_keys().await.unwrap().len();
    let seed = std::env::var("CONCORD_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x00c0_4c0d);
    let random = random_bodies(seed, 25);
    let mut sent = 0usize;
    for spec in ROUTES {
        let m = method(spec);
        let what = format!("seed {seed:#x}");
        // Hostile ids in the path, and hostile values in every documented query parameter.
        if spec.path.contains('{') {
            for value in HOSTILE {
                send_checked(&t, m.clone(), &path_with(spec, value), None, None, &what).await;
                sent += 1;
            }
        }
        for value in HOSTILE {
            let query: Vec<String> = spec
                .query
                .iter()
                .map(|p| format!("{}={value}", p.name))
                .chain([format!("unexpected={value}"), "%FF=%FE".to_string()])
                .collect();
            let path = format!("{}?{}", path_with(spec, "x-1"), query.join("&"));
            send_checked(&t, m.clone(), &path, None, None, &what).await;
            sent += 1;
        }
        // Bad bodies, on the route's own method (a route without a body must ignore them).
        let path = path_with(spec, "x-1");
        for (content_type, body) in bad_bodies() {
            send_checked(&t, m.clone(), &path, Some(content_type), Some(body), &what).await;
            sent += 1;
        }
        if spec.body.is_some() {
            for body in &random {
                send_checked(
                    &t,
                    m.clone(),
                    &path,
                    Some("application/json"),
                    Some(body.clone()),
                    &what,
                )
                .await;
                sent += 1;
            }
        }
        // A method no route takes.
        let status = send_checked(&t, Method::PATCH, &path, None, None, &what).await;
        assert_eq!(status, 405, "PATCH {path}");
        sent += 1;
    }
    assert!(sent > ROUTES.len() * 20, "only {sent} requests");

    // Nothing stored that should not be.
    let store = t.hub.store();
    assert!(
        store.contract_status_counts().await.unwrap().is_empty(),
        "a contract was stored"
    );
    assert!(
        store.events_after(0, 10).await.unwrap().is_empty(),
        "an event was stored"
    );
    assert!(
        store
            .delivery_counts()
            .await
            .unwrap()
            .iter()
            .all(|(_, n)| *n == 0),
        "a delivery was queued"
    );
    assert!(
        store.all_items().await.unwrap().is_empty(),
        "an item was stored"
    );
    assert!(
        store.all_facilities().await.unwrap().is_empty(),
        "a facility was stored"
    );
    for id in ["x-1", "S-1", "' OR '1'='1"] {
        assert!(
            store.supplier(id).await.unwrap().is_none(),
            "supplier {id} was stored"
        );
    }
    assert_eq!(
        store.api_keys().await.unwrap().len(),
        keys_before,
        "a key was made"
    );
    for status in [InboxStatus::Received, InboxStatus::Processed] {
        assert!(
            store.list_inbox(status, 10).await.unwrap().is_empty(),
            "an inbound message is {status:?}, not quarantined"
        );
    }
    // What reached an inbox is kept, quarantined, to be seen and fixed.
    assert!(
        !store
            .list_inbox(InboxStatus::Quarantined, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // The hub is still healthy after all of it.
    assert_eq!(t.get("/readyz").await.0, 200);
    t.shutdown().await;
}
