//! The simulated analytics sink: it accepts events and keeps them, so a test can see what the
//! hub reported.
//!
//! Routes:
//! - `POST /ingest/events` takes `{"eventType","occurredAt","payload"}` and answers
//!   `202 {"accepted":true}`.
//! - `GET /ingest/events` answers `{"events":[...]}`, in arrival order.

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::post,
};
use chrono::DateTime;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{
    common::{SystemState, applied, system_router},
    wire::{Fields, Invalid, JsonBody},
};

/// One event as the sink stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IngestEvent {
    pub event_type: String,
    /// RFC 3339, as the sender wrote it.
    pub occurred_at: String,
    /// Free-form; the sink does not look inside.
    #[serde(default)]
    pub payload: Value,
}

impl IngestEvent {
    fn read(body: &Value) -> Result<IngestEvent, Invalid> {
        let f = Fields::root(body)?;
        let event_type = f.text("eventType")?;
        let occurred_at = f.text("occurredAt")?;
        if DateTime::parse_from_rfc3339(&occurred_at).is_err() {
            return Err(Invalid::new(
                "occurredAt",
                "occurredAt must be an RFC 3339 timestamp such as 2026-01-31T12:00:00Z",
            ));
        }
        let payload = body.get("payload").cloned().unwrap_or(Value::Null);
        Ok(IngestEvent {
            event_type,
            occurred_at,
            payload,
        })
    }
}

#[derive(Debug, Clone, Default)]
struct Sink {
    events: Arc<Mutex<Vec<IngestEvent>>>,
}

/// The sink's routes, wrapped with the shared admin routes and middleware.
pub(crate) fn router(state: Arc<SystemState>) -> Router {
    let business = Router::new()
        .route("/ingest/events", post(ingest).get(list))
        .with_state(Sink::default());
    system_router(state, business)
}

async fn ingest(State(sink): State<Sink>, JsonBody(body): JsonBody) -> Response {
    let event = match IngestEvent::read(&body) {
        Ok(event) => event,
        Err(invalid) => return invalid.into_response(),
    };
    let mut events = sink.events.lock();
    events.push(event);
    // The sink has no ids of its own; the position in the log is the object.
    let object_id = format!("event-{}", events.len());
    applied(
        "event.ingested",
        object_id,
        (StatusCode::ACCEPTED, Json(json!({ "accepted": true }))),
    )
}

async fn list(State(sink): State<Sink>) -> Json<Value> {
    Json(json!({ "events": *sink.events.lock() }))
}

#[cfg(test)]
mod tests {
    use axum::http::Method;

    use super::*;
    use crate::common::testing::send;

    fn sink() -> (Arc<SystemState>, Router) {
        let state = SystemState::new("analytics");
        (state.clone(), router(state))
    }

    fn event(kind: &str) -> Value {
        json!({"eventType": kind, "occurredAt": "2026-01-31T12:00:00Z", "payload": {"contract": "C-100"}})
    }

    #[tokio::test]
    async fn events_are_accepted_kept_and_listed_in_order() {
        let (state, router) = sink();
        let accepted = send(
            &router,
            Method::POST,
            "/ingest/events",
            Some("e1"),
            Some(event("a")),
        )
        .await;
        assert_eq!(accepted.status, StatusCode::ACCEPTED);
        assert_eq!(accepted.body, json!({ "accepted": true }));
        send(
            &router,
            Method::POST,
            "/ingest/events",
            Some("e2"),
            Some(event("b")),
        )
        .await;
        // A repeat of the first event's key is not kept twice.
        send(
            &router,
            Method::POST,
            "/ingest/events",
            Some("e1"),
            Some(event("a")),
        )
        .await;

        let listed = send(&router, Method::GET, "/ingest/events", None, None).await;
        assert_eq!(listed.body, json!({ "events": [event("a"), event("b")] }));
        assert_eq!(state.effects().len(), 2);
        assert!(state.duplicate_effects().is_empty());
    }

    #[tokio::test]
    async fn an_event_without_a_type_or_a_good_timestamp_is_refused() {
        let (state, router) = sink();
        let mut untyped = event("a");
        untyped.as_object_mut().unwrap().remove("eventType");
        let answer = send(&router, Method::POST, "/ingest/events", None, Some(untyped)).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(answer.body["field"], "eventType");

        let mut undated = event("a");
        undated["occurredAt"] = json!("yesterday");
        let answer = send(&router, Method::POST, "/ingest/events", None, Some(undated)).await;
        assert_eq!(answer.body["field"], "occurredAt");
        assert!(state.effects().is_empty());
    }
}
