//! The simulated supplier: an EDI trading partner over HTTP. The hub POSTs each 850 (as
//! `application/edi-x12`) to `POST /edi/x12`; the supplier answers 202 at once and then, as a
//! supplier's translator would, sends its own interchanges back to the hub's
//! `/v1/inbound/{partner}/x12`:
//!
//! 1. a 997 accepting the 850's group;
//! 2. an 855, each line answered by its rules: accepted, half backordered, rejected, or at a
//!    higher price;
//! 3. an 856 for what ships now, after which the shipment "arrives" at the warehouse, which
//!    posts its goods receipt to the hub;
//! 4. an 810 for what shipped — deliberately over the PO price for items it overbills;
//! 5. for a backorder, later, a second 856, receipt and 810 for the rest.
//!
//! The rules are by GTIN ([`SupplierRules`]); with none, every line is accepted and invoiced at
//! the PO price. `GET /edi/log` lists every interchange sent and received.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::State,
    http::StatusCode,
    response::Response,
    routing::{get, post},
};
use chrono::Utc;
use concord_formats::x12::{
    self, Separators,
    ack::{AckKind, FunctionalAck},
    sets::{
        AckLine, Invoice, InvoiceLine, ItemId, LineAckStatus, LineStatus, PurchaseOrder,
        PurchaseOrderAck, ShipItem, ShipNotice, ShipOrder, TypedSet,
    },
    write::{Controls, Envelope, PartyId, SetBody, Usage, Version, interchange},
};
use parking_lot::Mutex;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{
    common::{SystemState, applied, error, system_router},
    warehouse::{GoodsReceipt, ReceiptItem, WarehouseClient},
};

/// How the supplier answers, by GTIN.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SupplierRules {
    /// Half the quantity ships now, the rest is backordered and ships later.
    pub backorder: BTreeSet<String>,
    /// Refused (855 `IR`), never shipped or invoiced.
    pub reject: BTreeSet<String>,
    /// Confirmed at 10% above the PO price (855 `IP`) and invoiced at that price.
    pub price_increase: BTreeSet<String>,
    /// Confirmed as ordered, but invoiced 8% above the PO price without notice.
    pub overbill: BTreeSet<String>,
    /// How long the supplier takes between documents, in milliseconds.
    pub pace_ms: u64,
    /// How long a backorder takes to ship, in milliseconds.
    pub backorder_ms: u64,
}

/// Who the supplier and the hub are in an interchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EdiIds {
    /// The supplier's ISA id (qualifier `ZZ`), also its GS id.
    pub supplier: String,
    /// The hub's ISA and GS id (qualifier `ZZ`).
    pub hub: String,
}

impl Default for EdiIds {
    fn default() -> Self {
        Self {
            supplier: "MEDSUPPLY".into(),
            hub: "CONCORDHUB".into(),
        }
    }
}

#[derive(Debug, Default)]
struct Link {
    url: Option<String>,
    key: Option<String>,
    /// Trading by file drop: the folder the supplier writes its interchanges to (the hub's
    /// inbox for this partner). Takes the place of `url`.
    drop: Option<PathBuf>,
}

/// One interchange in the supplier's log.
#[derive(Debug, Clone, Serialize)]
pub struct EdiLogEntry {
    /// `in` or `out`.
    pub direction: &'static str,
    /// The set ids inside (`850`, `997`…).
    pub sets: Vec<String>,
    /// For `out`: the hub's HTTP status (`None`: not reachable, or dropped as a file).
    pub hub_status: Option<u16>,
    pub text: String,
}

/// Drives the supplier in-process; shares its state with its HTTP route.
#[derive(Clone)]
pub struct SupplierClient {
    common: Arc<SystemState>,
    inner: Arc<Inner>,
}

struct Inner {
    ids: EdiIds,
    link: Mutex<Link>,
    rules: Mutex<SupplierRules>,
    control: AtomicU32,
    log: Mutex<Vec<EdiLogEntry>>,
    warehouse: WarehouseClient,
    http: reqwest::Client,
}

impl std::fmt::Debug for SupplierClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SupplierClient")
            .field("ids", &self.inner.ids)
            .finish_non_exhaustive()
    }
}

