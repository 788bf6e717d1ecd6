//! Inbound: a system's message is stored raw first (deduplicated), then mapped to the canonical
//! model, validated and committed. A refused message is quarantined — kept, listed, fixable and
//! replayable — and the caller gets field-level detail. Nothing accepted is ever dropped.

use crate::mapping::MappingRegistry;
use chrono::Utc;
use concord_store::{InboxInsert, InboxRecord, InboxStatus, NewException, NewInbound, Write};
use serde_json::{Value, json};

use crate::{
    error::{EngineError, Rejection, Result},
    hub::{Hub, new_id, sha256_hex, timeline},
    mapping::Direction,
};

/// The pseudo-system of the canonical API (`POST /v1/contracts`): same pipeline, no mapping.
pub const API_SYSTEM: &str = "api";
/// What the canonical API takes through the pipeline.
const API_MESSAGE_TYPES: &[&str] = &["contract", "requisition", "supplier_onboarding"];

/// A message as it arrived.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub system: String,
    pub message_type: String,
    pub idempotency_key: Option<String>,
    pub correlation_id: Option<String>,
    pub content_type: String,
    pub body: Vec<u8>,
    /// Who posted it (the principal's actor name), kept with the message for the audit log.
    pub actor: Option<String>,
}

/// What the sender is told: the same answer for every repeat of a message.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundAnswer {
    pub status: u16,
    pub body: Value,
    /// True when this is the stored answer to an earlier copy of the message.
    pub replayed: bool,
}

/// What processing needs to know about the message being processed.
#[derive(Debug, Clone)]
pub struct InboundContext {
    pub inbox_id: String,
    pub correlation_id: String,
    pub source_system: String,
    /// Who the resulting changes are recorded against in the audit log.
    pub actor: String,
    /// The claim this processing holds on the message: its answer commits only under it.
    pub claim: Option<String>,
}

impl InboundContext {
    /// The context of a stored message: its receipt and correlation ids, its system, and the
    /// principal that posted it (else the system) as the actor.
    pub(crate) fn of(record: &InboxRecord) -> Self {
        InboundContext {
            inbox_id: record.id.clone(),
            correlation_id: record.correlation_id.clone(),
            source_system: record.system.clone(),
            actor: record
                .received_by
                .clone()
                .unwrap_or_else(|| format!("system:{}", record.system)),
            claim: record.claim.clone(),
        }
    }

    /// A write that refuses the unit it is in unless the message is still received under
    /// this processing's claim (for units committed before the answer).
    pub(crate) fn still_claimed(&self) -> Write {
        Write::InboxStillClaimed {
            id: self.inbox_id.clone(),
            claim: self.claim.clone(),
        }
    }

    /// The 202 answer for a committed message.
    pub(crate) fn accepted(&self, subject: &str, outcome: &str) -> Value {
        json!({
            "receipt_id": self.inbox_id,
            "correlation_id": self.correlation_id,
            "status": "accepted",
            "subject": subject,
            "outcome": outcome,
        })
    }

    /// The write that records the final answer in the inbox, in the same transaction as the
    /// state change.
    pub(crate) fn done(&self, status: u16, body: &Value) -> Write {
        Write::InboxDone {
            id: self.inbox_id.clone(),
            claim: self.claim.clone(),
            status: InboxStatus::Processed,
            response_status: status,
            response_body: body.to_string(),
            error: None,
            at: Utc::now(),
        }
    }
}

/// The lineage's first entry for a stored message: `received`, with what the caller adds.
pub(crate) fn received_entry(record: &InboxRecord, mut detail: Value) -> Write {
    detail["receipt_id"] = json!(record.id);
    detail["system"] = json!(record.system);
    detail["message_type"] = json!(record.message_type);
    timeline(
        &record.correlation_id,
        record.received_at,
        "received",
        detail,
    )
}

/// Reads a dotted path (`.eventId`, `.header.messageId`) from a JSON document.
fn read_path<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    path.trim_start_matches('.')
        .split('.')
        .filter(|s| !s.is_empty())
        .try_fold(doc, |v, key| v.get(key))
}

