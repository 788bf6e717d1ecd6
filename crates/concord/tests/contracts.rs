//! Contract to catalog, end to end: the CLM (or the canonical API) submits a contract, the hub
//! propagates it to the sandbox ERP, purchasing suite and analytics, and prices become active
//! only when every required target acknowledged.

mod common;

use common::*;
use concord_sandbox::Faults;
use concord_store::testing::Backend;
use serde_json::{Value, json};

on_both_backends!(
    clm_contract_reaches_every_target_and_activates,
    repeated_inbound_returns_first_answer_and_has_one_effect,
    dead_lettered_required_target_opens_exception_until_replayed,
    invalid_message_is_quarantined_with_field_errors_then_fixed,
    amendment_supersedes_and_older_version_never_overrides,
    an_older_version_arriving_while_a_newer_one_propagates_is_never_sent,
    fallback_activates_when_named_targets_acknowledged,
    unresolved_supplier_opens_exception,
    masters_added_after_a_refusal_are_found,
    throttled_target_is_retried_after_retry_after,
);

async fn clm_contract_reaches_every_target_and_activates(backend: Backend) {
    let Some(t) = spawn_hub(backend, |_| {}).await else {
        return;
    };
    t.seed().await;
    let clm = t.sandbox.clm_client();
    clm.put_contract(clm_record("C-100", 0, ITEM_1, "12.50"))
        .await
        .unwrap();
    let outcome = clm.approve("C-100", 0).await.unwrap();
    assert_eq!(
        outcome.webhook_status,
        Some(202),
        "{:?}",
        outcome.webhook_body
    );
    let receipt = outcome.webhook_body.unwrap();
    t.wait_status("C-100", 1, "active").await;

    // Each target got the contract in its own model, once.
    let (_, view) = t.get("/v1/contracts/C-100").await;
    let targets = &view["versions"][0]["propagation"]["targets"];
    for target in ["erp", "purchasing", "analytics"] {
        assert_eq!(targets[target]["state"], "acknowledged", "{view}");
    }
    let erp: Value = get_json(&t.client, t.sandbox.erp.url("/api/price-agreements/C-100")).await;
    assert_eq!(
        erp["vendorNumber"], "100042",
        "the ERP must get its own vendor number: {erp}"
    );
    assert_eq!(erp["validFrom"], "20260101");
    assert_eq!(erp["conditions"][0]["scales"][0]["amount"], "12.50");
    let catalog: Value = get_json(
        &t.client,
        t.sandbox.purchasing.url("/catalog/v2/contracts/C-100"),
    )
    .await;
    assert_eq!(catalog["supplierRef"], "S-1");
    assert_eq!(catalog["eligibleRegions"], json!(["east"]));
    for system in [&t.sandbox.erp, &t.sandbox.purchasing, &t.sandbox.analytics] {
        assert!(system.duplicate_effects().is_empty());
        assert_eq!(
            system
                .effects()
                .iter()
                .filter(|e| e
                    .idempotency_key
                    .as_deref()
                    .is_some_and(|k| k.contains("C-100")))
                .count(),
            1,
            "{}",
            system.name
        );
    }

    // Prices: on contract in the east, off contract in the west.
    let (status, price) = t
        .get(&format!(
            "/v1/prices?item={ITEM_1}&facility={FACILITY_EAST}&quantity=5&date=2026-06-01"
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        price,
        json!({"status": "on_contract", "contract_id": "C-100", "version": 1, "unit_price": "12.50", "uom": "EA"})
    );
    let (_, price) = t
        .get(&format!(
            "/v1/prices?item={ITEM_1}&facility={FACILITY_WEST}&quantity=5&date=2026-06-01"
        ))
        .await;
    assert_eq!(price["status"], "off_contract");

    // The lineage tells the whole story in order.
    let correlation = receipt["correlation_id"].as_str().unwrap();
    let (status, tx) = t.get(&format!("/v1/transactions/{correlation}")).await;
    assert_eq!(status, 200);
    let steps: Vec<&str> = tx["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["step"].as_str().unwrap())
        .collect();
    let position = |s: &str| {
        steps
            .iter()
            .position(|x| *x == s)
            .unwrap_or_else(|| panic!("{s} missing in {steps:?}"))
    };
    assert!(position("received") < position("mapped"));
    assert!(position("mapped") < position("validated"));
    assert!(position("validated") < position("committed"));
    assert!(position("committed") < position("delivery_attempt"));
    assert!(position("acknowledged") < position("activated"));
    t.shutdown().await;
}

async fn repeated_inbound_returns_first_answer_and_has_one_effect(backend: Backend) {
    let Some(t) = spawn_hub(backend, |_| {}).await else {
        return;
    };
    t.seed().await;
    let body = contract("C-200", 1, &[(ITEM_1, "9.00")], &[]);
    let key = [("Idempotency-Key", "req-200")];
    let (s1, first, _) = t
        .request(
            reqwest::Method::POST,
            "/v1/contracts",
            Some(body.clone()),
            &key,
        )
        .await;
    let (s2, second, headers) = t
        .request(
            reqwest::Method::POST,
            "/v1/contracts",
            Some(body.clone()),
            &key,
        )
        .await;
    assert_eq!((s1, s2), (202, 202));
    assert_eq!(first, second, "a repeat must get the first answer");
    assert_eq!(headers.get("idempotent-replayed").unwrap(), "true");
    // The same content without the key is deduplicated by digest, also without a second effect.
    let (s3, third) = t.post("/v1/contracts", body).await;
    assert_eq!(s3, 202);
    assert_eq!(third["outcome"], "duplicate_version");
    t.wait_status("C-200", 1, "active").await;
    let (_, deliveries) = t.get("/v1/deliveries?limit=100").await;
    assert_eq!(
        deliveries["deliveries"].as_array().unwrap().len(),
        3,
        "one delivery per target, not per repeat"
    );
    // Same id and version with other terms is a conflict, not an overwrite.
    let (s4, problem) = t
        .post(
            "/v1/contracts",
            contract("C-200", 1, &[(ITEM_1, "8.00")], &[]),
        )
        .await;
    assert_eq!(s4, 409);
    assert_eq!(
        problem["type"],
        "https://concord.dev/problems/version_conflict"
    );
    t.shutdown().await;
}

async fn dead_lettered_required_target_opens_exception_until_replayed(backend: Backend) {
    let Some(t) = spawn_hub(backend, |c| c.delivery.max_attempts = 2).await else {
        return;
    };
    t.seed().await;
    t.sandbox.erp.set_faults(Faults {
        outage: true,
        ..Faults::default()
    });
    let (status, _) = t
        .post(
            "/v1/contracts",
            contract("C-300", 1, &[(ITEM_2, "5.00")], &[]),
        )
        .await;
    assert_eq!(status, 202);
    t.eventually("the ERP delivery is dead-lettered", || async {
        let (_, d) = t.get("/v1/deliveries?status=dead").await;
        d["deliveries"].as_array().is_some_and(|a| a.len() == 1)
    })
    .await;
    assert_eq!(
        t.contract_status("C-300", 1).await.as_deref(),
        Some("pending")
    );
    let (_, exceptions) = t.get("/v1/exceptions").await;
    let open = exceptions["exceptions"].as_array().unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0]["kind"], "contract_propagation_failed");
    let (_, price) = t
        .get(&format!(
            "/v1/prices?item={ITEM_2}&facility={FACILITY_EAST}&date=2026-06-01"
        ))
        .await;
    assert_eq!(
        price["status"], "off_contract",
        "a pending version must not price"
    );

    // The ERP comes back; an operator replays the dead letter.
    t.sandbox.erp.set_faults(Faults::default());
    let (_, dead) = t.get("/v1/deliveries?status=dead").await;
    let id = dead["deliveries"][0]["id"].as_str().unwrap().to_string();
    let (status, _) = t
        .post(&format!("/v1/deliveries/{id}/replay"), json!({}))
        .await;
    assert_eq!(status, 202);
    t.wait_status("C-300", 1, "active").await;
    let (_, exceptions) = t.get("/v1/exceptions").await;
    assert!(
        exceptions["exceptions"].as_array().unwrap().is_empty(),
        "activation resolves the exception"
    );
    let (_, detail) = t.get(&format!("/v1/deliveries/{id}")).await;
    assert_eq!(detail["attempts"].as_array().unwrap().len(), 3);
    assert_eq!(
        t.sandbox.erp.effects().len(),
        2,
        "the vendor seed and one price agreement"
    );
    assert!(t.sandbox.erp.duplicate_effects().is_empty());
    t.shutdown().await;
}

