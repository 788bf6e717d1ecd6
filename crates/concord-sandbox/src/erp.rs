//! The simulated ERP: a vendor master and price agreements (pricing conditions with quantity
//! scales), in the ERP's own vocabulary: `vendorNumber`, `agreementNo`, `validFrom` as
//! `YYYYMMDD`, `conditions[].scales[]`.
//!
//! Routes, all under `/api`:
//! - `GET /api/vendors?taxId=` lists vendors (all of them without `taxId`).
//! - `GET /api/vendors/{vendorNumber}` is one vendor or 404.
//! - `POST /api/vendors` creates or replaces a vendor (the demo seeds the master with it).
//! - `POST /api/price-agreements` posts a revision of an agreement: 201, 422 naming the field,
//!   422 for an unknown vendor, 409 for a revision older than the one stored.
//! - `GET /api/price-agreements/{agreementNo}` is the latest revision or 404.
//! - `POST /api/purchase-orders` creates a purchase order and answers its number
//!   (`{"poNumber": "4500000001"}`): 201, 422 naming the field, 422 for an unknown vendor.
//! - `GET /api/purchase-orders/{poNumber}` is the PO with its changes and payments, or 404.
//! - `POST /api/purchase-orders/{poNumber}/changes` records the supplier's changes (855).
//! - `POST /api/purchase-orders/{poNumber}/payments` releases an invoice for payment
//!   (`{"invoiceNo", "amount", "currency"}`); a second release of the same invoice is 409.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use axum::{
    Json, Router,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use chrono::NaiveDate;
use parking_lot::Mutex;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{
    common::{SystemState, applied, found, refuse_stale, system_router},
    wire::{Fields, Invalid, JsonBody},
};

/// How the ERP writes dates: `20261231`.
pub const ERP_DATE: &str = "%Y%m%d";

/// A vendor in the ERP's vendor master.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Vendor {
    pub vendor_number: String,
    pub vendor_name: String,
    /// The US federal tax id, `12-3456789`; how the hub finds the ERP's vendor for a supplier.
    pub tax_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// `ACH`, `WIRE` or `CHECK`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank_routing: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank_account: Option<String>,
}

impl Vendor {
    /// A vendor as posted; without `vendorNumber` the ERP gives the next one.
    fn read(body: &Value, next_number: impl FnOnce() -> String) -> Result<Vendor, Invalid> {
        let f = Fields::root(body)?;
        Ok(Vendor {
            vendor_number: f.opt_text("vendorNumber")?.unwrap_or_else(next_number),
            vendor_name: f.text("vendorName")?,
            tax_id: f.text("taxId")?,
            street: f.opt_text("street")?,
            city: f.opt_text("city")?,
            region: f.opt_text("region")?,
            postal_code: f.opt_text("postalCode")?,
            payment_method: f.opt_text("paymentMethod")?,
            bank_routing: f.opt_text("bankRouting")?,
            bank_account: f.opt_text("bankAccount")?,
        })
    }
}

/// A material in the ERP's item master; the material number is the GTIN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Material {
    pub material: String,
    pub description: String,
    pub base_uom: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub material_group: Option<String>,
}

impl Material {
    fn read(body: &Value, material: String) -> Result<Material, Invalid> {
        let f = Fields::root(body)?;
        Ok(Material {
            material,
            description: f.text("description")?,
            base_uom: f.text("baseUom")?,
            material_group: f.opt_text("materialGroup")?,
        })
    }
}

/// One revision of a price agreement, as posted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PriceAgreement {
    pub agreement_no: String,
    /// Starts at 1; the ERP refuses a revision older than the one it holds.
    pub revision: u32,
    /// Must exist in the vendor master.
    pub vendor_number: String,
    /// [`ERP_DATE`], first day in force.
    pub valid_from: String,
    /// [`ERP_DATE`], last day in force; not before `valid_from`.
    pub valid_to: String,
    /// GLNs of the plants that may buy; with `plant_groups` empty too, every plant may.
    #[serde(default)]
    pub plants: Vec<String>,
    #[serde(default)]
    pub plant_groups: Vec<String>,
    pub conditions: Vec<Condition>,
}