/// Rejection kinds that are about references the hub could not resolve: they open an exception
/// so that somebody fixes the master data or crosswalk and replays.
const EXCEPTION_KINDS: &[&str] = &["supplier_unresolved", "item_unresolved"];

impl Hub {
    /// Accepts one inbound message: store, deduplicate, process. Counted for `/metrics` only
    /// once its route is known to exist, so the labels stay bounded whatever paths callers
    /// invent.
    pub async fn receive(&self, msg: Inbound) -> Result<InboundAnswer> {
        let route = self.inbound_route(&msg.system, &msg.message_type)?.cloned();
        let (system, message_type) = (msg.system.clone(), msg.message_type.clone());
        let result = self.receive_message(msg, route).await;
        let outcome = match &result {
            Ok(a) if a.replayed => "duplicate",
            Ok(a) if a.status < 400 => "accepted",
            Ok(_) | Err(EngineError::Rejected(_)) => "refused",
            Err(_) => "failed",
        };
        self.metrics()
            .observe_inbound(&system, &message_type, outcome);
        result
    }

    /// The mapping route a message takes: `None` for the canonical API and for trading
    /// partners' X12 (no mapping); refused when nothing is configured for it.
    fn inbound_route(
        &self,
        system: &str,
        message_type: &str,
    ) -> Result<Option<&crate::config::InboundRoute>, Rejection> {
        let config = self.config();
        if system == API_SYSTEM {
            if !API_MESSAGE_TYPES.contains(&message_type) {
                return Err(Rejection::not_found(format!(
                    "the canonical API takes no {message_type:?} messages"
                )));
            }
            Ok(None)
        } else if message_type == crate::x12_inbound::X12 {
            // A trading partner's interchange: no mapping, the X12 engine reads it.
            if !config.partners.contains_key(system) {
                return Err(Rejection::not_found(format!(
                    "no trading partner {system:?} is configured ([partners.{system}])"
                )));
            }
            Ok(None)
        } else {
            let configured = config.systems.get(system).ok_or_else(|| {
                Rejection::not_found(format!("no system {system:?} is configured"))
            })?;
            let route = configured.inbound.get(message_type).ok_or_else(|| {
                Rejection::not_found(format!(
                    "system {system:?} has no inbound route for message type {message_type:?}"
                ))
            })?;
            Ok(Some(route))
        }
    }

    async fn receive_message(
        &self,
        msg: Inbound,
        route: Option<crate::config::InboundRoute>,
    ) -> Result<InboundAnswer> {
        let body = stored_text(&msg.body);
        let key = match (
            &msg.idempotency_key,
            route.as_ref().and_then(|r| r.message_id_path.as_ref()),
        ) {
            (Some(key), _) => format!("key:{key}"),
            (None, Some(path)) => match serde_json::from_str::<Value>(&body)
                .ok()
                .as_ref()
                .and_then(|d| read_path(d, path))
            {
                Some(Value::String(id)) => format!("id:{id}"),
                Some(other) if !other.is_null() => format!("id:{other}"),
                _ => format!("sha256:{}", sha256_hex(&msg.body)),
            },
            (None, None) => format!("sha256:{}", sha256_hex(&msg.body)),
        };
        let record = NewInbound {
            id: new_id("rcpt"),
            system: msg.system.clone(),
            message_type: msg.message_type.clone(),
            dedupe_key: format!("{}:{}:{key}", msg.system, msg.message_type),
            correlation_id: msg.correlation_id.clone().unwrap_or_else(|| new_id("corr")),
            received_at: Utc::now(),
            content_type: msg.content_type.clone(),
            body,
            received_by: msg.actor.clone(),
            original_body: None,
            claim: Some(self.claim(self.work_lease())),
        };
        match self.store().insert_inbox(record.clone()).await? {
            InboxInsert::Duplicate(first) => Ok(stored_answer(&first)),
            InboxInsert::Inserted => {
                let stored = record.into_received();
                self.process(&stored, msg.body.len()).await
            }
        }
    }