impl SupplierClient {
    pub(crate) fn new(common: Arc<SystemState>, warehouse: WarehouseClient) -> Self {
        Self {
            common,
            inner: Arc::new(Inner {
                ids: EdiIds::default(),
                link: Mutex::default(),
                rules: Mutex::new(SupplierRules {
                    pace_ms: 0,
                    backorder_ms: 200,
                    ..SupplierRules::default()
                }),
                control: AtomicU32::new(0),
                log: Mutex::default(),
                warehouse,
                http: reqwest::Client::new(),
            }),
        }
    }

    pub(crate) fn common(&self) -> &Arc<SystemState> {
        &self.common
    }

    /// Where the supplier posts its interchanges (the hub's `/v1/inbound/{partner}/x12`) and
    /// the key it presents (`Authorization: Bearer …`).
    pub fn set_hub(&self, url: String, key: String) {
        *self.inner.link.lock() = Link {
            url: Some(url),
            key: Some(key),
            drop: None,
        };
    }

    /// Trades by file drop instead of HTTP, as a partner behind a VAN or an SFTP gateway
    /// does: the supplier picks up the hub's interchanges from `pickup` (the partner's
    /// `outbox` in the hub's config) every 50 ms, deleting each once read, and writes its own
    /// into `drop` (the partner's `inbox`) under a temporary name, then renamed.
    pub fn use_folders(&self, pickup: PathBuf, drop: PathBuf) -> tokio::task::JoinHandle<()> {
        self.inner.link.lock().drop = Some(drop);
        let supplier = self.clone();
        tokio::spawn(async move {
            loop {
                supplier.pick_up(&pickup).await;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    }

    /// Reads every finished interchange in `pickup`, oldest name first.
    async fn pick_up(&self, pickup: &Path) {
        let Ok(mut entries) = tokio::fs::read_dir(pickup).await else {
            return; // the hub has not written anything yet
        };
        let mut files = Vec::new();
        while let Ok(Some(entry)) = entries.next_entry().await {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".x12") && !name.starts_with('.') {
                files.push(entry.path());
            }
        }
        files.sort();
        for path in files {
            match tokio::fs::read_to_string(&path).await {
                Ok(text) => {
                    if let Err(e) = self.take(text) {
                        tracing::warn!(file = %path.display(), error = e, "the supplier sandbox refused a file");
                    }
                    let _ = tokio::fs::remove_file(&path).await;
                }
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "the supplier sandbox could not read a file")
                }
            }
        }
    }

    pub fn set_rules(&self, rules: SupplierRules) {
        *self.inner.rules.lock() = rules;
    }

    pub fn rules(&self) -> SupplierRules {
        self.inner.rules.lock().clone()
    }

    /// Every interchange sent and received.
    pub fn log(&self) -> Vec<EdiLogEntry> {
        self.inner.log.lock().clone()
    }

    fn envelope(&self) -> Envelope {
        let ids = &self.inner.ids;
        Envelope {
            sender: PartyId {
                qualifier: "ZZ".into(),
                id: ids.supplier.clone(),
            },
            receiver: PartyId {
                qualifier: "ZZ".into(),
                id: ids.hub.clone(),
            },
            gs_sender: ids.supplier.clone(),
            gs_receiver: ids.hub.clone(),
            version: Version::V4010,
            separators: Separators {
                element: b'*',
                component: b':',
                segment: b'~',
                repetition: None,
            },
            usage: Usage::Production,
            ack_requested: false,
            line_breaks: true,
        }
    }

    /// Writes one set in its own interchange and posts it to the hub (retrying a few times
    /// on a transient failure; the interchange keeps its control number, so the hub sees the
    /// same bytes).
    async fn send(&self, functional_id: &str, set: SetBody) -> Option<u16> {
        let n = self.inner.control.fetch_add(1, Ordering::SeqCst) + 1;
        let set_id = set.id.clone();
        let text = match interchange(
            &self.envelope(),
            Controls {
                interchange: n,
                group: n,
            },
            functional_id,
            &[set],
            Utc::now(),
        ) {
            Ok(text) => text,
            Err(e) => {
                tracing::error!(error = %e, "the supplier sandbox could not write its {set_id}");
                return None;
            }
        };
        let (url, key, drop) = {
            let link = self.inner.link.lock();
            (link.url.clone(), link.key.clone(), link.drop.clone())
        };
        let mut status = None;
        if let Some(dir) = drop {
            let name = format!("{}-{n:09}.x12", self.inner.ids.supplier);
            let tmp = dir.join(format!(".{name}.tmp"));
            let written = async {
                tokio::fs::create_dir_all(&dir).await?;
                tokio::fs::write(&tmp, &text).await?;
                tokio::fs::rename(&tmp, dir.join(&name)).await
            };
            if let Err(e) = written.await {
                tracing::error!(error = %e, "the supplier sandbox could not drop its {set_id}");
            }
        } else if let Some(url) = url {
            status = crate::common::post_to_hub(
                &self.inner.http,
                &url,
                key.as_deref(),
                &format!("{}-{n:09}", self.inner.ids.supplier),
                "application/edi-x12",
                text.clone(),
            )
            .await
            .0;
        }
        self.common
            .record_effect(None, "x12.sent", format!("{set_id}:{n:09}"));
        self.inner.log.lock().push(EdiLogEntry {
            direction: "out",
            sets: vec![set_id],
            hub_status: status,
            text,
        });
        status
    }

