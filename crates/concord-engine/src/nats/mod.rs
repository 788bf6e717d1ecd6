//! NATS JetStream: the event backbone between instances and to subscribers.
//!
//! Three connectors, each a module with one job:
//! - `events` (here): every canonical event the hub commits is also queued, in the same
//!   transaction, as an outbox row to the built-in target [`EVENTS_TARGET`]; the delivery
//!   worker publishes it to `{subject_prefix}.{type}` (`concord.events.contract.activated`)
//!   with `Nats-Msg-Id` = the event id, so a resend after a crash is dropped by JetStream's
//!   duplicate window. Publishing goes through the outbox, not straight from the commit, so an
//!   event is never published for a commit that failed, nor lost when NATS is down: it waits,
//!   retries with backoff, and dead-letters visibly like any delivery.
//! - [`sink`]: a connected system with `transport = "nats"` takes its outbound routes as
//!   JetStream publishes to the route's `subject` instead of HTTP requests (`Nats-Msg-Id` = the
//!   delivery's idempotency key).
//! - [`source`]: `[nats.sources.NAME]` reads a stream through a durable pull consumer into the
//!   inbound pipeline as if the system had posted the message; each message is acknowledged only
//!   after the hub committed it (stored and processed, or quarantined).

pub mod sink;
pub mod source;

use std::{collections::BTreeMap, time::Duration};

use async_nats::jetstream;
use chrono::SecondsFormat;
use concord_store::{NewDelivery, NewEvent};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::SecretRef;

/// The outbox target of canonical events on their way to JetStream. A colon cannot appear in a
/// system id, so it never collides with a configured system.
pub const EVENTS_TARGET: &str = "nats:events";
/// The message type of those outbox rows.
pub const EVENT_MESSAGE: &str = "event";

/// `[nats]`: where the NATS server is and what the hub does with it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsConfig {
    /// Server URL, or several separated by commas (`nats://127.0.0.1:4222`; also
    /// `CONCORD_NATS_URL` or `--nats-url`).
    pub url: String,
    /// Publish every canonical event to JetStream.
    #[serde(default = "yes")]
    pub publish_events: bool,
    /// The stream that keeps the hub's events; created (subjects `{subject_prefix}.>`) when
    /// it does not exist.
    #[serde(default = "default_stream")]
    pub stream: String,
    /// The first tokens of every event subject.
    #[serde(default = "default_prefix")]
    pub subject_prefix: String,
    /// How long a stream the hub creates remembers message ids to drop repeats, in seconds.
    /// It should outlast a delivery's lease plus its retries (a resend after a crash must
    /// still be recognised).
    #[serde(default = "default_duplicate_window")]
    pub duplicate_window_secs: u64,
    /// How long a publish waits for JetStream's acknowledgement, in milliseconds.
    #[serde(default = "default_ack_timeout")]
    pub ack_timeout_ms: u64,
    /// A token for the server, by reference (never the value in the file).
    #[serde(default)]
    pub token: Option<SecretRef>,
    /// Streams read into the inbound pipeline, by name.
    #[serde(default)]
    pub sources: BTreeMap<String, NatsSource>,
}

/// `[nats.sources.NAME]`: a stream whose messages are a system's inbound messages.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsSource {
    /// The stream to read.
    pub stream: String,
    /// When set, the stream is created with these subjects if it does not exist.
    #[serde(default)]
    pub subjects: Vec<String>,
    /// Only messages on this subject (a NATS subject filter, wildcards allowed).
    #[serde(default)]
    pub filter_subject: Option<String>,
    /// The durable consumer's name; every instance uses the same one, so the stream's messages
    /// are shared out between them. Default `concord-{source name}`.
    #[serde(default)]
    pub consumer: Option<String>,
    /// How long NATS waits for the hub's acknowledgement of a message before it delivers it
    /// again, in seconds (an acknowledgement lost while the server restarted, say).
    #[serde(default = "default_ack_wait")]
    pub ack_wait_secs: u64,
    /// The system the messages come from, and their message type: they take that system's
    /// inbound route (its mapping and message-id path), exactly as if posted over HTTP.
    pub system: String,
    pub message_type: String,
}

fn yes() -> bool {
    true
}
fn default_stream() -> String {
    "CONCORD_EVENTS".into()
}
fn default_prefix() -> String {
    "concord.events".into()
}
fn default_duplicate_window() -> u64 {
    600
}
fn default_ack_wait() -> u64 {
    30
}
fn default_ack_timeout() -> u64 {
    5_000
}

impl NatsConfig {
    /// A config with only the URL given (`CONCORD_NATS_URL` or `--nats-url` without `[nats]`).
    pub fn with_url(url: String) -> Self {
        NatsConfig {
            url,
            publish_events: true,
            stream: default_stream(),
            subject_prefix: default_prefix(),
            duplicate_window_secs: default_duplicate_window(),
            ack_timeout_ms: default_ack_timeout(),
            token: None,
            sources: BTreeMap::new(),
        }
    }