    /// Maps, validates and commits one stored message; quarantines it when refused.
    pub(crate) async fn process(
        &self,
        record: &InboxRecord,
        n_bytes: usize,
    ) -> Result<InboundAnswer> {
        // Every log line of the processing names its transaction.
        let span = tracing::info_span!("inbound", receipt = %record.id, system = %record.system,
            message_type = %record.message_type, correlation_id = %record.correlation_id);
        tracing::Instrument::instrument(self.process_in_span(record, n_bytes), span).await
    }

    async fn process_in_span(&self, record: &InboxRecord, n_bytes: usize) -> Result<InboundAnswer> {
        let ctx = InboundContext::of(record);
        let received = received_entry(record, json!({"bytes": n_bytes}));
        let answer = match self.map_and_commit(record, &ctx, received.clone()).await {
            Err(EngineError::Rejected(rejection)) => {
                self.quarantine(record, &ctx, received, rejection).await
            }
            other => other,
        };
        match answer {
            Err(EngineError::Store(concord_store::Error::LostClaim(why))) => {
                // Our lease ended and another worker (in this or another instance) took the
                // message up; its answer is the one that counts, and nothing of ours committed.
                tracing::info!(receipt = %record.id, reason = %why, "another worker took this message over");
                let now = self.store().inbox(&record.id).await?;
                Ok(now.map_or_else(|| stored_answer(record), |r| stored_answer(&r)))
            }
            other => other,
        }
    }

    /// Quarantines a stored message with its problem, in one commit: its lineage (`received`
    /// is the caller's entry), the audit entry, the inbox's answer, and an exception for the
    /// kinds somebody must fix. The answer is the problem.
    pub(crate) async fn quarantine(
        &self,
        record: &InboxRecord,
        ctx: &InboundContext,
        received: Write,
        rejection: Rejection,
    ) -> Result<InboundAnswer> {
        let mut problem = rejection.to_problem();
        problem["receipt_id"] = json!(record.id);
        problem["correlation_id"] = json!(record.correlation_id);
        let now = Utc::now();
        let mut writes = vec![
            received,
            timeline(
                &ctx.correlation_id,
                now,
                "quarantined",
                json!({"problem": problem}),
            ),
            crate::governance::audit(
                &ctx.actor,
                "inbound.quarantined",
                format!("inbox:{}", record.id),
                Some(&ctx.correlation_id),
                None,
                Some(sha256_hex(record.body.as_bytes())),
                json!({"system": record.system, "message_type": record.message_type, "kind": rejection.kind, "status": rejection.status}),
            ),
            Write::InboxDone {
                id: record.id.clone(),
                claim: ctx.claim.clone(),
                status: InboxStatus::Quarantined,
                response_status: rejection.status,
                response_body: problem.to_string(),
                error: Some(rejection.detail.clone()),
                at: now,
            },
        ];
        if EXCEPTION_KINDS.contains(&rejection.kind) {
            writes.push(Write::OpenException(NewException {
                id: new_id("exc"),
                kind: rejection.kind.to_string(),
                subject: format!("inbox:{}", record.id),
                correlation_id: ctx.correlation_id.clone(),
                detail: json!({"receipt_id": record.id, "detail": rejection.detail, "errors": rejection.errors}),
                at: now,
                facility: None,
                supplier: None,
            }));
        }
        self.commit(writes).await?;
        // The reason may quote the message (a name, a date of birth): redacted unless switched on.
        let reason = rejection.to_string();
        tracing::warn!(receipt_id = %record.id, system = %record.system, kind = rejection.kind, reason = %concord_model::Phi(&reason), "inbound message quarantined");
        Ok(InboundAnswer {
            status: rejection.status,
            body: problem,
            replayed: false,
        })
    }

