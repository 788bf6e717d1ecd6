//! The simulated CLM (contract lifecycle management): where contracts are negotiated and
//! approved. Unlike the other systems it is a source: approving an amendment POSTs a
//! `CONTRACT_APPROVED` event to the hub's webhook.
//!
//! Routes:
//! - `POST /api/contracts` stores a contract record (one per `contractNumber` + `amendmentNo`).
//! - `POST /api/contracts/{contractNumber}/amendments/{amendmentNo}/approve` marks it approved
//!   and sends the event; the answer reports what the hub answered.
//!
//! The same operations are available in-process through [`ClmClient`], for a demo that drives
//! the CLM directly.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::post,
};
use chrono::{DateTime, SecondsFormat, Utc};
use parking_lot::Mutex;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{
    SandboxError,
    common::{SystemState, applied, error, system_router},
    wire::{Fields, Invalid, JsonBody},
};

/// How long the CLM waits for the hub to answer a webhook.
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// The CLM's contract record, for building one in Rust. The CLM itself stores whatever JSON it
/// is given (see [`ClmClient::put_contract`]); this type documents the shape the hub can expect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClmContract {
    pub contract_number: String,
    /// 0 for the original contract, then 1, 2, ... for each amendment.
    pub amendment_no: u32,
    pub counterparty: Counterparty,
    pub term: Term,
    #[serde(default)]
    pub coverage: Coverage,
    pub pricing: Vec<PricingLine>,
}

/// The supplier, as the CLM knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Counterparty {
    pub clm_vendor_id: String,
    pub legal_name: String,
    pub tax_id: String,
}

/// The contract term, `YYYY-MM-DD`, both days included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Term {
    pub start: String,
    pub end: String,
}

/// Which facilities may buy: GLNs and named groups.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Coverage {
    #[serde(default)]
    pub facility_glns: Vec<String>,
    #[serde(default)]
    pub facility_groups: Vec<String>,
}

/// One priced item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PricingLine {
    pub item_gtin: String,
    /// Present in the record as `null` when the supplier has no part number for the item.
    pub vendor_part_no: Option<String>,
    pub unit: String,
    pub tiers: Vec<PriceTier>,
}

/// A price from `from_qty` units upwards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PriceTier {
    pub from_qty: u32,
    /// A decimal string on the wire, `"12.50"`.
    #[serde(with = "rust_decimal::serde::str")]
    pub price: Decimal,
}

/// The webhook body the CLM sends when an amendment is approved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalEvent {
    /// [`event_id`]: the same for every send of one approval, so the hub can deduplicate.
    pub event_id: String,
    /// Always `CONTRACT_APPROVED`.
    pub event_type: String,
    /// RFC 3339 UTC: when the amendment was first approved, so a re-send is identical.
    pub occurred_at: String,
    /// The stored record, exactly as it was put.
    pub contract: Value,
}

/// What happened to a webhook send; also the body of a successful approve answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookOutcome {
    pub event_id: String,
    /// The status the hub answered; `None` when no webhook URL is configured.
    pub webhook_status: Option<u16>,
    /// The hub's answer: its JSON, the text as a JSON string if it was not JSON, `None` if it
    /// was empty (or nothing was sent).
    pub webhook_body: Option<Value>,
}

/// The deterministic event id of an approval: `clm-evt-<contractNumber>-<amendmentNo>`.
pub fn event_id(contract_number: &str, amendment_no: u32) -> String {
    format!("clm-evt-{contract_number}-{amendment_no}")
}

/// Drives the CLM in-process, sharing its state with the HTTP routes. Cheap to clone.
///
/// In-process calls are not HTTP calls: they skip fault injection and the call log, but their
/// state changes are recorded as effects (with no idempotency key), like any other write.
#[derive(Clone)]
pub struct ClmClient {
    inner: Arc<Clm>,
}

struct Clm {
    common: Arc<SystemState>,
    records: Mutex<BTreeMap<(String, u32), StoredRecord>>,
    webhook: Mutex<Webhook>,
    http: reqwest::Client,
}

/// Where approvals go, and the hub credential the CLM presents (`Authorization: Bearer …`)
/// when the hub wants one.
#[derive(Clone, Default)]
struct Webhook {
    url: Option<String>,
    key: Option<String>,
}

struct StoredRecord {
    record: Value,
    approved_at: Option<DateTime<Utc>>,
}

/// Which amendment a put stored, and whether it was already approved.
struct Stored {
    contract_number: String,
    amendment_no: u32,
    approved: bool,
}

impl Stored {
    /// The effect's object id, `C-100/0`.
    fn object_id(&self) -> String {
        format!("{}/{}", self.contract_number, self.amendment_no)
    }
}

