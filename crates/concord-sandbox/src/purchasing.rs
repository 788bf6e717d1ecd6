//! The simulated purchasing suite's catalog: contracts published so buyers see contract prices,
//! in the suite's own vocabulary: `contractRevision`, `supplierRef`, `startsOn` as `YYYY-MM-DD`,
//! `eligibleSites`, `items[].tiers[]`.
//!
//! Routes:
//! - `PUT /catalog/v2/contracts/{contractNumber}` publishes a revision: 200, 422 naming the
//!   field (the path must match `contractNumber`), 409 for a revision older than the one stored.
//! - `GET /catalog/v2/contracts/{contractNumber}` is the latest revision or 404.

use std::{collections::HashMap, sync::Arc};

use axum::{
    Json, Router,
    extract::{Path, State},
    response::{IntoResponse, Response},
    routing::put,
};
use parking_lot::Mutex;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{
    common::{SystemState, applied, found, refuse_stale, system_router},
    wire::{Fields, Invalid, JsonBody},
};

/// How the purchasing suite writes dates: `2026-12-31`.
pub const CATALOG_DATE: &str = "%Y-%m-%d";

/// One revision of a catalog contract, as published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogContract {
    pub contract_number: String,
    /// Starts at 1; the catalog refuses a revision older than the one it holds.
    pub contract_revision: u32,
    pub supplier_ref: String,
    /// [`CATALOG_DATE`], first day in force.
    pub starts_on: String,
    /// [`CATALOG_DATE`], last day in force; not before `starts_on`.
    pub ends_on: String,
    /// GLNs of the sites that may buy; with `eligible_regions` empty too, every site may.
    #[serde(default)]
    pub eligible_sites: Vec<String>,
    #[serde(default)]
    pub eligible_regions: Vec<String>,
    pub items: Vec<CatalogItem>,
}

/// One contract item and its price tiers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogItem {
    pub gtin: String,
    pub unit_of_measure: String,
    pub tiers: Vec<Tier>,
}

/// A price from `min_qty` units upwards. The catalog has no currency: it is single-currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tier {
    pub min_qty: u32,
    /// A decimal string on the wire, `"12.50"`.
    #[serde(with = "rust_decimal::serde::str")]
    pub price: Decimal,
}

impl CatalogContract {
    fn read(body: &Value) -> Result<CatalogContract, Invalid> {
        let f = Fields::root(body)?;
        let contract_number = f.text("contractNumber")?;
        let contract_revision = f.count("contractRevision", 1)?;
        let supplier_ref = f.text("supplierRef")?;
        let starts_on = f.date("startsOn", CATALOG_DATE)?;
        let ends_on = f.date("endsOn", CATALOG_DATE)?;
        if ends_on < starts_on {
            return Err(Invalid::new("endsOn", "endsOn is before startsOn"));
        }
        let eligible_sites = f.texts("eligibleSites")?;
        let eligible_regions = f.texts("eligibleRegions")?;
        let items = f
            .objects("items")?
            .iter()
            .map(CatalogItem::read)
            .collect::<Result<_, _>>()?;
        Ok(CatalogContract {
            contract_number,
            contract_revision,
            supplier_ref,
            starts_on: starts_on.format(CATALOG_DATE).to_string(),
            ends_on: ends_on.format(CATALOG_DATE).to_string(),
            eligible_sites,
            eligible_regions,
            items,
        })
    }

    /// The id the catalog gives a contract (the same for every revision).
    pub fn catalog_id(&self) -> String {
        format!("CAT-{}", self.contract_number)
    }
}

impl CatalogItem {
    fn read(f: &Fields<'_>) -> Result<CatalogItem, Invalid> {
        Ok(CatalogItem {
            gtin: f.text("gtin")?,
            unit_of_measure: f.text("unitOfMeasure")?,
            tiers: f
                .objects("tiers")?
                .iter()
                .map(|t| {
                    Ok(Tier {
                        min_qty: t.count("minQty", 1)?,
                        price: t.money("price")?,
                    })
                })
                .collect::<Result<_, _>>()?,
        })
    }
}