    async fn map_and_commit(
        &self,
        record: &InboxRecord,
        ctx: &InboundContext,
        received: Write,
    ) -> Result<InboundAnswer> {
        let mut lineage = vec![received];
        if record.message_type == crate::x12_inbound::X12 && record.system != API_SYSTEM {
            return self.receive_x12(record, ctx, lineage).await;
        }
        if record.message_type == crate::clinical::HL7V2 {
            return self.process_hl7(record, ctx, lineage).await;
        }
        if record.message_type == crate::fhir::FHIR
            && record.system == self.config().clinical.system
        {
            return self.process_fhir(record, ctx, lineage).await;
        }
        let canonical = tracing::info_span!("map").in_scope(|| {
            map_inbound(
                &self.inner.mappings,
                &record.system,
                &record.message_type,
                &record.body,
            )
        })?;
        if record.system != API_SYSTEM {
            lineage.push(timeline(
                &ctx.correlation_id,
                Utc::now(),
                "mapped",
                json!({"canonical": canonical}),
            ));
        }
        // Validate, resolve, decide and commit: the workflow's step for this message.
        let span = tracing::info_span!("workflow", message_type = %record.message_type);
        let step = async {
            match record.message_type.as_str() {
                "contract" => self.submit_contract(&canonical, ctx, lineage).await,
                "requisition" => self.submit_requisition(&canonical, ctx, lineage).await,
                "goods_receipt" => self.receive_goods(&canonical, ctx, lineage).await,
                "supplier_onboarding" => self.submit_onboarding(&canonical, ctx, lineage).await,
                "supplier" | "item" | "facility" => {
                    self.upsert_master_inbound(&record.message_type, &canonical, ctx, lineage)
                        .await
                }
                other => Err(Rejection::not_found(format!(
                    "no processing for message type {other:?}"
                ))
                .into()),
            }
        };
        tracing::Instrument::instrument(step, span).await
    }

    /// Processes the messages stored but never answered whose claim has lapsed: left by a run
    /// that stopped mid-way, by an instance that died, or by a processing that failed on a
    /// store error. Each is claimed first, so two instances never take up the same one.
    pub async fn recover_inbox(&self) -> Result<usize> {
        const BATCH: u32 = 100;
        let now = Utc::now();
        let mut n = 0;
        loop {
            let claim = self.claim(self.work_lease());
            let batch = self
                .store()
                .claim_inbox(now, &claim, None, None, BATCH)
                .await?;
            for record in &batch {
                if let Err(e) = self.process(record, record.body.len()).await {
                    // Its lease lapses again and a later round retries it.
                    tracing::error!(receipt = %record.id, error = %e, "processing a recovered message failed");
                }
            }
            n += batch.len();
            if batch.len() < BATCH as usize || self.stopping() {
                return Ok(n);
            }
        }
    }

    /// Replays a quarantined message, optionally with a fixed body (the original is kept).
    pub async fn replay_inbox(
        &self,
        id: &str,
        fixed_body: Option<String>,
        actor: &str,
    ) -> Result<InboundAnswer> {
        let record = self
            .store()
            .inbox(id)
            .await?
            .ok_or_else(|| Rejection::not_found(format!("no inbound message {id}")))?;
        if record.status != InboxStatus::Quarantined {
            return Err(Rejection::new(
                409,
                "not_quarantined",
                "Only quarantined messages can be replayed",
                format!("message {id} is {}", record.status.as_str()),
            )
            .into());
        }
        if fixed_body.is_some()
            && [crate::clinical::HL7V2, crate::fhir::FHIR].contains(&record.message_type.as_str())
        {
            return Err(Rejection::new(
                422,
                "fix_not_allowed",
                "A clinical message cannot be fixed here",
                "the hub keeps only a redacted copy, and a fix could bring patient data in: correct it in the sending system and send it again under a new control id (or replay it unchanged)",
            )
            .into());
        }
        let before_digest = sha256_hex(record.body.as_bytes());
        let now = Utc::now();
        let mut writes = vec![];
        let mut record = record;
        if let Some(body) = fixed_body {
            // The fix commits with its audit entry: no changed body without its witness.
            writes.push(Write::FixInboxBody {
                id: id.to_string(),
                body: body.clone(),
                at: now,
            });
            let original = std::mem::replace(&mut record.body, body);
            record.original_body.get_or_insert(original);
        }
        writes.extend([
            timeline(
                &record.correlation_id,
                now,
                "replayed",
                json!({"receipt_id": id, "fixed": record.original_body.is_some()}),
            ),
            crate::governance::audit(
                actor,
                "inbound.replayed",
                format!("inbox:{id}"),
                Some(&record.correlation_id),
                Some(before_digest),
                Some(sha256_hex(record.body.as_bytes())),
                json!({"fixed": record.original_body.is_some()}),
            ),
        ]);
        writes.extend(EXCEPTION_KINDS.iter().map(|kind| Write::ResolveExceptions {
            kind: kind.to_string(),
            subject: format!("inbox:{id}"),
            at: now,
        }));
        // Back to received under our claim, in the same commit: a second replay of the same
        // message at the same moment is refused rather than processed twice.
        let claim = self.claim(self.work_lease());
        record.claim = Some(claim.token.clone());
        writes.push(Write::ReclaimInbox {
            id: id.to_string(),
            claim,
            at: now,
        });
        self.commit(writes).await.map_err(|e| match e {
            EngineError::Store(concord_store::Error::Conflict(why)) => Rejection::new(
                409,
                "not_quarantined",
                "Only quarantined messages can be replayed",
                why,
            )
            .into(),
            other => other,
        })?;
        self.process(&record, record.body.len()).await
    }
}