impl std::fmt::Debug for ClmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClmClient")
            .field("webhook_url", &self.webhook_url())
            .field("records", &self.inner.records.lock().len())
            .finish()
    }
}

impl ClmClient {
    pub(crate) fn new(common: Arc<SystemState>, webhook_url: Option<String>) -> ClmClient {
        let http = reqwest::Client::builder()
            .timeout(WEBHOOK_TIMEOUT)
            .build()
            .unwrap_or_default();
        ClmClient {
            inner: Arc::new(Clm {
                common,
                records: Mutex::default(),
                webhook: Mutex::new(Webhook {
                    url: webhook_url,
                    key: None,
                }),
                http,
            }),
        }
    }

    pub(crate) fn common(&self) -> &Arc<SystemState> {
        &self.inner.common
    }

    /// Where approvals are sent from now on: the hub's inbound URL, which may be known only
    /// after the sandbox started.
    pub fn set_webhook_url(&self, url: String) {
        self.inner.webhook.lock().url = Some(url);
    }

    /// The API key the CLM sends with each webhook from now on.
    pub fn set_webhook_key(&self, key: String) {
        self.inner.webhook.lock().key = Some(key);
    }

    pub fn webhook_url(&self) -> Option<String> {
        self.inner.webhook.lock().url.clone()
    }

    /// Stores a contract record, as `POST /api/contracts` does.
    ///
    /// Only the key (`contractNumber`, `amendmentNo`) is checked. The rest is kept as given,
    /// because the CLM is where bad data comes from: a demo must be able to emit a contract
    /// with a malformed GTIN to show the hub quarantining it. An approved amendment cannot be
    /// changed (a change is a new amendment), but re-putting it unchanged is fine.
    pub async fn put_contract(&self, record: Value) -> Result<(), SandboxError> {
        let stored = self.inner.store(record)?;
        self.inner
            .common
            .record_effect(None, "contract.stored", stored.object_id());
        Ok(())
    }

    /// Approves an amendment and sends its event to the webhook, as the approve route does.
    ///
    /// The approval is applied (and recorded as an effect) even when the send fails, which is
    /// then [`SandboxError::WebhookUnreachable`]; approving again re-sends the same event.
    pub async fn approve(
        &self,
        contract_number: &str,
        amendment_no: u32,
    ) -> Result<WebhookOutcome, SandboxError> {
        let event = self.inner.mark_approved(contract_number, amendment_no)?;
        self.inner.common.record_effect(
            None,
            "contract.approved",
            format!("{contract_number}/{amendment_no}"),
        );
        self.inner.deliver(&event).await
    }

    /// The stored record of an amendment, as it was put.
    pub fn contract(&self, contract_number: &str, amendment_no: u32) -> Option<Value> {
        self.inner
            .records
            .lock()
            .get(&(contract_number.to_owned(), amendment_no))
            .map(|stored| stored.record.clone())
    }
}

impl Clm {
    /// Stores a record; an approved amendment may only be re-put unchanged.
    fn store(&self, record: Value) -> Result<Stored, SandboxError> {
        let (contract_number, amendment_no) =
            record_key(&record).map_err(SandboxError::from_invalid)?;
        let stored = Stored {
            contract_number,
            amendment_no,
            approved: false,
        };
        let mut records = self.records.lock();
        let key = (stored.contract_number.clone(), amendment_no);
        if let Some(existing) = records.get(&key)
            && existing.approved_at.is_some()
        {
            if existing.record != record {
                return Err(SandboxError::AmendmentApproved {
                    contract_number: stored.contract_number,
                    amendment_no,
                });
            }
            return Ok(Stored {
                approved: true,
                ..stored
            });
        }
        records.insert(
            key,
            StoredRecord {
                record,
                approved_at: None,
            },
        );
        Ok(stored)
    }

    fn mark_approved(
        &self,
        contract_number: &str,
        amendment_no: u32,
    ) -> Result<ApprovalEvent, SandboxError> {
        let mut records = self.records.lock();
        let stored = records
            .get_mut(&(contract_number.to_owned(), amendment_no))
            .ok_or_else(|| SandboxError::ContractNotFound {
                contract_number: contract_number.to_owned(),
                amendment_no,
            })?;
        let approved_at = *stored.approved_at.get_or_insert_with(Utc::now);
        Ok(ApprovalEvent {
            event_id: event_id(contract_number, amendment_no),
            event_type: "CONTRACT_APPROVED".to_owned(),
            occurred_at: approved_at.to_rfc3339_opts(SecondsFormat::Millis, true),
            contract: stored.record.clone(),
        })
    }