    /// Answers one 850, document by document (the group's 997 first, when given).
    async fn fulfil(self, po: PurchaseOrder, ack: Option<FunctionalAck>) {
        let rules = self.rules();
        let pace = Duration::from_millis(rules.pace_ms);
        if let Some(ack) = ack {
            self.send("FA", ack.to_set()).await;
            tokio::time::sleep(pace).await;
        }
        let plan = plan(&po, &rules);
        self.send("PR", plan.ack.to_set()).await;
        tokio::time::sleep(pace).await;
        self.ship(&po, &plan.now, 1).await;
        if !plan.later.is_empty() {
            tokio::time::sleep(Duration::from_millis(rules.backorder_ms)).await;
            self.ship(&po, &plan.later, 2).await;
        }
    }

    /// One shipment: 856, the warehouse's receipt, then the 810 for it.
    async fn ship(&self, po: &PurchaseOrder, lines: &[Shipped], n: u32) {
        if lines.is_empty() {
            return;
        }
        let pace = Duration::from_millis(self.rules().pace_ms);
        let today = Utc::now().date_naive();
        let notice = ShipNotice {
            purpose: "00".into(),
            shipment_id: format!("SH-{}-{n}", po.po_number),
            date: today,
            shipped: Some(today),
            expected_delivery: None,
            tracking: None,
            orders: vec![ShipOrder {
                po_number: po.po_number.clone(),
                items: lines
                    .iter()
                    .map(|l| ShipItem {
                        po_line: Some(l.line.clone()),
                        item_ids: vec![ItemId::new("UK", &l.gtin)],
                        quantity: l.quantity,
                        uom: l.uom.clone(),
                        lot: None,
                        expiry: None,
                    })
                    .collect(),
            }],
        };
        self.send("SH", notice.to_set()).await;
        tokio::time::sleep(pace).await;
        let plant = po
            .parties
            .iter()
            .find(|p| p.role == "ST")
            .and_then(|p| p.id.clone())
            .unwrap_or_default();
        self.inner
            .warehouse
            .receive(GoodsReceipt {
                receipt_no: format!("GR-{}-{n}", po.po_number),
                purchase_order: po.po_number.clone(),
                plant,
                items: lines
                    .iter()
                    .map(|l| ReceiptItem {
                        po_item: l.line.clone(),
                        gtin: l.gtin.clone(),
                        qty_received: l.quantity,
                        unit: l.uom.clone(),
                    })
                    .collect(),
            })
            .await;
        tokio::time::sleep(pace).await;
        let mut invoice = Invoice {
            invoice_number: format!("INV-{}-{n}", po.po_number),
            date: today,
            po_number: Some(po.po_number.clone()),
            po_date: Some(po.date),
            currency: Some("USD".into()),
            parties: vec![],
            lines: lines
                .iter()
                .map(|l| InvoiceLine {
                    line: Some(l.line.clone()),
                    quantity: l.quantity,
                    uom: l.uom.clone(),
                    unit_price: l.invoice_price,
                    item_ids: vec![ItemId::new("UK", &l.gtin)],
                    description: None,
                })
                .collect(),
            charges: vec![],
            total: Decimal::ZERO,
        };
        invoice.total = invoice.computed_total();
        self.send("IN", invoice.to_set()).await;
    }
}

/// What ships for one line, and at what price it is invoiced.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Shipped {
    line: String,
    gtin: String,
    quantity: Decimal,
    uom: String,
    invoice_price: Decimal,
}

/// The supplier's answer to one PO: the 855, what ships now and what ships later.
#[derive(Debug, Clone)]
struct Plan {
    ack: PurchaseOrderAck,
    now: Vec<Shipped>,
    later: Vec<Shipped>,
}

