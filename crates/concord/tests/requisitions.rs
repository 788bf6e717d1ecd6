//! Requisitions over HTTP: priced against active contracts, decided by the shipped Rego policy,
//! approved along the configured chain by the right people only, escalated when overdue.

mod common;

use common::*;
use concord_model::access::Role;
use concord_store::testing::Backend;
use serde_json::json;

on_both_backends!(
    requisitions_are_priced_and_decided_by_policy,
    approvals_follow_the_chain_and_only_the_right_people_decide,
    an_overdue_approval_escalates_and_opens_an_exception,
);

/// Seeds master data and two active contracts: ITEM_2 for the east at 9.00, ITEM_3 for the west.
async fn with_contracts(t: &TestHub) {
    t.seed().await;
    for (id, gtin, price, group) in [
        ("C-EAST", ITEM_2, "9.00", "east"),
        ("C-WEST", ITEM_3, "7.00", "west"),
    ] {
        let (s, body) = t
            .post("/v1/contracts", long_contract(id, gtin, price, group))
            .await;
        assert_eq!(s, 202, "{body}");
        t.wait_status(id, 1, "active").await;
    }
}

async fn requisitions_are_priced_and_decided_by_policy(backend: Backend) {
    let Some(t) = spawn_hub(backend, |_| {}).await else {
        return;
    };
    with_contracts(&t).await;
    let buyer = make_user_key(&t.hub, Role::Buyer, Some("u-17")).await;

    // On contract at the contract price, below every approval level: approved at once.
    let (s, answer) = post_as(
        &t,
        &buyer,
        "/v1/requisitions",
        Some(requisition("R-1", &[(ITEM_2, 10, "9.00")])),
    )
    .await;
    assert_eq!(s, 201, "{answer}");
    assert_eq!(answer["decision"], "approved", "{answer}");
    assert_eq!(answer["status"], "approved");
    assert_eq!(answer["total"], "90.00");
    assert_eq!(
        answer["lines"][0],
        json!({"line": 1, "decision": "on_contract", "contract_id": "C-EAST", "contract_price": "9.00", "alternatives": []})
    );
    assert_eq!(answer["approvers"], json!([]));

    // Off contract while the contract offers the same kind of item: refused, pointing at it.
    let (s, answer) = post_as(
        &t,
        &buyer,
        "/v1/requisitions",
        Some(requisition(
            "R-2",
            &[(ITEM_2, 1, "9.00"), (ITEM_1, 10, "12.50")],
        )),
    )
    .await;
    assert_eq!(s, 201, "{answer}");
    assert_eq!(answer["decision"], "refused", "{answer}");
    assert_eq!(answer["lines"][1]["decision"], "off_contract");
    assert_eq!(answer["lines"][1]["alternatives"][0]["gtin"], ITEM_2);
    assert_eq!(
        answer["lines"][1]["alternatives"][0]["contract_id"],
        "C-EAST"
    );
    assert!(
        answer["reasons"][0].as_str().unwrap().contains(ITEM_2),
        "{answer}"
    );

    // Above the contract price: needs approval, with the variance named.
    let (_, answer) = post_as(
        &t,
        &buyer,
        "/v1/requisitions",
        Some(requisition("R-3", &[(ITEM_2, 10, "9.45")])),
    )
    .await;
    assert_eq!(answer["decision"], "needs_approval", "{answer}");
    assert_eq!(answer["lines"][0]["decision"], "price_variance");
    assert!(
        answer["reasons"][0]
            .as_str()
            .unwrap()
            .contains("5.00% above"),
        "{answer}"
    );

    // On a contract that does not cover the east: not eligible.
    let (_, answer) = post_as(
        &t,
        &buyer,
        "/v1/requisitions",
        Some(requisition("R-4", &[(ITEM_3, 1, "7.00")])),
    )
    .await;
    assert_eq!(answer["lines"][0]["decision"], "not_eligible", "{answer}");
    assert_eq!(answer["decision"], "needs_approval");

    // The same message again gets the stored answer; the same id in a new message is a conflict.
    let body = requisition("R-5", &[(ITEM_2, 1, "9.00")]);
    let (s1, a1, _) = t
        .request(
            reqwest::Method::POST,
            "/v1/requisitions",
            Some(body.clone()),
            &[("idempotency-key", "req-5")],
        )
        .await;
    let (s2, a2, h2) = t
        .request(
            reqwest::Method::POST,
            "/v1/requisitions",
            Some(body.clone()),
            &[("idempotency-key", "req-5")],
        )
        .await;
    assert_eq!((s1, s2), (201, 201));
    assert_eq!(a1, a2);
    assert!(h2.get("idempotent-replayed").is_some(), "{h2:?}");
    let (s, problem) = t.post("/v1/requisitions", body).await;
    assert_eq!(s, 409, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("R-5"));

    // Bad input: every field named.
    let mut bad = requisition("R-6", &[(ITEM_2, 0, "9.00")]);
    bad["lines"][0]["gtin"] = json!("00614141000013");
    let (s, problem) = t.post("/v1/requisitions", bad).await;
    assert_eq!(s, 422, "{problem}");
    assert_eq!(problem["errors"][0]["path"], "lines[0].gtin", "{problem}");
    let (s, problem) = t
        .post(
            "/v1/requisitions",
            requisition("R-7", &[(ITEM_2, 0, "9.00")]),
        )
        .await;
    assert_eq!(
        (s, problem["errors"][0]["path"].as_str()),
        (422, Some("lines[0].quantity")),
        "{problem}"
    );
    let mut unknown_facility = requisition("R-8", &[(ITEM_2, 1, "9.00")]);
    unknown_facility["facility"] = json!("0614141000029");
    let (s, problem) = t.post("/v1/requisitions", unknown_facility).await;
    assert_eq!(
        (s, problem["errors"][0]["rule"].as_str()),
        (422, Some("unknown_facility")),
        "{problem}"
    );
    // A refused message is quarantined, not dropped.
    let (_, quarantine) = t.get("/v1/quarantine").await;
    assert!(quarantine.to_string().contains("R-8"), "{quarantine}");

    // The purchasing suite's own webhook, through its mapping, gets the same decision.
    let native = json!({
        "eventType": "REQUISITION_SUBMITTED", "eventId": "PS-EVT-9",
        "requisition": {"reqNumber": "REQ-9", "requestedBy": {"userId": "u-17"},
            "shipTo": {"locationGln": FACILITY_EAST}, "costCenter": "CC-100",
            "lines": [{"lineNo": 1, "itemGtin": ITEM_1, "qty": 4, "unit": "EA", "price": {"amount": 11, "currency": "USD"}}]}
    });
    let (s, answer) = t
        .post("/v1/inbound/purchasing/requisition", native.clone())
        .await;
    assert_eq!(s, 201, "{answer}");
    assert_eq!(
        (answer["id"].as_str(), answer["decision"].as_str()),
        (Some("REQ-9"), Some("refused")),
        "{answer}"
    );
    let (s, again) = t.post("/v1/inbound/purchasing/requisition", native).await;
    assert_eq!(
        (s, &again),
        (201, &answer),
        "a resent webhook (same eventId) gets the stored answer"
    );

    // The status reads in operations' words, with the decision and the lineage's correlation id.
    let (s, view) = t.get("/v1/requisitions/R-3").await;
    assert_eq!(s, 200);
    assert_eq!(view["status"], "pending approval");
    assert_eq!(view["requisition"]["cost_center"], "CC-100");
    let (_, lineage) = t
        .get(&format!(
            "/v1/transactions/{}",
            view["correlation_id"].as_str().unwrap()
        ))
        .await;
    assert!(lineage.to_string().contains("\"decided\""), "{lineage}");
    let (s, _) = t.get("/v1/requisitions/R-404").await;
    assert_eq!(s, 404);
    t.shutdown().await;
}

