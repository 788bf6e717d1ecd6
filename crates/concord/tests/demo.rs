//! `concord demo --once` as a new user runs it: the whole estate, every contract active, no
//! duplicate effects, exit code 0.

use std::process::Command;

#[test]
fn demo_once_ends_with_every_contract_active() {
    let dir = std::env::temp_dir().join(format!("concord-demo-test-{}", std::process::id()));
    let output = Command::new(env!("CARGO_BIN_EXE_concord"))
        .args(["demo", "--once", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&dir)
        .env("CONCORD_LOG", "warn")
        .output()
        .expect("run concord demo");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "demo failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stdout.contains("contracts active (latest version): all 100"),
        "{stdout}"
    );
    assert!(
        stdout.contains("duplicate effects at targets: 0"),
        "{stdout}"
    );
    assert!(stdout.contains("refused during the outage"), "{stdout}");
    // Requisitions: one approved, one refused off contract, one up the approval chain.
    for expected in [
        "REQ-DEMO-1  approved",
        "REQ-DEMO-2  refused         line 1:",
        "is off contract; buy",
        "REQ-DEMO-3  needs_approval",
        "approved by u-50   → pending approval (next: director)",
        "approved by u-90   → approved",
        // Part 5: screening holds, decisions, the bank change and reconciliation.
        "S-P-2002  on hold           exclusion list: SHADY MEDICAL SUPPLY LLC",
        "likely duplicate of S-002 (score 1.0, same_tin)",
        "S-P-2001  approved by u-70 → ERP vendor V000001 → purchasing yes · AP yes",
        "requester's own approval 403; u-70 → pending approval; ERP still has the old account: true; u-90 → approved and applied; ERP now has the new one",
        "items {\"different\":3,\"extra\":0,\"missing\":0}",
        "repaired 3 items",
        "next run: 0 item differences",
        // Part 6: the case over MLLP, its stock, orders and cost postings, the unknown item.
        "ACK AA; sent again (missed ACK): ACK AA",
        "guidewire: on hand 5 → 4 (at the reorder point) → replenishment REP-",
        "bill-only BILL-",
        "ERP cost postings (cost center CATH, service line CAR, CPT 92928): CO00000001",
        "balloon CDM-9999: held by usage_item_unresolved",
        "EHR → FHIR Bundle CASE-1002: 202 (",
        "ehr:fhir:Procedure-CASE-1002:1 → BILL-",
        "ehr:fhir:SupplyDelivery-CASE-1002-2:1 held by usage_item_unresolved",
        "posted again: 202 with the same receipt: true",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
