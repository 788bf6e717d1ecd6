//! OTLP export of the hub's spans, off by default: on when `OTEL_EXPORTER_OTLP_ENDPOINT` (the
//! OpenTelemetry standard variable; `/v1/traces` is appended) or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as it is) is set.
//!
//! Why our own exporter rather than the OpenTelemetry SDK: the SDK's OTLP client brings a
//! second HTTP stack and protobuf code generation to a build that already has reqwest, and
//! OTLP/HTTP has a JSON encoding (`Content-Type: application/json`) that every collector
//! accepts. A `tracing` layer records each span's name, times and fields; a task sends them in
//! batches. A span's trace id is its transaction's: the `correlation_id` field of the span or of
//! an ancestor, through `concord_engine::trace::trace_id_of` — the same trace id the hub's
//! deliveries send in `traceparent`, so a collector joins the hub's spans with the caller's and
//! the targets'. Spans with no transaction (a claim round, a health check) get a trace of their
//! own.
//!
//! Export never blocks the pipeline: spans go through a bounded queue, and when it is full (the
//! collector is down or slow) they are dropped and counted in a warning.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use serde_json::{Value, json};
use tokio::sync::mpsc;
use tracing::{
    Subscriber,
    field::{Field, Visit},
    span,
};
use tracing_subscriber::{Layer, layer::Context, registry::LookupSpan};

/// Spans waiting to be sent, at most.
const QUEUE: usize = 8192;
/// Spans per request, at most.
const BATCH: usize = 512;
/// How long a span may wait before its batch is sent.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// One finished span, ready to send.
#[derive(Debug, Clone)]
pub struct FinishedSpan {
    name: &'static str,
    trace_id: [u8; 16],
    span_id: [u8; 8],
    parent_id: Option<[u8; 8]>,
    start: SystemTime,
    end: SystemTime,
    attributes: Vec<(&'static str, String)>,
}

/// What the layer keeps in a live span's extensions.
struct Live {
    trace_id: [u8; 16],
    /// Set from the span's own `correlation_id`: children inherit it.
    traced: bool,
    span_id: [u8; 8],
    parent_id: Option<[u8; 8]>,
    start: SystemTime,
    attributes: Vec<(&'static str, String)>,
}

/// The endpoint spans are posted to, from the environment; `None` leaves export off.
pub fn endpoint_from_env(get: impl Fn(&str) -> Option<String>) -> Option<String> {
    let set = |name: &str| {
        get(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").or_else(|| {
        set("OTEL_EXPORTER_OTLP_ENDPOINT")
            .map(|base| format!("{}/v1/traces", base.trim_end_matches('/')))
    })
}

/// The layer that collects spans, and the receiving end the exporter task drains.
pub fn layer() -> (OtlpLayer, mpsc::Receiver<FinishedSpan>) {
    let (tx, rx) = mpsc::channel(QUEUE);
    (
        OtlpLayer {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
        },
        rx,
    )
}

pub struct OtlpLayer {
    tx: mpsc::Sender<FinishedSpan>,
    dropped: Arc<AtomicU64>,
}

/// Collects a span's fields as text attributes.
struct Fields<'a>(&'a mut Vec<(&'static str, String)>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name(), value.to_string()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name(), format!("{value:?}")));
    }
}

fn random<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    for chunk in out.chunks_mut(8) {
        let r = fastrand::u64(1..).to_be_bytes();
        chunk.copy_from_slice(&r[..chunk.len()]);
    }
    out
}

impl<S> Layer<S> for OtlpLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut attributes = Vec::new();
        attrs.record(&mut Fields(&mut attributes));
        let parent = span.parent().and_then(|p| {
            p.extensions()
                .get::<Live>()
                .map(|l| (l.trace_id, l.traced, l.span_id))
        });
        let own = attributes
            .iter()
            .find(|(k, _)| *k == "correlation_id")
            .map(|(_, v)| concord_engine::trace::trace_id_of(v));
        let (trace_id, traced) = match (own, parent) {
            (Some(t), _) => (t, true),
            (None, Some((t, traced, _))) => (t, traced),
            (None, None) => (random(), false),
        };
        span.extensions_mut().insert(Live {
            trace_id,
            traced,
            span_id: random(),
            // A parent in another trace (a request before its transaction was known) is not
            // this span's parent in OTLP's sense.
            parent_id: parent.filter(|(t, _, _)| *t == trace_id).map(|(_, _, p)| p),
            start: SystemTime::now(),
            attributes,
        });
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        if let Some(live) = extensions.get_mut::<Live>() {
            let mut added = Vec::new();
            values.record(&mut Fields(&mut added));
            if let Some((_, v)) = added.iter().find(|(k, _)| *k == "correlation_id") {
                live.trace_id = concord_engine::trace::trace_id_of(v);
                live.traced = true;
            }
            live.attributes.extend(added);
        }
    }

    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(live) = span.extensions_mut().remove::<Live>() else {
            return;
        };
        let finished = FinishedSpan {
            name: span.name(),
            trace_id: live.trace_id,
            span_id: live.span_id,
            parent_id: live.parent_id,
            start: live.start,
            end: SystemTime::now(),
            attributes: live.attributes,
        };
        if self.tx.try_send(finished).is_err() {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(dropped = n, "OTLP export is behind: spans dropped");
            }
        }
    }
}