/// The price of one material, by quantity scale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// The GTIN the ERP uses as material number.
    pub material: String,
    pub uom: String,
    pub scales: Vec<Scale>,
}

/// A price from `from_qty` units upwards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Scale {
    pub from_qty: u32,
    /// A decimal string on the wire, `"12.50"`.
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    /// ISO 4217, `USD`.
    pub currency: String,
}

impl PriceAgreement {
    /// The ERP's validation, in document order, stopping at the first broken rule.
    fn read(body: &Value) -> Result<PriceAgreement, Invalid> {
        let f = Fields::root(body)?;
        let agreement_no = f.text("agreementNo")?;
        let revision = f.count("revision", 1)?;
        let vendor_number = f.text("vendorNumber")?;
        let valid_from = f.date("validFrom", ERP_DATE)?;
        let valid_to = f.date("validTo", ERP_DATE)?;
        if valid_to < valid_from {
            return Err(Invalid::new("validTo", "validTo is before validFrom"));
        }
        let plants = f.texts("plants")?;
        let plant_groups = f.texts("plantGroups")?;
        let conditions = f
            .objects("conditions")?
            .iter()
            .map(Condition::read)
            .collect::<Result<_, _>>()?;
        Ok(PriceAgreement {
            agreement_no,
            revision,
            vendor_number,
            valid_from: valid_from.format(ERP_DATE).to_string(),
            valid_to: valid_to.format(ERP_DATE).to_string(),
            plants,
            plant_groups,
            conditions,
        })
    }

    /// The id the ERP gives a posted revision.
    pub fn document_id(&self) -> String {
        format!("PA-{}-{}", self.agreement_no, self.revision)
    }
}

impl Condition {
    fn read(f: &Fields<'_>) -> Result<Condition, Invalid> {
        Ok(Condition {
            material: f.text("material")?,
            uom: f.text("uom")?,
            scales: f
                .objects("scales")?
                .iter()
                .map(Scale::read)
                .collect::<Result<_, _>>()?,
        })
    }
}

impl Scale {
    fn read(f: &Fields<'_>) -> Result<Scale, Invalid> {
        let from_qty = f.count("fromQty", 1)?;
        let amount = f.money("amount")?;
        let currency = f.text("currency")?;
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(Invalid::new(
                f.path("currency"),
                "currency must be an ISO 4217 code such as USD",
            ));
        }
        Ok(Scale {
            from_qty,
            amount,
            currency,
        })
    }
}

/// A purchase order in the ERP's own shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErpPurchaseOrder {
    /// The ERP's number, `45…`.
    pub po_number: String,
    /// The sender's own number for it.
    pub external_ref: String,
    pub vendor_number: String,
    /// The receiving plant's GLN.
    pub plant: String,
    pub items: Vec<ErpPoItem>,
    /// Supplier changes as received, in order.
    #[serde(default)]
    pub changes: Vec<Value>,
    #[serde(default)]
    pub payments: Vec<Payment>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErpPoItem {
    pub item_no: String,
    pub material: String,
    pub quantity: Decimal,
    pub uom: String,
    #[serde(with = "rust_decimal::serde::str")]
    pub net_price: Decimal,
}

/// An invoice released for payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    pub invoice_no: String,
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    pub currency: String,
    pub payment_doc: String,
}