    /// Every problem of `[nats]`, each with its path, against the rest of the config.
    pub(crate) fn check(
        &self,
        config: &crate::config::Config,
        problem: &mut impl FnMut(String, String),
    ) {
        for url in self.url.split(',') {
            let url = url.trim();
            if !["nats://", "tls://"].iter().any(|s| url.starts_with(s)) || url.len() < 8 {
                problem(
                    "nats.url".into(),
                    format!("{url:?} is not a nats:// or tls:// URL"),
                );
            }
        }
        if !is_stream_name(&self.stream) {
            problem(
                "nats.stream".into(),
                format!(
                    "{:?} is not a stream name (letters, digits, - and _)",
                    self.stream
                ),
            );
        }
        if !is_subject(&self.subject_prefix, false) {
            problem(
                "nats.subject_prefix".into(),
                format!(
                    "{:?} is not a subject without wildcards (tokens separated by dots)",
                    self.subject_prefix
                ),
            );
        }
        if self.ack_timeout_ms == 0 {
            problem("nats.ack_timeout_ms".into(), "must be at least 1".into());
        }
        if let Some(token) = &self.token {
            token.check("nats.token", problem);
        }
        for (name, source) in &self.sources {
            let at = format!("nats.sources.{name}");
            if !is_stream_name(name) {
                problem(
                    at.clone(),
                    "source names may hold only letters, digits, - and _".into(),
                );
            }
            if !is_stream_name(&source.stream) {
                problem(
                    format!("{at}.stream"),
                    format!("{:?} is not a stream name", source.stream),
                );
            }
            for (i, subject) in source.subjects.iter().enumerate() {
                if !is_subject(subject, true) {
                    problem(
                        format!("{at}.subjects[{i}]"),
                        format!("{subject:?} is not a subject"),
                    );
                }
            }
            if let Some(filter) = &source.filter_subject
                && !is_subject(filter, true)
            {
                problem(
                    format!("{at}.filter_subject"),
                    format!("{filter:?} is not a subject"),
                );
            }
            if source.ack_wait_secs == 0 {
                problem(format!("{at}.ack_wait_secs"), "must be at least 1".into());
            }
            if let Some(consumer) = &source.consumer
                && !is_stream_name(consumer)
            {
                problem(
                    format!("{at}.consumer"),
                    format!("{consumer:?} is not a consumer name"),
                );
            }
            match config.systems.get(&source.system) {
                None => problem(
                    format!("{at}.system"),
                    format!("no system {:?} is configured", source.system),
                ),
                Some(system) if !system.inbound.contains_key(&source.message_type) => problem(
                    format!("{at}.message_type"),
                    format!(
                        "system {:?} has no inbound route for {:?}",
                        source.system, source.message_type
                    ),
                ),
                Some(_) => {}
            }
        }
    }

    /// The subject an event of `event_type` is published on: the prefix, then the type without
    /// its `org.concord.` namespace and `.vN` version (`org.concord.contract.activated.v1` →
    /// `concord.events.contract.activated`). The full type travels in the `ce-type` header.
    pub fn event_subject(&self, event_type: &str) -> String {
        let name = event_type
            .strip_prefix("org.concord.")
            .unwrap_or(event_type);
        let name = match name.rsplit_once('.') {
            Some((head, v))
                if v.len() > 1
                    && v.starts_with('v')
                    && v[1..].bytes().all(|b| b.is_ascii_digit()) =>
            {
                head
            }
            _ => name,
        };
        // A subject token holds no spaces or wildcards: anything else is replaced.
        let name: String = name
            .chars()
            .map(|c| {
                if c.is_whitespace() || c == '*' || c == '>' {
                    '_'
                } else {
                    c
                }
            })
            .collect();
        format!("{}.{name}", self.subject_prefix)
    }
}

/// A JetStream stream or consumer name: what NATS accepts in `$JS.API.STREAM.INFO.{name}`.
fn is_stream_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A subject: dot-separated non-empty tokens without spaces; `*` and a last `>` only when
/// `wildcards`.
pub(crate) fn is_subject(subject: &str, wildcards: bool) -> bool {
    let tokens: Vec<&str> = subject.split('.').collect();
    !subject.is_empty()
        && tokens.iter().enumerate().all(|(i, t)| {
            !t.is_empty()
                && !t.chars().any(char::is_whitespace)
                && match *t {
                    "*" => wildcards,
                    ">" => wildcards && i + 1 == tokens.len(),
                    t => !t.contains('*') && !t.contains('>'),
                }
        })
}

/// The hub's connection to NATS. Connecting never waits for the server: the client keeps
/// trying in the background (and reconnects after a restart), while what is to be published
/// waits in the outbox.
#[derive(Clone)]
pub struct Nats {
    pub(crate) config: NatsConfig,
    pub(crate) jetstream: jetstream::Context,
}