/// The latest revision of each contract, by contract number.
#[derive(Debug, Clone, Default)]
struct Catalog {
    contracts: Arc<Mutex<HashMap<String, CatalogContract>>>,
    /// Suppliers buyers may order from, by supplier code.
    suppliers: Arc<Mutex<HashMap<String, Value>>>,
}

/// The purchasing suite's routes, wrapped with the shared admin routes and middleware.
pub(crate) fn router(state: Arc<SystemState>) -> Router {
    let business = Router::new()
        .route(
            "/catalog/v2/contracts/{contract_number}",
            put(publish).get(read_contract),
        )
        .route(
            "/catalog/v2/suppliers/{supplier_code}",
            put(put_supplier).get(read_supplier),
        )
        .with_state(Catalog::default());
    system_router(state, business)
}

async fn publish(
    State(catalog): State<Catalog>,
    Path(contract_number): Path<String>,
    JsonBody(body): JsonBody,
) -> Response {
    let contract = match CatalogContract::read(&body) {
        Ok(contract) => contract,
        Err(invalid) => return invalid.into_response(),
    };
    if contract.contract_number != contract_number {
        return Invalid::new(
            "contractNumber",
            format!(
                "contractNumber {} does not match the path ({contract_number})",
                contract.contract_number
            ),
        )
        .into_response();
    }
    let mut contracts = catalog.contracts.lock();
    let stored = contracts.get(&contract_number);
    if let Some(refused) = refuse_stale(
        "purchasing",
        &contract_number,
        stored.map(|c| c.contract_revision),
        contract.contract_revision,
    ) {
        return refused;
    }
    let catalog_id = contract.catalog_id();
    let revision = contract.contract_revision;
    contracts.insert(contract_number, contract);
    let body = json!({ "catalogId": catalog_id, "revision": revision, "state": "published" });
    applied(
        "catalog_contract.published",
        format!("{catalog_id}@{revision}"),
        Json(body),
    )
}

/// `PUT /catalog/v2/suppliers/{supplierCode}`: `{"supplierCode", "displayName",
/// "erpVendor"}` (each required) and anything else the suite keeps.
async fn put_supplier(
    State(catalog): State<Catalog>,
    Path(code): Path<String>,
    JsonBody(body): JsonBody,
) -> Response {
    let check = || -> Result<(), Invalid> {
        let f = crate::wire::Fields::root(&body)?;
        let given = f.text("supplierCode")?;
        f.text("displayName")?;
        f.text("erpVendor")?;
        if given != code {
            return Err(Invalid::new(
                "supplierCode",
                format!("supplierCode {given} does not match the path ({code})"),
            ));
        }
        Ok(())
    };
    if let Err(invalid) = check() {
        return invalid.into_response();
    }
    catalog.suppliers.lock().insert(code.clone(), body.clone());
    applied("supplier.upserted", code, Json(body))
}

async fn read_supplier(State(catalog): State<Catalog>, Path(code): Path<String>) -> Response {
    found(catalog.suppliers.lock().get(&code), "supplier")
}

async fn read_contract(
    State(catalog): State<Catalog>,
    Path(contract_number): Path<String>,
) -> Response {
    found(catalog.contracts.lock().get(&contract_number), "contract")
}

#[cfg(test)]
mod tests {
    use axum::http::{Method, StatusCode};

    use super::*;
    use crate::common::testing::send;

    /// A field, the path to PUT to, and how to break the body.
    type Case = (&'static str, &'static str, Box<dyn Fn(&mut Value)>);

    const PATH: &str = "/catalog/v2/contracts/C-100";

    fn catalog() -> (Arc<SystemState>, Router) {
        let state = SystemState::new("purchasing");
        (state.clone(), router(state))
    }

    fn contract(revision: u32) -> Value {
        json!({"contractNumber": "C-100", "contractRevision": revision, "supplierRef": "S-1",
            "startsOn": "2026-01-01", "endsOn": "2026-12-31",
            "eligibleSites": ["0614141000005"], "eligibleRegions": ["east"],
            "items": [{"gtin": "00614141000012", "unitOfMeasure": "EA",
                "tiers": [{"minQty": 1, "price": "12.50"}, {"minQty": 100, "price": "11.75"}]}]})
    }

