//! Procure to pay over real connections: an approved requisition becomes a PO in the ERP
//! sandbox, an 850 to the supplier sandbox over HTTP, whose 997, 855, 856 and 810 come back as
//! X12 to the hub, with the warehouse sandbox's goods receipt in between; the invoice is matched
//! three ways and payment released in the ERP. Exceptions are worked in the workbench.

mod common;

use common::*;
use concord_model::access::Role;
use concord_sandbox::{Faults, SupplierRules};
use concord_store::{DeliveryStatus, testing::Backend};
use serde_json::{Value, json};

on_both_backends!(
    a_requisition_goes_from_submission_to_payment,
    backorders_and_price_variances_are_worked_in_the_workbench,
    bad_x12_and_receipts_are_quarantined_with_their_place,
    a_dead_erp_delivery_is_retried_in_the_workbench_and_settled_by_its_replay,
    a_file_drop_partner_trades_through_its_folders,
    metrics_count_the_traffic_and_show_the_business_without_ids,
);

/// An 855 whose SE01 miscounts its segments (9 for 5), control number 42.
const MISCOUNTED_855: &str = "ISA*00*          *00*          *ZZ*MEDSUPPLY      *ZZ*CONCORDHUB     *261121*1200*U*00401*000000042*0*P*:~\n\
GS*PR*MEDSUPPLY*CONCORDHUB*20261121*1200*42*X*004010~\n\
ST*855*0001~\n\
BAK*00*AD*PO-NONE-1*20261121~\n\
PO1*1*10*EA*9.00**UK*00614141000029~\n\
ACK*IA*10*EA~\n\
SE*9*0001~\n\
GE*1*42~\n\
IEA*1*000000042~\n";

/// Master data, the ERP's vendor, and contracts for ITEM_1 (5.00) and ITEM_2 (9.00) in the east.
async fn with_contracts(t: &TestHub) {
    t.seed().await;
    for (id, gtin, price) in [("C-1", ITEM_1, "5.00"), ("C-2", ITEM_2, "9.00")] {
        let (s, body) = t
            .post("/v1/contracts", long_contract(id, gtin, price, "east"))
            .await;
        assert_eq!(s, 202, "{body}");
        t.wait_status(id, 1, "active").await;
    }
}

async fn submit(t: &TestHub, id: &str, lines: &[(&str, u32, &str)]) {
    let buyer = make_user_key(&t.hub, Role::Buyer, Some("u-17")).await;
    let (s, answer) = post_as(t, &buyer, "/v1/requisitions", Some(requisition(id, lines))).await;
    assert_eq!(s, 201, "{answer}");
    assert_eq!(answer["decision"], "approved", "{answer}");
}

async fn po_status(t: &TestHub, po: &str) -> String {
    let (s, view) = t.get(&format!("/v1/purchase-orders/{po}")).await;
    if s != 200 {
        return format!("HTTP {s}");
    }
    view["status"].as_str().unwrap_or_default().to_string()
}

async fn wait_po(t: &TestHub, po: &str, status: &str) -> Value {
    t.eventually(&format!("{po} {status}"), || async {
        po_status(t, po).await == status
    })
    .await;
    t.get(&format!("/v1/purchase-orders/{po}")).await.1
}

async fn open_exceptions(t: &TestHub, query: &str) -> Vec<Value> {
    let (s, body) = t.get(&format!("/v1/exceptions?{query}")).await;
    assert_eq!(s, 200, "{body}");
    body["exceptions"].as_array().cloned().unwrap_or_default()
}

/// The supplier received the 850 first, then the hub's 997 for each of its 855, 856 and 810.
async fn supplier_got_the_850_and_three_997s(t: &TestHub) {
    let supplier = t.sandbox.supplier_client();
    let received: Vec<Vec<String>> = supplier
        .log()
        .iter()
        .filter(|e| e.direction == "in")
        .map(|e| e.sets.clone())
        .collect();
    assert_eq!(received[0], ["850"], "{received:?}");
    t.eventually("997s for the 855, 856 and 810", || async {
        supplier
            .log()
            .iter()
            .filter(|e| e.direction == "in" && e.sets == ["997"])
            .count()
            == 3
    })
    .await;
}