impl ErpPurchaseOrder {
    fn read(body: &Value, po_number: String) -> Result<ErpPurchaseOrder, Invalid> {
        let f = Fields::root(body)?;
        let external_ref = f.text("externalRef")?;
        let vendor_number = f.text("vendorNumber")?;
        let plant = f.text("plant")?;
        let items = f
            .objects("items")?
            .iter()
            .map(|i| {
                let quantity = i.money("quantity")?;
                if quantity <= Decimal::ZERO {
                    return Err(Invalid::new(
                        i.path("quantity"),
                        "quantity must be positive",
                    ));
                }
                Ok(ErpPoItem {
                    item_no: i.text("itemNo")?,
                    material: i.text("material")?,
                    quantity,
                    uom: i.text("uom")?,
                    net_price: i.money("netPrice")?,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if items.is_empty() {
            return Err(Invalid::new(
                "items",
                "a purchase order needs at least one item",
            ));
        }
        Ok(ErpPurchaseOrder {
            po_number,
            external_ref,
            vendor_number,
            plant,
            items,
            changes: Vec::new(),
            payments: Vec::new(),
        })
    }
}

/// The ERP's tables.
#[derive(Debug, Default)]
struct Tables {
    vendors: BTreeMap<String, Vendor>,
    materials: BTreeMap<String, Material>,
    /// The last vendor number given.
    last_vendor: u64,
    /// The latest revision of each agreement, by `agreement_no`.
    agreements: HashMap<String, PriceAgreement>,
    purchase_orders: BTreeMap<String, ErpPurchaseOrder>,
    /// The last PO number given.
    last_po: u64,
    /// Cost postings (controlling documents), by the sender's reference.
    cost_postings: BTreeMap<String, CostPosting>,
}

/// A posting of consumed material cost to a cost center (the ERP's controlling document).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct CostPosting {
    document_number: String,
    posting_ref: String,
    plant: String,
    cost_center: String,
    service_line: Option<String>,
    procedure_code: Option<String>,
    material: String,
    quantity: u32,
    amount: Decimal,
    posting_date: NaiveDate,
}

#[derive(Debug, Clone, Default)]
struct Erp {
    tables: Arc<Mutex<Tables>>,
}

/// The ERP's routes, wrapped with the shared admin routes and middleware.
pub(crate) fn router(state: Arc<SystemState>) -> Router {
    let business = Router::new()
        .route("/api/vendors", get(find_vendors).post(put_vendor))
        .route("/api/vendors/{vendor_number}", get(get_vendor))
        .route(
            "/api/vendors/{vendor_number}/bank-details",
            axum::routing::put(put_bank_details),
        )
        .route("/api/materials", get(list_materials))
        .route(
            "/api/materials/{material}",
            get(get_material).put(put_material),
        )
        .route("/api/price-agreements", post(post_price_agreement))
        .route(
            "/api/price-agreements/{agreement_no}",
            get(get_price_agreement),
        )
        .route("/api/purchase-orders", post(post_purchase_order))
        .route("/api/purchase-orders/{po_number}", get(get_purchase_order))
        .route(
            "/api/purchase-orders/{po_number}/changes",
            post(post_po_changes),
        )
        .route(
            "/api/purchase-orders/{po_number}/payments",
            post(post_payment),
        )
        .route(
            "/api/cost-postings",
            post(post_cost_posting).get(list_cost_postings),
        )
        .with_state(Erp::default());
    system_router(state, business)
}

#[derive(Debug, Deserialize)]
struct VendorQuery {
    #[serde(rename = "taxId")]
    tax_id: Option<String>,
}

async fn find_vendors(State(erp): State<Erp>, Query(query): Query<VendorQuery>) -> Json<Value> {
    let tables = erp.tables.lock();
    let vendors: Vec<&Vendor> = tables
        .vendors
        .values()
        .filter(|v| {
            query
                .tax_id
                .as_ref()
                .is_none_or(|tax_id| &v.tax_id == tax_id)
        })
        .collect();
    Json(json!({ "vendors": vendors }))
}

async fn get_vendor(State(erp): State<Erp>, Path(vendor_number): Path<String>) -> Response {
    found(erp.tables.lock().vendors.get(&vendor_number), "vendor")
}

async fn put_vendor(State(erp): State<Erp>, JsonBody(body): JsonBody) -> Response {
    let mut tables = erp.tables.lock();
    let next = tables.last_vendor + 1;
    let mut numbered = false;
    let vendor = match Vendor::read(&body, || {
        numbered = true;
        format!("V{next:06}")
    }) {
        Ok(vendor) => vendor,
        Err(invalid) => return invalid.into_response(),
    };
    if numbered {
        tables.last_vendor = next;
    }
    let id = vendor.vendor_number.clone();
    tables.vendors.insert(id.clone(), vendor.clone());
    applied("vendor.upserted", id, (StatusCode::CREATED, Json(vendor)))
}

/// `PUT /api/vendors/{vendorNumber}/bank-details`: `{"paymentMethod", "bankRouting",
/// "bankAccount"}`; 404 for an unknown vendor.
async fn put_bank_details(
    State(erp): State<Erp>,
    Path(vendor_number): Path<String>,
    JsonBody(body): JsonBody,
) -> Response {
    let read = || -> Result<(String, Option<String>, Option<String>), Invalid> {
        let f = Fields::root(&body)?;
        Ok((
            f.text("paymentMethod")?,
            f.opt_text("bankRouting")?,
            f.opt_text("bankAccount")?,
        ))
    };
    let (method, routing, account) = match read() {
        Ok(v) => v,
        Err(invalid) => return invalid.into_response(),
    };
    let mut tables = erp.tables.lock();
    let Some(vendor) = tables.vendors.get_mut(&vendor_number) else {
        return crate::common::error(
            StatusCode::NOT_FOUND,
            format!("vendor {vendor_number} not found"),
        );
    };
    vendor.payment_method = Some(method);
    vendor.bank_routing = routing;
    vendor.bank_account = account;
    let vendor = vendor.clone();
    applied("vendor.bank_details_changed", vendor_number, Json(vendor))
}

/// `POST /api/cost-postings`: `{"postingRef", "plant", "costCenter", "serviceLine"?,
/// "procedureCode"?, "material", "quantity", "amount", "postingDate" (YYYY-MM-DD)}`. A repeat of
/// a `postingRef` answers the first posting (a posting is never booked twice).
async fn post_cost_posting(State(erp): State<Erp>, JsonBody(body): JsonBody) -> Response {
    let read = || -> Result<CostPosting, Invalid> {
        let f = Fields::root(&body)?;
        Ok(CostPosting {
            document_number: String::new(),
            posting_ref: f.text("postingRef")?,
            plant: f.text("plant")?,
            cost_center: f.text("costCenter")?,
            service_line: f.opt_text("serviceLine")?,
            procedure_code: f.opt_text("procedureCode")?,
            material: f.text("material")?,
            quantity: f.count("quantity", 1)?,
            amount: f.money("amount")?,
            posting_date: f.date("postingDate", "%Y-%m-%d")?,
        })
    };
    let mut posting = match read() {
        Ok(p) => p,
        Err(invalid) => return invalid.into_response(),
    };
    let mut tables = erp.tables.lock();
    if let Some(first) = tables.cost_postings.get(&posting.posting_ref) {
        return (StatusCode::OK, Json(first.clone())).into_response();
    }
    posting.document_number = format!("CO{:08}", tables.cost_postings.len() + 1);
    tables
        .cost_postings
        .insert(posting.posting_ref.clone(), posting.clone());
    applied(
        "cost.posted",
        posting.posting_ref.clone(),
        (StatusCode::CREATED, Json(posting)),
    )
}

async fn list_cost_postings(State(erp): State<Erp>) -> Json<Value> {
    let tables = erp.tables.lock();
    let postings: Vec<&CostPosting> = tables.cost_postings.values().collect();
    Json(json!({ "costPostings": postings }))
}

async fn list_materials(State(erp): State<Erp>) -> Json<Value> {
    let tables = erp.tables.lock();
    let materials: Vec<&Material> = tables.materials.values().collect();
    Json(json!({ "materials": materials }))
}

async fn get_material(State(erp): State<Erp>, Path(material): Path<String>) -> Response {
    found(erp.tables.lock().materials.get(&material), "material")
}

/// Creates or replaces a material: how the hub re-publishes an item, and how a user of the
/// ERP edits the item master (the drift reconciliation finds).
async fn put_material(
    State(erp): State<Erp>,
    Path(material): Path<String>,
    JsonBody(body): JsonBody,
) -> Response {
    let m = match Material::read(&body, material.clone()) {
        Ok(m) => m,
        Err(invalid) => return invalid.into_response(),
    };
    erp.tables
        .lock()
        .materials
        .insert(material.clone(), m.clone());
    applied("material.upserted", material, Json(m))
}

async fn post_price_agreement(State(erp): State<Erp>, JsonBody(body): JsonBody) -> Response {
    let agreement = match PriceAgreement::read(&body) {
        Ok(agreement) => agreement,
        Err(invalid) => return invalid.into_response(),
    };
    let mut tables = erp.tables.lock();
    if !tables.vendors.contains_key(&agreement.vendor_number) {
        return Invalid::new("vendorNumber", "unknown vendor").into_response();
    }
    let stored = tables.agreements.get(&agreement.agreement_no);
    if let Some(refused) = refuse_stale(
        "erp",
        &agreement.agreement_no,
        stored.map(|a| a.revision),
        agreement.revision,
    ) {
        return refused;
    }
    let document_id = agreement.document_id();
    tables
        .agreements
        .insert(agreement.agreement_no.clone(), agreement);
    let body = json!({ "documentId": document_id, "status": "posted" });
    applied(
        "price_agreement.posted",
        document_id,
        (StatusCode::CREATED, Json(body)),
    )
}

async fn get_price_agreement(State(erp): State<Erp>, Path(agreement_no): Path<String>) -> Response {
    found(
        erp.tables.lock().agreements.get(&agreement_no),
        "price agreement",
    )
}

async fn post_purchase_order(State(erp): State<Erp>, JsonBody(body): JsonBody) -> Response {
    let mut tables = erp.tables.lock();
    let number = format!("{}", 4_500_000_001 + tables.last_po);
    let po = match ErpPurchaseOrder::read(&body, number.clone()) {
        Ok(po) => po,
        Err(invalid) => return invalid.into_response(),
    };
    if !tables.vendors.contains_key(&po.vendor_number) {
        return Invalid::new("vendorNumber", "unknown vendor").into_response();
    }
    tables.last_po += 1;
    tables.purchase_orders.insert(number.clone(), po);
    let body = json!({ "poNumber": number, "status": "created" });
    applied(
        "purchase_order.created",
        number,
        (StatusCode::CREATED, Json(body)),
    )
}

async fn get_purchase_order(State(erp): State<Erp>, Path(po_number): Path<String>) -> Response {
    found(
        erp.tables.lock().purchase_orders.get(&po_number),
        "purchase order",
    )
}

async fn post_po_changes(
    State(erp): State<Erp>,
    Path(po_number): Path<String>,
    JsonBody(body): JsonBody,
) -> Response {
    let changes = match Fields::root(&body).and_then(|f| f.objects("changes")) {
        Ok(changes) => changes.len(),
        Err(invalid) => return invalid.into_response(),
    };
    let mut tables = erp.tables.lock();
    let Some(po) = tables.purchase_orders.get_mut(&po_number) else {
        return crate::common::error(StatusCode::NOT_FOUND, "purchase order not found");
    };
    po.changes.push(body["changes"].clone());
    applied(
        "purchase_order.changed",
        po_number,
        Json(json!({ "status": "changed", "changes": changes })),
    )
}

async fn post_payment(
    State(erp): State<Erp>,
    Path(po_number): Path<String>,
    JsonBody(body): JsonBody,
) -> Response {
    let read = Fields::root(&body).and_then(|f| {
        Ok((
            f.text("invoiceNo")?,
            f.money("amount")?,
            f.text("currency")?,
        ))
    });
    let (invoice_no, amount, currency) = match read {
        Ok(read) => read,
        Err(invalid) => return invalid.into_response(),
    };
    let mut tables = erp.tables.lock();
    let Some(po) = tables.purchase_orders.get_mut(&po_number) else {
        return crate::common::error(StatusCode::NOT_FOUND, "purchase order not found");
    };
    if po.payments.iter().any(|p| p.invoice_no == invoice_no) {
        return crate::common::error(
            StatusCode::CONFLICT,
            format!("invoice {invoice_no} is already released for payment"),
        );
    }
    let payment_doc = format!("PAY-{po_number}-{}", po.payments.len() + 1);
    po.payments.push(Payment {
        invoice_no,
        amount,
        currency,
        payment_doc: payment_doc.clone(),
    });
    applied(
        "payment.released",
        payment_doc.clone(),
        (
            StatusCode::CREATED,
            Json(json!({ "paymentDoc": payment_doc, "status": "released" })),
        ),
    )
}

#[cfg(test)]
mod tests {
    use axum::http::Method;

    use super::*;
    use crate::common::testing::send;

    /// `POST /api/price-agreements`, with an idempotency key or without.
    async fn post_agreement(
        router: &Router,
        key: Option<&str>,
        body: Value,
    ) -> crate::common::testing::Answer {
        send(
            router,
            Method::POST,
            "/api/price-agreements",
            key,
            Some(body),
        )
        .await
    }

    /// A field and how to break it.
    type Case = (&'static str, Box<dyn Fn(&mut Value)>);

    fn erp() -> (Arc<SystemState>, Router) {
        let state = SystemState::new("erp");
        (state.clone(), router(state))
    }

    fn vendor() -> Value {
        json!({"vendorNumber": "100042", "vendorName": "Acme Medical", "taxId": "12-3456789"})
    }

    fn agreement(revision: u32) -> Value {
        json!({"agreementNo": "C-100", "revision": revision, "vendorNumber": "100042",
            "validFrom": "20260101", "validTo": "20261231",
            "plants": ["0614141000005"], "plantGroups": ["east"],
            "conditions": [{"material": "00614141000012", "uom": "EA",
                "scales": [{"fromQty": 1, "amount": "12.50", "currency": "USD"}]}]})
    }

    async fn seeded() -> (Arc<SystemState>, Router) {
        let (state, router) = erp();
        let seeded = send(
            &router,
            Method::POST,
            "/api/vendors",
            Some("seed"),
            Some(vendor()),
        )
        .await;
        assert_eq!(seeded.status, StatusCode::CREATED);
        (state, router)
    }

    #[test]
    fn the_native_structs_match_the_documented_wire_shape() {
        let parsed = PriceAgreement::read(&agreement(1)).unwrap();
        assert_eq!(serde_json::to_value(&parsed).unwrap(), agreement(1));
        let typed: PriceAgreement = serde_json::from_value(agreement(1)).unwrap();
        assert_eq!(typed, parsed);
        assert_eq!(typed.conditions[0].scales[0].amount, Decimal::new(1250, 2));
    }

    #[tokio::test]
    async fn vendors_are_found_by_tax_id_and_number() {
        let (_, router) = seeded().await;
        let found = send(
            &router,
            Method::GET,
            "/api/vendors?taxId=12-3456789",
            None,
            None,
        )
        .await;
        assert_eq!(found.body, json!({ "vendors": [vendor()] }));
        let none = send(
            &router,
            Method::GET,
            "/api/vendors?taxId=99-0000000",
            None,
            None,
        )
        .await;
        assert_eq!(none.body, json!({ "vendors": [] }));
        let one = send(&router, Method::GET, "/api/vendors/100042", None, None).await;
        assert_eq!(one.body, vendor());
        let missing = send(&router, Method::GET, "/api/vendors/999", None, None).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        assert_eq!(missing.body, json!({ "error": "vendor not found" }));
    }

    #[tokio::test]
    async fn a_vendor_without_a_number_is_numbered_and_its_bank_details_change() {
        let (state, router) = erp();
        let new =
            json!({"vendorName": "Buckeye Surgical", "taxId": "31-4159265", "postalCode": "43215"});
        let first = send(
            &router,
            Method::POST,
            "/api/vendors",
            Some("v-1"),
            Some(new.clone()),
        )
        .await;
        assert_eq!(first.status, StatusCode::CREATED);
        assert_eq!(first.body["vendorNumber"], "V000001");
        // A repeat with the same key is the same vendor, not a second one.
        let again = send(
            &router,
            Method::POST,
            "/api/vendors",
            Some("v-1"),
            Some(new.clone()),
        )
        .await;
        assert_eq!(again.body["vendorNumber"], "V000001");
        let second = send(
            &router,
            Method::POST,
            "/api/vendors",
            Some("v-2"),
            Some(new),
        )
        .await;
        assert_eq!(second.body["vendorNumber"], "V000002");
        let bank =
            json!({"paymentMethod": "ACH", "bankRouting": "011000015", "bankAccount": "123456"});
        let changed = send(
            &router,
            Method::PUT,
            "/api/vendors/V000001/bank-details",
            Some("b-1"),
            Some(bank.clone()),
        )
        .await;
        assert_eq!(changed.status, StatusCode::OK);
        assert_eq!(changed.body["bankAccount"], "123456");
        let unknown = send(
            &router,
            Method::PUT,
            "/api/vendors/V9/bank-details",
            Some("b-2"),
            Some(bank),
        )
        .await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND);
        assert!(state.duplicate_effects().is_empty());
    }

    #[tokio::test]
    async fn materials_are_listed_and_edited() {
        let (_, router) = erp();
        let m = json!({"description": "Glove", "baseUom": "BX", "materialGroup": "42132203"});
        let put = send(
            &router,
            Method::PUT,
            "/api/materials/00614141000029",
            Some("m-1"),
            Some(m),
        )
        .await;
        assert_eq!(put.status, StatusCode::OK);
        let bad = send(
            &router,
            Method::PUT,
            "/api/materials/x",
            Some("m-2"),
            Some(json!({"description": "x"})),
        )
        .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(bad.body["field"], "baseUom");
        let list = send(&router, Method::GET, "/api/materials", None, None).await;
        assert_eq!(list.body["materials"][0]["material"], "00614141000029");
        assert_eq!(list.body["materials"].as_array().unwrap().len(), 1);
        // A user of the ERP edits it: the new description replaces the old.
        let edited = send(
            &router,
            Method::PUT,
            "/api/materials/00614141000029",
            Some("m-3"),
            Some(json!({"description": "Nitrile glove", "baseUom": "BX"})),
        )
        .await;
        assert_eq!(edited.status, StatusCode::OK);
        let read = send(
            &router,
            Method::GET,
            "/api/materials/00614141000029",
            None,
            None,
        )
        .await;
        assert_eq!(read.body["description"], "Nitrile glove");
    }

    #[tokio::test]
    async fn a_posted_agreement_is_stored_and_read_back() {
        let (state, router) = seeded().await;
        let mut body = agreement(1);
        body["sapInternalFlag"] = json!("ignored");
        let posted = post_agreement(&router, Some("pa-1"), body).await;
        assert_eq!(posted.status, StatusCode::CREATED);
        assert_eq!(
            posted.body,
            json!({ "documentId": "PA-C-100-1", "status": "posted" })
        );

        let read = send(
            &router,
            Method::GET,
            "/api/price-agreements/C-100",
            None,
            None,
        )
        .await;
        assert_eq!(
            read.body,
            agreement(1),
            "unknown fields are ignored, not stored"
        );
        let missing = send(
            &router,
            Method::GET,
            "/api/price-agreements/C-999",
            None,
            None,
        )
        .await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);

        let kinds: Vec<(String, String)> = state
            .effects()
            .into_iter()
            .map(|e| (e.kind, e.object_id))
            .collect();
        assert_eq!(
            kinds,
            [
                ("vendor.upserted".to_owned(), "100042".to_owned()),
                ("price_agreement.posted".to_owned(), "PA-C-100-1".to_owned())
            ]
        );
    }

    #[tokio::test]
    async fn a_repeated_post_replays_the_answer_and_posts_once() {
        let (state, router) = seeded().await;
        let first = post_agreement(&router, Some("pa-1"), agreement(1)).await;
        let again = post_agreement(&router, Some("pa-1"), agreement(1)).await;
        assert_eq!(again.status, first.status);
        assert_eq!(again.body, first.body);
        assert_eq!(state.effects().len(), 2, "the vendor and one posting");
        assert!(state.duplicate_effects().is_empty());
    }

    #[tokio::test]
    async fn an_older_revision_is_refused_with_409() {
        let (state, router) = seeded().await;
        let second = post_agreement(&router, Some("pa-2"), agreement(2)).await;
        assert_eq!(second.status, StatusCode::CREATED);
        let stale = post_agreement(&router, Some("pa-1"), agreement(1)).await;
        assert_eq!(stale.status, StatusCode::CONFLICT);
        assert_eq!(stale.body["error"], "stale revision");

        let read = send(
            &router,
            Method::GET,
            "/api/price-agreements/C-100",
            None,
            None,
        )
        .await;
        assert_eq!(read.body["revision"], 2);
        let statuses: Vec<u16> = state.calls().iter().map(|c| c.status).collect();
        assert_eq!(
            statuses,
            [201, 201, 409, 200],
            "the stale post is in the call log"
        );
        // Re-posting the current revision is a redelivery, not a conflict.
        let same = post_agreement(&router, None, agreement(2)).await;
        assert_eq!(same.status, StatusCode::CREATED);
    }

    #[tokio::test]
    async fn an_invalid_agreement_is_refused_naming_the_field() {
        let (state, router) = seeded().await;
        let cases: Vec<Case> = vec![
            ("agreementNo", Box::new(|v| v["agreementNo"] = Value::Null)),
            ("revision", Box::new(|v| v["revision"] = json!(0))),
            ("revision", Box::new(|v| v["revision"] = json!("1"))),
            ("vendorNumber", Box::new(|v| v["vendorNumber"] = json!(""))),
            (
                "validFrom",
                Box::new(|v| v["validFrom"] = json!("2026-01-01")),
            ),
            ("validTo", Box::new(|v| v["validTo"] = json!("20251231"))),
            ("conditions", Box::new(|v| v["conditions"] = json!([]))),
            (
                "conditions[0].uom",
                Box::new(|v| v["conditions"][0]["uom"] = Value::Null),
            ),
            (
                "conditions[0].scales",
                Box::new(|v| v["conditions"][0]["scales"] = json!([])),
            ),
            (
                "conditions[0].scales[0].amount",
                Box::new(|v| v["conditions"][0]["scales"][0]["amount"] = json!(12.5)),
            ),
            (
                "conditions[0].scales[0].currency",
                Box::new(|v| v["conditions"][0]["scales"][0]["currency"] = json!("usd")),
            ),
        ];
        for (field, break_it) in cases {
            let mut body = agreement(1);
            break_it(&mut body);
            let answer = post_agreement(&router, None, body).await;
            assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{field}");
            assert_eq!(answer.body["field"], field, "{}", answer.body);
            assert!(answer.body["error"].is_string());
        }
        assert_eq!(state.effects().len(), 1, "only the vendor seed applied");
    }

    #[tokio::test]
    async fn an_unknown_vendor_is_refused_and_the_key_stays_usable() {
        let (state, router) = erp();
        let refused = post_agreement(&router, Some("pa-1"), agreement(1)).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            refused.body,
            json!({ "error": "unknown vendor", "field": "vendorNumber" })
        );

        // Nothing was applied, so once the vendor exists the same delivery goes through.
        send(&router, Method::POST, "/api/vendors", None, Some(vendor())).await;
        let retried = post_agreement(&router, Some("pa-1"), agreement(1)).await;
        assert_eq!(retried.status, StatusCode::CREATED);
        assert!(state.duplicate_effects().is_empty());
    }

    #[tokio::test]
    async fn malformed_json_is_a_400_with_a_json_error() {
        let (_, router) = erp();
        let request = axum::http::Request::post("/api/vendors")
            .body(axum::body::Body::from("{not json"))
            .unwrap();
        let response = tower::ServiceExt::oneshot(router, request).await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        assert!(body["error"].as_str().unwrap().contains("not valid JSON"));
    }
}
