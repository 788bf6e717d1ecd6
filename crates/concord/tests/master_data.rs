//! Part 5 over HTTP, on both stores: supplier onboarding with screening (exclusion lists
//! imported from CSV, duplicates), approval into the ERP and on to purchasing; payment-detail
//! changes with two approvals; crosswalks and their conflicts; reconciliation and repair.

mod common;

use common::*;
use concord_engine::import::{ImportKind, import_csv};
use concord_model::{access::Role, screening::ExclusionList};
use concord_store::{Crosswalk, Write, testing::Backend};
use serde_json::{Value, json};

on_both_backends!(
    screening_holds_a_supplier_until_a_person_decides,
    payment_details_change_only_after_two_other_approvals,
    reconciliation_finds_drift_and_repairs_it,
    reconciliation_runs_on_its_schedule,
);

async fn reconciliation_runs_on_its_schedule(backend: Backend) {
    let Some(t) = spawn_hub(backend, |c| c.hub.reconcile_every = Some("1s".into())).await else {
        return;
    };
    t.seed().await;
    t.eventually("a scheduled run", || async {
        let (_, runs) = t.get("/v1/reconciliations").await;
        runs["runs"].as_array().is_some_and(|r| {
            r.iter()
                .any(|run| run["trigger"] == "schedule" && run["status"] == "completed")
        })
    })
    .await;
    t.shutdown().await;
}

const LEIE: &str = "LASTNAME,FIRSTNAME,MIDNAME,BUSNAME,GENERAL,SPECIALTY,UPIN,NPI,DOB,ADDRESS,CITY,STATE,ZIP,EXCLTYPE,EXCLDATE,REINDATE,WAIVERDATE,WVRSTATE
,,,SHADY MEDICAL SUPPLY LLC,DME - SUPPLIER,,,0000000000,,1 ELM ST,DAYTON,OH,45402,1128a1,20200115,00000000,00000000,
DOE,JANE,,,IND- LIC HC SERV PRO,NURSE,,0000000000,19700101,5 OAK AVE,AUSTIN,TX,73301,1128b4,2021XX01,00000000,00000000,
";

fn new_supplier(id: &str, name: &str, tin: &str) -> Value {
    json!({"id": id, "name": name, "tin": tin, "npi": "1234567893",
        "address": {"line1": "100 Main Street", "city": "Columbus", "state": "OH", "zip": "43215"}})
}