/// The supplier's rules applied to a PO (pure, so it is tested on its own).
fn plan(po: &PurchaseOrder, rules: &SupplierRules) -> Plan {
    let mut lines = Vec::new();
    let mut now = Vec::new();
    let mut later = Vec::new();
    let mut changed = false;
    for line in &po.lines {
        let gtin = line.gtin().map(|g| g.to_string()).unwrap_or_default();
        let price = line.unit_price.unwrap_or_default();
        let status = |code: &str, quantity: Decimal| LineStatus {
            status: LineAckStatus::from_code(code),
            code: code.into(),
            quantity: Some(quantity),
            uom: Some(line.uom.clone()),
            date: None,
            item_ids: vec![],
        };
        let ship = |quantity: Decimal, invoice_price: Decimal| Shipped {
            line: line.line.clone(),
            gtin: gtin.clone(),
            quantity,
            uom: line.uom.clone(),
            invoice_price,
        };
        let mut echoed = line.clone();
        // What the first invoice charges: the announced higher price, or (overbilling) more
        // than the PO price without notice; a backorder's later invoice is at the PO price.
        let invoice_price = if rules.price_increase.contains(&gtin) {
            (price * Decimal::new(110, 2)).round_dp(2)
        } else if rules.overbill.contains(&gtin) {
            (price * Decimal::new(108, 2)).round_dp(2)
        } else {
            price
        };
        let statuses = if rules.reject.contains(&gtin) {
            changed = true;
            vec![status("IR", line.quantity)]
        } else if rules.backorder.contains(&gtin) && line.quantity > Decimal::ONE {
            changed = true;
            let first = (line.quantity / Decimal::TWO).floor();
            now.push(ship(first, invoice_price));
            later.push(ship(line.quantity - first, price));
            vec![status("IA", first), status("IB", line.quantity - first)]
        } else if rules.price_increase.contains(&gtin) {
            changed = true;
            echoed.unit_price = Some(invoice_price);
            now.push(ship(line.quantity, invoice_price));
            vec![status("IP", line.quantity)]
        } else {
            now.push(ship(line.quantity, invoice_price));
            vec![status("IA", line.quantity)]
        };
        lines.push(AckLine {
            po1: echoed,
            statuses,
        });
    }
    Plan {
        ack: PurchaseOrderAck {
            purpose: "00".into(),
            ack_type: if changed { "AC" } else { "AD" }.into(),
            po_number: po.po_number.clone(),
            po_date: po.date,
            seller_order: Some(format!("SO-{}", po.po_number)),
            lines,
        },
        now,
        later,
    }
}

pub(crate) fn router(client: SupplierClient) -> Router {
    let business = Router::new()
        .route("/edi/x12", post(post_x12))
        .route("/edi/log", get(get_log))
        .with_state(client.clone());
    system_router(client.common.clone(), business)
}

/// An interchange from the hub: 850s are answered in the background; acknowledgements of the
/// supplier's own documents are logged.
async fn post_x12(State(s): State<SupplierClient>, body: Bytes) -> Response {
    let text = match String::from_utf8(body.to_vec()) {
        Ok(t) => t,
        Err(_) => return error(StatusCode::BAD_REQUEST, "the interchange is not text"),
    };
    match s.take(text) {
        Ok((control, sets)) => applied(
            "x12.received",
            control.clone(),
            (
                StatusCode::ACCEPTED,
                Json(json!({"interchange": control, "sets": sets})),
            ),
        ),
        Err(reason) => error(StatusCode::BAD_REQUEST, reason),
    }
}

impl SupplierClient {
    /// Takes one interchange from the hub, however it came: each 850 is answered in the
    /// background (its group's 997 first); the rest is logged. Answers the interchange's
    /// control number and set ids, or why it was refused.
    fn take(&self, text: String) -> Result<(String, Vec<String>), String> {
        let doc = x12::parse(&text);
        if let Some(d) = doc.diagnostics.iter().find(|d| d.is_error()) {
            return Err(format!(
                "segment {} ({}): {}",
                d.segment, d.segment_id, d.reason
            ));
        }
        let mut sets = Vec::new();
        for (i, ic) in doc.interchanges.iter().enumerate() {
            for (g, group) in ic.groups.iter().enumerate() {
                let mut orders = Vec::new();
                let mut findings = Vec::new();
                for set in &group.sets {
                    sets.push(set.id().to_string());
                    match TypedSet::read(set) {
                        Some(Ok(parsed)) => {
                            findings.push(parsed.warnings);
                            if let TypedSet::PurchaseOrder(po) = parsed.value {
                                orders.push(po);
                            }
                        }
                        Some(Err(diags)) => findings.push(diags),
                        None => findings.push(vec![]),
                    }
                }
                if group.functional_id() == "PO" {
                    let mut ack =
                        FunctionalAck::for_group(&doc, i, g, AckKind::Functional997, &findings);
                    for po in orders {
                        tokio::spawn(self.clone().fulfil(po, ack.take()));
                    }
                }
            }
        }
        let control = doc
            .interchanges
            .first()
            .map(|ic| ic.control_number().trim().to_string())
            .unwrap_or_default();
        self.inner.log.lock().push(EdiLogEntry {
            direction: "in",
            sets: sets.clone(),
            hub_status: None,
            text,
        });
        Ok((control, sets))
    }
}