fn nanos(t: SystemTime) -> String {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
        .to_string()
}

/// The OTLP/HTTP JSON body for a batch (`ExportTraceServiceRequest`).
pub fn export_request(spans: &[FinishedSpan]) -> Value {
    let spans: Vec<Value> = spans
        .iter()
        .map(|s| {
            let kind = if s.name == "request" { 2 } else { 1 }; // SERVER, INTERNAL
            let mut span = json!({
                "traceId": hex::encode(s.trace_id),
                "spanId": hex::encode(s.span_id),
                "name": s.name,
                "kind": kind,
                "startTimeUnixNano": nanos(s.start),
                "endTimeUnixNano": nanos(s.end),
                "attributes": s.attributes.iter().map(|(k, v)| json!({
                    "key": k, "value": {"stringValue": v}
                })).collect::<Vec<_>>(),
            });
            if let Some(parent) = s.parent_id {
                span["parentSpanId"] = json!(hex::encode(parent));
            }
            span
        })
        .collect();
    json!({"resourceSpans": [{
        "resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "concord"}},
            {"key": "service.version", "value": {"stringValue": env!("CARGO_PKG_VERSION")}}
        ]},
        "scopeSpans": [{"scope": {"name": "concord"}, "spans": spans}]
    }]})
}

/// Sends batches until the layer is dropped; a failed send is logged and its batch dropped
/// (traces are diagnostics: the hub's own state never depends on them).
pub async fn export(endpoint: String, mut spans: mpsc::Receiver<FinishedSpan>) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default();
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let deadline = tokio::time::sleep(FLUSH_EVERY);
        tokio::pin!(deadline);
        let open = loop {
            tokio::select! {
                span = spans.recv() => match span {
                    Some(span) => {
                        batch.push(span);
                        if batch.len() >= BATCH { break true; }
                    }
                    None => break false,
                },
                _ = &mut deadline => break true,
            }
        };
        if !batch.is_empty() {
            let body = export_request(&batch);
            batch.clear();
            match client.post(&endpoint).json(&body).send().await {
                Ok(r) if r.status().is_success() => {}
                Ok(r) => {
                    tracing::warn!(status = %r.status(), endpoint = %endpoint, "the OTLP collector refused a batch of spans")
                }
                Err(e) => {
                    tracing::warn!(error = %e, endpoint = %endpoint, "sending spans to the OTLP collector failed")
                }
            }
        }
        if !open {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_follows_the_opentelemetry_variables() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(endpoint_from_env(env(&[])), None);
        assert_eq!(
            endpoint_from_env(env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/")])).as_deref(),
            Some("http://c:4318/v1/traces")
        );
        assert_eq!(
            endpoint_from_env(env(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t:9/traces"),
            ]))
            .as_deref(),
            Some("http://t:9/traces")
        );
        assert_eq!(
            endpoint_from_env(env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")])),
            None
        );
    }

    #[test]
    fn a_batch_is_otlp_json() {
        let at = UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789);
        let body = export_request(&[FinishedSpan {
            name: "deliver",
            trace_id: [0xab; 16],
            span_id: [1; 8],
            parent_id: Some([2; 8]),
            start: at,
            end: at + Duration::from_millis(5),
            attributes: vec![("target", "erp".into())],
        }]);
        let span = &body["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        assert_eq!(span["traceId"], "abababababababababababababababab");
        assert_eq!(span["spanId"], "0101010101010101");
        assert_eq!(span["parentSpanId"], "0202020202020202");
        assert_eq!(span["startTimeUnixNano"], "1700000000123456789");
        assert_eq!(span["endTimeUnixNano"], "1700000000128456789");
        assert_eq!(span["kind"], 1);
        assert_eq!(span["attributes"][0]["key"], "target");
        assert_eq!(span["attributes"][0]["value"]["stringValue"], "erp");
        assert_eq!(
            body["resourceSpans"][0]["resource"]["attributes"][0]["value"]["stringValue"],
            "concord"
        );
    }
}