    #[test]
    fn the_native_structs_match_the_documented_wire_shape() {
        let parsed = CatalogContract::read(&contract(1)).unwrap();
        assert_eq!(serde_json::to_value(&parsed).unwrap(), contract(1));
        assert_eq!(parsed.items[0].tiers[1].price, Decimal::new(1175, 2));
    }

    #[tokio::test]
    async fn a_published_contract_is_stored_and_read_back() {
        let (state, router) = catalog();
        let published = send(&router, Method::PUT, PATH, Some("cat-1"), Some(contract(1))).await;
        assert_eq!(published.status, StatusCode::OK);
        assert_eq!(
            published.body,
            json!({ "catalogId": "CAT-C-100", "revision": 1, "state": "published" })
        );
        let read = send(&router, Method::GET, PATH, None, None).await;
        assert_eq!(read.body, contract(1));
        let missing = send(
            &router,
            Method::GET,
            "/catalog/v2/contracts/C-9",
            None,
            None,
        )
        .await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        assert_eq!(state.effects()[0].object_id, "CAT-C-100@1");
    }

    #[tokio::test]
    async fn a_repeated_put_replays_the_answer_and_publishes_once() {
        let (state, router) = catalog();
        let first = send(&router, Method::PUT, PATH, Some("cat-1"), Some(contract(1))).await;
        let again = send(&router, Method::PUT, PATH, Some("cat-1"), Some(contract(1))).await;
        assert_eq!((again.status, &again.body), (first.status, &first.body));
        assert_eq!(state.effects().len(), 1);
        assert!(state.duplicate_effects().is_empty());
    }

    #[tokio::test]
    async fn an_older_revision_is_refused_with_409() {
        let (state, router) = catalog();
        send(&router, Method::PUT, PATH, Some("cat-3"), Some(contract(3))).await;
        let stale = send(&router, Method::PUT, PATH, Some("cat-2"), Some(contract(2))).await;
        assert_eq!(stale.status, StatusCode::CONFLICT);
        assert_eq!(stale.body["error"], "stale revision");
        let read = send(&router, Method::GET, PATH, None, None).await;
        assert_eq!(read.body["contractRevision"], 3);
        assert_eq!(state.effects().len(), 1);
    }

    #[tokio::test]
    async fn an_invalid_contract_is_refused_naming_the_field() {
        let (state, router) = catalog();
        let cases: Vec<Case> = vec![
            (
                "contractNumber",
                PATH,
                Box::new(|v| v["contractNumber"] = json!("C-200")),
            ),
            (
                "contractNumber",
                PATH,
                Box::new(|v| v["contractNumber"] = Value::Null),
            ),
            (
                "contractNumber",
                "/catalog/v2/contracts/C-200",
                Box::new(|_| {}),
            ),
            (
                "contractRevision",
                PATH,
                Box::new(|v| v["contractRevision"] = json!(-1)),
            ),
            (
                "startsOn",
                PATH,
                Box::new(|v| v["startsOn"] = json!("20260101")),
            ),
            (
                "endsOn",
                PATH,
                Box::new(|v| v["endsOn"] = json!("2025-12-31")),
            ),
            (
                "eligibleSites[0]",
                PATH,
                Box::new(|v| v["eligibleSites"] = json!([5])),
            ),
            ("items", PATH, Box::new(|v| v["items"] = json!([]))),
            (
                "items[0].tiers[0].minQty",
                PATH,
                Box::new(|v| v["items"][0]["tiers"][0]["minQty"] = json!(0)),
            ),
            (
                "items[0].tiers[1].price",
                PATH,
                Box::new(|v| v["items"][0]["tiers"][1]["price"] = json!("cheap")),
            ),
        ];
        for (field, path, break_it) in cases {
            let mut body = contract(1);
            break_it(&mut body);
            let answer = send(&router, Method::PUT, path, None, Some(body)).await;
            assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{field}");
            assert_eq!(answer.body["field"], field, "{}", answer.body);
        }
        assert!(state.effects().is_empty());
    }
}