async fn a_requisition_goes_from_submission_to_payment(backend: Backend) {
    let Some(t) = spawn_hub(backend, |_| {}).await else {
        return;
    };
    with_contracts(&t).await;
    submit(&t, "R-P2P-1", &[(ITEM_2, 10, "9.00")]).await;
    let po = wait_po(&t, "PO-R-P2P-1-1", "paid").await;

    assert_eq!(po["supplier"], "S-1");
    assert_eq!(po["partner"], "medsupply");
    assert_eq!(po["lines"][0]["received"], "10");
    assert_eq!(po["invoices"]["INV-PO-R-P2P-1-1-1"]["state"], "paid");
    assert!(po["open_exceptions"].as_array().unwrap().is_empty(), "{po}");
    // The console finds the transaction by each of its keys: the one correlation id.
    let (_, requisition) = t.get("/v1/requisitions/R-P2P-1").await;
    let correlation = requisition["correlation_id"].as_str().unwrap().to_string();
    for (kind, value) in [
        ("requisition", "R-P2P-1"),
        ("purchase_order", "PO-R-P2P-1-1"),
        ("invoice", "INV-PO-R-P2P-1-1-1"),
        ("supplier", "S-1"),
        ("facility", FACILITY_EAST),
    ] {
        let found = t
            .hub
            .store()
            .find_transactions(kind, value, 10)
            .await
            .unwrap();
        assert!(
            found.iter().any(|f| f.correlation_id == correlation),
            "{kind} {value}: {found:?}"
        );
    }
    let documents: Vec<String> = po["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            format!(
                "{} {}",
                d["direction"].as_str().unwrap(),
                d["document"].as_str().unwrap()
            )
        })
        .collect();
    for expected in [
        "out erp_purchase_order",
        "in erp_purchase_order",
        "out 850",
        "in 997",
        "in 855",
        "in 856",
        "in goods_receipt",
        "in 810",
        "out payment_release",
    ] {
        assert!(
            documents.iter().any(|d| d == expected),
            "{expected} missing from {documents:?}"
        );
    }

    // The ERP holds the PO under its own number, which finds the same PO in the hub.
    let erp_po = po["erp_po"].as_str().unwrap().to_string();
    let by_erp = t.get(&format!("/v1/purchase-orders/{erp_po}")).await.1;
    assert_eq!(by_erp["po_number"], "PO-R-P2P-1-1");
    let in_erp = get_json(
        &t.client,
        t.sandbox.erp.url(&format!("/api/purchase-orders/{erp_po}")),
    )
    .await;
    assert_eq!(in_erp["externalRef"], "PO-R-P2P-1-1");
    assert_eq!(in_erp["vendorNumber"], "100042");
    assert_eq!(in_erp["payments"][0]["invoiceNo"], "INV-PO-R-P2P-1-1-1");
    assert_eq!(in_erp["payments"][0]["amount"], "90.00");
    assert!(t.sandbox.erp.duplicate_effects().is_empty());

    // The supplier got the 850 and, for each of its own groups, the hub's 997.
    let supplier = t.sandbox.supplier_client();
    supplier_got_the_850_and_three_997s(&t).await;
    assert!(
        supplier
            .log()
            .iter()
            .filter(|e| e.direction == "out")
            .all(|e| e.hub_status == Some(202)),
        "every interchange the supplier sent was accepted"
    );

    // The ERP delivery replayed after it got through (an operator's slip): its answer no
    // longer fits the PO, which stays as it is, and the delivery ends (it is not sent on and on).
    let (_, delivered) = t.get("/v1/deliveries?status=delivered").await;
    let id = delivered["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["message_type"] == "purchase_order")
        .and_then(|d| d["id"].as_str())
        .expect("the PO's ERP delivery")
        .to_string();
    let (s, body) = t
        .post(&format!("/v1/deliveries/{id}/replay"), json!({}))
        .await;
    assert!((200..300).contains(&s), "{body}");
    t.eventually("the replayed delivery delivered again", || async {
        let (_, d) = t.get(&format!("/v1/deliveries/{id}")).await;
        d["delivery"]["status"] == "delivered" && d["delivery"]["attempts"] == 2
    })
    .await;
    assert_eq!(po_status(&t, "PO-R-P2P-1-1").await, "paid");
    t.shutdown().await;
}

