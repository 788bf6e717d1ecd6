//! Clinical intake: HL7 v2 messages (over MLLP, see `mllp`) stored durably in redacted form
//! and acknowledged, then read as usages (`usage`) by a worker.
//!
//! The order is what makes an ACK mean something: parse → redact (allow-listed segments and
//! fields, MRN and visit numbers replaced by keyed pseudonyms) → store in the inbox (one
//! transaction; a repeat of the sender's message control id stores nothing) → ACK. AA means
//! "stored: the hub is responsible now"; AE "stored, and quarantined with these errors"; AR
//! "not stored: send it again or fix it". The original text is discarded after parsing unless
//! `[clinical] keep_original` is set, and nothing that could name a patient is logged.

use std::net::SocketAddr;

use chrono::Utc;
use concord_formats::hl7::{self, ack::AckCode};
use concord_model::{phi::Pseudonymizer, redact::Secret};
use concord_store::{InboxInsert, InboxRecord, InboxStatus, NewInbound};
use serde::Deserialize;
use serde_json::json;

use crate::{
    config::SecretRef,
    hub::{Hub, new_id, sha256_hex},
};

/// The inbox's message type of an HL7 v2 message.
pub const HL7V2: &str = "hl7v2";
pub const HL7_CONTENT_TYPE: &str = "application/hl7-v2";

/// `[clinical]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClinicalConfig {
    /// The name clinical messages are recorded under (inbox, crosswalks, metrics).
    #[serde(default = "default_system")]
    pub system: String,
    /// Where the MLLP listener accepts HL7 v2 (off when absent); `--mllp-listen` on `serve`
    /// and `demo`, env `CONCORD_MLLP_LISTEN`.
    #[serde(default)]
    pub mllp_listen: Option<SocketAddr>,
    /// The key of the MRN and visit pseudonyms (32+ bytes). Without one the hub makes a
    /// random key in `data_dir/pseudonym.key` on first start; give one when several instances
    /// share a PostgreSQL store, so they all make the same pseudonyms.
    #[serde(default)]
    pub pseudonym_key: Option<SecretRef>,
    /// Keep each clinical message's original text beside its redacted copy (for a debugging
    /// window only: the original carries names and dates of birth). Off by default.
    #[serde(default)]
    pub keep_original: bool,
    /// Connections served at once; one more is closed at once (and logged).
    #[serde(default = "default_max_connections")]
    pub mllp_max_connections: usize,
    /// A connection that sends nothing for this long is closed.
    #[serde(default = "default_idle_timeout_ms")]
    pub mllp_idle_timeout_ms: u64,
    /// A message larger than this is rejected (AR) and skipped to its end.
    #[serde(default = "default_max_message_bytes")]
    pub mllp_max_message_bytes: usize,
}

fn default_system() -> String {
    "ehr".into()
}
fn default_max_connections() -> usize {
    64
}
fn default_idle_timeout_ms() -> u64 {
    60_000
}
fn default_max_message_bytes() -> usize {
    1024 * 1024
}

impl Default for ClinicalConfig {
    fn default() -> Self {
        ClinicalConfig {
            system: default_system(),
            mllp_listen: None,
            pseudonym_key: None,
            keep_original: false,
            mllp_max_connections: default_max_connections(),
            mllp_idle_timeout_ms: default_idle_timeout_ms(),
            mllp_max_message_bytes: default_max_message_bytes(),
        }
    }
}

impl ClinicalConfig {
    pub(crate) fn check(&self, problem: &mut impl FnMut(String, String)) {
        let valid = !self.system.is_empty()
            && self
                .system
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid {
            problem(
                "clinical.system".into(),
                format!("{:?} is not an id (letters, digits, _ and -)", self.system),
            );
        }
        if let Some(key) = &self.pseudonym_key {
            key.check("clinical.pseudonym_key", problem);
        }
        for (name, value) in [
            ("mllp_max_connections", self.mllp_max_connections as u64),
            ("mllp_idle_timeout_ms", self.mllp_idle_timeout_ms),
            ("mllp_max_message_bytes", self.mllp_max_message_bytes as u64),
        ] {
            if value == 0 {
                problem(format!("clinical.{name}"), "must be at least 1".into());
            }
        }
    }
}

