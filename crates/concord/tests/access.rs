//! The role × route matrix over HTTP: every route in the table, called with no credential, a bad
//! one, and a key of every role, must answer exactly 401, 401, and 403 or 2xx as the table
//! below says. The expectations are written out here by hand, apart from the code they check.

mod common;

use std::collections::HashMap;

use common::*;
use concord_api::access::ROUTES;
use concord_model::access::Role;
use concord_store::testing::Backend;
use reqwest::Method;
use serde_json::{Value, json};

on_both_backends!(
    every_route_and_role_gets_exactly_its_answer,
    integration_keys_post_only_as_their_system,
    over_the_rate_a_principal_gets_429_with_retry_after
);

/// Who may call each route (besides admin, who may call all). Written by hand on purpose.
fn allowed(method: &Method, path: &str) -> &'static [Role] {
    use Role::*;
    const READERS: &[Role] = &[Operator, Buyer, Approver, ApClerk, Auditor, Viewer];
    match (method.as_str(), path) {
        ("GET", "/healthz" | "/readyz") => &[],
        ("GET", "/metrics") => &[Operator, Auditor, Viewer],
        ("POST", "/v1/inbound/{system}/{message_type}") => &[Integration],
        // The clinical system's own key only (the matrix's integration key is the CLM's).
        ("POST", "/v1/fhir/{resource_type}") => &[],
        ("POST", "/v1/contracts") => &[Approver],
        ("POST", "/v1/requisitions") => &[Buyer],
        ("GET", "/v1/requisitions/{id}") => READERS,
        ("POST", "/v1/requisitions/{id}/approve" | "/v1/requisitions/{id}/reject") => &[Approver],
        ("GET", "/v1/contracts/{id}" | "/v1/prices" | "/v1/transactions/{correlation_id}") => {
            READERS
        }
        ("GET", "/v1/exceptions" | "/v1/purchase-orders/{id}") => READERS,
        ("POST", "/v1/exceptions/{id}/resolve") => &[Operator, Approver, ApClerk],
        ("POST", "/v1/supplier-onboardings" | "/v1/suppliers/{id}/bank-changes") => {
            &[Operator, Buyer, ApClerk]
        }
        ("GET", "/v1/supplier-onboardings/{id}" | "/v1/bank-changes/{id}") => READERS,
        (
            "POST",
            "/v1/supplier-onboardings/{id}/approve"
            | "/v1/supplier-onboardings/{id}/reject"
            | "/v1/bank-changes/{id}/approve"
            | "/v1/bank-changes/{id}/reject",
        ) => &[Approver],
        (
            "GET",
            "/v1/crosswalks"
            | "/v1/crosswalks/conflicts"
            | "/v1/exclusions"
            | "/v1/reconciliations"
            | "/v1/reconciliations/{id}"
            | "/v1/stock"
            | "/v1/usages/{id}",
        ) => READERS,
        ("POST", "/v1/reconciliations" | "/v1/reconciliations/{id}/repair") => &[Operator],
        ("DELETE", "/v1/crosswalks/{system}/{entity_type}/{external_id}") => &[Operator],
        ("PUT", _) => &[Operator],
        ("GET", "/v1/deliveries" | "/v1/deliveries/{id}") => &[Operator, ApClerk, Auditor, Viewer],
        ("POST", "/v1/deliveries/{id}/replay" | "/v1/quarantine/{id}/replay") => &[Operator],
        ("GET", "/v1/quarantine" | "/v1/quarantine/{id}") => &[Operator, Auditor, Viewer],
        (_, "/v1/keys" | "/v1/keys/{id}") => &[],
        ("GET", "/v1/audit" | "/v1/audit/verify") => &[Auditor],
        ("GET", "/v1/openapi.json" | "/v1/docs" | "/v1/schemas") => {
            &[Operator, Buyer, Approver, ApClerk, Auditor, Viewer]
        }
        (method, path) => panic!("{method} {path} is new: add it to this test's table"),
    }
}