    /// POSTs the event to the webhook with `Idempotency-Key: <eventId>`. No lock is held
    /// while waiting: the hub may well call back into the sandbox before it answers.
    async fn deliver(&self, event: &ApprovalEvent) -> Result<WebhookOutcome, SandboxError> {
        let Webhook { url, key } = self.webhook.lock().clone();
        let Some(url) = url else {
            tracing::info!(event = %event.event_id, "clm has no webhook url; approval not sent");
            return Ok(WebhookOutcome {
                event_id: event.event_id.clone(),
                webhook_status: None,
                webhook_body: None,
            });
        };
        let unreachable = |err: reqwest::Error| SandboxError::WebhookUnreachable {
            url: url.clone(),
            message: error_chain(&err),
        };
        let mut request = self
            .http
            .post(&url)
            .header("Idempotency-Key", &event.event_id);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let response = request.json(event).send().await.map_err(unreachable)?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(unreachable)?;
        let body = (!text.trim().is_empty())
            .then(|| serde_json::from_str(&text).unwrap_or(Value::String(text)));
        tracing::info!(event = %event.event_id, status, "clm webhook sent");
        Ok(WebhookOutcome {
            event_id: event.event_id.clone(),
            webhook_status: Some(status),
            webhook_body: body,
        })
    }
}

/// `contractNumber` and `amendmentNo` (0 for the original) of a record.
fn record_key(record: &Value) -> Result<(String, u32), Invalid> {
    let f = Fields::root(record)?;
    Ok((f.text("contractNumber")?, f.count("amendmentNo", 0)?))
}

/// reqwest's top-level message is "error sending request"; the cause (connection refused,
/// timed out) is further down the chain.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The CLM's routes, wrapped with the shared admin routes and middleware.
pub(crate) fn router(clm: ClmClient) -> Router {
    let business = Router::new()
        .route("/api/contracts", post(put_contract))
        .route(
            "/api/contracts/{contract_number}/amendments/{amendment_no}/approve",
            post(approve),
        )
        .with_state(clm.clone());
    system_router(clm.common().clone(), business)
}

async fn put_contract(State(clm): State<ClmClient>, JsonBody(record): JsonBody) -> Response {
    match clm.inner.store(record) {
        Ok(stored) => {
            let body = json!({
                "contractNumber": stored.contract_number,
                "amendmentNo": stored.amendment_no,
                "status": if stored.approved { "approved" } else { "draft" },
            });
            applied(
                "contract.stored",
                stored.object_id(),
                (StatusCode::CREATED, Json(body)),
            )
        }
        Err(err) => err.into_response(),
    }
}

async fn approve(
    State(clm): State<ClmClient>,
    Path((contract_number, amendment_no)): Path<(String, String)>,
) -> Response {
    let Ok(amendment_no) = amendment_no.parse::<u32>() else {
        return error(StatusCode::NOT_FOUND, "contract not found");
    };
    let event = match clm.inner.mark_approved(&contract_number, amendment_no) {
        Ok(event) => event,
        Err(err) => return err.into_response(),
    };
    let response = match clm.inner.deliver(&event).await {
        Ok(outcome) => Json(outcome).into_response(),
        Err(err) => {
            tracing::warn!(event = %event.event_id, %err, "clm webhook failed");
            let body = json!({ "error": err.to_string(), "eventId": event.event_id });
            (StatusCode::BAD_GATEWAY, Json(body)).into_response()
        }
    };
    // Applied either way: the amendment is approved whether or not the hub heard about it.
    applied(
        "contract.approved",
        format!("{contract_number}/{amendment_no}"),
        response,
    )
}