/// Submits (as admin) and approves (as approver u-9) a clean supplier; waits until active.
async fn onboard(t: &TestHub, id: &str, tin: &str) -> String {
    let (s, body) = t
        .post(
            "/v1/supplier-onboardings",
            new_supplier(id, &format!("{id} Surgical"), tin),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["stage"], "pending_approval", "{body}");
    let approver = make_user_key(&t.hub, Role::Approver, Some("u-9")).await;
    let (s, body) = post_as(
        t,
        &approver,
        &format!("/v1/supplier-onboardings/{id}/approve"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let path = format!("/v1/supplier-onboardings/{id}");
    t.eventually("the supplier is active", || async {
        t.get(&path).await.1["stage"] == "active"
    })
    .await;
    t.get(&path).await.1["erp_vendor"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn screening_holds_a_supplier_until_a_person_decides(backend: Backend) {
    let Some(t) = spawn_hub(backend, |_| {}).await else {
        return;
    };
    t.seed().await;
    // The exclusion list, as `concord import exclusions` loads it: the bad row is reported by
    // line and column, the good one applied.
    let dir = std::env::temp_dir().join(format!("concord-md-{}", fastrand::u64(..)));
    std::fs::create_dir_all(&dir).unwrap();
    let report = dir.join("report.csv");
    let summary = import_csv(
        t.hub.store(),
        ImportKind::Exclusions(ExclusionList::Leie),
        LEIE.as_bytes(),
        &report,
        "test",
        |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!((summary.rows, summary.applied, summary.failed), (2, 1, 1));
    let report_text = std::fs::read_to_string(&report).unwrap();
    assert!(
        report_text.contains("3,\"EXCLDATE\",\"date\""),
        "{report_text}"
    );
    let (_, found) = t
        .get("/v1/exclusions?name=Shady%20Medical%20Supply%2C%20Inc.")
        .await;
    assert_eq!(found["hits"][0]["matched_on"], "business_name", "{found}");

    // Identifiers are checked at the edge.
    let mut bad = new_supplier("S-X", "X", "98-7654321");
    bad["npi"] = json!("1234567890");
    let (s, body) = t.post("/v1/supplier-onboardings", bad).await;
    assert_eq!(s, 422, "{body}");
    assert_eq!(body["errors"][0]["path"], "npi", "{body}");

    // On the exclusion list: held, with an exclusion_match exception.
    let (s, held) = t
        .post(
            "/v1/supplier-onboardings",
            new_supplier("S-BAD", "Shady Medical Supply, Inc.", "55-5555555"),
        )
        .await;
    assert_eq!(s, 201, "{held}");
    assert_eq!(held["stage"], "on_hold");
    assert_eq!(held["findings"]["exclusion_hits"][0]["list"], "leie");
    // Same TIN as S-1: a likely duplicate, with its candidate and score.
    let (_, dup) = t
        .post(
            "/v1/supplier-onboardings",
            new_supplier("S-DUP", "Acme Medical", "123456789"),
        )
        .await;
    assert_eq!(dup["stage"], "on_hold", "{dup}");
    assert_eq!(dup["findings"]["duplicates"][0]["supplier_id"], "S-1");
    assert_eq!(dup["findings"]["duplicates"][0]["score"], 1.0);

    let approver = make_user_key(&t.hub, Role::Approver, Some("u-9")).await;
    let (s, body) = post_as(
        &t,
        &approver,
        "/v1/supplier-onboardings/S-BAD/approve",
        None,
    )
    .await;
    assert_eq!(s, 409, "held suppliers cannot be approved: {body}");

    let exception_of = |subject: &'static str| {
        let t = &t;
        async move {
            let (_, list) = t
                .get(&format!(
                    "/v1/exceptions?subject=supplier_onboarding:{subject}"
                ))
                .await;
            list["exceptions"][0].clone()
        }
    };
    let exc = exception_of("S-DUP").await;
    assert_eq!(exc["kind"], "duplicate_supplier", "{exc}");
    // Resolving exceptions is not enough to clear a new supplier: that is the approver's.
    let operator = make_user_key(&t.hub, Role::Operator, Some("u-op")).await;
    let (s, body) = post_as(
        &t,
        &operator,
        &format!("/v1/exceptions/{}/resolve", exc["id"].as_str().unwrap()),
        Some(json!({"action": "clear", "reason": "looks fine to me"})),
    )
    .await;
    assert_eq!(s, 403, "{body}");
    let (s, body) = post_as(
        &t,
        &approver,
        &format!("/v1/exceptions/{}/resolve", exc["id"].as_str().unwrap()),
        Some(json!({"action": "clear", "reason": "a separate subsidiary, confirmed by phone"})),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["onboarding"]["stage"], "pending_approval", "{body}");

    let exc = exception_of("S-BAD").await;
    assert_eq!(exc["kind"], "exclusion_match", "{exc}");
    let (s, body) = post_as(
        &t,
        &approver,
        &format!("/v1/exceptions/{}/resolve", exc["id"].as_str().unwrap()),
        Some(json!({"action": "reject_supplier", "reason": "on the OIG list"})),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["onboarding"]["stage"], "rejected");
    assert_eq!(body["exception"]["status"], "resolved");

    // A clean supplier: approved → created in the ERP (crosswalk kept) → on to purchasing.
    let vendor = onboard(&t, "S-NEW", "98-7654321").await;
    let erp = get_json(
        &t.client,
        t.sandbox.erp.url(&format!("/api/vendors/{vendor}")),
    )
    .await;
    assert_eq!(erp["vendorName"], "S-NEW Surgical", "{erp}");
    assert_eq!(erp["postalCode"], "43215");
    let (_, xw) = t.get("/v1/crosswalks?system=erp&canonical_id=S-NEW").await;
    assert_eq!(xw["crosswalks"][0]["external_id"], vendor, "{xw}");
    let purchasing = t.sandbox.purchasing.url("/catalog/v2/suppliers/S-NEW");
    t.eventually("purchasing has the supplier", || async {
        t.client.get(&purchasing).send().await.unwrap().status() == 200
    })
    .await;
    assert_eq!(get_json(&t.client, &purchasing).await["erpVendor"], vendor);
    // Submitting it again is refused, and nothing was sent twice.
    let (s, _) = t
        .post(
            "/v1/supplier-onboardings",
            new_supplier("S-NEW", "Again", "98-7654321"),
        )
        .await;
    assert_eq!(s, 409);
    for system in t.sandbox.systems() {
        assert!(system.duplicate_effects().is_empty(), "{}", system.name);
    }
    t.shutdown().await;
}

async fn payment_details_change_only_after_two_other_approvals(backend: Backend) {
    let Some(t) = spawn_hub(backend, |_| {}).await else {
        return;
    };
    let vendor = onboard(&t, "S-PAY", "22-3333333").await;
    let clerk = make_user_key(&t.hub, Role::ApClerk, Some("u-clerk")).await;
    let change = json!({"payment": {"method": "ach",
        "bank": {"routing_number": "011000015", "account_number": "000123456789"}},
        "reason": "letter from the supplier, call-back done"});
    let (s, body) = post_as(
        &t,
        &clerk,
        "/v1/suppliers/S-PAY/bank-changes",
        Some(change.clone()),
    )
    .await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(
        body["new"]["bank"]["account_number"], "****6789",
        "masked: {body}"
    );
    let id = body["id"].as_str().unwrap().to_string();
    // A bad routing number is named; a second request while one is pending is refused.
    let mut bad = change.clone();
    bad["payment"]["bank"]["routing_number"] = json!("011000016");
    let (s, body) = post_as(&t, &clerk, "/v1/suppliers/S-PAY/bank-changes", Some(bad)).await;
    assert_eq!(s, 422, "{body}");
    assert_eq!(body["errors"][0]["path"], "payment.bank.routing_number");
    let (s, _) = post_as(&t, &clerk, "/v1/suppliers/S-PAY/bank-changes", Some(change)).await;
    assert_eq!(s, 409);
    // The master-data upsert cannot change payment details.
    let (s, body) = t
        .put("/v1/suppliers/S-PAY", json!({"id": "S-PAY", "name": "S-PAY Surgical", "tin": "22-3333333",
            "payment": {"method": "check", "remit_to": {"line1": "PO Box 1", "city": "Reno", "state": "NV", "zip": "89501"}}}))
        .await;
    assert_eq!(s, 409, "{body}");

    let requester_as_approver = make_user_key(&t.hub, Role::Approver, Some("u-clerk")).await;
    let a = make_user_key(&t.hub, Role::Approver, Some("u-a")).await;
    let b = make_user_key(&t.hub, Role::Approver, Some("u-b")).await;
    let approve = format!("/v1/bank-changes/{id}/approve");
    let (s, _) = post_as(&t, &requester_as_approver, &approve, None).await;
    assert_eq!(s, 403, "the requester may not approve");
    let (s, body) = post_as(&t, &a, &approve, None).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["stage"], "pending_approval");
    let (s, _) = post_as(&t, &a, &approve, None).await;
    assert_eq!(s, 403, "one person approves once");
    let erp_vendor = t.sandbox.erp.url(&format!("/api/vendors/{vendor}"));
    assert!(
        get_json(&t.client, &erp_vendor).await["bankAccount"].is_null(),
        "nothing reaches the ERP before the second approval"
    );
    let (s, body) = post_as(&t, &b, &approve, None).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["stage"], "approved");
    t.eventually("the ERP has the new account", || async {
        get_json(&t.client, &erp_vendor).await["bankAccount"] == "000123456789"
    })
    .await;
    let (_, audit) = t.get("/v1/audit?limit=1000").await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .filter(|a| a.starts_with("supplier.bank_change"))
        .collect();
    assert_eq!(actions.len(), 3, "requested and two approvals: {actions:?}");

    // An upsert without payment details keeps the ones in force.
    let (s, _) = t
        .put(
            "/v1/suppliers/S-PAY",
            json!({"id": "S-PAY", "name": "S-PAY Surgical Inc", "tin": "22-3333333"}),
        )
        .await;
    assert_eq!(s, 200);
    let stored = t.hub.store().supplier("S-PAY").await.unwrap().unwrap();
    assert_eq!(stored.name, "S-PAY Surgical Inc");
    assert_eq!(
        stored.payment.unwrap().bank.unwrap().account_number,
        "000123456789"
    );

    // A second change; then replaying the first one's delivery would put the old account
    // back in the ERP without approvals: refused.
    let second = json!({"payment": {"method": "wire",
        "bank": {"routing_number": "021000021", "account_number": "5550001111"}},
        "reason": "moved banks"});
    let (s, body) = post_as(&t, &clerk, "/v1/suppliers/S-PAY/bank-changes", Some(second)).await;
    assert_eq!(s, 201, "{body}");
    let approve2 = format!("/v1/bank-changes/{}/approve", body["id"].as_str().unwrap());
    assert_eq!(post_as(&t, &a, &approve2, None).await.0, 200);
    assert_eq!(post_as(&t, &b, &approve2, None).await.0, 200);
    t.eventually("the ERP has the second account", || async {
        get_json(&t.client, &erp_vendor).await["bankAccount"] == "5550001111"
    })
    .await;
    let (_, list) = t
        .get("/v1/deliveries?status=delivered&target=erp&limit=1000")
        .await;
    let first = list["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["idempotency_key"] == json!(format!("erp:bank_change:{id}")))
        .expect("the first change's delivery")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, body) = t
        .post(&format!("/v1/deliveries/{first}/replay"), json!({}))
        .await;
    assert_eq!(s, 409, "{body}");
    assert_eq!(
        body["type"], "https://concord.dev/problems/superseded_payment_details",
        "{body}"
    );
    t.shutdown().await;
}

async fn reconciliation_finds_drift_and_repairs_it(backend: Backend) {
    let Some(t) = spawn_hub(backend, |_| {}).await else {
        return;
    };
    t.seed().await;
    // The ERP's vendor 100042 is S-1: a person says so.
    let (s, body) = t
        .put(
            "/v1/crosswalks/erp/supplier/100042",
            json!({"canonical_id": "S-1"}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    // Something the hub learns later cannot silently remap it: a conflict is recorded.
    t.hub
        .store()
        .commit(vec![Write::Crosswalk(
            Crosswalk {
                system: "erp".into(),
                entity_type: "supplier".into(),
                external_id: "100042".into(),
                canonical_id: "S-2".into(),
            },
            chrono::Utc::now(),
        )])
        .await
        .unwrap();
    let (_, conflicts) = t.get("/v1/crosswalks/conflicts").await;
    assert_eq!(
        conflicts["conflicts"][0]["existing_canonical_id"], "S-1",
        "{conflicts}"
    );
    assert_eq!(conflicts["conflicts"][0]["proposed_canonical_id"], "S-2");
    let (_, xw) = t.get("/v1/crosswalks?system=erp&external_id=100042").await;
    assert_eq!(xw["crosswalks"][0]["canonical_id"], "S-1");
    assert_eq!(xw["open_conflicts"], 1);

    // First run: the ERP has no materials, and a vendor nobody mapped.
    let r = t
        .client
        .post(t.sandbox.erp.url("/api/vendors"))
        .json(&json!({"vendorNumber": "100099", "vendorName": "STRAY", "taxId": "77-7777777"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let (s, run) = t.post("/v1/reconciliations", json!({})).await;
    assert_eq!(s, 201, "{run}");
    let kinds: Vec<(String, String, String)> = run["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["entity_type"].as_str().unwrap().into(),
                f["entity_key"].as_str().unwrap().into(),
                f["kind"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(
        kinds.contains(&("item".into(), ITEM_1.into(), "missing".into())),
        "{kinds:?}"
    );
    assert!(
        !kinds.iter().any(|(e, k, _)| e == "supplier" && k == "S-1"),
        "S-1 is the ERP's 100042 and agrees (legal names are not compared): {kinds:?}"
    );
    assert!(
        kinds.contains(&("supplier".into(), "100099".into(), "extra".into())),
        "{kinds:?}"
    );
    assert_eq!(run["run"]["summary"]["erp"]["item"]["missing"], 3);
    let run_id = run["run"]["id"].as_str().unwrap().to_string();
    let (s, repaired) = t
        .post(
            &format!("/v1/reconciliations/{run_id}/repair"),
            json!({"entity_type": "item"}),
        )
        .await;
    assert_eq!(s, 200, "{repaired}");
    assert_eq!(repaired["repairs"].as_array().unwrap().len(), 3);
    let material = t.sandbox.erp.url(&format!("/api/materials/{ITEM_1}"));
    t.eventually("the ERP has the item", || async {
        t.client.get(&material).send().await.unwrap().status() == 200
    })
    .await;
    // Repaired once is repaired.
    let (_, again) = t
        .post(
            &format!("/v1/reconciliations/{run_id}/repair"),
            json!({"keys": [ITEM_1]}),
        )
        .await;
    assert_eq!(
        again["repairs"][0]["result"]["outcome"], "refused",
        "{again}"
    );

    // Someone edits the ERP's item master: the next run finds exactly that field.
    let r = t
        .client
        .put(&material)
        .json(&json!({"description": "GLOVES (local name)", "baseUom": "EA", "materialGroup": "42295105"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let materials = t.sandbox.erp.url("/api/materials");
    t.eventually("every repair delivered", || async {
        get_json(&t.client, &materials).await["materials"]
            .as_array()
            .is_some_and(|m| m.len() == 3)
    })
    .await;
    let (_, run2) = t.post("/v1/reconciliations", json!({})).await;
    let items: Vec<&Value> = run2["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["entity_type"] == "item")
        .collect();
    assert_eq!(items.len(), 1, "{run2}");
    assert_eq!(items[0]["kind"], "different");
    assert_eq!(items[0]["detail"]["differences"][0]["field"], "description");
    let run2_id = run2["run"]["id"].as_str().unwrap();
    let csv = t
        .client
        .get(format!("{}/v1/reconciliations/{run2_id}?format=csv", t.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv.starts_with("system,entity_type,key,kind"), "{csv}");
    assert!(
        csv.contains(&format!("erp,item,{ITEM_1},different")),
        "{csv}"
    );
    let (s, _) = t
        .post(
            &format!("/v1/reconciliations/{run2_id}/repair"),
            json!({"keys": [ITEM_1]}),
        )
        .await;
    assert_eq!(s, 200);
    t.eventually("the ERP's description is canonical again", || async {
        get_json(&t.client, &material).await["description"] == "item 0"
    })
    .await;
    let (_, audit) = t.get("/v1/audit?limit=1000").await;
    assert!(audit.to_string().contains("reconciliation.repaired"));

    // The EDI partner's 832 catalog is reconciled against the items it supplies (S-1's):
    // vendor part and unit must agree; an item it no longer lists is missing, one the master
    // does not know is extra.
    let catalog = format!(
        "ISA*00*          *00*          *ZZ*MEDSUPPLY      *ZZ*CONCORDHUB     *261121*1003*U*00401*000007002*0*P*>~\
GS*SC*MEDSUPPLY*CONCORDHUB*20261121*1003*7002*X*004010~ST*832*0001~BCT*PC*CAT-1~\
LIN*1*UK*{ITEM_1}*VN*VP-0~CTP***12.5**EA~LIN*2*UK*{ITEM_2}*VN*VP-X~CTP***3**EA~\
LIN*3*UK*00614141000043*VN*VP-NEW~CTT*3~SE*9*0001~GE*1*7002~IEA*1*000007002~"
    );
    let partner = make_key(&t.hub, Role::Integration, Some("medsupply")).await;
    let r = reqwest::Client::new()
        .post(format!("{}/v1/inbound/medsupply/x12", t.url))
        .bearer_auth(partner)
        .header("content-type", "application/edi-x12")
        .body(catalog)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let answer: Value = r.json().await.unwrap();
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["sets"][0]["outcome"]["items"], 3, "{answer}");
    let (_, run3) = t.post("/v1/reconciliations", json!({})).await;
    let from_catalog: Vec<(String, String)> = run3["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["system"] == "medsupply")
        .map(|f| {
            (
                f["entity_key"].as_str().unwrap().to_string(),
                f["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        from_catalog,
        vec![
            (ITEM_2.to_string(), "different".to_string()),
            (ITEM_3.to_string(), "missing".to_string()),
            ("00614141000043".to_string(), "extra".to_string()),
        ],
        "{run3}"
    );
    t.shutdown().await;
}
