//! The simulated accounts-payable system: the payees it may pay, in its own words
//! (`payeeId`, `legalName`, `erpVendorNumber`, `taxId`, `remitTo`).
//!
//! - `PUT /ap/payees/{payeeId}` creates or replaces a payee: 200, 422 naming the field.
//! - `GET /ap/payees/{payeeId}` is one payee or 404; `GET /ap/payees` lists them.

use std::{collections::BTreeMap, sync::Arc};

use axum::{
    Json, Router,
    extract::{Path, State},
    response::{IntoResponse, Response},
    routing::{get, put},
};
use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::{
    common::{SystemState, applied, found, system_router},
    wire::{Fields, Invalid, JsonBody},
};

#[derive(Debug, Clone, Default)]
struct Payees(Arc<Mutex<BTreeMap<String, Value>>>);

pub(crate) fn router(state: Arc<SystemState>) -> Router {
    let business = Router::new()
        .route("/ap/payees", get(list_payees))
        .route("/ap/payees/{payee_id}", put(put_payee).get(get_payee))
        .with_state(Payees::default());
    system_router(state, business)
}

async fn put_payee(
    State(payees): State<Payees>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Response {
    let check = || -> Result<(), Invalid> {
        let f = Fields::root(&body)?;
        let given = f.text("payeeId")?;
        f.text("legalName")?;
        f.text("erpVendorNumber")?;
        if given != id {
            return Err(Invalid::new(
                "payeeId",
                format!("payeeId {given} does not match the path ({id})"),
            ));
        }
        Ok(())
    };
    if let Err(invalid) = check() {
        return invalid.into_response();
    }
    payees.0.lock().insert(id.clone(), body.clone());
    applied("payee.upserted", id, Json(body))
}

async fn get_payee(State(payees): State<Payees>, Path(id): Path<String>) -> Response {
    found(payees.0.lock().get(&id), "payee")
}

async fn list_payees(State(payees): State<Payees>) -> Json<Value> {
    let list: Vec<Value> = payees.0.lock().values().cloned().collect();
    Json(json!({ "payees": list }))
}
