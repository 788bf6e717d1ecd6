//! The GS1 element-string reader (UDI barcodes: (01) GTIN, (17) expiry, (10) lot, (21)
//! serial…) on arbitrary text, bracketed or with FNC1 separators: a barcode or its errors, each
//! with its path, never a panic.

#![no_main]

use concord_model::gs1::parse_gs1;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Err(errors) = parse_gs1(&text) {
        assert!(!errors.is_empty(), "a refusal names its errors");
    }
});