async fn invalid_message_is_quarantined_with_field_errors_then_fixed(backend: Backend) {
    let Some(t) = spawn_hub(backend, |_| {}).await else {
        return;
    };
    t.seed().await;
    let bad = json!({"eventId": "evt-bad-1", "eventType": "CONTRACT_APPROVED", "contract": clm_record("C-400", 0, "00614141000013", "3.00")});
    let (status, problem) = t.post("/v1/inbound/clm/contract", bad.clone()).await;
    assert_eq!(status, 422);
    assert_eq!(problem["errors"][0]["path"], "lines[0].gtin", "{problem}");
    assert_eq!(problem["errors"][0]["rule"], "check_digit");
    let receipt = problem["receipt_id"].as_str().unwrap().to_string();
    // A missing required native field names the input path.
    let (status, problem) = t
        .post(
            "/v1/inbound/clm/contract",
            json!({"eventId": "evt-bad-2", "contract": {"amendmentNo": 0}}),
        )
        .await;
    assert_eq!(status, 422);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("contract.contractNumber"),
        "{problem}"
    );

    let (_, listed) = t.get("/v1/quarantine").await;
    assert_eq!(listed["messages"].as_array().unwrap().len(), 2);
    // Sending the same bad message again stores nothing new and answers the same.
    let (status, again) = t.post("/v1/inbound/clm/contract", bad.clone()).await;
    assert_eq!(
        (status, again["receipt_id"].as_str()),
        (422, Some(receipt.as_str()))
    );

    let mut fixed = bad;
    fixed["contract"]["pricing"][0]["itemGtin"] = json!(ITEM_1);
    let (status, answer) = t
        .post(&format!("/v1/quarantine/{receipt}/replay"), fixed)
        .await;
    assert_eq!(status, 202, "{answer}");
    t.wait_status("C-400", 1, "active").await;
    let (_, message) = t.get(&format!("/v1/quarantine/{receipt}")).await;
    assert_eq!(message["message"]["status"], "processed");
    assert!(
        message["message"]["original_body"]
            .as_str()
            .unwrap()
            .contains("00614141000013"),
        "the original is kept"
    );
    t.shutdown().await;
}

