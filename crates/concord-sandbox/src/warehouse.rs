//! The simulated warehouse: when goods arrive at a dock it posts a goods receipt to the hub's
//! webhook in its own JSON (`receiptNo`, `purchaseOrder`, `plant`, `items[].poItem`,
//! `qtyReceived` as a decimal string, `unit`), with an `Idempotency-Key` of the receipt number.
//!
//! The supplier sandbox drives it in-process ([`WarehouseClient::receive`]) when its shipment
//! "arrives"; `POST /warehouse/receipts` does the same over HTTP, for a person at the dock.
//! `GET /warehouse/receipts` lists what was received.

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::post,
};
use parking_lot::Mutex;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{
    common::{SystemState, applied, error, system_router},
    wire::{Fields, Invalid, JsonBody},
};

/// One received line, in the warehouse's words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptItem {
    /// The PO line.
    pub po_item: String,
    pub gtin: String,
    #[serde(with = "rust_decimal::serde::str")]
    pub qty_received: Decimal,
    pub unit: String,
}

/// A goods receipt as the warehouse posts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GoodsReceipt {
    pub receipt_no: String,
    pub purchase_order: String,
    /// The receiving plant's GLN.
    pub plant: String,
    pub items: Vec<ReceiptItem>,
}

#[derive(Debug, Default)]
struct Link {
    url: Option<String>,
    key: Option<String>,
}

/// A receipt posted, with the status the hub answered (`None`: not reachable).
type Posted = (GoodsReceipt, Option<u16>);

/// Drives the warehouse in-process; shares its state with its HTTP routes.
#[derive(Clone)]
pub struct WarehouseClient {
    common: Arc<SystemState>,
    link: Arc<Mutex<Link>>,
    receipts: Arc<Mutex<Vec<Posted>>>,
    http: reqwest::Client,
}

impl std::fmt::Debug for WarehouseClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WarehouseClient")
            .field("url", &self.link.lock().url)
            .finish_non_exhaustive()
    }
}

impl WarehouseClient {
    pub(crate) fn new(common: Arc<SystemState>) -> Self {
        Self {
            common,
            link: Arc::default(),
            receipts: Arc::default(),
            http: reqwest::Client::new(),
        }
    }

    pub(crate) fn common(&self) -> &Arc<SystemState> {
        &self.common
    }

    /// Where receipts go (the hub's `/v1/inbound/warehouse/goods_receipt`) and the key sent
    /// as `Authorization: Bearer …`.
    pub fn set_webhook(&self, url: String, key: String) {
        *self.link.lock() = Link {
            url: Some(url),
            key: Some(key),
        };
    }

    /// Every receipt posted, with the status the hub answered (`None`: not reachable).
    pub fn receipts(&self) -> Vec<Posted> {
        self.receipts.lock().clone()
    }

    /// Posts a receipt to the hub, retrying a few times on a transient failure (the same
    /// receipt number each time, so the hub counts it once). Answers the hub's last status.
    pub async fn receive(&self, receipt: GoodsReceipt) -> Option<u16> {
        let (url, key) = {
            let link = self.link.lock();
            (link.url.clone(), link.key.clone())
        };
        self.common
            .record_effect(None, "goods.received", receipt.receipt_no.clone());
        let mut status = None;
        if let Some(url) = url {
            let body = serde_json::to_string(&receipt).expect("receipts serialise");
            status = crate::common::post_to_hub(
                &self.http,
                &url,
                key.as_deref(),
                &receipt.receipt_no,
                "application/json",
                body,
            )
            .await
            .0;
        }
        self.receipts.lock().push((receipt, status));
        status
    }
}

pub(crate) fn router(client: WarehouseClient) -> Router {
    let business = Router::new()
        .route("/warehouse/receipts", post(post_receipt).get(list_receipts))
        .with_state(client.clone());
    system_router(client.common.clone(), business)
}

impl GoodsReceipt {
    fn read(body: &Value) -> Result<GoodsReceipt, Invalid> {
        let f = Fields::root(body)?;
        Ok(GoodsReceipt {
            receipt_no: f.text("receiptNo")?,
            purchase_order: f.text("purchaseOrder")?,
            plant: f.text("plant")?,
            items: f
                .objects("items")?
                .iter()
                .map(|i| {
                    Ok(ReceiptItem {
                        po_item: i.text("poItem")?,
                        gtin: i.text("gtin")?,
                        qty_received: i.money("qtyReceived")?,
                        unit: i.text("unit")?,
                    })
                })
                .collect::<Result<_, Invalid>>()?,
        })
    }
}

async fn post_receipt(State(w): State<WarehouseClient>, JsonBody(body): JsonBody) -> Response {
    let receipt = match GoodsReceipt::read(&body) {
        Ok(r) => r,
        Err(invalid) => return invalid.into_response(),
    };
    let number = receipt.receipt_no.clone();
    match w.receive(receipt).await {
        Some(status) => applied(
            "goods.posted",
            number.clone(),
            (
                StatusCode::CREATED,
                Json(json!({"receiptNo": number, "hubStatus": status})),
            ),
        ),
        None => error(StatusCode::BAD_GATEWAY, "the hub did not answer"),
    }
}

async fn list_receipts(State(w): State<WarehouseClient>) -> Json<Value> {
    let receipts: Vec<Value> = w
        .receipts()
        .into_iter()
        .map(|(r, status)| json!({"receipt": r, "hubStatus": status}))
        .collect();
    Json(json!({ "receipts": receipts }))
}
