//! Publishing an outbox row to JetStream: a canonical event (the built-in target
//! [`super::EVENTS_TARGET`]) or a subscriber's delivery (a system with `transport = "nats"`).
//! An attempt is acknowledged only when JetStream answers that the stream stored the message
//! (or already had it: a repeat of its `Nats-Msg-Id` inside the duplicate window).

use std::time::{Duration, Instant};

use async_nats::{
    HeaderMap, jetstream::context::PublishErrorKind, jetstream::message::PublishMessage,
};

use super::Nats;

/// How a publish went.
#[derive(Debug)]
pub(crate) enum Published {
    /// Stored by the stream (or recognised as a repeat of a stored message).
    Acked { latency_us: i64, duplicate: bool },
    /// Not stored; worth trying again (no stream yet, NATS down, no answer in time).
    Failed { latency_us: i64, error: String },
}

/// What travels with a published message besides its payload.
pub(crate) struct Envelope<'a> {
    pub subject: String,
    /// `Nats-Msg-Id`: JetStream drops a repeat of it within the stream's duplicate window.
    pub message_id: &'a str,
    pub content_type: &'static str,
    /// Further headers (`ce-type`, `traceparent`, `X-Correlation-Id`…).
    pub headers: Vec<(&'static str, String)>,
}

impl Nats {
    /// Publishes one message and waits (`[nats] ack_timeout_ms` at most) for JetStream's
    /// acknowledgement. When no stream captures the subject and `ensure` is given, that stream
    /// is created and the publish tried once more.
    pub(crate) async fn publish(
        &self,
        envelope: Envelope<'_>,
        payload: Vec<u8>,
        ensure: Option<(&str, Vec<String>)>,
    ) -> Published {
        let started = Instant::now();
        let mut headers = HeaderMap::new();
        headers.insert("Content-Type", envelope.content_type);
        for (name, value) in &envelope.headers {
            headers.insert(*name, value.as_str());
        }
        let message = PublishMessage::build()
            .payload(payload.into())
            .headers(headers)
            .message_id(envelope.message_id);
        let mut result = self.try_publish(&envelope.subject, message.clone()).await;
        if let (Err(e), Some((stream, subjects))) = (&result, ensure)
            && e.0 == Some(PublishErrorKind::StreamNotFound)
        {
            match self.ensure_stream(stream, subjects).await {
                Ok(()) => result = self.try_publish(&envelope.subject, message).await,
                Err(why) => result = Err((None, why)),
            }
        }
        let latency_us = started.elapsed().as_micros() as i64;
        match result {
            Ok(duplicate) => Published::Acked {
                latency_us,
                duplicate,
            },
            Err((kind, error)) => Published::Failed {
                latency_us,
                error: match kind {
                    Some(PublishErrorKind::StreamNotFound) => format!(
                        "no JetStream stream captures subject {} ({error})",
                        envelope.subject
                    ),
                    _ => format!("publishing to {}: {error}", envelope.subject),
                },
            },
        }
    }

    /// One publish: `Ok(duplicate)` once acknowledged.
    async fn try_publish(
        &self,
        subject: &str,
        message: PublishMessage,
    ) -> Result<bool, (Option<PublishErrorKind>, String)> {
        let timeout = Duration::from_millis(self.config.ack_timeout_ms.max(1));
        let published = tokio::time::timeout(timeout, async {
            let ack = self
                .jetstream
                .send_publish(subject.to_string(), message)
                .await
                .map_err(|e| (Some(e.kind()), e.to_string()))?;
            ack.await.map_err(|e| (Some(e.kind()), e.to_string()))
        })
        .await;
        match published {
            Ok(Ok(ack)) => Ok(ack.duplicate),
            Ok(Err(e)) => Err(e),
            Err(_) => Err((
                Some(PublishErrorKind::TimedOut),
                format!("no acknowledgement within {} ms", timeout.as_millis()),
            )),
        }
    }
}