/// The idempotency keys of every call a target received about one contract, in order.
fn keys_sent(system: &concord_sandbox::SystemHandle, contract_id: &str) -> Vec<String> {
    system
        .calls()
        .iter()
        .filter_map(|c| c.idempotency_key.clone())
        .filter(|k| k.contains(contract_id))
        .collect()
}

async fn amendment_supersedes_and_older_version_never_overrides(backend: Backend) {
    let Some(t) = spawn_hub(backend, |_| {}).await else {
        return;
    };
    t.seed().await;
    assert_eq!(
        t.post(
            "/v1/contracts",
            contract("C-500", 1, &[(ITEM_1, "10.00")], &[])
        )
        .await
        .0,
        202
    );
    assert_eq!(
        t.post(
            "/v1/contracts",
            contract("C-500", 3, &[(ITEM_1, "8.00")], &[])
        )
        .await
        .0,
        202
    );
    t.wait_status("C-500", 3, "active").await;
    t.wait_status("C-500", 1, "superseded").await;
    // Version 2 arrives late: kept for the record, never sent, never priced.
    let (status, answer) = t
        .post(
            "/v1/contracts",
            contract("C-500", 2, &[(ITEM_1, "9.00")], &[]),
        )
        .await;
    assert_eq!(
        (status, answer["outcome"].as_str()),
        (202, Some("superseded"))
    );
    let (_, price) = t
        .get(&format!(
            "/v1/prices?item={ITEM_1}&facility={FACILITY_WEST}&date=2026-06-01"
        ))
        .await;
    assert_eq!(
        (price["version"].as_u64(), price["unit_price"].as_str()),
        (Some(3), Some("8.00"))
    );
    let erp: Value = get_json(&t.client, t.sandbox.erp.url("/api/price-agreements/C-500")).await;
    assert_eq!(erp["revision"], 3, "the ERP ends on the newest version");
    let revisions = keys_sent(&t.sandbox.erp, "C-500");
    assert!(
        !revisions.iter().any(|k| k.ends_with("-v2")),
        "version 2 must never be sent: {revisions:?}"
    );
    t.shutdown().await;
}