pub(crate) fn stored_answer(first: &InboxRecord) -> InboundAnswer {
    match (first.response_status, &first.response_body) {
        (Some(status), Some(body)) => InboundAnswer {
            status,
            body: serde_json::from_str(body).unwrap_or_else(|_| json!({"receipt_id": first.id})),
            replayed: true,
        },
        _ => InboundAnswer {
            status: 202,
            body: json!({"receipt_id": first.id, "correlation_id": first.correlation_id, "status": "processing"}),
            replayed: true,
        },
    }
}

/// The recovery worker: at start-up, then every few seconds, takes up received messages whose
/// claim lapsed (see [`Hub::recover_inbox`]).
pub(crate) async fn run_recovery(hub: Hub) {
    let every = std::time::Duration::from_secs(2);
    // A store only this process uses holds no claim of another live worker: what the last run
    // left is taken up at once (on a shared store the leases run out first).
    if let Err(e) = hub
        .store()
        .end_claims_of_previous_run(Utc::now(), hub.instance())
        .await
    {
        tracing::error!(error = %e, "ending the last run's claims failed; its work is taken up when their leases end");
    }
    while !hub.stopping() {
        hub.beat("recovery");
        match hub.recover_inbox().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                messages = n,
                "took up inbound messages left unfinished (by an earlier run, another instance, or a failed attempt)"
            ),
            Err(e) => tracing::error!(error = %e, "recovering unfinished inbound messages failed"),
        }
        hub.idle("recovery", every).await;
    }
}

/// A stored message turned into its canonical document: parsed, mapped by the system's inbound
/// mapping (unless it came through the canonical API), and refused if any text in it holds a
/// control character. Pure: the pipeline, `concord test-mappings` and the fuzz target all run
/// exactly this.
pub fn map_inbound(
    mappings: &MappingRegistry,
    system: &str,
    message_type: &str,
    body: &str,
) -> std::result::Result<Value, Rejection> {
    let native: Value = serde_json::from_str(body).map_err(|e| {
        Rejection::new(
            400,
            "malformed_json",
            "The body is not valid JSON",
            format!("line {}, column {}: {e}", e.line(), e.column()),
        )
    })?;
    let canonical = if system == API_SYSTEM {
        native
    } else {
        let mapping = mappings
            .get(system, message_type, Direction::Inbound)
            .ok_or_else(|| {
                Rejection::not_found(format!("no inbound mapping for {system} {message_type}"))
            })?;
        mapping.run(&native).map_err(|e| {
            let mut r = Rejection::new(
                422,
                "mapping",
                "The message could not be mapped",
                e.to_string(),
            );
            if let Some(path) = e.input_path() {
                r.errors.push(concord_model::FieldError::new(
                    path,
                    "required",
                    "missing in the native message",
                ));
            }
            r
        })?
    };
    if let Some(path) = concord_model::error::control_character_at(&canonical) {
        return Err(Rejection::invalid(vec![concord_model::FieldError::new(
            path,
            "control_character",
            "text may not hold NUL or other control characters (tab, CR and LF are fine)",
        )]));
    }
    Ok(canonical)
}

