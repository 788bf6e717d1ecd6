//! The simulated vendor portal: suppliers register themselves, and each registration is posted
//! to the hub's webhook in the portal's own JSON (`registrationId`, `company.legalName`,
//! `company.ein`, `company.npi`, `mailing.street|city|stateCode|postalCode`, `banking`), with an
//! `Idempotency-Key` of the registration id.
//!
//! [`PortalClient::register`] drives it in-process; `POST /portal/registrations` does the same
//! over HTTP (a supplier filling in the form); `GET /portal/registrations` lists them with the
//! hub's answer to each.

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::post,
};
use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::{
    common::{SystemState, applied, system_router},
    wire::{Fields, Invalid, JsonBody},
};

#[derive(Debug, Default, Clone)]
struct Link {
    url: Option<String>,
    key: Option<String>,
}

/// A registration posted, with the hub's status and answer (`None`: not reachable).
pub type Posted = (Value, Option<u16>, Value);

/// Drives the portal in-process; shares its state with its HTTP routes.
#[derive(Clone)]
pub struct PortalClient {
    common: Arc<SystemState>,
    link: Arc<Mutex<Link>>,
    posted: Arc<Mutex<Vec<Posted>>>,
    http: reqwest::Client,
}

impl std::fmt::Debug for PortalClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortalClient")
            .field("url", &self.link.lock().url)
            .finish_non_exhaustive()
    }
}

impl PortalClient {
    pub(crate) fn new(common: Arc<SystemState>) -> Self {
        Self {
            common,
            link: Arc::default(),
            posted: Arc::default(),
            http: reqwest::Client::new(),
        }
    }

    pub(crate) fn common(&self) -> &Arc<SystemState> {
        &self.common
    }

    /// Where registrations go (the hub's `/v1/inbound/vendor_portal/supplier_onboarding`) and
    /// the key sent as `Authorization: Bearer …`.
    pub fn set_webhook(&self, url: String, key: String) {
        *self.link.lock() = Link {
            url: Some(url),
            key: Some(key),
        };
    }

    /// Every registration posted, with the hub's answer.
    pub fn posted(&self) -> Vec<Posted> {
        self.posted.lock().clone()
    }

    /// Checks a registration the way the portal's form does, then posts it to the hub
    /// (retrying a transient failure with the same key); answers the hub's status and body.
    pub async fn register(&self, registration: Value) -> Result<(Option<u16>, Value), String> {
        let id = check(&registration).map_err(|e| format!("{}: {}", e.field, e.error))?;
        let (url, key) = {
            let link = self.link.lock();
            (link.url.clone(), link.key.clone())
        };
        self.common
            .record_effect(None, "registration.submitted", id.clone());
        let mut answer = (None, Value::Null);
        if let Some(url) = url {
            answer = crate::common::post_to_hub(
                &self.http,
                &url,
                key.as_deref(),
                &format!("portal-{id}"),
                "application/json",
                registration.to_string(),
            )
            .await;
        }
        self.posted
            .lock()
            .push((registration, answer.0, answer.1.clone()));
        Ok(answer)
    }
}

/// The form's own checks: a registration id and a company name.
fn check(registration: &Value) -> Result<String, Invalid> {
    let f = Fields::root(registration)?;
    let id = f.text("registrationId")?;
    f.object("company")?.text("legalName")?;
    Ok(id)
}

pub(crate) fn router(client: PortalClient) -> Router {
    let business = Router::new()
        .route(
            "/portal/registrations",
            post(post_registration).get(list_registrations),
        )
        .with_state(client.clone());
    system_router(client.common.clone(), business)
}

async fn post_registration(
    State(portal): State<PortalClient>,
    JsonBody(body): JsonBody,
) -> Response {
    if let Err(invalid) = check(&body) {
        return invalid.into_response();
    }
    match portal.register(body).await {
        Ok((status, hub)) => {
            let id = hub["receipt_id"].as_str().unwrap_or_default().to_string();
            applied(
                "registration.forwarded",
                id,
                (
                    StatusCode::ACCEPTED,
                    Json(json!({"hubStatus": status, "hub": hub})),
                ),
            )
        }
        Err(error) => crate::common::error(StatusCode::UNPROCESSABLE_ENTITY, error),
    }
}

async fn list_registrations(State(portal): State<PortalClient>) -> Json<Value> {
    let list: Vec<Value> = portal
        .posted()
        .into_iter()
        .map(|(r, status, hub)| json!({"registration": r, "hubStatus": status, "hub": hub}))
        .collect();
    Json(json!({ "registrations": list }))
}