impl IntoResponse for SandboxError {
    fn into_response(self) -> Response {
        match self {
            SandboxError::Invalid { field, message } => {
                Invalid::new(field, message).into_response()
            }
            SandboxError::ContractNotFound { .. } => {
                error(StatusCode::NOT_FOUND, "contract not found")
            }
            SandboxError::AmendmentApproved { .. } => error(StatusCode::CONFLICT, self.to_string()),
            SandboxError::WebhookUnreachable { .. } => {
                error(StatusCode::BAD_GATEWAY, self.to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::{http::HeaderMap, http::Method};
    use tokio::net::TcpListener;

    use super::*;
    use crate::common::testing::send;

    /// `POST /api/contracts` without an idempotency key.
    async fn post_contract(router: &Router, body: Value) -> crate::common::testing::Answer {
        send(router, Method::POST, "/api/contracts", None, Some(body)).await
    }

    fn record(amendment_no: u32) -> Value {
        json!({"contractNumber": "C-100", "amendmentNo": amendment_no,
            "counterparty": {"clmVendorId": "V-0042", "legalName": "Acme Medical", "taxId": "12-3456789"},
            "term": {"start": "2026-01-01", "end": "2026-12-31"},
            "coverage": {"facilityGlns": ["0614141000005"], "facilityGroups": ["east"]},
            "pricing": [{"itemGtin": "00614141000012", "vendorPartNo": null, "unit": "EA",
                "tiers": [{"fromQty": 1, "price": "12.50"}]}]})
    }

    /// What a test receiver got: the `Idempotency-Key` header and the body of each POST.
    type Received = Arc<Mutex<Vec<(Option<String>, Value)>>>;

    /// A stand-in for the hub's inbound endpoint, on a real loopback port. It answers
    /// `status` with `{"received": <count so far>}`.
    async fn receiver(status: StatusCode) -> (String, Received) {
        let received: Received = Arc::default();
        let log = received.clone();
        let app = Router::new().route(
            "/inbound/clm",
            post(
                move |headers: HeaderMap, Json(body): Json<Value>| async move {
                    let key = headers
                        .get("idempotency-key")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    let mut log = log.lock();
                    log.push((key, body));
                    (status, Json(json!({ "received": log.len() })))
                },
            ),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/inbound/clm", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, received)
    }

    /// A URL nothing listens on: the port was bound, then released.
    async fn dead_url() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/inbound/clm", listener.local_addr().unwrap());
        drop(listener);
        url
    }

    fn clm(webhook_url: Option<String>) -> (ClmClient, Router) {
        let client = ClmClient::new(SystemState::new("clm"), webhook_url);
        (client.clone(), router(client))
    }

    const APPROVE: &str = "/api/contracts/C-100/amendments/0/approve";

    #[test]
    fn the_native_structs_match_the_documented_wire_shape() {
        let typed: ClmContract = serde_json::from_value(record(0)).unwrap();
        assert_eq!(typed.pricing[0].tiers[0].price, Decimal::new(1250, 2));
        assert_eq!(serde_json::to_value(&typed).unwrap(), record(0));
    }

    #[tokio::test]
    async fn approving_posts_the_event_to_the_webhook_with_its_key() {
        let (url, received) = receiver(StatusCode::ACCEPTED).await;
        let (client, router) = clm(Some(url));
        let mut with_extra = record(0);
        with_extra["negotiator"] = json!("kept as given");
        let stored = post_contract(&router, with_extra.clone()).await;
        assert_eq!(stored.status, StatusCode::CREATED);
        assert_eq!(
            stored.body,
            json!({"contractNumber": "C-100", "amendmentNo": 0, "status": "draft"})
        );

        let approved = send(&router, Method::POST, APPROVE, None, None).await;
        assert_eq!(approved.status, StatusCode::OK);
        assert_eq!(
            approved.body,
            json!({"eventId": "clm-evt-C-100-0", "webhookStatus": 202, "webhookBody": {"received": 1}})
        );

        let received = received.lock().clone();
        assert_eq!(received.len(), 1);
        let (key, event) = &received[0];
        assert_eq!(key.as_deref(), Some("clm-evt-C-100-0"));
        assert_eq!(event["eventId"], "clm-evt-C-100-0");
        assert_eq!(event["eventType"], "CONTRACT_APPROVED");
        assert_eq!(event["contract"], with_extra);
        let occurred_at = event["occurredAt"].as_str().unwrap();
        assert!(occurred_at.ends_with('Z'), "{occurred_at}");
        DateTime::parse_from_rfc3339(occurred_at).unwrap();

        let kinds: Vec<String> = client
            .common()
            .effects()
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(kinds, ["contract.stored", "contract.approved"]);
    }

    #[tokio::test]
    async fn re_approving_re_sends_the_identical_event() {
        let (url, received) = receiver(StatusCode::OK).await;
        let (_, router) = clm(Some(url));
        post_contract(&router, record(0)).await;
        send(&router, Method::POST, APPROVE, None, None).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        send(&router, Method::POST, APPROVE, None, None).await;
        let received = received.lock().clone();
        assert_eq!(received.len(), 2);
        assert_eq!(
            received[0], received[1],
            "same key, same body, same occurredAt"
        );
    }

    #[tokio::test]
    async fn an_unreachable_hub_is_a_502_with_the_cause() {
        let (client, router) = clm(Some(dead_url().await));
        post_contract(&router, record(0)).await;
        let answer = send(&router, Method::POST, APPROVE, Some("approve-1"), None).await;
        assert_eq!(answer.status, StatusCode::BAD_GATEWAY);
        assert_eq!(answer.body["eventId"], "clm-evt-C-100-0");
        let message = answer.body["error"].as_str().unwrap();
        assert!(
            message.contains("webhook delivery to http://127.0.0.1:"),
            "{message}"
        );
        // The approval itself happened, once.
        assert_eq!(client.common().effects().len(), 2);

        let in_process = client.approve("C-100", 0).await.unwrap_err();
        assert!(matches!(
            in_process,
            SandboxError::WebhookUnreachable { .. }
        ));
    }

    #[tokio::test]
    async fn without_a_webhook_url_the_approval_is_kept_and_nothing_sent() {
        let (client, router) = clm(None);
        post_contract(&router, record(0)).await;
        let answer = send(&router, Method::POST, APPROVE, None, None).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(
            answer.body,
            json!({"eventId": "clm-evt-C-100-0", "webhookStatus": null, "webhookBody": null})
        );

        // The hub's URL becomes known later.
        let (url, received) = receiver(StatusCode::OK).await;
        client.set_webhook_url(url.clone());
        assert_eq!(client.webhook_url(), Some(url));
        let outcome = client.approve("C-100", 0).await.unwrap();
        assert_eq!(outcome.webhook_status, Some(200));
        assert_eq!(received.lock().len(), 1);
    }

    #[tokio::test]
    async fn approving_an_unknown_amendment_is_a_404() {
        let (client, router) = clm(None);
        let answer = send(&router, Method::POST, APPROVE, None, None).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND);
        let bad_number = send(
            &router,
            Method::POST,
            "/api/contracts/C-100/amendments/x/approve",
            None,
            None,
        )
        .await;
        assert_eq!(bad_number.status, StatusCode::NOT_FOUND);
        assert!(matches!(
            client.approve("C-100", 3).await,
            Err(SandboxError::ContractNotFound {
                amendment_no: 3,
                ..
            })
        ));
        assert!(client.common().effects().is_empty());
    }

    #[tokio::test]
    async fn the_in_process_client_shares_state_with_the_routes() {
        let (url, received) = receiver(StatusCode::OK).await;
        let (client, router) = clm(Some(url));
        client.put_contract(record(1)).await.unwrap();
        assert_eq!(client.contract("C-100", 1), Some(record(1)));
        let answer = send(
            &router,
            Method::POST,
            "/api/contracts/C-100/amendments/1/approve",
            None,
            None,
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(received.lock()[0].0.as_deref(), Some("clm-evt-C-100-1"));

        let invalid = client
            .put_contract(json!({"contractNumber": "C-1", "amendmentNo": -1}))
            .await;
        assert!(
            matches!(invalid, Err(SandboxError::Invalid { ref field, .. }) if field == "amendmentNo")
        );
        assert!(
            client.common().calls().len() == 1,
            "in-process calls are not HTTP calls"
        );
    }

    #[tokio::test]
    async fn records_are_checked_only_for_their_key() {
        let (_, router) = clm(None);
        let malformed =
            json!({"contractNumber": "C-7", "amendmentNo": 0, "pricing": [{"itemGtin": "bad"}]});
        let stored = post_contract(&router, malformed).await;
        assert_eq!(stored.status, StatusCode::CREATED);
        let keyless = post_contract(&router, json!({"amendmentNo": 0})).await;
        assert_eq!(keyless.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(keyless.body["field"], "contractNumber");
    }

    #[tokio::test]
    async fn an_approved_amendment_cannot_be_changed() {
        let (_, router) = clm(None);
        post_contract(&router, record(0)).await;
        send(&router, Method::POST, APPROVE, None, None).await;
        let unchanged = post_contract(&router, record(0)).await;
        assert_eq!(unchanged.status, StatusCode::CREATED);
        assert_eq!(unchanged.body["status"], "approved");
        let mut changed = record(0);
        changed["term"]["end"] = json!("2027-12-31");
        let refused = post_contract(&router, changed).await;
        assert_eq!(refused.status, StatusCode::CONFLICT);
    }

    #[tokio::test]
    async fn an_approve_with_a_key_is_not_re_sent_on_repeat() {
        let (url, received) = receiver(StatusCode::OK).await;
        let (client, router) = clm(Some(url));
        post_contract(&router, record(0)).await;
        let first = send(&router, Method::POST, APPROVE, Some("a-1"), None).await;
        let again = send(&router, Method::POST, APPROVE, Some("a-1"), None).await;
        assert_eq!(again.body, first.body);
        assert_eq!(received.lock().len(), 1);
        assert!(client.common().duplicate_effects().is_empty());
    }
}