fn chain_config(config: &mut concord_engine::Config, escalate_after: &str) {
    config.procurement.approvals = toml::from_str(&format!(
        r#"
        escalate_after = "{escalate_after}"
        levels = [{{ name = "manager", above = "1000" }}, {{ name = "director", above = "10000" }}]
        [cost_centers.CC-1]
        approvers = {{ manager = ["u-40"], director = ["u-90"] }}
        [cost_centers.CC-100]
        parent = "CC-1"
        approvers = {{ manager = ["u-50"] }}
        "#
    ))
    .unwrap();
}

async fn approvals_follow_the_chain_and_only_the_right_people_decide(backend: Backend) {
    let Some(t) = spawn_hub(backend, |c| chain_config(c, "24h")).await else {
        return;
    };
    with_contracts(&t).await;
    let buyer = make_user_key(&t.hub, Role::Buyer, Some("u-17")).await;
    let requester_approver = make_user_key(&t.hub, Role::Approver, Some("u-17")).await;
    let nameless_approver = make_user_key(&t.hub, Role::Approver, None).await;
    let manager = make_user_key(&t.hub, Role::Approver, Some("u-50")).await;
    let director = make_user_key(&t.hub, Role::Approver, Some("u-90")).await;

    // 2,000 × 9.00 = 18,000: above both levels.
    let (s, answer) = post_as(
        &t,
        &buyer,
        "/v1/requisitions",
        Some(requisition("R-10", &[(ITEM_2, 2000, "9.00")])),
    )
    .await;
    assert_eq!(s, 201, "{answer}");
    assert_eq!(answer["decision"], "needs_approval");
    assert_eq!(answer["approvers"], json!(["u-50", "u-90"]));
    assert_eq!(
        answer["reasons"],
        json!(["total 18000.00 needs manager and director approval"])
    );

    let approve = "/v1/requisitions/R-10/approve";
    for (who, key, status, needle) in [
        ("a buyer", &buyer, 403, "requisitions:approve"),
        (
            "an approver with no user",
            &nameless_approver,
            403,
            "names no user",
        ),
        ("the requester", &requester_approver, 403, "requested"),
        (
            "the director before the manager",
            &director,
            403,
            "manager step",
        ),
    ] {
        let (s, problem) = post_as(&t, key, approve, None).await;
        assert_eq!(s, status, "{who}: {problem}");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap_or_default()
                .contains(needle),
            "{who}: {problem}"
        );
    }
    let (s, view) = post_as(&t, &manager, approve, Some(json!({"comment": "budgeted"}))).await;
    assert_eq!(s, 200, "{view}");
    assert_eq!(view["status"], "pending approval");
    assert_eq!(view["approval"]["current_step"], "director");
    assert_eq!(view["approval"]["steps"][0]["decided"]["by"], "u-50");
    assert_eq!(
        view["approval"]["steps"][0]["decided"]["comment"],
        "budgeted"
    );
    // A rejection needs a reason.
    let (s, problem) = post_as(
        &t,
        &director,
        "/v1/requisitions/R-10/reject",
        Some(json!({})),
    )
    .await;
    assert_eq!(
        (s, problem["errors"][0]["path"].as_str()),
        (422, Some("reason")),
        "{problem}"
    );
    let (s, view) = post_as(&t, &director, approve, None).await;
    assert_eq!(s, 200, "{view}");
    assert_eq!(view["status"], "approved");
    assert!(view["closed_at"].is_string());
    // Closed: nothing more to decide.
    let (s, _) = post_as(&t, &director, approve, None).await;
    assert_eq!(s, 409);

    // Rejection closes the requisition at its current step.
    post_as(
        &t,
        &buyer,
        "/v1/requisitions",
        Some(requisition("R-11", &[(ITEM_2, 200, "9.00")])),
    )
    .await;
    let (s, view) = post_as(
        &t,
        &manager,
        "/v1/requisitions/R-11/reject",
        Some(json!({"reason": "not budgeted"})),
    )
    .await;
    assert_eq!(s, 200, "{view}");
    assert_eq!(view["status"], "rejected");

    // Every decision is in the audit log under the approver's credential, and events were published.
    let (_, audit) = t.get("/v1/audit?limit=1000").await;
    let denied = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "access.denied" && e["subject"] == "requisition:R-10");
    assert_eq!(
        denied.count(),
        3,
        "the nameless approver's, the requester's and the director's early refusal are audited like the gate's: {audit}"
    );
    let audit = audit.to_string();
    assert!(
        audit.contains("requisition.approved_step") && audit.contains("requisition.rejected"),
        "{audit}"
    );
    let events = t.hub.store().events_after(0, 10_000).await.unwrap();
    let types: Vec<&str> = events.iter().map(|e| e.event.event_type.as_str()).collect();
    assert!(
        types.contains(&concord_model::events::REQUISITION_APPROVED),
        "{types:?}"
    );
    assert!(
        types.contains(&concord_model::events::REQUISITION_REJECTED),
        "{types:?}"
    );
    t.shutdown().await;
}