/// Ids the fixtures need, found once the hub holds some data.
struct Fixtures {
    correlation_id: String,
    delivery_id: String,
    quarantined_id: String,
}

/// A concrete request for a route, and whether an allowed caller must get a 2xx (some calls,
/// like replaying a message that is still invalid, are refused by the handler, never 401/403).
async fn request_for(
    t: &TestHub,
    f: &Fixtures,
    method: &Method,
    path: &str,
) -> (String, Option<Value>, bool) {
    match (method.as_str(), path) {
        ("GET", p) if !p.contains('{') && p != "/v1/prices" && p != "/v1/exclusions" => {
            (p.to_string(), None, true)
        }
        ("GET", "/v1/prices") => (
            format!("/v1/prices?item={ITEM_1}&facility={FACILITY_EAST}"),
            None,
            true,
        ),
        ("POST", "/v1/inbound/{system}/{message_type}") => (
            "/v1/inbound/clm/contract".into(),
            Some(
                json!({"eventType": "CONTRACT_APPROVED", "eventId": format!("E-{}", fastrand::u64(..))}),
            ),
            false,
        ),
        ("POST", "/v1/fhir/{resource_type}") => (
            "/v1/fhir/Device".into(),
            Some(json!({"resourceType": "Device", "id": "dev-matrix"})),
            false,
        ),
        ("POST", "/v1/contracts") => (
            "/v1/contracts".into(),
            Some(contract("C-M", 1, &[(ITEM_1, "3.00")], &[])),
            true,
        ),
        ("GET", "/v1/contracts/{id}") => ("/v1/contracts/C-M".into(), None, true),
        ("POST", "/v1/requisitions") => (
            "/v1/requisitions".into(),
            Some(requisition("R-MATRIX")),
            true,
        ),
        ("GET", "/v1/requisitions/{id}") => ("/v1/requisitions/R-M".into(), None, true),
        // The first allowed caller decides; later ones find it closed (409), never 401/403.
        ("POST", "/v1/requisitions/{id}/approve") => {
            ("/v1/requisitions/R-M/approve".into(), None, false)
        }
        ("POST", "/v1/requisitions/{id}/reject") => (
            "/v1/requisitions/R-M2/reject".into(),
            Some(json!({"reason": "matrix"})),
            false,
        ),
        ("PUT", "/v1/suppliers/{id}") => (
            "/v1/suppliers/S-1".into(),
            Some(json!({"id": "S-1", "name": "Acme", "tin": SUPPLIER_TIN})),
            true,
        ),
        ("PUT", "/v1/items/{gtin}") => (
            format!("/v1/items/{ITEM_2}"),
            Some(
                json!({"gtin": ITEM_2, "description": "Glove", "unspsc": "42132203", "uom": "BX"}),
            ),
            true,
        ),
        ("PUT", "/v1/facilities/{gln}") => (
            format!("/v1/facilities/{FACILITY_WEST}"),
            Some(json!({"gln": FACILITY_WEST, "name": "West", "groups": ["west"]})),
            true,
        ),
        ("POST", "/v1/supplier-onboardings") => (
            "/v1/supplier-onboardings".into(),
            Some(
                json!({"id": format!("S-M{}", fastrand::u32(..)), "name": "Matrix Medical", "tin": "44-1234567",
                "address": {"line1": "1 Main St", "city": "Columbus", "state": "OH", "zip": "43215"}}),
            ),
            true,
        ),
        ("GET", "/v1/supplier-onboardings/{id}") => {
            ("/v1/supplier-onboardings/S-NONE".into(), None, false)
        }
        ("POST", "/v1/supplier-onboardings/{id}/approve") => (
            "/v1/supplier-onboardings/S-NONE/approve".into(),
            None,
            false,
        ),
        ("POST", "/v1/supplier-onboardings/{id}/reject") => (
            "/v1/supplier-onboardings/S-NONE/reject".into(),
            Some(json!({"reason": "matrix"})),
            false,
        ),
        ("POST", "/v1/suppliers/{id}/bank-changes") => (
            "/v1/suppliers/S-1/bank-changes".into(),
            Some(
                json!({"payment": {"method": "ach", "bank": {"routing_number": "011000015", "account_number": "12345678"}}, "reason": "matrix"}),
            ),
            false,
        ),
        ("GET", "/v1/bank-changes/{id}") => ("/v1/bank-changes/bc_none".into(), None, false),
        ("POST", "/v1/bank-changes/{id}/approve") => {
            ("/v1/bank-changes/bc_none/approve".into(), None, false)
        }
        ("POST", "/v1/bank-changes/{id}/reject") => (
            "/v1/bank-changes/bc_none/reject".into(),
            Some(json!({"reason": "matrix"})),
            false,
        ),
        ("GET", "/v1/exclusions") => ("/v1/exclusions?name=Acme".into(), None, true),
        ("PUT", "/v1/crosswalks/{system}/{entity_type}/{external_id}") => (
            "/v1/crosswalks/erp/supplier/100042".into(),
            Some(json!({"canonical_id": "S-1"})),
            true,
        ),
        ("DELETE", "/v1/crosswalks/{system}/{entity_type}/{external_id}") => {
            ("/v1/crosswalks/erp/supplier/V-NONE".into(), None, false)
        }
        ("PUT", "/v1/stock/{facility}/{location}/{gtin}") => (
            format!("/v1/stock/{FACILITY_WEST}/CATH/{ITEM_1}"),
            Some(json!({"on_hand": 5, "par_level": 10, "reorder_point": 4})),
            true,
        ),
        ("GET", "/v1/usages/{id}") => ("/v1/usages/ehr:none:1".into(), None, false),
        ("POST", "/v1/reconciliations") => ("/v1/reconciliations".into(), Some(json!({})), true),
        ("GET", "/v1/reconciliations/{id}") => ("/v1/reconciliations/rec_none".into(), None, false),
        ("POST", "/v1/reconciliations/{id}/repair") => (
            "/v1/reconciliations/rec_none/repair".into(),
            Some(json!({})),
            false,
        ),
        ("GET", "/v1/deliveries/{id}") => (format!("/v1/deliveries/{}", f.delivery_id), None, true),
        ("POST", "/v1/deliveries/{id}/replay") => (
            format!("/v1/deliveries/{}/replay", f.delivery_id),
            None,
            false,
        ),
        ("GET", "/v1/transactions/{correlation_id}") => {
            (format!("/v1/transactions/{}", f.correlation_id), None, true)
        }
        ("GET", "/v1/quarantine/{id}") => {
            (format!("/v1/quarantine/{}", f.quarantined_id), None, true)
        }
        ("POST", "/v1/quarantine/{id}/replay") => (
            format!("/v1/quarantine/{}/replay", f.quarantined_id),
            None,
            false,
        ),
        ("POST", "/v1/keys") => (
            "/v1/keys".into(),
            Some(json!({"name": "made in the matrix", "role": "viewer", "expires_in_days": 1})),
            true,
        ),
        ("DELETE", "/v1/keys/{id}") => (
            format!("/v1/keys/{}", viewer_key(t, None).await.record.id),
            None,
            true,
        ),
        // No such exception or PO: a caller allowed in gets 404, never 401/403.
        ("POST", "/v1/exceptions/{id}/resolve") => (
            "/v1/exceptions/exc_none/resolve".into(),
            Some(json!({"action": "acknowledge", "reason": "matrix"})),
            false,
        ),
        ("GET", "/v1/purchase-orders/{id}") => ("/v1/purchase-orders/PO-NONE".into(), None, false),
        (method, path) => panic!("no fixture for {method} {path}"),
    }
}

