//! The command line as a user meets it: `check` reports every problem with its path, `schema`
//! prints the canonical schemas.

use std::process::Command;

fn concord(args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_concord"))
        .args(args)
        .output()
        .expect("run concord");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn check_accepts_the_demo_config_shape_and_reports_every_problem() {
    let dir = std::env::temp_dir().join(format!("concord-cli-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("m")).unwrap();
    std::fs::write(dir.join("m/ok.jq"), "{id: .contractNumber}").unwrap();
    std::fs::write(dir.join("m/broken.jq"), "{id: .x,\n  name: (}").unwrap();
    let good = dir.join("good.toml");
    std::fs::write(
        &good,
        "[systems.clm]\nrole = \"clm\"\n[systems.clm.inbound.contract]\nmapping = \"m/ok.jq\"\n",
    )
    .unwrap();
    let (ok, stdout, stderr) = concord(&["check", "--config", good.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("is valid"), "{stdout}");

    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "[delivery]\nmax_attempts = 0\n[systems.clm]\nrole = \"clm\"\n[systems.clm.inbound.contract]\nmapping = \"m/broken.jq\"\n\
         [systems.erp]\nrole = \"erp\"\n[systems.erp.outbound.contract]\nmapping = \"m/missing.jq\"\npath = \"/x\"\n",
    )
    .unwrap();
    let (ok, _, stderr) = concord(&["check", "--config", bad.to_str().unwrap()]);
    assert!(!ok);
    for expected in [
        "delivery.max_attempts",
        "systems.clm.inbound.contract.mapping",
        "line 2",
        "systems.erp.base_url",
        "systems.erp.outbound.contract.mapping",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn test_mappings_passes_the_demo_samples_and_names_the_field_a_vendor_renamed() {
    let dir = std::env::temp_dir().join(format!("concord-samples-{}", std::process::id()));
    let demo_mapping = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/demo/mappings/clm/contract.in.jq");
    let config = |mapping: &std::path::Path| {
        format!(
            "[systems.clm]\nrole = \"clm\"\n[systems.clm.inbound.contract]\nmapping = {:?}\n",
            mapping.display().to_string()
        )
    };
    std::fs::create_dir_all(dir.join("m/contract.in.samples")).unwrap();
    std::fs::write(dir.join("demo.toml"), config(&demo_mapping)).unwrap();
    let (ok, stdout, stderr) = concord(&[
        "test-mappings",
        "--config",
        dir.join("demo.toml").to_str().unwrap(),
    ]);
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("3 sample(s), 0 failed"), "{stdout}");

    // The vendor renamed contractNumber: its new payload, kept as a sample, fails with the path.
    std::fs::copy(&demo_mapping, dir.join("m/contract.in.jq")).unwrap();
    let approved =
        std::fs::read_to_string(demo_mapping.with_extension("samples").join("approved.json"))
            .unwrap();
    std::fs::write(
        dir.join("m/contract.in.samples/renamed.json"),
        approved.replace("contractNumber", "contractNo"),
    )
    .unwrap();
    std::fs::write(dir.join("m/contract.in.samples/good.json"), &approved).unwrap();
    std::fs::write(
        dir.join("vendor.toml"),
        config(&dir.join("m/contract.in.jq")),
    )
    .unwrap();
    let (ok, stdout, _) = concord(&[
        "test-mappings",
        "--config",
        dir.join("vendor.toml").to_str().unwrap(),
    ]);
    assert!(!ok, "a broken sample passed: {stdout}");
    assert!(
        stdout.contains("ok    systems.clm.inbound.contract") && stdout.contains("good.json"),
        "{stdout}"
    );
    let failure = stdout
        .lines()
        .skip_while(|l| !l.starts_with("FAIL"))
        .take(2)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        failure.contains("renamed.json") && failure.contains("contract.contractNumber"),
        "{stdout}"
    );
    assert!(stdout.contains("2 sample(s), 1 failed"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Config takes effect at start: a start on a changed config (or mapping) is the reload, and
/// the audit log witnesses it with the before and after fingerprints.
#[test]
fn a_start_on_a_changed_config_is_audited_as_a_reload() {
    let dir = std::env::temp_dir().join(format!("concord-cli-config-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("m")).unwrap();
    std::fs::write(dir.join("m/in.jq"), "{id: .contractNumber}").unwrap();
    let config = dir.join("concord.toml");
    std::fs::write(
        &config,
        "[systems.clm]\nrole = \"clm\"\n[systems.clm.inbound.contract]\nmapping = \"m/in.jq\"\n",
    )
    .unwrap();
    let data = dir.join("data");
    let start = || {
        // Any command that opens the hub records the config it runs on.
        let (ok, _, stderr) = concord(&[
            "keys",
            "create",
            "--name",
            "n",
            "--role",
            "viewer",
            "--config",
            config.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
        ]);
        assert!(ok, "{stderr}");
    };
    let entries = || -> Vec<(String, Option<String>, Option<String>)> {
        let db = rusqlite::Connection::open(data.join("concord.db")).unwrap();
        let mut q = db
            .prepare("SELECT action, before_digest, after_digest FROM audit_log WHERE subject = 'config' ORDER BY seq")
            .unwrap();
        q.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    start();
    start(); // unchanged: nothing more
    let first = entries();
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first[0].0, "config.loaded");
    assert_eq!(first[0].1, None);

    // Only the mapping changes.
    std::fs::write(dir.join("m/in.jq"), "{id: .contractNo}").unwrap();
    start();
    let after = entries();
    assert_eq!(after.len(), 2, "{after:?}");
    assert_eq!(after[1].0, "config.reloaded");
    assert_eq!(after[1].1, first[0].2, "before is the last fingerprint");
    assert_ne!(after[1].2, first[0].2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn openapi_prints_the_served_document() {
    let (ok, stdout, stderr) = concord(&["openapi"]);
    assert!(ok, "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/v1/prices"]["get"]["parameters"].is_array());
}

#[test]
fn schema_prints_canonical_schemas() {
    let (ok, stdout, stderr) = concord(&["schema"]);
    assert!(ok, "{stderr}");
    let schemas: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    for name in ["Supplier", "Item", "Facility", "Contract", "Price"] {
        assert!(schemas.get(name).is_some(), "{name} missing");
    }
    assert_eq!(
        schemas["Item"]["properties"]["gtin"]["$ref"]
            .as_str()
            .map(|r| r.ends_with("Gtin")),
        Some(true),
        "{}",
        schemas["Item"]
    );
}

#[test]
fn keys_and_audit_verify_work_on_a_fresh_data_dir_and_catch_tampering() {
    let dir = std::env::temp_dir().join(format!("concord-cli-keys-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data = dir.to_str().unwrap();
    let (ok, key, stderr) = concord(&[
        "keys",
        "create",
        "--name",
        "ops",
        "--role",
        "operator",
        "--data-dir",
        data,
    ]);
    assert!(ok, "{stderr}");
    assert!(key.trim().starts_with("ck_k_"), "{key}");
    assert!(stderr.contains("only copy"), "{stderr}");
    let (ok, _, stderr) = concord(&[
        "keys",
        "create",
        "--name",
        "x",
        "--role",
        "integration",
        "--data-dir",
        data,
    ]);
    assert!(!ok, "an integration key without a system is refused");
    assert!(stderr.contains("must name the system"), "{stderr}");
    let (ok, _, stderr) = concord(&[
        "keys",
        "create",
        "--name",
        "x",
        "--role",
        "root",
        "--data-dir",
        data,
    ]);
    assert!(!ok);
    assert!(stderr.contains("unknown role"), "{stderr}");

    let (ok, listed, stderr) = concord(&["keys", "list", "--data-dir", data]);
    assert!(ok, "{stderr}");
    assert!(!listed.contains(key.trim()), "secrets are never listed");
    let id = listed
        .lines()
        .find(|l| l.ends_with(" ops"))
        .and_then(|l| l.split_whitespace().next())
        .expect("the key is listed")
        .to_string();
    assert!(listed.contains("active"), "{listed}");
    let (ok, _, stderr) = concord(&["keys", "revoke", &id, "--data-dir", data]);
    assert!(ok, "{stderr}");
    let (_, listed, _) = concord(&["keys", "list", "--data-dir", data]);
    assert!(listed.contains("revoked"), "{listed}");

    let (ok, verified, stderr) = concord(&["audit", "verify", "--data-dir", data]);
    assert!(ok, "{stderr}");
    // The first start's config, the key made, the key revoked.
    assert!(verified.contains("intact: 3 sealed entries"), "{verified}");

    let db = rusqlite::Connection::open(dir.join("concord.db")).unwrap();
    db.execute(
        "UPDATE audit_log SET actor = 'mallory' WHERE chain_seq = 1",
        [],
    )
    .unwrap();
    drop(db);
    let (ok, verified, stderr) = concord(&["audit", "verify", "--data-dir", data]);
    assert!(!ok, "a tampered log fails verification");
    assert!(
        verified.contains("TAMPERED: entry 1 was edited"),
        "{verified}"
    );
    assert!(stderr.contains("1 finding"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn x12_sample(name: &str) -> String {
    format!(
        "{}/../concord-formats/tests/data/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn x12_parse_prints_the_typed_document_and_succeeds_on_a_clean_file() {
    let (ok, stdout, stderr) = concord(&["x12", "parse", &x12_sample("poack-855-005010.edi")]);
    assert!(ok, "{stderr}");
    let out: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(out["interchanges"][0]["separators"]["repetition"], "^");
    assert_eq!(out["documents"][0]["set"], "855");
    let doc = &out["documents"][0]["document"];
    assert_eq!(doc["type"], "purchase_order_ack");
    assert_eq!(doc["lines"][1]["statuses"][1]["status"], "backordered");
    assert_eq!(out["diagnostics"].as_array().unwrap().len(), 0);
    assert!(stderr.contains("0 error(s)"), "{stderr}");
}

#[test]
fn x12_parse_fails_and_names_segment_element_and_reason_for_each_error() {
    let (ok, stdout, stderr) = concord(&["x12", "parse", &x12_sample("broken-envelopes.edi")]);
    assert!(!ok);
    let out: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let diagnostics = out["diagnostics"].as_array().unwrap();
    assert_eq!(diagnostics.len(), 9, "{diagnostics:#?}");
    let gtin = diagnostics
        .iter()
        .find(|d| d["problem"] == "invalid_identifier")
        .unwrap();
    assert_eq!(gtin["segment"], 5);
    assert_eq!(gtin["segment_id"], "IT1");
    assert_eq!(gtin["element"], 7);
    assert_eq!(gtin["severity"], "error");
    assert!(gtin["reason"].as_str().unwrap().contains("check digit"));
    // The set with errors has no typed document; the readable one has.
    assert!(out["documents"][0]["document"].is_null());
    assert_eq!(
        out["documents"][1]["document"]["invoice_number"],
        "INV-90019"
    );
    assert!(stderr.contains("segment 13 IEA02"), "{stderr}");
    assert!(stderr.contains("9 error(s)"), "{stderr}");
}

#[test]
fn x12_parse_of_a_missing_file_says_which() {
    let (ok, _, stderr) = concord(&["x12", "parse", "/nonexistent/po.edi"]);
    assert!(!ok);
    assert!(stderr.contains("/nonexistent/po.edi"), "{stderr}");
}

#[test]
fn test_policies_runs_the_shipped_tests_and_a_configured_policys_own() {
    // The built-in policy passes its shipped tests.
    let (ok, stdout, stderr) = concord(&["test-policies"]);
    assert!(ok, "{stdout}{stderr}");
    assert!(
        stdout.contains("ok    data.concord.requisition_test.test_off_contract_with_an_alternative_is_refused_and_names_it"),
        "{stdout}"
    );
    assert!(stdout.contains(", 0 failed"), "{stdout}");

    // A site's copy that tolerates 10 % over contract, with a test that expects otherwise.
    let dir = std::env::temp_dir().join(format!("concord-policies-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    let shipped = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../concord-engine/policies/requisition.rego"),
    )
    .unwrap();
    std::fs::write(
        dir.join("policies/requisition.rego"),
        shipped.replace(
            "max_price_variance_pct := 0",
            "max_price_variance_pct := 10",
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("policies/site_test.rego"),
        "package site_test\nimport rego.v1\nimport data.concord.requisition\n\
         test_tolerance_is_ten if { requisition.max_price_variance_pct == 10 }\n\
         test_tolerance_is_zero if { requisition.max_price_variance_pct == 0 }\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("site.toml"),
        "[procurement]\nrequisition_policy = \"policies/requisition.rego\"\n",
    )
    .unwrap();
    let config = dir.join("site.toml");
    let (ok, stdout, _) = concord(&["test-policies", "--config", config.to_str().unwrap()]);
    assert!(!ok, "a failing policy test passed: {stdout}");
    assert!(
        stdout.contains("ok    data.site_test.test_tolerance_is_ten"),
        "{stdout}"
    );
    assert!(
        stdout.contains("FAIL  data.site_test.test_tolerance_is_zero"),
        "{stdout}"
    );
    assert!(
        stdout.contains("2 policy test(s)") && stdout.contains("1 failed"),
        "{stdout}"
    );

    // A policy that does not compile is a config problem `check` names, with its path.
    std::fs::write(
        dir.join("policies/requisition.rego"),
        "package concord.requisition\nverdict := {",
    )
    .unwrap();
    let (ok, _, stderr) = concord(&["check", "--config", config.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        stderr.contains("procurement.requisition_policy"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `concord bench pipeline` (what BENCHMARKS.md's pipeline figures come from) runs end to end
/// on a small load: every message delivered, and the CPU it used told apart by thread (the hub's
/// runtime, its SQLite writer and readers, and the harness on its own threads).
#[test]
fn bench_pipeline_delivers_every_message_and_splits_the_cpu_by_thread() {
    let (ok, out, err) = concord(&[
        "bench",
        "pipeline",
        "--messages",
        "200",
        "--connections",
        "8",
    ]);
    assert!(ok, "bench pipeline failed: {err}");
    assert!(
        out.contains("inbound → delivered, max rate (8 connections): 200 in"),
        "{out}"
    );
    assert!(out.contains("all 200 accepted after"), "{out}");
    let cpu = out
        .lines()
        .find(|l| l.contains("CPU per message (µs, by thread)"))
        .unwrap_or_else(|| panic!("no CPU line in {out}"));
    for thread in ["bench-harness", "concord-sqlite", "tokio-rt-worker"] {
        let figure: f64 = cpu
            .split(&format!("{thread} "))
            .nth(1)
            .and_then(|rest| rest.split([',', ';']).next())
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no figure for {thread} in {cpu}"));
        assert!(figure > 0.0, "{thread} used no CPU: {cpu}");
    }
}
