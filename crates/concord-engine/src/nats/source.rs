//! A JetStream stream read into the inbound pipeline (`[nats.sources.NAME]`).
//!
//! Each source is read through a durable pull consumer with explicit acknowledgements. A
//! message goes through `Hub::receive` exactly as if its system had posted it: stored in the
//! inbox first (deduplicated by its `Nats-Msg-Id`, else as its route says), then mapped,
//! validated and committed, or quarantined. Only then is it acknowledged, so a crash before
//! the commit means a redelivery, and a crash after it a redelivery the inbox recognises. A
//! message the hub could not store (the database is down) is refused with a delay and comes
//! back. Every instance reads with the same durable consumer, so the stream's messages are
//! shared out between them.

use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::pull};
use futures::StreamExt;

use super::NatsSource;
use crate::{Inbound, hub::Hub};

/// Reads one source until the hub stops, starting again after any failure (NATS restarting,
/// the stream not there yet).
pub(crate) async fn run(hub: Hub, name: String, source: NatsSource) {
    let Some(nats) = hub.inner.nats.clone() else {
        return;
    };
    let consumer_name = source
        .consumer
        .clone()
        .unwrap_or_else(|| format!("concord-{name}"));
    while !hub.stopping() {
        match read(&hub, &nats, &name, &consumer_name, &source).await {
            Ok(()) => {}
            Err(e) => {
                tracing::warn!(source = %name, error = %e, "reading the NATS source failed; starting again shortly")
            }
        }
        hub.idle("nats_source", Duration::from_secs(1)).await;
    }
}

async fn read(
    hub: &Hub,
    nats: &super::Nats,
    name: &str,
    consumer_name: &str,
    source: &NatsSource,
) -> Result<(), String> {
    if !source.subjects.is_empty() {
        nats.ensure_stream(&source.stream, source.subjects.clone())
            .await?;
    }
    let stream = nats
        .jetstream
        .get_stream(&source.stream)
        .await
        .map_err(|e| format!("stream {}: {e}", source.stream))?;
    let consumer: jetstream::consumer::Consumer<pull::Config> = stream
        .get_or_create_consumer(
            consumer_name,
            pull::Config {
                durable_name: Some(consumer_name.to_string()),
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ack_wait: Duration::from_secs(source.ack_wait_secs),
                filter_subject: source.filter_subject.clone().unwrap_or_default(),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| format!("consumer {consumer_name} on {}: {e}", source.stream))?;
    let mut messages = consumer
        .messages()
        .await
        .map_err(|e| format!("reading {}: {e}", source.stream))?;
    tracing::info!(source = %name, stream = %source.stream, consumer = %consumer_name, "reading a NATS source");
    loop {
        let next = tokio::select! {
            m = messages.next() => m,
            _ = hub.inner.stop.notified() => return Ok(()),
        };
        hub.beat("nats_source");
        let message = match next {
            None => return Err("the consumer's message stream ended".into()),
            Some(Err(e)) => return Err(format!("message stream: {e}")),
            Some(Ok(m)) => m,
        };
        let header = |name: &str| {
            message
                .headers
                .as_ref()
                .and_then(|h| h.get(name))
                .map(|v| v.as_str().to_string())
                .filter(|v| !v.is_empty())
        };
        // The publisher's message id when it gave one; else the system's inbound route decides
        // (its message-id path, else the body's digest), as for a message posted over HTTP. A
        // redelivery is the same message either way.
        let message_id = header("Nats-Msg-Id");
        let id = match &message_id {
            Some(id) => id.clone(),
            None => match message.info() {
                Ok(info) => format!("{}:{}", info.stream, info.stream_sequence),
                Err(_) => "(no metadata)".into(),
            },
        };
        let inbound = Inbound {
            system: source.system.clone(),
            message_type: source.message_type.clone(),
            idempotency_key: message_id.map(|id| format!("nats:{id}")),
            // As over HTTP: the sender's correlation id, else its trace's, else a new one.
            correlation_id: header("X-Correlation-Id")
                .filter(|c| c.len() <= 128 && !c.chars().any(char::is_control))
                .or_else(|| {
                    let trace = crate::trace::TraceParent::parse(&header("traceparent")?)?;
                    Some(crate::trace::correlation_for(&trace))
                }),
            content_type: header("Content-Type").unwrap_or_else(|| "application/json".into()),
            body: message.payload.to_vec(),
            actor: Some(format!("nats:{name}")),
        };
        match hub.receive(inbound).await {
            // Stored and answered (accepted, a repeat, or quarantined): the hub has it.
            Ok(answer) => {
                tracing::debug!(source = %name, id = %id, status = answer.status, "NATS message taken");
                if let Err(e) = message.ack().await {
                    // Redelivered later; the inbox recognises it and answers the same.
                    tracing::warn!(source = %name, id = %id, error = %e, "acknowledging a NATS message failed");
                }
            }
            Err(crate::EngineError::Rejected(rejection)) => {
                // Refused before it could be stored (the route is gone from the config): it
                // stays in the stream, refused, for a person to look at.
                tracing::error!(source = %name, id = %id, reason = %rejection, "a NATS message was refused before it could be stored");
                let _ = message
                    .ack_with(AckKind::Nak(Some(Duration::from_secs(30))))
                    .await;
            }
            Err(e) => {
                tracing::warn!(source = %name, id = %id, error = %e, "a NATS message could not be stored; it comes back");
                let _ = message
                    .ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
                    .await;
            }
        }
    }
}
