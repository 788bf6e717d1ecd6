//! The API's edges: problem JSON for bad requests, identifier checks in paths and queries.

mod common;

use common::*;
use concord_store::testing::Backend;
use serde_json::json;

on_both_backends!(bad_requests_get_problem_json, readiness_reports_the_store);

async fn bad_requests_get_problem_json(backend: Backend) {
    let Some(t) = spawn_hub(backend, |_| {}).await else {
        return;
    };
    t.seed().await;
    let cases = [
        (
            format!("/v1/prices?item=00614141000013&facility={FACILITY_EAST}"),
            400,
            "item",
        ),
        (
            format!("/v1/prices?item={ITEM_1}&facility=0614141000006"),
            400,
            "facility",
        ),
        (format!("/v1/prices?facility={FACILITY_EAST}"), 400, "item"),
        (
            format!("/v1/prices?item=00614141000043&facility={FACILITY_EAST}"),
            404,
            "item",
        ),
        (
            format!("/v1/prices?item={ITEM_1}&facility=0614141000029"),
            404,
            "facility",
        ),
        (
            format!("/v1/prices?item={ITEM_1}&facility={FACILITY_EAST}&quantity=0"),
            400,
            "quantity",
        ),
        (
            format!("/v1/prices?item={ITEM_1}&facility={FACILITY_EAST}&date=2026-13-01"),
            400,
            "date",
        ),
        ("/v1/deliveries?status=bogus".to_string(), 400, "status"),
    ];
    for (path, status, field) in cases {
        let (s, _, headers) = t.request(reqwest::Method::GET, &path, None, &[]).await;
        let (_, problem) = t.get(&path).await;
        assert_eq!(s, status, "{path}: {problem}");
        assert_eq!(
            headers.get("content-type").unwrap(),
            "application/problem+json"
        );
        assert_eq!(problem["errors"][0]["path"], field, "{path}: {problem}");
        assert_eq!(problem["status"], status);
    }
    let (s, problem) = t
        .put(
            &format!("/v1/items/{ITEM_1}"),
            json!({"gtin": ITEM_2, "description": "x", "unspsc": "42295105", "uom": "EA"}),
        )
        .await;
    assert_eq!(
        (s, problem["errors"][0]["rule"].as_str()),
        (422, Some("path_mismatch"))
    );
    let (s, _) = t.put("/v1/facilities/123", json!({})).await;
    assert_eq!(s, 400);
    let (s, problem) = t.post("/v1/inbound/nosuch/contract", json!({})).await;
    assert_eq!(s, 404, "{problem}");
    let (s, _, _) = t
        .request(
            reqwest::Method::POST,
            "/v1/contracts",
            None,
            &[("content-type", "text/plain")],
        )
        .await;
    assert_eq!(s, 415);
    let response = t
        .client
        .post(format!("{}/v1/contracts", t.url))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        problem["type"],
        "https://concord.dev/problems/malformed_json"
    );
    // Malformed bodies are kept in quarantine, not dropped.
    let (_, listed) = t.get("/v1/quarantine").await;
    assert_eq!(listed["messages"].as_array().unwrap().len(), 1);
    t.shutdown().await;
}

async fn readiness_reports_the_store(backend: Backend) {
    let Some(t) = spawn_hub(backend, |_| {}).await else {
        return;
    };
    assert_eq!(t.get("/healthz").await.0, 200);
    let (s, body) = t.get("/readyz").await;
    assert_eq!((s, body["status"].as_str()), (200, Some("ready")), "{body}");
    assert_eq!(
        body["workers"],
        serde_json::json!([
            "delivery",
            "timers",
            "audit_sealer",
            "slo_checks",
            "recovery",
            "peer_sync"
        ])
    );
    t.shutdown().await;
}
