//! Properties of the X12 engine: no input makes it panic, every diagnostic points inside the
//! file, acknowledgements of anything re-parse cleanly, and typed documents survive the writer.

use chrono::NaiveDate;
use concord_formats::x12::{
    self, Diagnostic, Separators,
    ack::{AckKind, FunctionalAck},
    sets::{
        Charge, Invoice, InvoiceLine, ItemId, PoLine, PurchaseOrder, PurchaseOrderAck, ShipNotice,
    },
    write::{SetBody, Version},
};
mod common;

use proptest::prelude::*;
use rust_decimal::Decimal;

const SAMPLES: [&str; 5] = [
    include_str!("data/po-850-004010.edi"),
    include_str!("data/poack-855-005010.edi"),
    include_str!("data/asn-856-004010.edi"),
    include_str!("data/invoice-810-004010.edi"),
    include_str!("data/broken-envelopes.edi"),
];

/// One set in an interchange of its own, with the usual separators of `version`.
fn write_props(set: SetBody, functional_id: &str, version: Version) -> String {
    common::write_one(
        &set,
        functional_id,
        version,
        Separators::common(version == Version::V5010),
    )
}

/// Everything the engine does with a file, none of which may panic.
fn exercise(input: &str) {
    let doc = x12::parse(input);
    let segments = x12::Lexer::new(input).count();
    for d in &doc.diagnostics {
        assert!((d.segment as usize) <= segments + 1, "{d}");
        assert!(!d.reason.is_empty());
    }
    for (i, ic) in doc.interchanges.iter().enumerate() {
        for (g, group) in ic.groups.iter().enumerate() {
            let findings: Vec<Vec<Diagnostic>> = group
                .sets
                .iter()
                .map(|s| {
                    let _ = PurchaseOrder::read(s);
                    let _ = PurchaseOrderAck::read(s);
                    let _ = ShipNotice::read(s);
                    let _ = FunctionalAck::read(s);
                    Invoice::read(s).err().unwrap_or_default()
                })
                .collect();
            let ack =
                FunctionalAck::for_group(&doc, i, g, AckKind::Functional997, &findings).unwrap();
            // What we send back about any input is itself clean X12 (if the partner's group
            // control number can be echoed at all).
            if ack
                .group_control_number
                .bytes()
                .all(|b| b.is_ascii_alphanumeric())
                && !ack.group_control_number.is_empty()
                && ack.functional_id.bytes().all(|b| b.is_ascii_alphanumeric())
                && ack.sets.iter().all(|s| {
                    s.set_id.bytes().all(|b| b.is_ascii_alphanumeric())
                        && s.control_number.bytes().all(|b| b.is_ascii_alphanumeric())
                        && s.segment_errors
                            .iter()
                            .all(|e| e.segment_id.bytes().all(|b| b.is_ascii_alphanumeric()))
                })
            {
                let written = write_props(ack.to_set(), "FA", Version::V4010);
                let back = x12::parse(&written);
                assert!(
                    back.diagnostics.is_empty(),
                    "{:#?}\n{written}",
                    back.diagnostics
                );
                assert_eq!(
                    FunctionalAck::read(&back.interchanges[0].groups[0].sets[0]).unwrap(),
                    ack
                );
            }
        }
    }
}

#[derive(Debug, Clone)]
enum Edit {
    Insert(usize, u8),
    Delete(usize),
    Replace(usize, u8),
}

fn edit() -> impl Strategy<Value = Edit> {
    let byte = prop::sample::select(b"*~:>^|\n\r0123456789ABCDEFGHISTUVXYZ -.\x00".to_vec());
    prop_oneof![
        (any::<usize>(), byte.clone()).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<usize>().prop_map(Edit::Delete),
        (any::<usize>(), byte).prop_map(|(i, b)| Edit::Replace(i, b)),
    ]
}

fn gtin() -> impl Strategy<Value = String> {
    "[0-9]{13}".prop_map(|body| {
        let check = concord_model::ids::gs1_check_digit(body.as_bytes());
        format!("{body}{check}")
    })
}