async fn get_log(State(s): State<SupplierClient>) -> Json<Value> {
    Json(json!({ "interchanges": s.log() }))
}

#[cfg(test)]
mod tests {
    use concord_formats::x12::sets::PoLine;

    use super::*;

    const G1: &str = "00614141000012";
    const G2: &str = "00614141000029";
    const G3: &str = "00614141000036";

    fn po() -> PurchaseOrder {
        let line = |n: &str, gtin: &str, q: i64| PoLine {
            line: n.into(),
            quantity: Decimal::from(q),
            uom: "EA".into(),
            unit_price: Some(Decimal::new(1000, 2)),
            price_basis: None,
            item_ids: vec![ItemId::new("UK", gtin)],
            description: None,
        };
        PurchaseOrder {
            purpose: "00".into(),
            order_type: "NE".into(),
            po_number: "PO-R-1-1".into(),
            date: "2026-11-21".parse().unwrap(),
            currency: None,
            requested_delivery: None,
            references: vec![],
            parties: vec![],
            lines: vec![line("1", G1, 10), line("2", G2, 5), line("3", G3, 3)],
        }
    }

    #[test]
    fn without_rules_everything_is_accepted_and_invoiced_as_ordered() {
        let p = plan(&po(), &SupplierRules::default());
        assert_eq!(p.ack.ack_type, "AD");
        assert!(p.later.is_empty());
        assert_eq!(p.now.len(), 3);
        assert!(
            p.now
                .iter()
                .all(|s| s.invoice_price == Decimal::new(1000, 2))
        );
    }

    #[test]
    fn rules_backorder_reject_reprice_and_overbill_by_gtin() {
        let rules = SupplierRules {
            backorder: [G1.to_string()].into(),
            price_increase: [G2.to_string()].into(),
            reject: [G3.to_string()].into(),
            ..SupplierRules::default()
        };
        let p = plan(&po(), &rules);
        assert_eq!(p.ack.ack_type, "AC");
        let codes: Vec<Vec<&str>> = p
            .ack
            .lines
            .iter()
            .map(|l| l.statuses.iter().map(|s| s.code.as_str()).collect())
            .collect();
        assert_eq!(codes, [vec!["IA", "IB"], vec!["IP"], vec!["IR"]]);
        assert_eq!(p.ack.lines[1].po1.unit_price, Some(Decimal::new(1100, 2)));
        let now: Vec<(&str, Decimal)> = p
            .now
            .iter()
            .map(|s| (s.line.as_str(), s.quantity))
            .collect();
        assert_eq!(now, [("1", Decimal::from(5)), ("2", Decimal::from(5))]);
        assert_eq!(p.later[0].quantity, Decimal::from(5));
        assert_eq!(p.now[1].invoice_price, Decimal::new(1100, 2));
        let over = plan(
            &po(),
            &SupplierRules {
                overbill: [G1.to_string()].into(),
                ..SupplierRules::default()
            },
        );
        assert_eq!(over.ack.lines[0].statuses[0].code, "IA");
        assert_eq!(over.now[0].invoice_price, Decimal::new(1080, 2));
        // Backordered and overbilled: the first shipment is overbilled, the rest is not.
        let both = plan(
            &po(),
            &SupplierRules {
                overbill: [G1.to_string()].into(),
                backorder: [G1.to_string()].into(),
                ..SupplierRules::default()
            },
        );
        assert_eq!(both.now[0].invoice_price, Decimal::new(1080, 2));
        assert_eq!(both.later[0].invoice_price, Decimal::new(1000, 2));
    }
}