async fn backorders_and_price_variances_are_worked_in_the_workbench(backend: Backend) {
    let Some(t) = spawn_hub(backend, |_| {}).await else {
        return;
    };
    with_contracts(&t).await;
    t.sandbox.supplier_client().set_rules(SupplierRules {
        backorder: [ITEM_2.to_string()].into(),
        overbill: [ITEM_1.to_string()].into(),
        backorder_ms: 1500,
        ..SupplierRules::default()
    });
    submit(&t, "R-P2P-2", &[(ITEM_1, 4, "5.00"), (ITEM_2, 10, "9.00")]).await;
    let po_number = "PO-R-P2P-2-1";

    // Half of line 2 is backordered: an exception, and the ERP hears of the change.
    t.eventually("a backorder exception", || async {
        !open_exceptions(&t, "type=backorder&supplier=S-1")
            .await
            .is_empty()
    })
    .await;
    // The first invoice bills line 1 at 8% over the PO price: blocked.
    t.eventually("a price variance", || async {
        !open_exceptions(
            &t,
            &format!("type=invoice_price_variance&facility={FACILITY_EAST}"),
        )
        .await
        .is_empty()
    })
    .await;
    let variance = open_exceptions(&t, "type=invoice_price_variance").await[0].clone();
    assert_eq!(variance["detail"]["invoice"], format!("INV-{po_number}-1"));
    assert_eq!(variance["supplier"], "S-1");
    assert!(
        open_exceptions(&t, "type=invoice_price_variance&supplier=S-9")
            .await
            .is_empty()
    );
    assert!(
        open_exceptions(&t, "type=invoice_price_variance&min_age=1d")
            .await
            .is_empty()
    );
    let (s, bad_age) = t.get("/v1/exceptions?min_age=soon").await;
    assert_eq!(s, 400, "{bad_age}");

    // The rest arrives: the backorder closes, the second invoice matches and is released.
    t.eventually("the backorder closed", || async {
        open_exceptions(&t, "type=backorder").await.is_empty()
    })
    .await;
    let erp_po = t.get(&format!("/v1/purchase-orders/{po_number}")).await.1["erp_po"]
        .as_str()
        .unwrap()
        .to_string();
    let in_erp = get_json(
        &t.client,
        t.sandbox.erp.url(&format!("/api/purchase-orders/{erp_po}")),
    )
    .await;
    assert_eq!(in_erp["changes"][0][0]["status"], "backordered", "{in_erp}");

    // Working the variance: a buyer may not, an AP clerk may, with a reason; the wrong action
    // for the kind is refused; the accepted invoice is released; resolving again conflicts.
    let id = variance["id"].as_str().unwrap();
    let path = format!("/v1/exceptions/{id}/resolve");
    let buyer = make_user_key(&t.hub, Role::Buyer, Some("u-17")).await;
    let clerk = make_user_key(&t.hub, Role::ApClerk, Some("u-ap1")).await;
    let as_user = |key: String, body: Value| {
        let url = format!("{}{path}", t.url);
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let accept = json!({"action": "accept_variance", "reason": "surcharge agreed with the rep"});
    assert_eq!(as_user(buyer, accept.clone()).await.0, 403);
    let (s, body) = as_user(
        clerk.clone(),
        json!({"action": "acknowledge", "reason": "x"}),
    )
    .await;
    assert_eq!(s, 422, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("accept_variance"),
        "{body}"
    );
    let (s, body) = as_user(
        clerk.clone(),
        json!({"action": "accept_variance", "reason": " "}),
    )
    .await;
    assert_eq!(s, 422, "{body}");
    let (s, body) = as_user(clerk.clone(), accept.clone()).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["exception"]["status"], "resolved");
    assert_eq!(body["exception"]["resolution"]["user"], "u-ap1");
    assert_eq!(as_user(clerk, accept).await.0, 409);

    let po = wait_po(&t, po_number, "paid").await;
    assert_eq!(
        po["invoices"][format!("INV-{po_number}-1")]["state"],
        "paid"
    );
    assert_eq!(
        po["invoices"][format!("INV-{po_number}-2")]["state"],
        "paid"
    );
    assert_eq!(po["lines"][1]["received"], "10");
    let in_erp = get_json(
        &t.client,
        t.sandbox.erp.url(&format!("/api/purchase-orders/{erp_po}")),
    )
    .await;
    assert_eq!(in_erp["payments"].as_array().unwrap().len(), 2, "{in_erp}");
    // 4 × 5.40 (overbilled) + 5 × 9.00 (the half shipped first): what was invoiced, as accepted.
    let first = in_erp["payments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["invoiceNo"] == format!("INV-{po_number}-1"))
        .unwrap();
    assert_eq!(first["amount"], "66.60");
    assert!(t.sandbox.erp.duplicate_effects().is_empty());

    // The resolution is in the audit log, in the clerk's name.
    let (_, audit) = t.get("/v1/audit?action=exception.resolved").await;
    let entries = audit["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{audit}");
    assert!(
        entries[0]["actor"].as_str().unwrap().contains("(ap_clerk)"),
        "{audit}"
    );
    assert_eq!(entries[0]["detail"]["resolution"]["user"], "u-ap1");
    assert_eq!(
        entries[0]["detail"]["resolution"]["action"],
        "accept_variance"
    );
    t.shutdown().await;
}

async fn bad_x12_and_receipts_are_quarantined_with_their_place(backend: Backend) {
    let Some(t) = spawn_hub(backend, |_| {}).await else {
        return;
    };
    let partner = make_key(&t.hub, Role::Integration, Some("medsupply")).await;
    let post = |body: &str, content_type: &'static str| {
        let url = format!("{}/v1/inbound/medsupply/x12", t.url);
        let key = partner.clone();
        let body = body.to_string();
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .bearer_auth(key)
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    // An 855 whose SE01 miscounts its segments.
    let miscounted = MISCOUNTED_855;
    let (s, problem) = post(miscounted, "application/edi-x12").await;
    assert_eq!(s, 422, "{problem}");
    assert_eq!(problem["type"], "https://concord.dev/problems/x12");
    let errors = problem["errors"].as_array().unwrap();
    assert!(
        errors
            .iter()
            .any(|e| e["path"].as_str().unwrap().contains("(SE)")),
        "the error names the SE segment: {problem}"
    );
    let (_, quarantine) = t.get("/v1/quarantine").await;
    assert_eq!(
        quarantine["messages"].as_array().map(Vec::len),
        Some(1),
        "{quarantine}"
    );
    // The syntax is acknowledged to the supplier all the same: a 997 rejecting the set.
    let supplier = t.sandbox.supplier_client();
    t.eventually("a rejecting 997 at the supplier", || async {
        supplier
            .log()
            .iter()
            .any(|e| e.direction == "in" && e.sets == ["997"] && e.text.contains("AK5*R"))
    })
    .await;

    // Well-formed, but for a PO the hub never sent: quarantined, naming the PO.
    let unknown = miscounted
        .replace("SE*9*0001", "SE*5*0001")
        .replace("000000042", "000000043");
    let (s, problem) = post(&unknown, "application/edi-x12").await;
    assert_eq!(s, 422, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("PO-NONE-1"),
        "{problem}"
    );

    // From someone else's ISA id, and not as X12 at all.
    let stranger = miscounted.replace("MEDSUPPLY      ", "OTHERCO        ");
    let (s, problem) = post(&stranger, "application/edi-x12").await;
    assert_eq!(s, 422, "{problem}");
    assert_eq!(problem["errors"][0]["rule"], "wrong_sender");
    assert_eq!(post(miscounted, "application/json").await.0, 415);

    // While the supplier is down, the acknowledgements of two more interchanges are each
    // retried on their own: one failing ack holds back no other (both are waiting to be
    // retried at once, rather than the second waiting until the first is dead).
    t.sandbox.supplier.set_faults(Faults {
        outage: true,
        ..Faults::default()
    });
    for n in ["000000044", "000000045"] {
        assert_eq!(
            post(&unknown.replace("000000043", n), "application/edi-x12")
                .await
                .0,
            422
        );
    }
    t.eventually("both acks tried while the supplier is down", || async {
        let pending = t
            .hub
            .store()
            .list_deliveries(None, None, 100)
            .await
            .unwrap()
            .into_iter()
            .filter(|d| {
                d.target == "medsupply"
                    && matches!(d.status, DeliveryStatus::Pending | DeliveryStatus::InFlight)
                    && d.attempts > 0
            })
            .count();
        pending >= 2
    })
    .await;
    t.sandbox.supplier.set_faults(Faults::default());

    // A warehouse receipt for an unknown PO, and one with a bad GTIN check digit.
    let warehouse = make_key(&t.hub, Role::Integration, Some("warehouse")).await;
    let receipt = |gtin: &str| {
        json!({"receiptNo": format!("GR-{gtin}"), "purchaseOrder": "PO-NONE-1", "plant": FACILITY_EAST,
            "items": [{"poItem": "1", "gtin": gtin, "qtyReceived": "1", "unit": "EA"}]})
    };
    for (gtin, expect) in [(ITEM_1, "PO-NONE-1"), ("00614141000013", "lines[0].gtin")] {
        let r = reqwest::Client::new()
            .post(format!("{}/v1/inbound/warehouse/goods_receipt", t.url))
            .bearer_auth(&warehouse)
            .json(&receipt(gtin))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 422);
        let problem: Value = r.json().await.unwrap();
        assert!(problem.to_string().contains(expect), "{problem}");
    }
    t.shutdown().await;
}

