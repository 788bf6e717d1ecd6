//! The records the store reads and writes. Canonical documents travel as `serde_json::Value`
//! (stored as JSON text); times are UTC.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::{DeliveryStatus, InboxStatus};

/// A raw inbound message as it arrived, before any processing.
#[derive(Debug, Clone)]
pub struct NewInbound {
    pub id: String,
    pub system: String,
    pub message_type: String,
    /// `system:message_type:key`; a second message with the same key is a repeat.
    pub dedupe_key: String,
    pub correlation_id: String,
    pub received_at: DateTime<Utc>,
    pub content_type: String,
    pub body: String,
    /// The principal that posted it (`None` for messages from before part 2).
    pub received_by: Option<String>,
    /// The message as it arrived, when `body` is a redacted copy and the operator chose to
    /// keep originals (`[clinical] keep_original`); `None` otherwise.
    pub original_body: Option<String>,
    /// The receiver's claim on processing it, and until when: a message stored by the
    /// instance that goes on to process it carries one, so no other instance takes it up
    /// meanwhile. `None`: anyone may claim it at once (HL7 intake hands it to a worker).
    pub claim: Option<Claim>,
}

/// A worker's hold on a piece of work (a received message, a delivery): a token unique to this
/// taking, and when the hold lapses. What the worker commits is fenced by the token, so once
/// another worker has taken the work over after the lease ended, the first one's commit is
/// refused ([`crate::Error::LostClaim`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub token: String,
    pub lease_until: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct InboxRecord {
    pub id: String,
    pub system: String,
    pub message_type: String,
    pub dedupe_key: String,
    pub correlation_id: String,
    pub received_at: DateTime<Utc>,
    pub content_type: String,
    pub body: String,
    /// The body as first received, when it was since fixed by hand.
    pub original_body: Option<String>,
    #[serde(serialize_with = "ser_inbox_status")]
    pub status: InboxStatus,
    pub response_status: Option<u16>,
    pub response_body: Option<String>,
    pub error: Option<String>,
    pub received_by: Option<String>,
    /// The token of the worker that claimed it last, if any (see [`Claim`]).
    #[serde(skip)]
    pub claim: Option<String>,
}

impl NewInbound {
    /// The record as the store now holds it: received, not yet answered.
    pub fn into_received(self) -> InboxRecord {
        InboxRecord {
            id: self.id,
            system: self.system,
            message_type: self.message_type,
            dedupe_key: self.dedupe_key,
            correlation_id: self.correlation_id,
            received_at: self.received_at,
            content_type: self.content_type,
            body: self.body,
            original_body: self.original_body,
            status: InboxStatus::Received,
            response_status: None,
            response_body: None,
            error: None,
            received_by: self.received_by,
            claim: self.claim.map(|c| c.token),
        }
    }
}

fn ser_inbox_status<S: serde::Serializer>(s: &InboxStatus, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(s.as_str())
}

fn ser_delivery_status<S: serde::Serializer>(
    s: &DeliveryStatus,
    ser: S,
) -> Result<S::Ok, S::Error> {
    ser.serialize_str(s.as_str())
}

/// What inserting into the inbox found.
#[derive(Debug, Clone)]
pub enum InboxInsert {
    Inserted,
    /// The dedupe key was seen before: here is that first message.
    Duplicate(Box<InboxRecord>),
}