/// The pseudonym key: the configured secret, else the one in `data_dir/pseudonym.key`
/// (made on first use with 32 random bytes, readable by the owner only).
pub(crate) fn pseudonymizer(config: &crate::config::Config) -> Result<Pseudonymizer, String> {
    let key = match &config.clinical.pseudonym_key {
        Some(r) => r
            .read(config)
            .map_err(|e| format!("clinical.pseudonym_key: {e}"))?,
        None => {
            let path = config.hub.data_dir.join("pseudonym.key");
            match std::fs::read_to_string(&path) {
                Ok(text) => Secret::new(text.trim()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    let mut bytes = [0u8; 32];
                    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness: {e}"))?;
                    let text = hex::encode(bytes);
                    std::fs::create_dir_all(&config.hub.data_dir)
                        .and_then(|()| publish_private(&path, &text))
                        .map_err(|e| format!("cannot write {}: {e}", path.display()))?
                }
                Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
            }
        }
    };
    Pseudonymizer::new(key).map_err(|e| format!("clinical.pseudonym_key: {e}"))
}

/// Writes `text` as a new file readable by its owner only, and answers the key that ends up at
/// `path`: ours, or the one another process (a second hub on the same data folder, a test
/// beside this one) published first. The file is written under a temporary name and linked into
/// place, which fails when `path` exists, so nobody ever reads half a key.
fn publish_private(path: &std::path::Path, text: &str) -> std::io::Result<Secret> {
    use std::io::Write as _;
    // The random key's first characters make the temporary name unique to this call.
    let tmp = path.with_extension(format!("tmp-{}", &text[..text.len().min(12)]));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options
        .open(&tmp)
        .and_then(|mut f| f.write_all(text.as_bytes()).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    match written {
        Ok(()) => Ok(Secret::new(text)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Ok(Secret::new(std::fs::read_to_string(path)?.trim()))
        }
        Err(e) => Err(e),
    }
}

/// What one received message came to.
#[derive(Debug, Clone)]
pub struct Hl7Receipt {
    /// The ACK to send back (segments end in CR; not framed).
    pub ack: String,
    /// Stored now and waiting to be processed (not a repeat, not quarantined).
    pub to_process: Option<InboxRecord>,
}

/// HL7 v2 arrives as bytes: UTF-8 when it is, else ISO 8859-1 (HL7's default character set,
/// where every byte is a character).
fn decode(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_string(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

impl Hub {
    /// Stores one HL7 v2 message (see the module's doc) and says what to answer: every
    /// outcome, a failed store included (AR: not stored), is an ACK.
    pub async fn receive_hl7(&self, bytes: &[u8]) -> Hl7Receipt {
        let config = &self.config().clinical;
        let system = config.system.as_str();
        let now = Utc::now();
        let ack_id = new_id("ack");
        let text = decode(bytes);
        let batch = hl7::parse(&text);
        let reject = |reason: String| {
            self.metrics().observe_inbound(system, HL7V2, "refused");
            Hl7Receipt {
                ack: hl7::ack::reject_unreadable(&reason, &ack_id, now.naive_utc()),
                to_process: None,
            }
        };
        let message = match batch.messages.as_slice() {
            [] => {
                let why = batch
                    .diagnostics
                    .first()
                    .map(|d| format!("{}: {}", d.location(), d.reason))
                    .unwrap_or_else(|| "the frame holds no MSH segment".into());
                return reject(why);
            }
            [one] => one,
            more => {
                return reject(format!(
                    "a frame carries one message; this one carries {}",
                    more.len()
                ));
            }
        };
        let redacted = hl7::redact::redact(message, &self.inner.pseudonyms);
        let msh = message.msh();
        let control_id = message.control_id();
        let key = if control_id.is_empty() {
            format!("sha256:{}", sha256_hex(redacted.text.as_bytes()))
        } else {
            // The sender's control id is unique per sending application and facility.
            format!(
                "msh:{}|{}|{control_id}",
                msh.field(3).raw(),
                msh.field(4).raw()
            )
        };
        let record = NewInbound {
            id: new_id("rcpt"),
            system: system.to_string(),
            message_type: HL7V2.into(),
            dedupe_key: format!("{system}:{HL7V2}:{key}"),
            correlation_id: new_id("corr"),
            received_at: now,
            content_type: HL7_CONTENT_TYPE.into(),
            body: crate::inbound::stored_text(redacted.text.as_bytes()),
            received_by: Some(format!("mllp:{system}")),
            original_body: config
                .keep_original
                .then(|| crate::inbound::stored_text(text.as_bytes())),
            // Ours to process (the usage worker gets it through the queue); should this
            // instance die first, another takes it up when the lease ends.
            claim: Some(self.claim(self.work_lease())),
        };
        let answer = |code: AckCode, note: Option<&str>, errors: &[hl7::Diagnostic]| {
            hl7::ack::ack(message, code, note, errors, &ack_id, now.naive_utc())
        };
        let not_stored = |e: &dyn std::fmt::Display| {
            tracing::error!(error = %e, "an HL7 message could not be stored; answered AR");
            self.metrics().observe_inbound(system, HL7V2, "failed");
            Hl7Receipt {
                ack: answer(
                    AckCode::Reject,
                    Some("the hub could not store the message; send it again"),
                    &[],
                ),
                to_process: None,
            }
        };
        let inserted = match self.store().insert_inbox(record.clone()).await {
            Ok(i) => i,
            Err(e) => return not_stored(&e),
        };
        match inserted {
            InboxInsert::Duplicate(first) => {
                self.metrics().observe_inbound(system, HL7V2, "duplicate");
                // The same answer as the first copy got: stored (AA) or quarantined (AE).
                let code = if first.status == InboxStatus::Quarantined {
                    AckCode::Error
                } else {
                    AckCode::Accept
                };
                // Stored but never processed (an earlier answer failed after the insert, or
                // the hub stopped): the repeat hands it to the worker again.
                let pending = first.status == InboxStatus::Received;
                Hl7Receipt {
                    ack: answer(code, Some("duplicate of a message already received"), &[]),
                    to_process: pending.then_some(*first),
                }
            }
            InboxInsert::Inserted => {
                let errors = intake_errors(message, &batch.diagnostics);
                let stored = record.into_received();
                if errors.is_empty() {
                    self.metrics().observe_inbound(system, HL7V2, "accepted");
                    return Hl7Receipt {
                        ack: answer(AckCode::Accept, None, &[]),
                        to_process: Some(stored),
                    };
                }
                if let Err(e) = self
                    .quarantine_hl7(&stored, &errors, &redacted.dropped)
                    .await
                {
                    // Stored as received: recovery (or a resend) quarantines it.
                    return not_stored(&e);
                }
                self.metrics().observe_inbound(system, HL7V2, "refused");
                Hl7Receipt {
                    ack: answer(AckCode::Error, Some("stored and quarantined"), &errors),
                    to_process: None,
                }
            }
        }
    }

    /// A stored message whose text is broken: quarantined with every diagnostic, by segment
    /// and field (they name positions, never values), through the pipeline's quarantine.
    async fn quarantine_hl7(
        &self,
        record: &InboxRecord,
        errors: &[hl7::Diagnostic],
        dropped: &[String],
    ) -> crate::error::Result<()> {
        let received = crate::inbound::received_entry(record, json!({"dropped_segments": dropped}));
        let ctx = crate::inbound::InboundContext::of(record);
        self.quarantine(record, &ctx, received, hl7_rejection(errors))
            .await?;
        Ok(())
    }
}

/// What makes a stored message unusable, found before the ACK so the sender hears it (AE, with
/// an ERR per error, in the sender's own segment positions): the parser's errors, and for a
/// DFT^P03 the charge reader's (FT1-10 not a number…). Only errors in what the redacted copy
/// keeps count: a broken field in a dropped segment does not matter, and no diagnostic can
/// quote a value that was not kept.
fn intake_errors(message: &hl7::Message<'_>, parsed: &[hl7::Diagnostic]) -> Vec<hl7::Diagnostic> {
    let mut errors: Vec<hl7::Diagnostic> =
        parsed.iter().filter(|d| d.is_error()).cloned().collect();
    if message.message_type() == ("DFT".into(), "P03".into())
        && let Err(found) = hl7::dft::read(message)
    {
        errors.extend(found.into_iter().filter(|d| d.is_error()));
    }
    errors.retain(|d| hl7::redact::keeps(&d.segment_id, d.field));
    errors
}

/// An HL7 message that cannot be used: 422, each error's path as `SEG[position]-field` (the
/// sender's positions) and its table 0357 condition as the rule.
pub(crate) fn hl7_rejection(errors: &[hl7::Diagnostic]) -> crate::Rejection {
    let mut r = crate::Rejection::new(
        422,
        "invalid_hl7",
        "The HL7 message cannot be read",
        errors
            .iter()
            .map(|e| format!("{}: {}", e.location(), e.reason))
            .collect::<Vec<_>>()
            .join("; "),
    );
    r.errors = errors
        .iter()
        .map(|e| {
            concord_model::FieldError::new(
                match e.field {
                    Some(f) => format!("{}[{}]-{f}", e.segment_id, e.segment),
                    None => format!("{}[{}]", e.segment_id, e.segment),
                },
                e.problem.code().1,
                e.reason.clone(),
            )
        })
        .collect();
    r
}

/// How many stored messages wait in memory for the usage worker.
pub(crate) const QUEUE_DEPTH: usize = 4096;

impl Hub {
    /// Hands a stored message to the usage worker. When the queue is full, the intake's claim
    /// on the message is ended instead, so the recovery worker (of any instance) takes it up
    /// within seconds: nothing waits on memory.
    pub fn queue_clinical(&self, record: InboxRecord) {
        if let Err(full) = self.inner.clinical_queue.try_send(record) {
            let record = full.into_inner();
            let hub = self.clone();
            tokio::spawn(async move {
                let Some(claim) = record.claim.as_deref() else {
                    return;
                };
                if let Err(e) = hub.store().end_inbox_claim(&record.id, claim).await {
                    // Then its lease ends on its own and it is taken up a little later.
                    tracing::warn!(receipt = %record.id, error = %e, "could not hand a clinical message to recovery");
                }
            });
        }
    }
}

/// The usage worker: processes what the listener queued, one message at a time. A message this
/// instance's intake stored carries its claim; one handed over again (a resend of a message
/// stored but never processed) is claimed first, and skipped while another worker holds it.
/// What it cannot finish stays `received` and the recovery worker takes it up when its lease
/// ends.
pub(crate) async fn run_worker(hub: Hub) {
    let Some(mut queue) = hub.inner.clinical_inbox.lock().take() else {
        return;
    };
    loop {
        let record = tokio::select! {
            r = queue.recv() => r,
            _ = hub.idle("clinical", std::time::Duration::from_secs(1)) => None,
        };
        if hub.stopping() {
            return;
        }
        let Some(record) = record else { continue };
        let ours = record
            .claim
            .as_deref()
            .is_some_and(|c| c.starts_with(hub.instance()));
        let record = if ours {
            Some(record)
        } else {
            let claim = hub.claim(hub.work_lease());
            match hub
                .store()
                .claim_inbox_message(&record.id, Utc::now(), &claim)
                .await
            {
                Ok(claimed) => claimed,
                Err(e) => {
                    tracing::error!(receipt = %record.id, error = %e, "claiming a clinical message failed; recovery takes it up later");
                    None
                }
            }
        };
        if let Some(record) = &record
            && let Err(e) = hub.process(record, record.body.len()).await
        {
            tracing::error!(receipt = %record.id, error = %e, "processing a clinical message failed; it stays received and recovery retries it when its lease ends");
        }
    }
}