/// Takes the ERP down and places requisition `id`: its PO's creation dead-letters into an open
/// `erp_po_failed` exception. The ERP stays down.
async fn place_while_the_erp_is_down(t: &TestHub, id: &str) {
    t.sandbox.erp.set_faults(Faults {
        outage: true,
        ..Faults::default()
    });
    submit(t, id, &[(ITEM_2, 2, "9.00")]).await;
    t.eventually("erp_po_failed", || async {
        !open_exceptions(t, "type=erp_po_failed").await.is_empty()
    })
    .await;
}

async fn a_dead_erp_delivery_is_retried_in_the_workbench_and_settled_by_its_replay(
    backend: Backend,
) {
    let Some(t) = spawn_hub(backend, |c| c.delivery.max_attempts = 2).await else {
        return;
    };
    with_contracts(&t).await;
    place_while_the_erp_is_down(&t, "R-P2P-4").await;
    assert_eq!(
        po_status(&t, "PO-R-P2P-4-1").await,
        "approved, creating in the ERP"
    );
    // Retried from the workbench while the ERP is still down: the same delivery is sent
    // again, dies again, and opens a new exception naming it.
    let first = open_exceptions(&t, "type=erp_po_failed").await[0].clone();
    let delivery = first["detail"]["delivery"].as_str().unwrap().to_string();
    let (s, body) = t
        .post(
            &format!("/v1/exceptions/{}/resolve", first["id"].as_str().unwrap()),
            json!({"action": "retry", "reason": "ERP back from maintenance"}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["exception"]["status"], "resolved");
    assert_eq!(body["exception"]["resolution"]["action"], "retry");
    t.eventually("the retried delivery's new exception", || async {
        open_exceptions(&t, "type=erp_po_failed")
            .await
            .iter()
            .any(|e| e["id"] != first["id"] && e["detail"]["delivery"] == delivery.as_str())
    })
    .await;
    let (_, d) = t.get(&format!("/v1/deliveries/{delivery}")).await;
    assert_eq!(d["delivery"]["status"], "dead", "{d}");
    assert!(d["delivery"]["attempts"].as_u64().unwrap() > 2, "{d}");

    // Replayed from the deliveries once the ERP is back: the PO goes on and the exception
    // settles by itself.
    t.sandbox.erp.set_faults(Faults::default());
    let (_, dead) = t.get("/v1/deliveries?status=dead").await;
    let dead = dead["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["message_type"] == "purchase_order")
        .cloned()
        .expect("the PO's dead delivery");
    let (s, body) = t
        .post(
            &format!("/v1/deliveries/{}/replay", dead["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert!((200..300).contains(&s), "{body}");
    wait_po(&t, "PO-R-P2P-4-1", "paid").await;
    assert!(open_exceptions(&t, "type=erp_po_failed").await.is_empty());
    let (_, resolved) = t
        .get("/v1/exceptions?status=resolved&type=erp_po_failed")
        .await;
    assert_eq!(
        resolved["exceptions"].as_array().map(Vec::len),
        Some(2),
        "{resolved}"
    );
    t.shutdown().await;
}

/// The partner trades by file drop: the hub writes its 850 and 997s into the partner's outbox
/// folder, the supplier drops its 997, 855, 856 and 810 into the inbox folder, and the hub reads
/// them from there, filing each away. A bad file is refused beside its problem, a file still
/// being written is left alone, and a file dropped twice applies nothing twice.
async fn a_file_drop_partner_trades_through_its_folders(backend: Backend) {
    let dir = std::env::temp_dir().join(format!("concord-edi-{}", fastrand::u64(..)));
    let (outbox, inbox) = (dir.join("out"), dir.join("in"));
    let transport = concord_engine::partners::Transport::File {
        outbox: outbox.clone(),
        inbox: inbox.clone(),
        poll_ms: 50,
    };
    let Some(t) = spawn_hub(backend, |c| {
        c.partners.get_mut("medsupply").unwrap().transport = transport;
    })
    .await
    else {
        return;
    };
    let supplier = t.sandbox.supplier_client();
    let pickup = supplier.use_folders(outbox.clone(), inbox.clone());
    with_contracts(&t).await;
    submit(&t, "R-P2P-5", &[(ITEM_2, 4, "9.00")]).await;
    wait_po(&t, "PO-R-P2P-5-1", "paid").await;

    let names = |folder: std::path::PathBuf| {
        let mut names: Vec<String> = std::fs::read_dir(folder)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .filter(|e| e.path().is_file())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    };
    // The supplier's 997, 855, 856 and 810, each in its own file, all read and filed away.
    let processed = names(inbox.join("processed"));
    assert_eq!(processed.len(), 4, "{processed:?}");
    assert!(names(inbox.clone()).is_empty());
    supplier_got_the_850_and_three_997s(&t).await;

    // A file still being written is left alone; a bad one is refused beside its problem and
    // quarantined; the same invoice dropped again (under a name already used) is filed as a
    // repeat and pays nothing twice.
    std::fs::write(inbox.join(".INV-2.x12.tmp"), "ISA*").unwrap();
    std::fs::write(inbox.join("bad-855.x12"), MISCOUNTED_855).unwrap();
    let invoice = processed
        .iter()
        .find(|name| {
            std::fs::read_to_string(inbox.join("processed").join(name))
                .unwrap()
                .contains("ST*810*")
        })
        .expect("the 810 file")
        .clone();
    std::fs::copy(inbox.join("processed").join(&invoice), inbox.join(&invoice)).unwrap();
    t.eventually("the bad file refused and the repeat filed", || async {
        names(inbox.join("rejected")).len() == 2 && names(inbox.join("processed")).len() == 5
    })
    .await;
    let problem: Value = serde_json::from_str(
        &std::fs::read_to_string(inbox.join("rejected").join("bad-855.x12.problem.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(problem["status"], 422, "{problem}");
    assert!(problem.to_string().contains("(SE)"), "{problem}");
    assert_eq!(names(inbox.clone()), [".INV-2.x12.tmp"]);
    let (_, quarantine) = t.get("/v1/quarantine").await;
    assert_eq!(
        quarantine["messages"].as_array().map(Vec::len),
        Some(1),
        "{quarantine}"
    );
    let po = t.get("/v1/purchase-orders/PO-R-P2P-5-1").await.1;
    assert_eq!(po["status"], "paid");
    let erp_po = po["erp_po"].as_str().unwrap();
    let in_erp = get_json(
        &t.client,
        t.sandbox.erp.url(&format!("/api/purchase-orders/{erp_po}")),
    )
    .await;
    assert_eq!(
        in_erp["payments"].as_array().map(Vec::len),
        Some(1),
        "{in_erp}"
    );
    assert!(t.sandbox.erp.duplicate_effects().is_empty());

    pickup.abort();
    t.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// The value of the one `/metrics` line that starts with `series` (name and labels), if any.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn scrape(t: &TestHub, key: &str) -> (u16, String, String) {
    let r = reqwest::Client::new()
        .get(format!("{}/metrics", t.url))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    let content_type = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (r.status().as_u16(), content_type, r.text().await.unwrap())
}

/// `/metrics` counts requests by route template, inbound messages and delivery attempts as
/// they happen, and reads the queues and the business (contracts, requisitions, POs, open
/// exceptions, circuits) from the store; no id ever becomes a label.
async fn metrics_count_the_traffic_and_show_the_business_without_ids(backend: Backend) {
    let Some(t) = spawn_hub(backend, |c| c.delivery.max_attempts = 2).await else {
        return;
    };
    let viewer = make_key(&t.hub, Role::Viewer, None).await;
    let (s, content_type, before) = scrape(&t, &viewer).await;
    assert_eq!(s, 200, "{before}");
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    let integration = make_key(&t.hub, Role::Integration, Some("clm")).await;
    assert_eq!(scrape(&t, &integration).await.0, 403);
    assert_eq!(scrape(&t, "ck_not_a_key").await.0, 401);

    with_contracts(&t).await;
    assert_eq!(t.get("/v1/contracts/C-1").await.0, 200);
    assert_eq!(t.get("/v1/contracts/C-NOPE").await.0, 404);
    // The ERP is down: the PO's creation dead-letters into an open exception.
    place_while_the_erp_is_down(&t, "R-P2P-M").await;

    let (_, _, text) = scrape(&t, &viewer).await;
    let value =
        |series: &str| metric(&text, series).unwrap_or_else(|| panic!("{series} missing:\n{text}"));
    let delta = |series: &str| value(series) - metric(&before, series).unwrap_or(0.0);
    assert_eq!(
        delta(r#"concord_http_requests_total{method="POST",route="/v1/contracts",status="2xx"}"#),
        2.0
    );
    assert_eq!(
        delta(
            r#"concord_http_requests_total{method="GET",route="/v1/contracts/{id}",status="4xx"}"#
        ),
        1.0
    );
    assert_eq!(
        delta(r#"concord_http_requests_total{method="GET",route="/metrics",status="4xx"}"#),
        2.0,
        "the refused scrapes are counted too"
    );
    assert_eq!(
        value(
            r#"concord_inbound_messages_total{system="api",message_type="contract",outcome="accepted"}"#
        ),
        2.0
    );
    assert_eq!(
        value(
            r#"concord_inbound_messages_total{system="api",message_type="requisition",outcome="accepted"}"#
        ),
        1.0
    );
    assert!(value(r#"concord_delivery_attempts_total{target="erp",outcome="delivered"}"#) >= 2.0);
    // Every acknowledged delivery is one sync latency observation, under its workflow.
    let sum = |prefix: &str, having: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with(prefix) && l.contains(having))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let delivered = sum("concord_delivery_attempts_total{", "outcome=\"delivered\"");
    assert!(delivered >= 2.0);
    assert_eq!(sum("concord_sync_latency_seconds_count{", ""), delivered);
    assert!(value(r#"concord_sync_latency_seconds_count{workflow="contract"}"#) >= 2.0);
    assert_eq!(
        value(r#"concord_delivery_attempts_total{target="erp",outcome="dead"}"#),
        1.0
    );
    assert_eq!(
        value(r#"concord_delivery_attempt_duration_seconds_count{target="erp",outcome="dead"}"#),
        1.0
    );
    assert_eq!(value(r#"concord_contract_versions{status="active"}"#), 2.0);
    assert_eq!(value(r#"concord_requisitions{stage="approved"}"#), 1.0);
    assert_eq!(value(r#"concord_purchase_orders{stage="approved"}"#), 1.0);
    assert_eq!(value(r#"concord_deliveries{status="dead"}"#), 1.0);
    assert_eq!(
        value(r#"concord_exceptions_open{kind="erp_po_failed"}"#),
        1.0
    );
    // Opened during this test: its age is seconds, not the epoch's.
    let age = value(r#"concord_exception_oldest_age_seconds{kind="erp_po_failed"}"#);
    assert!((0.0..600.0).contains(&age), "{age}");
    assert_eq!(
        value(r#"concord_circuit_state{system="purchasing",state="closed"}"#),
        1.0
    );
    assert_eq!(
        value(r#"concord_circuit_state{system="erp",state="closed"}"#)
            + value(r#"concord_circuit_state{system="erp",state="open"}"#)
            + value(r#"concord_circuit_state{system="erp",state="half_open"}"#),
        1.0
    );
    // Bounded cardinality: not one id among the label values.
    for id in [
        "C-1",
        "C-NOPE",
        "R-P2P-M",
        "PO-R-P2P-M",
        "rcpt_",
        "dlv_",
        "exc_",
        "corr_",
        "S-1",
    ] {
        assert!(
            !text
                .lines()
                .filter(|l| !l.starts_with('#'))
                .any(|l| l.contains(id)),
            "{id} appears in /metrics:\n{text}"
        );
    }
    t.shutdown().await;
}