async fn an_overdue_approval_escalates_and_opens_an_exception(backend: Backend) {
    let Some(t) = spawn_hub(backend, |c| chain_config(c, "2s")).await else {
        return;
    };
    with_contracts(&t).await;
    let escalation_manager = make_user_key(&t.hub, Role::Approver, Some("u-40")).await;
    let (_, answer) = t
        .post(
            "/v1/requisitions",
            requisition("R-20", &[(ITEM_2, 200, "9.00")]),
        )
        .await;
    assert_eq!(answer["approvers"], json!(["u-50"]), "{answer}");
    // Before the SLA runs out, CC-1's manager may not act on CC-100's step.
    let (s, _) = post_as(
        &t,
        &escalation_manager,
        "/v1/requisitions/R-20/approve",
        None,
    )
    .await;
    assert_eq!(s, 403);
    t.eventually("the approval_overdue exception", || async {
        let (_, open) = t.get("/v1/exceptions").await;
        open.to_string().contains("approval_overdue")
    })
    .await;
    let (_, view) = t.get("/v1/requisitions/R-20").await;
    assert_eq!(
        view["approval"]["may_decide_now"],
        json!(["u-50", "u-40"]),
        "{view}"
    );
    let (s, view) = post_as(
        &t,
        &escalation_manager,
        "/v1/requisitions/R-20/approve",
        None,
    )
    .await;
    assert_eq!(
        (s, view["status"].as_str()),
        (200, Some("approved")),
        "{view}"
    );
    let (_, open) = t.get("/v1/exceptions").await;
    assert!(
        !open.to_string().contains("approval_overdue"),
        "resolved by the decision: {open}"
    );
    t.shutdown().await;
}
