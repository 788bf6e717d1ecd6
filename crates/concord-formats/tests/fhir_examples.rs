//! The FHIR R4 examples (npm package `hl7.fhir.r4.examples` 4.0.1, unpacked; the folder is
//! `CONCORD_FHIR_EXAMPLES`, `.ci/run` fetches it with `npm pack`): every Device, Procedure,
//! SupplyDelivery, SupplyRequest and Bundle either reads or is refused with problems that each
//! name a path inside the resource. Skipped (with a note) when the variable is unset.

use concord_formats::fhir::{self, Resource};
use serde_json::Value;

fn folder() -> Option<std::path::PathBuf> {
    let dir = std::env::var("CONCORD_FHIR_EXAMPLES").ok()?;
    let dir = std::path::PathBuf::from(dir);
    assert!(
        dir.is_dir(),
        "CONCORD_FHIR_EXAMPLES={} is not a folder",
        dir.display()
    );
    Some(dir)
}

#[test]
fn every_example_of_the_types_used_reads_or_is_refused_with_paths() {
    let Some(dir) = folder() else {
        eprintln!("CONCORD_FHIR_EXAMPLES is not set: the FHIR examples were not read");
        return;
    };
    let mut read = std::collections::BTreeMap::<String, usize>::new();
    let mut refused = vec![];
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let Some(kind) = fhir::TYPES
            .iter()
            .find(|t| name.starts_with(&format!("{t}-")) && name.ends_with(".json"))
        else {
            continue;
        };
        let value: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        if value["resourceType"] != *kind {
            continue;
        }
        match fhir::read(&value) {
            Ok(_) => *read.entry(kind.to_string()).or_default() += 1,
            Err(problems) => {
                assert!(!problems.is_empty());
                for p in &problems {
                    assert!(
                        p.path.starts_with(kind) && !p.message.is_empty(),
                        "{name}: {p:?}"
                    );
                }
                refused.push((name, problems));
            }
        }
    }
    eprintln!("read: {read:?}; refused: {}", refused.len());
    for (name, problems) in &refused {
        eprintln!("  {name}: {problems:?}");
    }
    // Version 4.0.1 of the package, pinned: each example of these types reads.
    let expected: std::collections::BTreeMap<String, usize> = [
        ("Bundle", 44),
        ("Device", 2),
        ("Procedure", 16),
        ("SupplyDelivery", 2),
        ("SupplyRequest", 1),
    ]
    .into_iter()
    .map(|(k, n)| (k.to_string(), n))
    .collect();
    assert_eq!(read, expected, "refused: {refused:?}");
    assert!(refused.is_empty());
}

#[test]
fn the_implant_example_names_its_device() {
    let Some(dir) = folder() else {
        return;
    };
    let value: Value =
        serde_json::from_slice(&std::fs::read(dir.join("Procedure-example-implant.json")).unwrap())
            .unwrap();
    let Resource::Procedure(p) = fhir::read(&value).unwrap() else {
        panic!("not a procedure")
    };
    assert_eq!(p.status, "completed");
    assert_eq!(
        p.focal_devices[0].manipulated.id_of("Device"),
        Some("example-pacemaker")
    );
    assert_eq!(
        p.focal_devices[0].action.as_ref().unwrap().code,
        "implanted"
    );
    let value: Value = serde_json::from_slice(
        &std::fs::read(dir.join("SupplyDelivery-simpledelivery.json")).unwrap(),
    )
    .unwrap();
    let Resource::SupplyDelivery(d) = fhir::read(&value).unwrap() else {
        panic!("not a delivery")
    };
    assert_eq!(d.quantity, Some(10.into()));
    assert_eq!(d.item_code.unwrap().code, "BlueTubes");
}