/// A requisition that needs approval (far above the contract price), by u-17.
fn requisition(id: &str) -> Value {
    json!({"id": id, "requester": "u-17", "facility": FACILITY_EAST, "cost_center": "CC-1",
           "lines": [{"gtin": ITEM_1, "quantity": 1, "uom": "EA", "unit_price": "99.00"}]})
}

/// A viewer key, with its id (`expires_at` in the past makes an expired one).
async fn viewer_key(
    t: &TestHub,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
) -> concord_engine::governance::CreatedKey {
    t.hub
        .create_key(
            concord_engine::governance::NewKey {
                name: "viewer".into(),
                role: Role::Viewer,
                system: None,
                user: None,
                expires_at,
            },
            "test",
        )
        .await
        .unwrap()
}

async fn call(
    t: &TestHub,
    method: &Method,
    path: &str,
    body: Option<&Value>,
    key: Option<&str>,
) -> u16 {
    // A client without the harness's default admin key.
    let client = reqwest::Client::new();
    let mut request = client.request(method.clone(), format!("{}{path}", t.url));
    if let Some(body) = body {
        request = request.json(body);
    }
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    request.send().await.unwrap().status().as_u16()
}

async fn every_route_and_role_gets_exactly_its_answer(backend: Backend) {
    let Some(t) = spawn_hub(backend, |_| {}).await else {
        return;
    };
    t.seed().await;
    let (status, posted) = t
        .post(
            "/v1/contracts",
            contract("C-M", 1, &[(ITEM_1, "3.00")], &[]),
        )
        .await;
    assert_eq!(status, 202, "{posted}");
    let (status, bad) = t.post("/v1/contracts", json!({"id": "C-BAD"})).await;
    assert_eq!(status, 422, "{bad}");
    for id in ["R-M", "R-M2"] {
        let (status, req) = t.post("/v1/requisitions", requisition(id)).await;
        assert_eq!(
            (status, req["decision"].as_str()),
            (201, Some("needs_approval")),
            "{req}"
        );
    }
    let (_, deliveries) = t.get("/v1/deliveries").await;
    let fixtures = Fixtures {
        correlation_id: posted["correlation_id"].as_str().unwrap().to_string(),
        delivery_id: deliveries["deliveries"][0]["id"]
            .as_str()
            .expect("a delivery")
            .to_string(),
        quarantined_id: bad["receipt_id"].as_str().unwrap().to_string(),
    };
    // People's keys name their user (approvals are made in a person's name).
    let mut keys: HashMap<Role, String> = HashMap::new();
    for role in Role::ALL {
        let key = match role {
            Role::Integration => make_key(&t.hub, role, Some("clm")).await,
            _ => make_user_key(&t.hub, role, Some(&format!("u-{role}"))).await,
        };
        keys.insert(role, key);
    }

    let mut failures = Vec::new();
    for spec in ROUTES {
        let open = ["/healthz", "/readyz"].contains(&spec.path);
        let (path, body, must_succeed) = request_for(&t, &fixtures, &spec.method, spec.path).await;
        let mut check = |who: &str, got: u16, want: &str| {
            let ok = match want {
                "401" => got == 401,
                "403" => got == 403,
                "2xx" => (200..300).contains(&got),
                _ => got != 401 && got != 403,
            };
            if !ok {
                failures.push(format!(
                    "{} {path} as {who}: got {got}, want {want}",
                    spec.method
                ));
            }
        };
        if open {
            check(
                "nobody",
                call(&t, &spec.method, &path, body.as_ref(), None).await,
                "2xx",
            );
            continue;
        }
        check(
            "nobody",
            call(&t, &spec.method, &path, body.as_ref(), None).await,
            "401",
        );
        check(
            "a bad key",
            call(
                &t,
                &spec.method,
                &path,
                body.as_ref(),
                Some("ck_k_nope_0000"),
            )
            .await,
            "401",
        );
        for role in Role::ALL {
            let may = role == Role::Admin || allowed(&spec.method, spec.path).contains(&role);
            let want = match (may, must_succeed) {
                (false, _) => "403",
                (true, true) => "2xx",
                (true, false) => "not 401/403",
            };
            let got = call(&t, &spec.method, &path, body.as_ref(), Some(&keys[&role])).await;
            check(role.as_str(), got, want);
        }
    }
    assert!(
        failures.is_empty(),
        "{} wrong answers:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // Refusals are witnessed: bad keys and missing scopes are in the audit log.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let (status, audit) = t.get("/v1/audit?action=access.denied&limit=1000").await;
    assert_eq!(status, 200);
    let denied = audit["entries"].as_array().unwrap();
    assert!(
        denied.iter().any(|e| e["actor"] == "anonymous"),
        "bad keys are audited"
    );
    assert!(
        denied
            .iter()
            .any(|e| e["actor"].as_str().unwrap().contains("(viewer)")
                && e["subject"] == "POST /v1/keys"),
        "a viewer creating a key is audited"
    );
    let (status, verified) = t.get("/v1/audit/verify").await;
    assert_eq!(status, 200);
    assert_eq!(verified["intact"], true, "{verified}");
    assert!(verified["sealed"].as_u64().unwrap() > 10, "{verified}");
    t.shutdown().await;
}

async fn integration_keys_post_only_as_their_system(backend: Backend) {
    let Some(t) = spawn_hub(backend, |_| {}).await else {
        return;
    };
    let clm = make_key(&t.hub, Role::Integration, Some("clm")).await;
    let body = json!({"eventType": "CONTRACT_APPROVED"});
    for system in ["erp", "purchasing", "api"] {
        let got = call(
            &t,
            &Method::POST,
            &format!("/v1/inbound/{system}/contract"),
            Some(&body),
            Some(&clm),
        )
        .await;
        assert_eq!(got, 403, "a clm key posting as {system}");
    }
    assert_eq!(
        call(&t, &Method::POST, "/v1/contracts", Some(&body), Some(&clm)).await,
        403
    );
    // Revoked and expired keys stop working at once.
    let viewer = viewer_key(&t, None).await;
    assert_eq!(
        call(&t, &Method::GET, "/v1/exceptions", None, Some(&viewer.key)).await,
        200
    );
    let (status, _, _) = t
        .request(
            Method::DELETE,
            &format!("/v1/keys/{}", viewer.record.id),
            None,
            &[],
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        call(&t, &Method::GET, "/v1/exceptions", None, Some(&viewer.key)).await,
        401
    );
    let expired = viewer_key(&t, Some(chrono::Utc::now() - chrono::Duration::seconds(1))).await;
    assert_eq!(
        call(&t, &Method::GET, "/v1/exceptions", None, Some(&expired.key)).await,
        401
    );
    // The secret is shown once and never listed.
    let (status, listed) = t.get("/v1/keys").await;
    assert_eq!(status, 200);
    assert!(!listed.to_string().contains(&viewer.key));
    assert!(viewer.key.starts_with("ck_k_"));
    t.shutdown().await;
}

async fn over_the_rate_a_principal_gets_429_with_retry_after(backend: Backend) {
    let Some(t) = spawn_hub(backend, |c| c.api.rate_limit_per_principal = 3).await else {
        return;
    };
    let viewer = make_key(&t.hub, Role::Viewer, None).await;
    let other = make_key(&t.hub, Role::Viewer, None).await;
    let client = reqwest::Client::new();
    let mut limited = None;
    for _ in 0..10 {
        let r = client
            .get(format!("{}/v1/exceptions", t.url))
            .bearer_auth(&viewer)
            .send()
            .await
            .unwrap();
        if r.status().as_u16() == 429 {
            limited = Some(r);
            break;
        }
        assert_eq!(r.status().as_u16(), 200);
    }
    let limited = limited.expect("the fourth request in a burst of ten is limited");
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    let problem: Value = limited.json().await.unwrap();
    assert_eq!(problem["status"], 429);
    // Another principal has its own bucket; the limited one recovers after the wait.
    assert_eq!(
        call(&t, &Method::GET, "/v1/exceptions", None, Some(&other)).await,
        200
    );
    tokio::time::sleep(std::time::Duration::from_secs(retry_after)).await;
    assert_eq!(
        call(&t, &Method::GET, "/v1/exceptions", None, Some(&viewer)).await,
        200
    );
    t.shutdown().await;
}