/// Checks a canonical document of `message_type` as far as it can be without the store.
pub fn check_canonical(
    message_type: &str,
    canonical: &Value,
) -> std::result::Result<(), Rejection> {
    match message_type {
        "contract" => crate::contracts::check_submission(canonical),
        "requisition" => {
            concord_model::parse_canonical::<concord_model::requisition::Requisition>(canonical)
                .map(|_| ())
                .map_err(Rejection::invalid)
        }
        "supplier_onboarding" => crate::onboarding::check_onboarding(canonical)
            .map(|_| ())
            .map_err(Rejection::invalid),
        "goods_receipt" => {
            concord_model::parse_canonical::<concord_model::purchasing::GoodsReceipt>(canonical)
                .map(|_| ())
                .map_err(Rejection::invalid)
        }
        entity => crate::MasterRecord::parse(entity, canonical).map(|_| ()),
    }
}

/// The body as text for the inbox. A body that is not UTF-8, or holds NUL (which PostgreSQL
/// cannot store as text), is kept with each such byte written as `\xNN`: nothing is lost, and
/// since `\x` is not a JSON escape, parsing it fails at exactly that byte, so the message is
/// quarantined with a reason that points there.
pub fn stored_text(body: &[u8]) -> String {
    let mut text = String::with_capacity(body.len());
    for chunk in body.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\0' {
                text.push_str("\\x00");
            } else {
                text.push(c);
            }
        }
        for byte in chunk.invalid() {
            text.push_str(&format!("\\x{byte:02X}"));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_dotted_paths() {
        let doc = json!({"eventId": "e1", "header": {"id": 7}});
        assert_eq!(read_path(&doc, ".eventId"), Some(&json!("e1")));
        assert_eq!(read_path(&doc, "header.id"), Some(&json!(7)));
        assert_eq!(read_path(&doc, ".nope"), None);
    }

    fn demo_clm() -> MappingRegistry {
        let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/demo");
        let config = crate::Config::parse_unchecked(
            "[systems.clm]\nrole = \"clm\"\n[systems.clm.inbound.contract]\n\
             mapping = \"mappings/clm/contract.in.jq\"\n",
            &demo,
        )
        .unwrap();
        MappingRegistry::validate(&config).unwrap()
    }

    /// The fuzz target's property (fuzz/fuzz_targets/inbound_mapping.rs), run in every test
    /// pass: any bytes, and any corruption of a real payload, end as a document or a refusal
    /// that is the sender's fault (4xx), never a panic.
    mod any_input {
        use super::*;
        use proptest::prelude::*;

        fn outcome(registry: &MappingRegistry, bytes: &[u8]) -> Result<(), u16> {
            let canonical = map_inbound(registry, "clm", "contract", &stored_text(bytes))
                .map_err(|r| r.status)?;
            check_canonical("contract", &canonical).map_err(|r| r.status)
        }

        proptest! {
            #[test]
            fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
                if let Err(status) = outcome(&demo_clm(), &bytes) {
                    prop_assert!((400..500).contains(&status));
                }
            }

            #[test]
            fn corrupted_samples(edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
                let sample = std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../../examples/demo/mappings/clm/contract.in.samples/approved.json")).unwrap();
                prop_assert_eq!(outcome(&demo_clm(), &sample), Ok(()));
                let mut bytes = sample.clone();
                for (at, byte) in edits {
                    let i = at.index(bytes.len());
                    bytes[i] = byte;
                }
                if let Err(status) = outcome(&demo_clm(), &bytes) {
                    prop_assert!((400..500).contains(&status));
                }
            }
        }
    }

    #[test]
    fn bodies_are_stored_as_text_without_loss_and_bad_bytes_break_parsing_where_they_are() {
        assert_eq!(stored_text(b"{\"a\":\"\xc3\xa9\"}"), "{\"a\":\"\u{e9}\"}");
        let text = stored_text(b"{\"a\":\"\xff\x00\"}");
        assert_eq!(text, "{\"a\":\"\\xFF\\x00\"}");
        assert!(!text.contains('\0'));
        let err = serde_json::from_str::<Value>(&text).unwrap_err();
        assert_eq!((err.line(), err.column()), (1, 8), "{err}");
    }
}
