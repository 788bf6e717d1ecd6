//! Three-way match: an invoice is paid only when it agrees with what was ordered (the PO) and
//! what arrived (the receipts), line by line, within the tolerances agreed with the supplier.
//! Service lines have nothing to receive and are matched two ways (PO ↔ invoice).
//!
//! Pure: the caller gathers the PO, the receipts and the supplier's earlier invoices; the match
//! returns every exception at once, typed, so each becomes a workable item in the exception
//! workbench instead of a vague "invoice on hold".

use std::collections::HashMap;

use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How far an invoice may stray before it is held. A price variance is tolerated only when it
/// is within **both** the percentage and the absolute amount per unit (a 2 % tolerance must not
/// let a $40,000 implant through $800 over contract).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Tolerances {
    /// Invoiced quantity may exceed received quantity by this percentage.
    pub quantity_pct: Decimal,
    /// Unit price may exceed the PO price by this percentage…
    pub price_pct: Decimal,
    /// …and by at most this amount per unit.
    pub price_abs: Decimal,
    /// The invoice total (TDS) may differ from its lines plus charges by this amount.
    pub total_abs: Decimal,
}

impl Default for Tolerances {
    fn default() -> Self {
        Self {
            quantity_pct: Decimal::ZERO,
            price_pct: Decimal::new(2, 0),
            price_abs: Decimal::new(500, 2),
            total_abs: Decimal::new(1, 2),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderedLine {
    /// The PO line number (PO101), which receipts and invoices refer back to.
    pub line: String,
    /// The item's GTIN, used when an invoice line has no PO line number.
    pub gtin: Option<String>,
    pub quantity: Decimal,
    pub uom: String,
    pub unit_price: Decimal,
    /// A service line: nothing is received, so it is matched two ways.
    #[serde(default)]
    pub service: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReceivedLine {
    pub po_line: String,
    pub quantity: Decimal,
    pub uom: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InvoicedLine {
    /// IT101, when the supplier sends it.
    pub po_line: Option<String>,
    pub gtin: Option<String>,
    pub quantity: Decimal,
    pub uom: String,
    pub unit_price: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InvoiceToMatch {
    pub supplier: String,
    pub invoice_number: String,
    pub lines: Vec<InvoicedLine>,
    /// Net charges (freight and surcharges minus allowances).
    pub charges: Decimal,
    /// The total the supplier states (TDS).
    pub total: Decimal,
}

/// An invoice of the same supplier already matched against this PO (for duplicates and for
/// quantities billed twice across invoices).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EarlierInvoice {
    pub invoice_number: String,
    /// Quantity billed per PO line.
    pub billed: Vec<(String, Decimal)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MatchExceptionKind {
    PriceVariance,
    QuantityOverReceived,
    NoReceipt,
    ItemNotOnPo,
    UomMismatch,
    DuplicateInvoice,
    TotalMismatch,
    UnknownPo,
}

impl MatchExceptionKind {
    pub const ALL: [MatchExceptionKind; 8] = [
        Self::PriceVariance,
        Self::QuantityOverReceived,
        Self::NoReceipt,
        Self::ItemNotOnPo,
        Self::UomMismatch,
        Self::DuplicateInvoice,
        Self::TotalMismatch,
        Self::UnknownPo,
    ];

    /// The name used in JSON and in exception kinds (`price_variance`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PriceVariance => "price_variance",
            Self::QuantityOverReceived => "quantity_over_received",
            Self::NoReceipt => "no_receipt",
            Self::ItemNotOnPo => "item_not_on_po",
            Self::UomMismatch => "uom_mismatch",
            Self::DuplicateInvoice => "duplicate_invoice",
            Self::TotalMismatch => "total_mismatch",
            Self::UnknownPo => "unknown_po",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MatchException {
    pub kind: MatchExceptionKind,
    /// The invoice line (1-based), when the exception is about one.
    pub invoice_line: Option<usize>,
    pub po_line: Option<String>,
    /// What the PO or the receipts say…
    pub expected: Option<Decimal>,
    /// …and what the invoice says.
    pub actual: Option<Decimal>,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MatchOutcome {
    pub exceptions: Vec<MatchException>,
    /// What may be paid if the exceptions are all resolved by accepting the invoice: its total.
    pub invoice_total: Decimal,
}

impl MatchOutcome {
    pub fn matched(&self) -> bool {
        self.exceptions.is_empty()
    }

    pub fn kinds(&self) -> Vec<MatchExceptionKind> {
        self.exceptions.iter().map(|e| e.kind).collect()
    }
}

/// Match `invoice` against the PO lines (`None`: the PO is not known), the receipts so far and
/// the supplier's earlier invoices on the same PO.
pub fn three_way_match(
    po: Option<&[OrderedLine]>,
    receipts: &[ReceivedLine],
    invoice: &InvoiceToMatch,
    earlier: &[EarlierInvoice],
    tolerances: &Tolerances,
) -> MatchOutcome {
    let mut exceptions = Vec::new();
    let done = |exceptions: Vec<MatchException>| MatchOutcome {
        exceptions,
        invoice_total: invoice.total,
    };
    let Some(po) = po else {
        exceptions.push(MatchException {
            kind: MatchExceptionKind::UnknownPo,
            invoice_line: None,
            po_line: None,
            expected: None,
            actual: Some(invoice.total),
            detail: "the invoice names no PO the hub knows".into(),
        });
        return done(exceptions);
    };
    if earlier
        .iter()
        .any(|e| e.invoice_number == invoice.invoice_number)
    {
        exceptions.push(MatchException {
            kind: MatchExceptionKind::DuplicateInvoice,
            invoice_line: None,
            po_line: None,
            expected: None,
            actual: Some(invoice.total),
            detail: format!(
                "invoice {} from {} was already received for this PO",
                invoice.invoice_number, invoice.supplier
            ),
        });
        return done(exceptions);
    }
    let computed: Decimal = invoice
        .lines
        .iter()
        .map(|l| l.quantity * l.unit_price)
        .sum::<Decimal>()
        + invoice.charges;
    let computed = computed.round_dp(2);
    if (invoice.total - computed).abs() > tolerances.total_abs {
        exceptions.push(MatchException {
            kind: MatchExceptionKind::TotalMismatch,
            invoice_line: None,
            po_line: None,
            expected: Some(computed),
            actual: Some(invoice.total),
            detail: format!(
                "the stated total {} is not the lines plus charges {computed}",
                invoice.total
            ),
        });
    }
    let mut received: HashMap<&str, Decimal> = HashMap::new();
    for r in receipts {
        *received.entry(r.po_line.as_str()).or_default() += r.quantity;
    }
    let mut billed: HashMap<&str, Decimal> = HashMap::new();
    for e in earlier {
        for (line, q) in &e.billed {
            *billed.entry(line.as_str()).or_default() += *q;
        }
    }
    let hundred = Decimal::ONE_HUNDRED;
    for (i, inv) in invoice.lines.iter().enumerate() {
        let n = i + 1;
        let ordered = match &inv.po_line {
            Some(line) => po.iter().find(|o| &o.line == line),
            None => inv
                .gtin
                .as_ref()
                .and_then(|g| po.iter().find(|o| o.gtin.as_ref() == Some(g))),
        };
        let Some(ordered) = ordered else {
            exceptions.push(MatchException {
                kind: MatchExceptionKind::ItemNotOnPo,
                invoice_line: Some(n),
                po_line: inv.po_line.clone(),
                expected: None,
                actual: Some(inv.quantity),
                detail: format!(
                    "invoice line {n} ({}) is not on the PO",
                    inv.gtin
                        .as_deref()
                        .or(inv.po_line.as_deref())
                        .unwrap_or("no item id")
                ),
            });
            continue;
        };
        // `figures`: what the PO or receipts say and what the invoice says, when there are any.
        let exception =
            |kind, figures: Option<(Decimal, Decimal)>, detail: String| MatchException {
                kind,
                invoice_line: Some(n),
                po_line: Some(ordered.line.clone()),
                expected: figures.map(|f| f.0),
                actual: figures.map(|f| f.1),
                detail,
            };
        if inv.uom != ordered.uom {
            exceptions.push(exception(
                MatchExceptionKind::UomMismatch,
                None,
                format!(
                    "invoice line {n} bills in {} but PO line {} was ordered in {}",
                    inv.uom, ordered.line, ordered.uom
                ),
            ));
            continue;
        }
        let over = inv.unit_price - ordered.unit_price;
        if over > Decimal::ZERO
            && (over > ordered.unit_price * tolerances.price_pct / hundred
                || over > tolerances.price_abs)
        {
            exceptions.push(exception(
                MatchExceptionKind::PriceVariance,
                Some((ordered.unit_price, inv.unit_price)),
                format!(
                    "invoice line {n} bills {} per {} against {} on the PO (+{over})",
                    inv.unit_price, inv.uom, ordered.unit_price
                ),
            ));
        }
        let billed_so_far = billed
            .get(ordered.line.as_str())
            .copied()
            .unwrap_or_default();
        let total_billed = billed_so_far + inv.quantity;
        let allowance = Decimal::ONE + tolerances.quantity_pct / hundred;
        if ordered.service {
            if total_billed > ordered.quantity * allowance {
                exceptions.push(exception(
                    MatchExceptionKind::QuantityOverReceived,
                    Some((ordered.quantity, total_billed)),
                    format!(
                        "service line {}: {total_billed} billed against {} ordered (two-way match)",
                        ordered.line, ordered.quantity
                    ),
                ));
            }
            continue;
        }
        let got = received
            .get(ordered.line.as_str())
            .copied()
            .unwrap_or_default();
        if let Some(r) = receipts
            .iter()
            .find(|r| r.po_line == ordered.line && r.uom != ordered.uom)
        {
            exceptions.push(exception(
                MatchExceptionKind::UomMismatch,
                None,
                format!(
                    "PO line {} was received in {} but ordered in {}",
                    ordered.line, r.uom, ordered.uom
                ),
            ));
        } else if got.is_zero() {
            exceptions.push(exception(
                MatchExceptionKind::NoReceipt,
                Some((Decimal::ZERO, inv.quantity)),
                format!("nothing has been received on PO line {} yet", ordered.line),
            ));
        } else if total_billed > got * allowance {
            exceptions.push(exception(
                MatchExceptionKind::QuantityOverReceived,
                Some((got, total_billed)),
                format!(
                    "PO line {}: {total_billed} billed ({billed_so_far} on earlier invoices) but {got} received",
                    ordered.line
                ),
            ));
        }
    }
    done(exceptions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn po() -> Vec<OrderedLine> {
        vec![
            OrderedLine {
                line: "1".into(),
                gtin: Some("10400000123452".into()),
                quantity: d("10"),
                uom: "BX".into(),
                unit_price: d("42.50"),
                service: false,
            },
            OrderedLine {
                line: "2".into(),
                gtin: Some("10400000123469".into()),
                quantity: d("4"),
                uom: "CA".into(),
                unit_price: d("118.00"),
                service: false,
            },
            OrderedLine {
                line: "3".into(),
                gtin: None,
                quantity: d("1"),
                uom: "EA".into(),
                unit_price: d("250.00"),
                service: true,
            },
        ]
    }

    fn full_receipts(po: &[OrderedLine]) -> Vec<ReceivedLine> {
        po.iter()
            .filter(|l| !l.service)
            .map(|l| ReceivedLine {
                po_line: l.line.clone(),
                quantity: l.quantity,
                uom: l.uom.clone(),
            })
            .collect()
    }

    /// The invoice a well-behaved supplier sends: every line as ordered.
    fn invoice_for(po: &[OrderedLine]) -> InvoiceToMatch {
        let lines: Vec<InvoicedLine> = po
            .iter()
            .map(|l| InvoicedLine {
                po_line: Some(l.line.clone()),
                gtin: l.gtin.clone(),
                quantity: l.quantity,
                uom: l.uom.clone(),
                unit_price: l.unit_price,
            })
            .collect();
        let total = lines
            .iter()
            .map(|l| l.quantity * l.unit_price)
            .sum::<Decimal>()
            .round_dp(2);
        InvoiceToMatch {
            supplier: "SUP-001".into(),
            invoice_number: "INV-1".into(),
            lines,
            charges: Decimal::ZERO,
            total,
        }
    }

    fn run(
        po: &[OrderedLine],
        receipts: &[ReceivedLine],
        invoice: &InvoiceToMatch,
    ) -> MatchOutcome {
        three_way_match(Some(po), receipts, invoice, &[], &Tolerances::default())
    }

    #[test]
    fn exception_names_are_their_json_names() {
        for kind in MatchExceptionKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
    }

    #[test]
    fn an_invoice_as_ordered_and_received_matches() {
        let po = po();
        assert!(run(&po, &full_receipts(&po), &invoice_for(&po)).matched());
    }

    #[test]
    fn each_exception_kind_is_found_where_it_is() {
        let po = po();
        let tol = Tolerances::default();
        assert_eq!(
            three_way_match(None, &[], &invoice_for(&po), &[], &tol).kinds(),
            vec![MatchExceptionKind::UnknownPo]
        );
        let earlier = [EarlierInvoice {
            invoice_number: "INV-1".into(),
            billed: vec![],
        }];
        assert_eq!(
            three_way_match(
                Some(&po),
                &full_receipts(&po),
                &invoice_for(&po),
                &earlier,
                &tol
            )
            .kinds(),
            vec![MatchExceptionKind::DuplicateInvoice]
        );

        let mut inv = invoice_for(&po);
        inv.lines[0].unit_price = d("44.00"); // +1.50 = 3.5 %: over the 2 %
        inv.total = d("1162.00");
        let out = run(&po, &full_receipts(&po), &inv);
        assert_eq!(out.kinds(), vec![MatchExceptionKind::PriceVariance]);
        let e = &out.exceptions[0];
        assert_eq!((e.invoice_line, e.po_line.as_deref()), (Some(1), Some("1")));
        assert_eq!((e.expected, e.actual), (Some(d("42.50")), Some(d("44.00"))));

        let mut inv = invoice_for(&po);
        inv.total += d("10");
        let out = run(&po, &full_receipts(&po), &inv);
        assert_eq!(out.kinds(), vec![MatchExceptionKind::TotalMismatch]);
        assert_eq!(out.exceptions[0].expected, Some(d("1147.00")));

        let mut inv = invoice_for(&po);
        inv.lines[1].uom = "EA".into();
        assert_eq!(
            run(&po, &full_receipts(&po), &inv).kinds(),
            vec![MatchExceptionKind::UomMismatch]
        );

        let mut inv = invoice_for(&po);
        inv.lines.push(InvoicedLine {
            po_line: None,
            gtin: Some("07612345000015".into()),
            quantity: d("1"),
            uom: "EA".into(),
            unit_price: d("0"),
        });
        let out = run(&po, &full_receipts(&po), &inv);
        assert_eq!(out.kinds(), vec![MatchExceptionKind::ItemNotOnPo]);
        assert_eq!(out.exceptions[0].invoice_line, Some(4));

        let receipts: Vec<_> = full_receipts(&po)
            .into_iter()
            .filter(|r| r.po_line != "2")
            .collect();
        let out = run(&po, &receipts, &invoice_for(&po));
        assert_eq!(out.kinds(), vec![MatchExceptionKind::NoReceipt]);
        assert_eq!(out.exceptions[0].po_line.as_deref(), Some("2"));

        let mut receipts = full_receipts(&po);
        receipts[0].quantity = d("6");
        let out = run(&po, &receipts, &invoice_for(&po));
        assert_eq!(out.kinds(), vec![MatchExceptionKind::QuantityOverReceived]);
        assert_eq!(
            (out.exceptions[0].expected, out.exceptions[0].actual),
            (Some(d("6")), Some(d("10")))
        );
    }

    #[test]
    fn a_line_billed_again_on_a_second_invoice_is_over_received() {
        let po = po();
        let earlier = [EarlierInvoice {
            invoice_number: "INV-0".into(),
            billed: vec![("1".into(), d("10"))],
        }];
        let mut inv = invoice_for(&po);
        inv.lines.truncate(1);
        inv.total = d("425.00");
        let out = three_way_match(
            Some(&po),
            &full_receipts(&po),
            &inv,
            &earlier,
            &Tolerances::default(),
        );
        assert_eq!(out.kinds(), vec![MatchExceptionKind::QuantityOverReceived]);
        assert_eq!(out.exceptions[0].actual, Some(d("20")));
    }

    #[test]
    fn service_lines_match_two_ways_and_never_wait_for_a_receipt() {
        let po = po();
        let mut inv = invoice_for(&po);
        inv.lines.retain(|l| l.po_line.as_deref() == Some("3"));
        inv.total = d("250.00");
        assert!(run(&po, &[], &inv).matched());
        inv.lines[0].quantity = d("2");
        inv.total = d("500.00");
        assert_eq!(
            run(&po, &[], &inv).kinds(),
            vec![MatchExceptionKind::QuantityOverReceived]
        );
    }

    #[test]
    fn a_price_within_percent_but_over_the_absolute_amount_is_held() {
        let po = vec![OrderedLine {
            line: "1".into(),
            gtin: None,
            quantity: d("1"),
            uom: "EA".into(),
            unit_price: d("40000.00"),
            service: false,
        }];
        let mut inv = invoice_for(&po);
        inv.lines[0].unit_price = d("40400.00"); // 1 %, but $400 over
        inv.total = d("40400.00");
        assert_eq!(
            run(&po, &full_receipts(&po), &inv).kinds(),
            vec![MatchExceptionKind::PriceVariance]
        );
    }

    fn arb_po() -> impl Strategy<Value = Vec<OrderedLine>> {
        prop::collection::vec((1i64..500, 1i64..1_000_000, any::<bool>()), 1..12).prop_map(
            |lines| {
                lines
                    .into_iter()
                    .enumerate()
                    .map(|(i, (q, cents, service))| OrderedLine {
                        line: (i + 1).to_string(),
                        gtin: Some(format!("G{i}")),
                        quantity: Decimal::from(q),
                        uom: "EA".into(),
                        unit_price: Decimal::new(cents, 2),
                        service,
                    })
                    .collect()
            },
        )
    }

    proptest! {
        #[test]
        fn as_ordered_and_fully_received_always_matches(po in arb_po()) {
            let out = run(&po, &full_receipts(&po), &invoice_for(&po));
            prop_assert!(out.matched(), "{:?}", out.exceptions);
        }

        #[test]
        fn receipts_in_any_order_and_pieces_give_the_same_answer(po in arb_po(), short in 0usize..12, seed in any::<u64>()) {
            let mut receipts = Vec::new();
            for r in full_receipts(&po) {
                // Split each receipt in two deliveries.
                let first = (r.quantity / Decimal::TWO).floor();
                receipts.push(ReceivedLine { quantity: first, ..r.clone() });
                receipts.push(ReceivedLine { quantity: r.quantity - first, ..r });
            }
            if let Some(r) = receipts.get_mut(short) {
                r.quantity = Decimal::ZERO;
            }
            let a = run(&po, &receipts, &invoice_for(&po));
            let mut shuffled = receipts.clone();
            let n = shuffled.len();
            for i in 0..n {
                shuffled.swap(i, (seed as usize).wrapping_mul(31).wrapping_add(i * 7) % n);
            }
            let b = run(&po, &shuffled, &invoice_for(&po));
            prop_assert_eq!(a.kinds(), b.kinds());
        }

        #[test]
        fn a_price_over_tolerance_is_caught_on_exactly_that_line(po in arb_po(), which in 0usize..12, bump_cents in 1i64..100_000) {
            let which = which % po.len();
            let mut inv = invoice_for(&po);
            let tol = Tolerances::default();
            let ordered = po[which].unit_price;
            let new_price = ordered + Decimal::new(bump_cents, 2);
            inv.lines[which].unit_price = new_price;
            inv.total = inv.lines.iter().map(|l| l.quantity * l.unit_price).sum::<Decimal>().round_dp(2);
            let out = run(&po, &full_receipts(&po), &inv);
            let over = new_price - ordered;
            let tolerated = over <= ordered * tol.price_pct / Decimal::ONE_HUNDRED && over <= tol.price_abs;
            if tolerated {
                prop_assert!(out.matched(), "{:?}", out.exceptions);
            } else {
                prop_assert_eq!(out.kinds(), vec![MatchExceptionKind::PriceVariance]);
                prop_assert_eq!(out.exceptions[0].invoice_line, Some(which + 1));
            }
        }

        #[test]
        fn a_cheaper_invoice_is_never_a_price_variance(po in arb_po(), which in 0usize..12, cut in 1i64..100) {
            let which = which % po.len();
            let mut inv = invoice_for(&po);
            inv.lines[which].unit_price = (po[which].unit_price * Decimal::new(100 - cut, 2)).round_dp(2);
            inv.total = inv.lines.iter().map(|l| l.quantity * l.unit_price).sum::<Decimal>().round_dp(2);
            prop_assert!(run(&po, &full_receipts(&po), &inv).matched());
        }

        #[test]
        fn billing_more_than_received_or_for_a_service_ordered_is_caught(po in arb_po(), which in 0usize..12, extra in 1i64..50) {
            let which = which % po.len();
            let mut inv = invoice_for(&po);
            inv.lines[which].quantity += Decimal::from(extra);
            inv.total = inv.lines.iter().map(|l| l.quantity * l.unit_price).sum::<Decimal>().round_dp(2);
            let out = run(&po, &full_receipts(&po), &inv);
            prop_assert_eq!(out.kinds(), vec![MatchExceptionKind::QuantityOverReceived]);
            prop_assert_eq!(out.exceptions[0].po_line.as_deref(), Some(po[which].line.as_str()));
        }
    }
}
