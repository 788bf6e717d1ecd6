//! The FHIR R4 reader on arbitrary bytes: JSON first, then the resource reader with its checks
//! (value sets, required elements, types; every problem with its path) and, for what it
//! accepts, the redacted copy the hub keeps. Whatever the input: a resource or problems, never
//! a panic.

#![no_main]

use std::sync::OnceLock;

use concord_formats::fhir;
use concord_model::{Secret, phi::Pseudonymizer};
use libfuzzer_sys::fuzz_target;

fn pseudonyms() -> &'static Pseudonymizer {
    static P: OnceLock<Pseudonymizer> = OnceLock::new();
    P.get_or_init(|| Pseudonymizer::new(Secret::new("f".repeat(64))).expect("a long enough key"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    match fhir::read(&value) {
        Ok(resource) => {
            let kept = resource.redacted(pseudonyms());
            // What is kept reads back as a resource of the same kind.
            assert!(fhir::read(&kept).is_ok(), "the redacted copy does not read back: {kept}");
        }
        Err(problems) => assert!(!problems.is_empty(), "a refusal names its problems"),
    }
});