/// A lower version that arrives while a higher one is still pending (its ERP delivery waiting
/// out an outage) is superseded on arrival: were it sent, it would reach the targets after the
/// newer version and put the old price back. (A CLM's late retry does this, and so does a
/// message an instance held when it died, taken up after its lease.)
async fn an_older_version_arriving_while_a_newer_one_propagates_is_never_sent(backend: Backend) {
    let Some(t) = spawn_hub(backend, |_| {}).await else {
        return;
    };
    t.seed().await;
    t.sandbox.erp.set_faults(Faults {
        outage: true,
        ..Faults::default()
    });
    let (status, _) = t
        .post(
            "/v1/contracts",
            contract("C-510", 2, &[(ITEM_1, "9.00")], &[]),
        )
        .await;
    assert_eq!(status, 202);
    t.wait_status("C-510", 2, "pending").await;
    let (status, answer) = t
        .post(
            "/v1/contracts",
            contract("C-510", 1, &[(ITEM_1, "10.00")], &[]),
        )
        .await;
    assert_eq!(
        (status, answer["outcome"].as_str()),
        (202, Some("superseded"))
    );
    t.wait_status("C-510", 1, "superseded").await;
    t.sandbox.erp.set_faults(Faults::default());
    t.wait_status("C-510", 2, "active").await;
    for system in [&t.sandbox.erp, &t.sandbox.purchasing, &t.sandbox.analytics] {
        let keys = keys_sent(system, "C-510");
        assert!(
            !keys.is_empty() && keys.iter().all(|k| k.ends_with("-v2")),
            "{} must see version 2 only: {keys:?}",
            system.name
        );
    }
    let (_, view) = t.get("/v1/contracts/C-510").await;
    assert_eq!(view["active_version"], 2);
    t.shutdown().await;
}

