//! The X12 engine against files: the repository's own samples (`tests/data`), round trips
//! through the writer, and — when `CONCORD_CORPORA` names the shared corpora folder — real files
//! from other projects' test suites.

mod common;

use common::{at, envelope, write_one};
use std::path::PathBuf;

use chrono::NaiveDate;
use concord_formats::x12::{
    self, Diagnostic, Document, Problem, Separators, Severity,
    ack::{AckCode, AckKind, FunctionalAck},
    sets::{Catalog, Invoice, LineAckStatus, PurchaseOrder, PurchaseOrderAck, ShipNotice},
    write::{self, Controls, SetBody, Version, WriteError},
};
use rust_decimal::Decimal;

fn sample(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn only_set<'d, 'a>(doc: &'d Document<'a>) -> &'d x12::TransactionSet<'a> {
    assert_eq!(doc.interchanges.len(), 1);
    assert_eq!(doc.interchanges[0].groups.len(), 1);
    assert_eq!(doc.interchanges[0].groups[0].sets.len(), 1);
    &doc.interchanges[0].groups[0].sets[0]
}

#[test]
fn our_purchase_order_sample_reads_with_its_lines_and_gtins() {
    let text = sample("po-850-004010.edi");
    let doc = x12::parse(&text);
    assert!(doc.diagnostics.is_empty(), "{:#?}", doc.diagnostics);
    let ic = &doc.interchanges[0];
    assert_eq!(
        (
            ic.sender_id(),
            ic.receiver_id(),
            ic.control_number(),
            ic.version()
        ),
        ("CONCORDHUB", "MEDSUPPLY", "000000101", "00401")
    );
    assert_eq!(
        ic.separators,
        Separators {
            component: b'>',
            ..Separators::common(false)
        }
    );
    let po = PurchaseOrder::read(only_set(&doc)).unwrap().value;
    assert_eq!(po.po_number, "PO-4500012345");
    assert_eq!(po.date, NaiveDate::from_ymd_opt(2026, 11, 21).unwrap());
    assert_eq!(po.requested_delivery, NaiveDate::from_ymd_opt(2026, 11, 28));
    assert_eq!(po.lines.len(), 3);
    assert_eq!(po.lines[1].quantity, dec("4"));
    assert_eq!(po.lines[1].unit_price, Some(dec("118")));
    assert_eq!(po.lines[2].gtin().unwrap().as_str(), "07612345000015");
    assert_eq!(
        po.lines[0].description.as_deref(),
        Some("NITRILE EXAM GLOVES M 100/BX")
    );
    assert_eq!(po.parties[0].id.as_deref(), Some("0614141000012"));
    assert_eq!(po.parties[0].city.as_deref(), Some("SPRINGFIELD"));
    assert_eq!(po.total(), dec("975.75"));
}

#[test]
fn a_catalog_reads_each_item_with_its_ids_pack_and_price_and_round_trips() {
    let text = sample("catalog-832-004010.edi");
    let doc = x12::parse(&text);
    assert!(doc.diagnostics.is_empty(), "{:#?}", doc.diagnostics);
    let catalog = Catalog::read(only_set(&doc)).unwrap().value;
    assert_eq!(catalog.number.as_deref(), Some("CAT-2026-11"));
    assert_eq!(catalog.items.len(), 2);
    let glove = &catalog.items[0];
    assert_eq!(glove.gtin().unwrap().as_str(), "00614141000012");
    assert_eq!(glove.id("VN"), Some("MS-GLV-M"));
    assert_eq!(
        glove.description.as_deref(),
        Some("NITRILE EXAM GLOVES M 100/BX")
    );
    assert_eq!(glove.pack.as_ref().map(|p| p.inner_units), Some(100));
    assert_eq!(
        (glove.price, glove.uom.as_deref()),
        (Some(dec("12.5")), Some("BX"))
    );
    assert_eq!(catalog.items[1].pack, None);
    // Written back and read again, it is the same catalog.
    let again = write_one(
        &catalog.to_set(),
        "SC",
        Version::V4010,
        Separators::common(false),
    );
    let reread = Catalog::read(only_set(&x12::parse(&again))).unwrap().value;
    assert_eq!(reread, catalog);
}

#[test]
fn a_catalog_line_without_an_item_or_with_a_bad_gtin_is_named() {
    let text = sample("catalog-832-004010.edi")
        .replace("LIN*2*UK*00614141000029*VN*MS-GAUZE-4~", "LIN*2~")
        .replace("UK*00614141000012", "UK*00614141000013");
    let errors = Catalog::read(only_set(&x12::parse(&text))).unwrap_err();
    let found: Vec<(u32, &str, Option<u16>)> = errors
        .iter()
        .map(|d| (d.segment, d.segment_id.as_str(), d.element))
        .collect();
    // Segments count from the file's ISA: the first LIN is the 5th, the second the 9th.
    assert!(found.contains(&(5, "LIN", Some(3))), "{found:?}");
    assert!(
        found.iter().any(|(s, id, _)| *s == 9 && *id == "LIN"),
        "{found:?}"
    );
}

#[test]
fn our_ack_sample_maps_each_line_status() {
    let text = sample("poack-855-005010.edi");
    let doc = x12::parse(&text);
    assert!(doc.diagnostics.is_empty(), "{:#?}", doc.diagnostics);
    assert_eq!(doc.interchanges[0].separators.repetition, Some(b'^'));
    let ack = PurchaseOrderAck::read(only_set(&doc)).unwrap().value;
    assert_eq!(ack.po_number, "PO-4500012345");
    assert_eq!(ack.seller_order.as_deref(), Some("SO-88123"));
    let statuses: Vec<Vec<LineAckStatus>> = ack
        .lines
        .iter()
        .map(|l| l.statuses.iter().map(|s| s.status).collect())
        .collect();
    assert_eq!(
        statuses,
        vec![
            vec![LineAckStatus::Accepted],
            vec![LineAckStatus::Accepted, LineAckStatus::Backordered],
            vec![LineAckStatus::PriceChanged],
        ]
    );
    assert_eq!(ack.lines[1].statuses[1].quantity, Some(dec("2")));
    assert_eq!(
        ack.lines[1].statuses[1].date,
        NaiveDate::from_ymd_opt(2026, 12, 9)
    );
    assert_eq!(ack.lines[2].po1.unit_price, Some(dec("3.4")));
}

#[test]
fn our_ship_notice_sample_carries_lots_and_expiry_per_po_line() {
    let text = sample("asn-856-004010.edi");
    let doc = x12::parse(&text);
    assert!(doc.diagnostics.is_empty(), "{:#?}", doc.diagnostics);
    let asn = ShipNotice::read(only_set(&doc)).unwrap().value;
    assert_eq!(asn.shipment_id, "SHP-55001");
    assert_eq!(asn.tracking.as_deref(), Some("1Z999AA10123456784"));
    assert_eq!(asn.expected_delivery, NaiveDate::from_ymd_opt(2026, 11, 26));
    assert_eq!(asn.orders.len(), 1);
    let items = &asn.orders[0].items;
    assert_eq!(asn.orders[0].po_number, "PO-4500012345");
    assert_eq!(items.len(), 3);
    assert_eq!(items[0].lot.as_deref(), Some("LOT-A7731"));
    assert_eq!(items[0].expiry, NaiveDate::from_ymd_opt(2028, 10, 31));
    assert_eq!(items[1].po_line.as_deref(), Some("2"));
    assert_eq!((items[1].quantity, items[1].uom.as_str()), (dec("2"), "CA"));
    assert_eq!(items[2].lot, None);
}

#[test]
fn our_invoice_sample_total_agrees_with_its_lines_and_freight() {
    let text = sample("invoice-810-004010.edi");
    let doc = x12::parse(&text);
    assert!(doc.diagnostics.is_empty(), "{:#?}", doc.diagnostics);
    let inv = Invoice::read(only_set(&doc)).unwrap().value;
    assert_eq!(inv.invoice_number, "INV-90017");
    assert_eq!(inv.po_number.as_deref(), Some("PO-4500012345"));
    assert_eq!(inv.total, dec("761.00"));
    assert_eq!(inv.charges.len(), 1);
    assert!(inv.charges[0].is_charge);
    assert_eq!(inv.charges[0].amount, dec("15.00"));
    assert_eq!(inv.computed_total(), inv.total);
}

fn find<'d>(doc: &'d Document<'_>, problem: Problem) -> &'d Diagnostic {
    doc.diagnostics
        .iter()
        .find(|d| d.problem == problem)
        .unwrap_or_else(|| panic!("no {problem:?} in {:#?}", doc.diagnostics))
}

#[test]
fn broken_envelopes_are_each_named_by_segment_and_element() {
    let text = sample("broken-envelopes.edi");
    let doc = x12::parse(&text);
    let d = find(&doc, Problem::SetControlMismatch);
    assert_eq!(
        (d.segment, d.segment_id.as_str(), d.element, d.set_position),
        (7, "SE", Some(2), Some(5))
    );
    let d = find(&doc, Problem::SegmentCountMismatch);
    assert_eq!(
        (d.segment, d.element, d.value.as_deref()),
        (7, Some(1), Some("9"))
    );
    let d = find(&doc, Problem::SeMissing);
    assert_eq!((d.segment, d.segment_id.as_str()), (12, "GE"));
    assert!(d.reason.contains("810 0002"), "{}", d.reason);
    let d = find(&doc, Problem::GroupControlMismatch);
    assert_eq!((d.segment, d.element), (12, Some(2)));
    let d = find(&doc, Problem::SetCountMismatch);
    assert_eq!((d.segment, d.element), (12, Some(1)));
    let d = find(&doc, Problem::InterchangeControlMismatch);
    assert_eq!((d.segment, d.element), (13, Some(2)));
    let d = find(&doc, Problem::GroupCountMismatch);
    assert_eq!((d.segment, d.element), (13, Some(1)));
    assert_eq!(doc.diagnostics.len(), 7, "{:#?}", doc.diagnostics);
    assert!(
        doc.diagnostics
            .iter()
            .all(|d| d.severity == Severity::Error)
    );
    // What is readable is still there: both sets, the second without its SE.
    let sets = &doc.interchanges[0].groups[0].sets;
    assert_eq!(sets.len(), 2);
    assert!(sets[0].complete && !sets[1].complete);
}

#[test]
fn typed_reader_errors_name_segment_position_and_element() {
    let text = sample("broken-envelopes.edi");
    let doc = x12::parse(&text);
    let set = &doc.interchanges[0].groups[0].sets[0];
    let errors = Invoice::read(set).unwrap_err();
    let qty = errors
        .iter()
        .find(|d| d.problem == Problem::InvalidNumber)
        .unwrap();
    assert_eq!(
        (
            qty.segment,
            qty.segment_id.as_str(),
            qty.set_position,
            qty.element,
            qty.value.as_deref()
        ),
        (5, "IT1", Some(3), Some(2), Some("1O"))
    );
    let gtin = errors
        .iter()
        .find(|d| d.problem == Problem::InvalidIdentifier)
        .unwrap();
    assert_eq!(
        (gtin.element, gtin.value.as_deref()),
        (Some(7), Some("10400000123453"))
    );
    assert!(gtin.reason.contains("check digit"), "{}", gtin.reason);
}

#[test]
fn a_997_for_broken_envelopes_rejects_with_the_standard_codes() {
    let text = sample("broken-envelopes.edi");
    let doc = x12::parse(&text);
    let group = &doc.interchanges[0].groups[0];
    let findings: Vec<Vec<Diagnostic>> = group
        .sets
        .iter()
        .map(|s| Invoice::read(s).err().unwrap_or_default())
        .collect();
    let ack = FunctionalAck::for_group(&doc, 0, 0, AckKind::Functional997, &findings).unwrap();
    assert_eq!(ack.status, AckCode::Rejected);
    assert_eq!(
        (ack.sets_included, ack.sets_received, ack.sets_accepted),
        (3, 2, 0)
    );
    assert_eq!(ack.group_errors, vec!["4", "5"]);
    assert_eq!(ack.sets[0].status, AckCode::Rejected);
    assert_eq!(ack.sets[0].set_errors, vec!["3", "4", "5"]);
    let it1 = &ack.sets[0].segment_errors[0];
    assert_eq!(
        (it1.segment_id.as_str(), it1.position, it1.code.as_str()),
        ("IT1", 3, "8")
    );
    let codes: Vec<(u16, &str)> = it1
        .elements
        .iter()
        .map(|e| (e.position, e.code.as_str()))
        .collect();
    assert_eq!(codes, vec![(2, "6"), (7, "7")]);
    assert_eq!(ack.sets[1].set_errors, vec!["2"]);

    // Written and read back, it says the same.
    let written = write_one(
        &ack.to_set(),
        "FA",
        Version::V4010,
        Separators::common(false),
    );
    let back = x12::parse(&written);
    assert!(back.diagnostics.is_empty(), "{:#?}", back.diagnostics);
    assert!(written.contains("AK3*IT1*3**8~"), "{written}");
    assert!(written.contains("AK4*2**6*1O~"), "{written}");
    assert_eq!(FunctionalAck::read(only_set(&back)).unwrap(), ack);
}

#[test]
fn a_999_for_a_clean_group_accepts_and_round_trips() {
    let text = sample("poack-855-005010.edi");
    let doc = x12::parse(&text);
    let ack = FunctionalAck::for_group(&doc, 0, 0, AckKind::Implementation999, &[]).unwrap();
    assert_eq!(ack.status, AckCode::Accepted);
    assert_eq!(
        (ack.sets_included, ack.sets_received, ack.sets_accepted),
        (1, 1, 1)
    );
    assert_eq!(ack.version.as_deref(), Some("005010"));
    let written = write_one(
        &ack.to_set(),
        "FA",
        Version::V5010,
        Separators::common(true),
    );
    assert!(written.contains("ST*999*0001*005010X231A1~"), "{written}");
    assert!(written.contains("IK5*A~"), "{written}");
    let back = x12::parse(&written);
    assert!(back.diagnostics.is_empty(), "{:#?}", back.diagnostics);
    assert_eq!(FunctionalAck::read(only_set(&back)).unwrap(), ack);
}

#[test]
fn typed_sets_round_trip_through_the_writer_in_both_versions_and_odd_separators() {
    let samples = [
        ("po-850-004010.edi", "PO"),
        ("poack-855-005010.edi", "PR"),
        ("asn-856-004010.edi", "SH"),
        ("invoice-810-004010.edi", "IN"),
    ];
    let odd = Separators {
        element: b'|',
        component: b'\\',
        segment: b'\n',
        repetition: Some(b'!'),
    };
    for (name, functional_id) in samples {
        let text = sample(name);
        let doc = x12::parse(&text);
        let set = only_set(&doc);
        for version in [Version::V4010, Version::V5010] {
            for seps in [Separators::common(true), odd] {
                let check = |written: &str| {
                    let back = x12::parse(written);
                    assert!(
                        back.diagnostics.is_empty(),
                        "{name}: {:#?}\n{written}",
                        back.diagnostics
                    );
                    assert_eq!(back.interchanges[0].separators.element, seps.element);
                    only_set(&back).segments.len()
                };
                let n = match set.id() {
                    "850" => {
                        let v = PurchaseOrder::read(set).unwrap().value;
                        let w = write_one(&v.to_set(), functional_id, version, seps);
                        assert_eq!(
                            PurchaseOrder::read(only_set(&x12::parse(&w)))
                                .unwrap()
                                .value,
                            v
                        );
                        check(&w)
                    }
                    "855" => {
                        let v = PurchaseOrderAck::read(set).unwrap().value;
                        let w = write_one(&v.to_set(), functional_id, version, seps);
                        assert_eq!(
                            PurchaseOrderAck::read(only_set(&x12::parse(&w)))
                                .unwrap()
                                .value,
                            v
                        );
                        check(&w)
                    }
                    "856" => {
                        let v = ShipNotice::read(set).unwrap().value;
                        let w = write_one(&v.to_set(), functional_id, version, seps);
                        assert_eq!(
                            ShipNotice::read(only_set(&x12::parse(&w))).unwrap().value,
                            v
                        );
                        check(&w)
                    }
                    "810" => {
                        let v = Invoice::read(set).unwrap().value;
                        let w = write_one(&v.to_set(), functional_id, version, seps);
                        assert_eq!(Invoice::read(only_set(&x12::parse(&w))).unwrap().value, v);
                        check(&w)
                    }
                    other => panic!("unexpected {other}"),
                };
                assert!(n > 3);
            }
        }
    }
}

#[test]
fn the_writer_fills_the_envelope_for_the_partner() {
    let text = sample("po-850-004010.edi");
    let po = PurchaseOrder::read(only_set(&x12::parse(&text)))
        .unwrap()
        .value;
    let w = write_one(&po.to_set(), "PO", Version::V5010, Separators::common(true));
    let first = w.lines().next().unwrap();
    assert_eq!(first.len(), 106, "{first}");
    assert_eq!(
        first,
        "ISA*00*          *00*          *ZZ*CONCORDHUB     *ZZ*MEDSUPPLY      *261121*0930*^*00501*000000042*0*T*:~"
    );
    let doc = x12::parse(&w);
    let group = &doc.interchanges[0].groups[0];
    assert_eq!(
        (
            group.control_number(),
            group.version(),
            group.functional_id()
        ),
        ("7", "005010", "PO")
    );
    assert!(w.ends_with("GE*1*7~\nIEA*1*000000042~\n"), "{w}");
}

/// What the writer refuses for `env` with `interchange` as ISA13 (850s in group 1).
fn refused(env: &write::Envelope, interchange: u32, sets: &[SetBody]) -> WriteError {
    write::interchange(
        env,
        Controls {
            interchange,
            group: 1,
        },
        "PO",
        sets,
        at(),
    )
    .unwrap_err()
}

/// An empty 850 body: enough for the envelope's own checks.
fn empty_850() -> SetBody {
    SetBody {
        id: "850".into(),
        implementation_reference: None,
        segments: vec![],
    }
}

#[test]
fn the_writer_refuses_data_holding_a_separator_and_names_where() {
    let text = sample("po-850-004010.edi");
    let mut po = PurchaseOrder::read(only_set(&x12::parse(&text)))
        .unwrap()
        .value;
    po.lines[1].description = Some("KIT ~ 20G".into());
    let err = refused(
        &envelope(Version::V4010, Separators::common(false)),
        1,
        &[po.to_set()],
    );
    match &err {
        WriteError::SeparatorInData {
            segment,
            element,
            separator,
            ..
        } => assert_eq!((segment.as_str(), *element, *separator), ("PID", 5, '~')),
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("PID05"), "{err}");
}

#[test]
fn control_numbers_outside_the_nine_digits_are_refused() {
    for interchange in [0, 1_000_000_000] {
        let err = refused(
            &envelope(Version::V4010, Separators::common(false)),
            interchange,
            &[empty_850()],
        );
        assert!(
            matches!(
                err,
                WriteError::Envelope {
                    field: "interchange control number",
                    ..
                }
            ),
            "{err}"
        );
    }
}

#[test]
fn isa_ids_holding_a_separator_or_non_ascii_are_refused() {
    for id in ["ACME*1", "ACMÉ"] {
        let mut env = envelope(Version::V4010, Separators::common(false));
        env.receiver.id = id.into();
        let err = refused(&env, 1, &[empty_850()]);
        assert!(
            matches!(
                err,
                WriteError::Envelope {
                    field: "receiver",
                    ..
                }
            ),
            "{id}: {err}"
        );
    }
}

#[test]
fn separators_come_from_each_interchange_and_line_breaks_are_tolerated() {
    let text = sample("po-850-004010.edi");
    // The same interchange with other separators and CRLF after each terminator, twice in a file.
    let other = text
        .replace('*', "|")
        .replace('>', "^")
        .replace("~\n", "'\r\n")
        .replace("000000101", "000000102");
    let both = format!("{text}{other}");
    let doc = x12::parse(&both);
    assert!(doc.diagnostics.is_empty(), "{:#?}", doc.diagnostics);
    assert_eq!(doc.interchanges.len(), 2);
    assert_eq!(doc.interchanges[1].separators.element, b'|');
    assert_eq!(doc.interchanges[1].separators.segment, b'\'');
    let a = PurchaseOrder::read(&doc.interchanges[0].groups[0].sets[0])
        .unwrap()
        .value;
    let b = PurchaseOrder::read(&doc.interchanges[1].groups[0].sets[0])
        .unwrap()
        .value;
    assert_eq!(a, b);
    // Segment numbers run on through the file.
    assert_eq!(doc.interchanges[1].isa.number, 22);
}

#[test]
fn problems_outside_envelopes_are_reported_not_fatal() {
    let text = sample("po-850-004010.edi");
    // Junk before the ISA, a trimmed (non fixed-width) ISA, and no terminator on the last segment.
    let trimmed = text.replacen("CONCORDHUB     ", "CONCORDHUB", 1);
    let input = format!("HELLO\n{}", trimmed.trim_end().trim_end_matches('~'));
    let doc = x12::parse(&input);
    let problems: Vec<Problem> = doc.diagnostics.iter().map(|d| d.problem).collect();
    assert_eq!(
        problems,
        vec![
            Problem::DataOutsideInterchange,
            Problem::InvalidIsa,
            Problem::UnterminatedSegment
        ]
    );
    assert_eq!(doc.diagnostics[1].severity, Severity::Warning);
    assert_eq!(doc.diagnostics[2].segment, 21);
    let po = PurchaseOrder::read(only_set(&doc)).unwrap().value;
    assert_eq!(po.lines.len(), 3);
}

#[test]
fn bytes_that_are_not_utf8_are_reported_with_their_segment() {
    let text = sample("po-850-004010.edi");
    let mut bytes = text.into_bytes();
    let at = bytes.windows(7).position(|w| w == b"SYRINGE").unwrap();
    bytes[at] = 0xE9;
    let (decoded, problem) = x12::parse_bytes(&bytes);
    let problem = problem.unwrap();
    assert_eq!(
        (problem.problem, problem.segment),
        (Problem::InvalidEncoding, 17)
    );
    assert!(x12::parse(&decoded).diagnostics.is_empty());
}

#[test]
fn segments_outside_a_set_and_sets_outside_a_group_are_unexpected() {
    let input = "ISA*00*          *00*          *ZZ*A              *ZZ*B              *261121*0930*U*00401*000000001*0*P*>~\
                 REF*XX*1~ST*850*0001~BEG*00*NE*1**20261121~SE*3*0001~GS*PO*A*B*20261121*0930*1*X*004010~GE*0*1~IEA*1*000000001~";
    let doc = x12::parse(input);
    let unexpected: Vec<(u32, &str)> = doc
        .diagnostics
        .iter()
        .filter(|d| d.problem == Problem::UnexpectedSegment)
        .map(|d| (d.segment, d.segment_id.as_str()))
        .collect();
    assert_eq!(unexpected, vec![(2, "REF"), (3, "ST")]);
    assert_eq!(doc.diagnostics.len(), 2, "{:#?}", doc.diagnostics);
}

// ---- real files from other projects (CONCORD_CORPORA) ------------------------------------------

fn corpus(name: &str) -> Option<String> {
    let root = std::env::var_os("CONCORD_CORPORA").filter(|r| !r.is_empty())?;
    let path = PathBuf::from(root).join("x12").join(name);
    Some(std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

#[test]
fn corpus_files_parse_with_the_diagnostics_they_deserve() {
    /// (segment, problem, element) of each diagnostic a file deserves.
    type Expected = &'static [(u32, Problem, Option<u16>)];
    let expected: &[(&str, Expected)] = &[
        ("node-x12/850.edi", &[]),
        ("node-x12/850_2.edi", &[]),
        ("node-x12/850_fat.edi", &[]),
        ("node-x12/855.edi", &[]),
        ("staedi/simple810.edi", &[]),
        ("staedi/simple997.edi", &[]),
        ("staedi/simple999.edi", &[]),
        ("staedi/simple997-multiple-interchanges.edi", &[]),
        ("staedi/empty997.edi", &[]),
        (
            "staedi/invalid997_min.edi",
            &[
                (2, Problem::InvalidDate, Some(4)),
                (2, Problem::InvalidTime, Some(5)),
                (7, Problem::GroupControlMismatch, Some(2)),
            ],
        ),
        // Its second group carries a 6-digit (pre-004010) GS04 date.
        (
            "staedi/invoice810_po850_dual.edi",
            &[(58, Problem::InvalidDate, Some(4))],
        ),
    ];
    // Without CONCORD_CORPORA there is nothing to read; with it, a missing file panics.
    if corpus(expected[0].0).is_none() {
        return;
    }
    for (name, want) in expected {
        let text = corpus(name).expect("CONCORD_CORPORA is set");
        let doc = x12::parse(&text);
        let got: Vec<(u32, Problem, Option<u16>)> = doc
            .diagnostics
            .iter()
            .map(|d| (d.segment, d.problem, d.element))
            .collect();
        assert_eq!(&got, want, "{name}");
        assert!(!doc.interchanges.is_empty(), "{name}");
    }
}

#[test]
fn corpus_transaction_sets_read_into_typed_documents() {
    let Some(text) = corpus("node-x12/850.edi") else {
        return;
    };
    let doc = x12::parse(&text);
    let po = PurchaseOrder::read(only_set(&doc)).unwrap().value;
    assert_eq!(po.po_number, "08292233294");
    assert_eq!(po.lines[0].quantity, dec("120"));
    assert_eq!(po.lines[0].unit_price, Some(dec("9.25")));
    assert_eq!(po.lines[0].description.as_deref(), Some("SMALL WIDGET"));

    let text = corpus("node-x12/855.edi").unwrap();
    let ack = PurchaseOrderAck::read(only_set(&x12::parse(&text)))
        .unwrap()
        .value;
    assert_eq!(ack.po_number, "POTEST1112");
    assert_eq!(ack.lines[0].statuses[0].status, LineAckStatus::Accepted);
    assert!(ack.lines.iter().any(|l| {
        l.statuses
            .iter()
            .any(|s| s.status == LineAckStatus::Rejected)
    }));
    // ISBNs are GTIN-13s under qualifier EN, and their check digits hold.
    assert_eq!(ack.lines[0].po1.item_ids[0].qualifier, "EN");

    // simple810's second invoice has a TDS that is not what its lines add up to.
    let text = corpus("staedi/simple810.edi").unwrap();
    let doc = x12::parse(&text);
    let invoices: Vec<Invoice> = doc.interchanges[0].groups[0]
        .sets
        .iter()
        .map(|s| Invoice::read(s).unwrap().value)
        .collect();
    assert_eq!(invoices.len(), 2);
    assert_ne!(invoices[1].computed_total(), invoices[1].total);

    for name in ["staedi/simple997.edi", "staedi/simple999.edi"] {
        let text = corpus(name).unwrap();
        let doc = x12::parse(&text);
        let ack = FunctionalAck::read(&doc.interchanges[0].groups[0].sets[0]).unwrap();
        assert!(!ack.group_control_number.is_empty(), "{name}");
        assert!(ack.sets_received >= 1, "{name}: {ack:?}");
    }
}