impl Nats {
    pub async fn connect(
        config: &NatsConfig,
        whole: &crate::config::Config,
    ) -> Result<Nats, String> {
        let mut options = async_nats::ConnectOptions::new()
            .name("concord")
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(5))
            .event_callback(|event| async move {
                match event {
                    async_nats::Event::Connected => tracing::info!("connected to NATS"),
                    async_nats::Event::Disconnected => {
                        tracing::warn!("disconnected from NATS; reconnecting")
                    }
                    other => tracing::debug!(event = %other, "NATS client event"),
                }
            });
        if let Some(token) = &config.token {
            let secret = token.read(whole).map_err(|e| format!("nats.token: {e}"))?;
            options = options.token(secret.expose().to_string());
        }
        let urls: Vec<&str> = config.url.split(',').map(str::trim).collect();
        let client = options
            .connect(urls.as_slice())
            .await
            .map_err(|e| format!("nats.url: {e}"))?;
        let mut jetstream = jetstream::new(client);
        jetstream.set_timeout(Duration::from_millis(config.ack_timeout_ms.max(1)));
        Ok(Nats {
            config: config.clone(),
            jetstream,
        })
    }

    /// Creates a stream with `subjects` unless one of that name exists (it is left as it is
    /// when it does).
    pub(crate) async fn ensure_stream(
        &self,
        name: &str,
        subjects: Vec<String>,
    ) -> Result<(), String> {
        self.jetstream
            .get_or_create_stream(jetstream::stream::Config {
                name: name.to_string(),
                subjects,
                duplicate_window: Duration::from_secs(self.config.duplicate_window_secs),
                ..Default::default()
            })
            .await
            .map(|_| ())
            .map_err(|e| format!("stream {name}: {e}"))
    }
}

/// An event as a CloudEvents 1.0 JSON envelope (structured mode), with the transaction's
/// correlation id as an extension attribute.
pub fn cloud_event(e: &NewEvent) -> Value {
    json!({
        "specversion": "1.0",
        "id": e.id,
        "source": e.source,
        "type": e.event_type,
        "subject": e.subject,
        "time": e.time.to_rfc3339_opts(SecondsFormat::Micros, true),
        "datacontenttype": "application/json",
        "correlationid": e.correlation_id,
        "data": e.data,
    })
}

/// The outbox row that publishes `e` to JetStream: keyed by the event id (JetStream's
/// `Nats-Msg-Id`), ordered per event subject behind the subject's earlier events.
pub(crate) fn event_delivery(e: &NewEvent, now: chrono::DateTime<chrono::Utc>) -> NewDelivery {
    NewDelivery {
        id: crate::hub::new_id("dlv"),
        event_id: e.id.clone(),
        target: EVENTS_TARGET.into(),
        message_type: EVENT_MESSAGE.into(),
        subject: e.subject.clone(),
        idempotency_key: e.id.clone(),
        correlation_id: e.correlation_id.clone(),
        required: false,
        payload: cloud_event(e),
        next_attempt_at: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_become_subjects() {
        let c = NatsConfig::with_url("nats://127.0.0.1:4222".into());
        assert_eq!(
            c.event_subject("org.concord.contract.activated.v1"),
            "concord.events.contract.activated"
        );
        assert_eq!(
            c.event_subject("org.concord.supplier.payment.changed.v12"),
            "concord.events.supplier.payment.changed"
        );
        assert_eq!(
            c.event_subject("com.example.thing"),
            "concord.events.com.example.thing"
        );
        assert_eq!(
            c.event_subject("org.concord.x.vnext"),
            "concord.events.x.vnext"
        );
        assert_eq!(
            c.event_subject("org.concord.a b.*.v1"),
            "concord.events.a_b._"
        );
    }

    #[test]
    fn names_and_subjects_are_checked() {
        assert!(is_stream_name("CONCORD_EVENTS-1"));
        assert!(!is_stream_name("a.b") && !is_stream_name("") && !is_stream_name("a b"));
        assert!(is_subject("clm.contracts.>", true));
        assert!(is_subject("clm.*.approved", true));
        assert!(!is_subject("clm.>.x", true));
        assert!(!is_subject("clm.*", false));
        assert!(!is_subject("clm..x", true) && !is_subject("", true) && !is_subject("a b", true));
    }

    #[test]
    fn a_cloud_event_carries_every_attribute() {
        let e = NewEvent {
            id: "evt_1".into(),
            event_type: "org.concord.contract.activated.v1".into(),
            source: "concord".into(),
            subject: "contract:C-1".into(),
            time: chrono::DateTime::from_timestamp(1_800_000_000, 5_000).unwrap(),
            correlation_id: "corr_1".into(),
            data: json!({"contract_id": "C-1"}),
        };
        let ce = cloud_event(&e);
        assert_eq!(ce["specversion"], "1.0");
        assert_eq!(ce["time"], "2027-01-15T08:00:00.000005Z");
        assert_eq!(ce["data"]["contract_id"], "C-1");
        let d = event_delivery(&e, chrono::Utc::now());
        assert_eq!(
            (d.target.as_str(), d.idempotency_key.as_str()),
            (EVENTS_TARGET, "evt_1")
        );
        assert_eq!(d.subject, "contract:C-1");
    }
}
