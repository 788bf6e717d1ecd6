//! Handlers of part 6: stock levels per facility, location and item, and clinical usages.

use std::collections::HashMap;

use axum::{
    Json,
    body::Bytes,
    extract::{Extension, Path, Query, State},
    http::HeaderMap,
    response::IntoResponse,
};
use concord_engine::{Hub, usage::StockInput};
use concord_model::{Gln, access::Principal};
use serde_json::json;

use crate::{
    problem::ApiError,
    routes::{ApiResult, found, limit, parse_body, path_gtin},
    suppliers::text_param,
};

/// `POST /v1/fhir/{resource_type}`: JSON (`application/fhir+json` or `application/json`).
pub(crate) async fn post_fhir(
    State(hub): State<Hub>,
    Extension(principal): Extension<Principal>,
    Path(resource_type): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    crate::routes::check_json_content_type(&headers)?;
    let answer = hub
        .receive_fhir(&resource_type, &body, &principal.actor())
        .await?;
    Ok(crate::routes::answer(answer))
}

pub(crate) async fn put_stock(
    State(hub): State<Hub>,
    Extension(principal): Extension<Principal>,
    Path((facility, location, gtin)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let facility = Gln::parse(&facility)
        .map_err(|e| ApiError::field(400, "facility", "gln", format!("path: {e}")))?;
    let gtin = path_gtin(&gtin)?;
    let body = parse_body(&headers, &body)?;
    let input: StockInput = serde_json::from_value(body).map_err(|e| {
        ApiError::field(
            422,
            "",
            "schema",
            format!("a stock level is {{on_hand, par_level, reorder_point, bill_only}}: {e}"),
        )
    })?;
    let level = hub
        .set_stock(&facility, &location, &gtin, input, &principal.actor())
        .await?;
    Ok(Json(level).into_response())
}

pub(crate) async fn list_stock(
    State(hub): State<Hub>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let facility = match text_param(&q, "facility") {
        Some(f) => Some(
            Gln::parse(&f)
                .map_err(|e| ApiError::field(400, "facility", "gln", e.to_string()))?
                .to_string(),
        ),
        None => None,
    };
    let levels = hub
        .store()
        .stock_levels(facility.as_deref(), limit(&q)?)
        .await?;
    Ok(Json(json!({"stock": levels})).into_response())
}

pub(crate) async fn get_usage(State(hub): State<Hub>, Path(id): Path<String>) -> ApiResult {
    found(hub.usage(&id).await?, format!("usage {id}"))
}
