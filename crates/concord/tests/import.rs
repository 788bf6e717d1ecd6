//! `concord import` as an operator runs it: a separate process on the store of a hub that is
//! serving at the same time. The hub keeps answering (and writing) during the import, every
//! good row lands, every bad one is in the report with its line and column, and what was
//! imported is what the running hub screens against.

mod common;

use std::process::{Command, Stdio};

use common::{free_port, wait_ready};
use serde_json::{Value, json};

fn concord(args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_concord"))
        .args(args)
        .env("CONCORD_LOG", "warn")
        .output()
        .expect("run concord");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

const LEIE_HEADER: &str = "LASTNAME,FIRSTNAME,MIDNAME,BUSNAME,GENERAL,SPECIALTY,UPIN,NPI,DOB,ADDRESS,CITY,STATE,ZIP,EXCLTYPE,EXCLDATE,REINDATE,WAIVERDATE,WAIVERSTATE";

#[tokio::test]
async fn an_import_beside_a_serving_hub_lands_every_good_row_and_reports_the_bad() {
    let dir = std::env::temp_dir().join(format!("concord-import-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let data = dir.join("data");
    let data_arg = data.to_str().unwrap().to_string();
    let (ok, key, stderr) = concord(&[
        "keys",
        "create",
        "--name",
        "ops",
        "--role",
        "admin",
        "--data-dir",
        &data_arg,
    ]);
    assert!(ok, "{stderr}");
    let key = key.trim().to_string();

    // 60,000 entries (the spelling WAIVERSTATE, as older files have it) and one bad row.
    let leie = dir.join("leie.csv");
    let mut text = format!("{LEIE_HEADER}\n");
    for i in 0..60_000 {
        text.push_str(&format!(
            "LAST{i},FIRST{i},,,IND- LIC HC SERV PRO,NURSE,,0000000000,19700101,{i} OAK AVE,AUSTIN,TX,73301,1128b4,20210301,00000000,00000000,\n"
        ));
    }
    text.push_str(",,,ORBIT MEDICAL SUPPLY LLC,DME,,,0000000000,,1 ELM ST,DAYTON,OH,45402,1128a1,20190610,00000000,00000000,\n");
    text.push_str(",,,BROKEN DATE INC,DME,,,0000000000,,1 ELM ST,DAYTON,OH,45402,1128a1,2019-06-10,00000000,00000000,\n");
    std::fs::write(&leie, text).unwrap();

    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut hub = Command::new(env!("CARGO_BIN_EXE_concord"))
        .args([
            "serve",
            "--data-dir",
            &data_arg,
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .env("CONCORD_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the hub");
    let client = reqwest::Client::new();
    wait_ready(&client, &url).await;

    // The import runs in its own process while the hub takes writes.
    let import = {
        let leie = leie.to_str().unwrap().to_string();
        let data_arg = data_arg.clone();
        std::thread::spawn(move || {
            concord(&["import", "exclusions", &leie, "--data-dir", &data_arg])
        })
    };
    let mut writes = 0;
    while !import.is_finished() {
        let id = format!("S-{writes}");
        let r = client
            .put(format!("{url}/v1/suppliers/{id}"))
            .bearer_auth(&key)
            .json(&json!({"id": id, "name": format!("Supplier {writes}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "the hub answers during the import");
        writes += 1;
        // Well under the default rate limit per principal (500/s).
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let (ok, stdout, stderr) = import.join().unwrap();
    assert!(ok, "{stdout}\n{stderr}");
    assert!(writes > 0);
    assert!(
        stdout.contains("60002 rows read, 60001 applied, 1 refused"),
        "{stdout}"
    );
    let report = std::fs::read_to_string(dir.join("leie.csv.errors.csv")).unwrap();
    assert!(report.contains("60003,\"EXCLDATE\",\"date\""), "{report}");

    // The running hub screens against what was imported.
    let found: Value = client
        .get(format!(
            "{url}/v1/exclusions?name=Orbit%20Medical%20Supply%2C%20Inc."
        ))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found["hits"][0]["matched_on"], "business_name", "{found}");
    assert_eq!(found["lists"]["leie"], 60_001);

    // Items and suppliers: good rows in, bad ones named; a header it cannot read stops it.
    let items = dir.join("items.csv");
    std::fs::write(
        &items,
        "gtin,description,unspsc,uom,packaging\n00614141000012,Glove,42132203,EA,BX=100;CS=1000\n00614141000013,Bad,42132203,EA,\n",
    )
    .unwrap();
    let (ok, stdout, _) = concord(&[
        "import",
        "items",
        items.to_str().unwrap(),
        "--data-dir",
        &data_arg,
    ]);
    assert!(ok);
    assert!(
        stdout.contains("2 rows read, 1 applied, 1 refused"),
        "{stdout}"
    );
    let report = std::fs::read_to_string(dir.join("items.csv.errors.csv")).unwrap();
    assert!(report.contains("3,\"gtin\",\"check_digit\""), "{report}");
    let suppliers = dir.join("suppliers.csv");
    std::fs::write(&suppliers, "id,name,tin,colour\nS-X,X,12-3456789,red\n").unwrap();
    let (ok, _, stderr) = concord(&[
        "import",
        "suppliers",
        suppliers.to_str().unwrap(),
        "--data-dir",
        &data_arg,
    ]);
    assert!(!ok);
    assert!(stderr.contains("unknown [\"colour\"]"), "{stderr}");

    let _ = hub.kill();
    let _ = hub.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