fn amount(max: i64, scale: u32) -> impl Strategy<Value = Decimal> {
    (1..max).prop_map(move |n| Decimal::new(n, scale).normalize())
}

fn text() -> impl Strategy<Value = String> {
    "[A-Z0-9][A-Z0-9 ,./-]{0,30}[A-Z0-9]"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn arbitrary_text_never_panics(input in ".{0,400}") {
        exercise(&input);
        exercise(&format!("ISA{input}"));
    }

    #[test]
    fn edited_samples_never_panic(sample in 0..SAMPLES.len(), edits in prop::collection::vec(edit(), 1..8)) {
        let mut bytes = SAMPLES[sample].as_bytes().to_vec();
        for e in edits {
            match e {
                Edit::Insert(i, b) => { let i = i % (bytes.len() + 1); bytes.insert(i, b) }
                Edit::Delete(i) if !bytes.is_empty() => { let i = i % bytes.len(); bytes.remove(i); }
                Edit::Replace(i, b) if !bytes.is_empty() => { let i = i % bytes.len(); bytes[i] = b }
                _ => {}
            }
        }
        let (text, _) = x12::parse_bytes(&bytes);
        exercise(&text);
    }

    #[test]
    fn purchase_orders_survive_the_writer(
        po_number in "[A-Z0-9-]{1,22}",
        lines in prop::collection::vec((amount(100_000, 2), amount(10_000_000, 4), gtin(), prop::option::of(text())), 1..30),
        version in prop_oneof![Just(Version::V4010), Just(Version::V5010)],
    ) {
        let po = PurchaseOrder {
            purpose: "00".into(),
            order_type: "NE".into(),
            po_number,
            date: NaiveDate::from_ymd_opt(2026, 11, 21).unwrap(),
            currency: Some("USD".into()),
            requested_delivery: None,
            references: vec![],
            parties: vec![],
            lines: lines.into_iter().enumerate().map(|(i, (quantity, price, gtin, description))| PoLine {
                line: (i + 1).to_string(),
                quantity,
                uom: "EA".into(),
                unit_price: Some(price),
                price_basis: Some("PE".into()),
                item_ids: vec![ItemId::new("UK", &gtin)],
                description,
            }).collect(),
        };
        let written = write_props(po.to_set(), "PO", version);
        let doc = x12::parse(&written);
        prop_assert!(doc.diagnostics.is_empty(), "{:#?}", doc.diagnostics);
        let back = PurchaseOrder::read(&doc.interchanges[0].groups[0].sets[0]).unwrap().value;
        prop_assert_eq!(back, po);
    }

    #[test]
    fn invoice_totals_survive_the_two_implied_decimals(
        lines in prop::collection::vec((amount(100_000, 0), amount(1_000_000, 2)), 1..20),
        freight in prop::option::of(amount(100_000, 2)),
    ) {
        let mut inv = Invoice {
            invoice_number: "INV-1".into(),
            date: NaiveDate::from_ymd_opt(2026, 11, 21).unwrap(),
            po_number: Some("PO-1".into()),
            po_date: None,
            currency: None,
            parties: vec![],
            lines: lines.into_iter().enumerate().map(|(i, (quantity, unit_price))| InvoiceLine {
                line: Some((i + 1).to_string()),
                quantity,
                uom: "EA".into(),
                unit_price,
                item_ids: vec![],
                description: None,
            }).collect(),
            charges: freight.map(|amount| Charge { is_charge: true, code: "D240".into(), amount }).into_iter().collect(),
            total: Decimal::ZERO,
        };
        inv.total = inv.computed_total();
        let written = write_props(inv.to_set(), "IN", Version::V4010);
        let doc = x12::parse(&written);
        let back = Invoice::read(&doc.interchanges[0].groups[0].sets[0]).unwrap().value;
        prop_assert_eq!(back.total, inv.total);
        prop_assert_eq!(back.computed_total(), inv.total);
        prop_assert_eq!(back.charges, inv.charges);
    }
}