/// A canonical event (CloudEvents attributes plus data).
#[derive(Debug, Clone, Serialize)]
pub struct NewEvent {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub source: String,
    pub subject: String,
    pub time: DateTime<Utc>,
    pub correlation_id: String,
    pub data: Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct EventRecord {
    pub seq: i64,
    #[serde(flatten)]
    pub event: NewEvent,
}

/// One outbox row: one event for one target.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub id: String,
    pub event_id: String,
    pub target: String,
    pub message_type: String,
    /// Deliveries to one target with the same subject go out in commit order.
    pub subject: String,
    pub idempotency_key: String,
    pub correlation_id: String,
    pub required: bool,
    /// The canonical document (and references) the outbound mapping turns into the target's body.
    pub payload: Value,
    pub next_attempt_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeliveryRecord {
    pub seq: i64,
    pub id: String,
    pub event_id: String,
    pub target: String,
    pub message_type: String,
    pub subject: String,
    pub idempotency_key: String,
    pub correlation_id: String,
    pub required: bool,
    #[serde(skip)]
    pub payload: Value,
    #[serde(serialize_with = "ser_delivery_status")]
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The token of the worker that claimed it last (see [`Claim`]); its attempt's result is
    /// recorded only while the delivery is still claimed with it.
    #[serde(skip)]
    pub claim: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AttemptRecord {
    pub delivery_id: String,
    pub attempt: u32,
    pub at: DateTime<Utc>,
    pub outcome: String,
    pub status_code: Option<u16>,
    pub latency_us: i64,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ContractVersionRecord {
    pub contract_id: String,
    pub version: u32,
    pub status: String,
    /// SHA-256 of the canonical document: a resubmission with the same digest is a repeat.
    pub digest: String,
    pub data: Value,
    pub correlation_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A stored contract version without its document: what intake and a workflow step need of a
/// contract's versions (which exist, their status and digest, whose lineage they carry). Read
/// instead of [`ContractVersionRecord`] on those paths so that a contract with many large
/// versions is not parsed whole at every message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractVersionHead {
    pub contract_id: String,
    pub version: u32,
    pub status: String,
    /// SHA-256 of the canonical document (see [`ContractVersionRecord::digest`]).
    pub digest: String,
    pub correlation_id: String,
}

/// A contract version's status as of a change (see `Store::contracts_changed_since`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractChange {
    pub contract_id: String,
    pub version: u32,
    pub status: String,
    pub updated_at: DateTime<Utc>,
    /// The contract version's canonical document (JSON text) when it is active, to be read
    /// only if needed.
    pub document: Option<String>,
}

/// One step in a transaction's lineage.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineEntry {
    pub correlation_id: String,
    pub at: DateTime<Utc>,
    pub step: String,
    pub detail: Value,
}

#[derive(Debug, Clone)]
pub struct NewException {
    pub id: String,
    pub kind: String,
    /// What the exception is about, e.g. `contract:C-100:2`; one open exception per kind and subject.
    pub subject: String,
    pub correlation_id: String,
    pub detail: Value,
    pub at: DateTime<Utc>,
    /// The facility (GLN) and supplier it concerns, when it concerns one: the workbench
    /// filters by them.
    pub facility: Option<String>,
    pub supplier: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExceptionRecord {
    pub id: String,
    pub kind: String,
    pub subject: String,
    pub status: String,
    pub correlation_id: String,
    pub detail: Value,
    pub created_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub facility: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supplier: Option<String>,
    /// How it was resolved in the workbench (action, who, why); absent when the workflow
    /// closed it itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution: Option<Value>,
}

/// Which exceptions to list (the workbench's filters); every filter is optional.
#[derive(Debug, Clone, Default)]
pub struct ExceptionFilter {
    /// `open` or `resolved`.
    pub status: String,
    pub kind: Option<String>,
    /// What it is about (`purchase_order:PO-1`).
    pub subject: Option<String>,
    /// Subjects starting with this: `contract:C-1:` (every version of a contract) or
    /// `purchase_order:` (a workflow's exceptions).
    pub subject_prefix: Option<String>,
    /// One transaction's exceptions.
    pub correlation_id: Option<String>,
    pub facility: Option<String>,
    pub supplier: Option<String>,
    /// Only exceptions created at or before this instant (older than an age).
    pub created_before: Option<DateTime<Utc>>,
    pub limit: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Crosswalk {
    pub system: String,
    pub entity_type: String,
    pub external_id: String,
    pub canonical_id: String,
}

#[derive(Debug, Clone)]
pub struct Timer {
    pub id: String,
    pub due_at: DateTime<Utc>,
    pub kind: String,
    pub subject: String,
    pub correlation_id: String,
}