async fn fallback_activates_when_named_targets_acknowledged(backend: Backend) {
    let Some(t) = spawn_hub(backend, |c| {
        c.contracts.fallback = Some(concord_model::workflow::contract::FallbackPolicy {
            after_secs: 1,
            targets: vec!["purchasing".into()],
        });
    })
    .await
    else {
        return;
    };
    t.seed().await;
    t.sandbox.erp.set_faults(Faults {
        outage: true,
        ..Faults::default()
    });
    let (_, receipt) = t
        .post(
            "/v1/contracts",
            contract("C-600", 1, &[(ITEM_3, "4.00")], &[]),
        )
        .await;
    t.wait_status("C-600", 1, "active").await;
    let (_, view) = t.get("/v1/contracts/C-600").await;
    let activation = &view["versions"][0]["propagation"]["activation"];
    assert_eq!(activation["reason"], "fallback", "{view}");
    assert_eq!(activation["missing"], json!(["erp"]));
    let correlation = receipt["correlation_id"].as_str().unwrap();
    let (_, tx) = t.get(&format!("/v1/transactions/{correlation}")).await;
    assert!(
        tx["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["step"] == "fallback_timer")
    );
    t.shutdown().await;
}

async fn unresolved_supplier_opens_exception(backend: Backend) {
    let Some(t) = spawn_hub(backend, |_| {}).await else {
        return;
    };
    t.seed().await;
    let mut record = clm_record("C-700", 0, ITEM_1, "1.00");
    record["counterparty"] =
        json!({"clmVendorId": "V-9999", "legalName": "Nobody", "taxId": "98-7654321"});
    let (status, problem) = t
        .post(
            "/v1/inbound/clm/contract",
            json!({"eventId": "evt-700", "eventType": "CONTRACT_APPROVED", "contract": record}),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(
        problem["type"],
        "https://concord.dev/problems/supplier_unresolved"
    );
    let (_, exceptions) = t.get("/v1/exceptions").await;
    assert_eq!(exceptions["exceptions"][0]["kind"], "supplier_unresolved");
    t.shutdown().await;
}

/// The intake checks suppliers and items from memory once it has seen them, but never keeps
/// a "not found": a supplier or item added after a contract was refused for lacking it is
/// found by the next contract.
async fn masters_added_after_a_refusal_are_found(backend: Backend) {
    let Some(t) = spawn_hub(backend, |_| {}).await else {
        return;
    };
    t.seed().await;
    const NEW_ITEM: &str = "00614141000098";
    let mut body = contract("C-800", 1, &[(NEW_ITEM, "4.00")], &["east"]);
    body["supplier_id"] = json!("S-2");
    let (status, problem) = t.post("/v1/contracts", body.clone()).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["path"], "supplier_id", "{problem}");
    assert_eq!(problem["errors"][0]["rule"], "unknown_supplier");

    let supplier = json!({"id": "S-2", "name": "Beta", "tin": "98-7654321"});
    assert_eq!(t.put("/v1/suppliers/S-2", supplier).await.0, 200);
    body["id"] = json!("C-801");
    let (status, problem) = t.post("/v1/contracts", body.clone()).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["path"], "lines[0].gtin", "{problem}");
    assert_eq!(problem["errors"][0]["rule"], "unknown_item");

    let item = json!({"gtin": NEW_ITEM, "description": "new", "unspsc": "42295105", "uom": "EA"});
    assert_eq!(t.put(&format!("/v1/items/{NEW_ITEM}"), item).await.0, 200);
    body["id"] = json!("C-802");
    let (status, answer) = t.post("/v1/contracts", body).await;
    assert_eq!(status, 202, "{answer}");
    let (status, view) = t.get("/v1/contracts/C-802").await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["versions"][0]["version"], 1, "{view}");
    t.shutdown().await;
}

async fn throttled_target_is_retried_after_retry_after(backend: Backend) {
    let Some(t) = spawn_hub(backend, |_| {}).await else {
        return;
    };
    t.seed().await;
    // Every second call to the catalog answers 429 with Retry-After: 1.
    t.sandbox.purchasing.set_faults(Faults {
        throttle_every: 2,
        retry_after_secs: 1,
        ..Faults::default()
    });
    for k in 0..3 {
        assert_eq!(
            t.post(
                "/v1/contracts",
                contract(&format!("C-80{k}"), 1, &[(ITEM_1, "3.00")], &[])
            )
            .await
            .0,
            202
        );
    }
    for k in 0..3 {
        t.wait_status(&format!("C-80{k}"), 1, "active").await;
    }
    let statuses: Vec<u16> = t
        .sandbox
        .purchasing
        .calls()
        .iter()
        .map(|c| c.status)
        .collect();
    assert!(
        statuses.contains(&429),
        "the throttle must have answered 429: {statuses:?}"
    );
    assert!(t.sandbox.purchasing.duplicate_effects().is_empty());
    assert_eq!(
        t.sandbox.purchasing.effects().len(),
        3,
        "each contract applied once despite the 429s"
    );
    let (_, dead) = t.get("/v1/deliveries?status=dead").await;
    assert_eq!(
        dead["deliveries"],
        json!([]),
        "429 is transient, never a dead letter"
    );
    t.shutdown().await;
}
