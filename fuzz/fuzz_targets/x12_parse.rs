//! The X12 engine on arbitrary bytes: decode, parse with envelope checks, every typed reader on
//! every set (850, 855, 856, 810, 832, 997/999), and the 999 for every group. Whatever the input, the answer is a document with
//! diagnostics; never a panic. (The same property runs in every test run with proptest:
//! `crates/concord-formats/tests/x12_props.rs`.)

#![no_main]

use concord_formats::x12::{
    self, Diagnostic,
    ack::{AckKind, FunctionalAck},
    sets::{Catalog, Invoice, PurchaseOrder, PurchaseOrderAck, ShipNotice},
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (text, _) = x12::parse_bytes(data);
    let doc = x12::parse(&text);
    for (i, interchange) in doc.interchanges.iter().enumerate() {
        for (g, group) in interchange.groups.iter().enumerate() {
            let findings: Vec<Vec<Diagnostic>> = group
                .sets
                .iter()
                .map(|set| {
                    let _ = PurchaseOrder::read(set);
                    let _ = PurchaseOrderAck::read(set);
                    let _ = ShipNotice::read(set);
                    let _ = Catalog::read(set);
                    let _ = FunctionalAck::read(set);
                    Invoice::read(set).err().unwrap_or_default()
                })
                .collect();
            let ack = FunctionalAck::for_group(&doc, i, g, AckKind::Implementation999, &findings)
                .expect("the group exists");
            let _ = ack.to_set();
        }
    }
});
