//! What `GET /metrics` shows, in the Prometheus text exposition format (version 0.0.4).
//!
//! Two kinds of figures:
//! - **counted as they happen**, in this process since it started: HTTP requests by route
//!   template, method and status class, with their latency; delivery attempts by target and
//!   outcome, with their latency; inbound messages by system, message type and outcome;
//! - **read from the store at each scrape**, so they are true across restarts and instances:
//!   the outbox by status (queue depth), the inbox by status (quarantine), contract versions by
//!   status (pending activation), requisitions and POs by stage (pending approval, invoice
//!   blocked…), open exceptions by kind with the age of the oldest, and each system's circuit.
//!
//! **Cardinality is bounded by construction**: every label value comes from the route table,
//! the config (systems, partners, message types), or a closed set of statuses, stages and
//! exception kinds. No id ever becomes a label: a request to `/v1/contracts/C-1` is counted
//! under `/v1/contracts/{id}`.
//!
//! Latencies are `f64` seconds, as Prometheus expects; they are measurements, never money.

use std::{collections::BTreeMap, fmt::Write as _, time::Duration};

use chrono::Utc;
use parking_lot::Mutex;

use crate::{error::Result, hub::Hub};

/// Upper bounds of the latency buckets, in seconds (`+Inf` is added when rendering).
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Sync latency buckets (seconds): from the canonical event to the target's answer, which
/// includes retries and waits behind an open circuit or a paused target — seconds to hours.
const SYNC_BUCKETS: [f64; 12] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0,
];

/// One latency histogram: counts per bucket (not cumulative), their sum, and the total.
#[derive(Debug, Clone)]
struct Histogram {
    bounds: &'static [f64],
    buckets: Vec<u64>,
    count: u64,
    sum: f64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new(&BUCKETS)
    }
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            buckets: vec![0; bounds.len()],
            count: 0,
            sum: 0.0,
        }
    }

    fn observe(&mut self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = self.bounds.iter().position(|b| secs <= *b) {
            self.buckets[i] += 1;
        }
        self.count += 1;
        self.sum += secs;
    }

    /// `name_bucket`, `name_sum` and `name_count` lines for one label set (`labels` is
    /// `a="x",b="y"`, possibly empty).
    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (bound, n) in self.bounds.iter().zip(&self.buckets) {
            cumulative += n;
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

/// The counters of one process. Label values are `&'static str` where they come from code,
/// `String` where they come from config (and so are bounded by it).
#[derive(Debug, Default)]
pub struct Metrics {
    /// (method, route template, status class `2xx`…) → latency.
    http: Mutex<BTreeMap<(&'static str, &'static str, &'static str), Histogram>>,
    /// (target, outcome) → latency of the attempt.
    deliveries: Mutex<BTreeMap<(String, &'static str), Histogram>>,
    /// (system, message type, outcome) → count.
    inbound: Mutex<BTreeMap<(String, String, &'static str), u64>>,
    /// Workflow (the subject's kind: `contract`, `purchase_order`…) → time from the canonical
    /// event to the target's acknowledgement.
    sync: Mutex<BTreeMap<String, Histogram>>,
}

/// `2xx`, `4xx`…: the status's class, so a label never takes a thousand values.
fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// A label value with `\`, `"` and newlines escaped as the exposition format asks.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The workflow a subject belongs to: the text before its first `:`.
pub fn workflow_of(subject: &str) -> &str {
    subject.split(':').next().unwrap_or(subject)
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

impl Metrics {
    /// One answered API request; `route` is the route table's template, never the raw path.
    pub fn observe_request(
        &self,
        method: &'static str,
        route: &'static str,
        status: u16,
        took: Duration,
    ) {
        self.http
            .lock()
            .entry((method, route, status_class(status)))
            .or_default()
            .observe(took);
    }

    /// One delivery attempt to a configured target: `delivered`, `retry` or `dead`.
    pub(crate) fn observe_delivery(&self, target: &str, outcome: &'static str, took: Duration) {
        self.deliveries
            .lock()
            .entry((target.to_string(), outcome))
            .or_default()
            .observe(took);
    }

    /// One delivery acknowledged by its target, `took` after its event: the workflow's sync
    /// latency. The workflow is the subject's kind (`purchase_order:PO-1` → `purchase_order`),
    /// so the label takes as many values as there are workflows, never ids.
    pub(crate) fn observe_sync(&self, subject: &str, took: Duration) {
        let workflow = workflow_of(subject);
        self.sync
            .lock()
            .entry(workflow.to_string())
            .or_insert_with(|| Histogram::new(&SYNC_BUCKETS))
            .observe(took);
    }

    /// One inbound message answered: `accepted`, `refused` (quarantined), `duplicate` (a
    /// repeat answered from the inbox) or `failed` (the hub's own error; sent again later).
    pub(crate) fn observe_inbound(&self, system: &str, message_type: &str, outcome: &'static str) {
        *self
            .inbound
            .lock()
            .entry((system.to_string(), message_type.to_string(), outcome))
            .or_default() += 1;
    }

    fn render_counted(&self, out: &mut String) {
        let http: Vec<(String, Histogram)> = self
            .http
            .lock()
            .iter()
            .map(|((method, route, class), h)| {
                let labels = format!(
                    "method=\"{method}\",route=\"{}\",status=\"{class}\"",
                    escape(route)
                );
                (labels, h.clone())
            })
            .collect();
        render_timed(
            out,
            (
                "concord_http_requests_total",
                "API requests answered, by method, route template and status class.",
            ),
            (
                "concord_http_request_duration_seconds",
                "API request latency, from the route's gate to the answer.",
            ),
            &http,
        );
        let deliveries: Vec<(String, Histogram)> = self
            .deliveries
            .lock()
            .iter()
            .map(|((target, outcome), h)| {
                let labels = format!("target=\"{}\",outcome=\"{outcome}\"", escape(target));
                (labels, h.clone())
            })
            .collect();
        render_timed(
            out,
            (
                "concord_delivery_attempts_total",
                "Delivery attempts by target and outcome (delivered, retry, dead).",
            ),
            (
                "concord_delivery_attempt_duration_seconds",
                "How long a delivery attempt took, by target and outcome.",
            ),
            &deliveries,
        );
        header(
            out,
            "concord_sync_latency_seconds",
            "histogram",
            "Per workflow, from the canonical event to the target's acknowledgement (retries and waits included).",
        );
        for (workflow, h) in self.sync.lock().iter() {
            h.render(
                out,
                "concord_sync_latency_seconds",
                &format!("workflow=\"{}\"", escape(workflow)),
            );
        }
        header(
            out,
            "concord_inbound_messages_total",
            "counter",
            "Inbound messages answered, by system, message type and outcome (accepted, refused, duplicate, failed).",
        );
        for ((system, message_type, outcome), n) in self.inbound.lock().iter() {
            let _ = writeln!(
                out,
                "concord_inbound_messages_total{{system=\"{}\",message_type=\"{}\",outcome=\"{outcome}\"}} {n}",
                escape(system),
                escape(message_type)
            );
        }
    }
}

/// A counter of events and the histogram of their durations, one series per label set.
fn render_timed(
    out: &mut String,
    (counter, counter_help): (&str, &str),
    (histogram, histogram_help): (&str, &str),
    series: &[(String, Histogram)],
) {
    header(out, counter, "counter", counter_help);
    for (labels, h) in series {
        let _ = writeln!(out, "{counter}{{{labels}}} {}", h.count);
    }
    header(out, histogram, "histogram", histogram_help);
    for (labels, h) in series {
        h.render(out, histogram, labels);
    }
}

/// A gauge family read from the store: one line per (label value, count).
fn gauge(out: &mut String, name: &str, help: &str, label: &str, values: &[(String, i64)]) {
    header(out, name, "gauge", help);
    for (value, n) in values {
        let _ = writeln!(out, "{name}{{{label}=\"{}\"}} {n}", escape(value));
    }
}

impl Hub {
    /// The whole exposition: this process's counters, then the gauges read from the store now.
    pub async fn render_metrics(&self) -> Result<String> {
        let mut out = String::with_capacity(16 * 1024);
        self.metrics().render_counted(&mut out);
        let store = self.store();
        gauge(
            &mut out,
            "concord_deliveries",
            "Outbox rows by status: pending and in_flight are the queue, dead the dead letters.",
            "status",
            &store.delivery_counts().await?,
        );
        gauge(
            &mut out,
            "concord_inbox_messages",
            "Inbound messages stored, by status (quarantined ones wait to be fixed and replayed).",
            "status",
            &store.inbox_counts().await?,
        );
        gauge(
            &mut out,
            "concord_contract_versions",
            "Contract versions by status; pending and propagating ones are not active yet.",
            "status",
            &store.contract_status_counts().await?,
        );
        gauge(
            &mut out,
            "concord_requisitions",
            "Requisitions by stage (pending_approval is the approvers' queue).",
            "stage",
            &store
                .workflow_counts(crate::requisitions::WORKFLOW_KIND, &["flow", "stage"])
                .await?,
        );
        gauge(
            &mut out,
            "concord_purchase_orders",
            "Purchase orders by stage (invoice_blocked waits on the exception workbench).",
            "stage",
            &store
                .workflow_counts(crate::purchase_orders::WORKFLOW_KIND, &["flow", "stage"])
                .await?,
        );
        let open = store.open_exception_counts().await?;
        let counts: Vec<(String, i64)> = open.iter().map(|(k, n, _)| (k.clone(), *n)).collect();
        gauge(
            &mut out,
            "concord_exceptions_open",
            "Open exceptions by kind (invoice_* are blocked invoices).",
            "kind",
            &counts,
        );
        header(
            &mut out,
            "concord_exception_oldest_age_seconds",
            "gauge",
            "Age of the oldest open exception of each kind.",
        );
        let now = Utc::now();
        for (kind, _, oldest) in &open {
            let age = (now - *oldest).num_milliseconds().max(0) as f64 / 1000.0;
            let _ = writeln!(
                out,
                "concord_exception_oldest_age_seconds{{kind=\"{}\"}} {age}",
                escape(kind)
            );
        }
        header(
            &mut out,
            "concord_slo_burn_rate",
            "gauge",
            "Each objective's error budget burn over its window at the last check (1 spends it exactly over the window).",
        );
        let slos = self.slo_statuses();
        for (name, (status, _)) in &slos {
            let burn = if status.burn_rate.is_infinite() {
                "+Inf".to_string()
            } else {
                status.burn_rate.to_string()
            };
            let _ = writeln!(
                out,
                "concord_slo_burn_rate{{slo=\"{}\"}} {burn}",
                escape(name)
            );
        }
        header(
            &mut out,
            "concord_slo_items",
            "gauge",
            "Each objective's items over its window at the last check: met, late, breaching, in_progress.",
        );
        for (name, (s, _)) in &slos {
            for (outcome, n) in [
                ("met", s.met),
                ("late", s.late),
                ("breaching", s.breaching.len()),
                ("in_progress", s.in_progress),
            ] {
                let _ = writeln!(
                    out,
                    "concord_slo_items{{slo=\"{}\",outcome=\"{outcome}\"}} {n}",
                    escape(name)
                );
            }
        }
        header(
            &mut out,
            "concord_circuit_state",
            "gauge",
            "Each configured system's circuit breaker: 1 on the state it is in (closed, open, half_open).",
        );
        for (system, state) in self.circuit_states() {
            for s in ["closed", "open", "half_open"] {
                let _ = writeln!(
                    out,
                    "concord_circuit_state{{system=\"{}\",state=\"{s}\"}} {}",
                    escape(&system),
                    u8::from(s == state)
                );
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_renders_cumulative_buckets_sum_and_count() {
        let mut h = Histogram::default();
        for ms in [0, 3, 3, 40, 20_000] {
            h.observe(Duration::from_millis(ms));
        }
        let mut out = String::new();
        h.render(&mut out, "x", "a=\"b\"");
        let line = |le: &str| {
            out.lines()
                .find(|l| l.starts_with(&format!("x_bucket{{a=\"b\",le=\"{le}\"}} ")))
                .and_then(|l| l.rsplit(' ').next())
                .map(str::to_string)
        };
        assert_eq!(line("0.001").as_deref(), Some("1"));
        assert_eq!(line("0.005").as_deref(), Some("3"));
        assert_eq!(line("0.05").as_deref(), Some("4"));
        // 20 s is above the last bound: only +Inf counts it.
        assert_eq!(line("10").as_deref(), Some("4"));
        assert_eq!(line("+Inf").as_deref(), Some("5"));
        assert!(out.contains("x_count{a=\"b\"} 5"), "{out}");
        assert!(out.contains("x_sum{a=\"b\"} 20.046"), "{out}");
        // Without labels there is no leading comma.
        let mut bare = String::new();
        h.render(&mut bare, "y", "");
        assert!(bare.contains("y_bucket{le=\"+Inf\"} 5"), "{bare}");
    }

    #[test]
    fn statuses_are_classes_and_label_values_are_escaped() {
        assert_eq!(status_class(202), "2xx");
        assert_eq!(status_class(429), "4xx");
        assert_eq!(status_class(503), "5xx");
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn counters_accumulate_per_label_set() {
        let m = Metrics::default();
        m.observe_inbound("clm", "contract", "accepted");
        m.observe_inbound("clm", "contract", "accepted");
        m.observe_inbound("clm", "contract", "refused");
        m.observe_delivery("erp", "retry", Duration::from_millis(5));
        m.observe_request("GET", "/v1/contracts/{id}", 404, Duration::from_millis(1));
        let mut out = String::new();
        m.render_counted(&mut out);
        assert!(out.contains(
            "concord_inbound_messages_total{system=\"clm\",message_type=\"contract\",outcome=\"accepted\"} 2"
        ), "{out}");
        assert!(out.contains(
            "concord_inbound_messages_total{system=\"clm\",message_type=\"contract\",outcome=\"refused\"} 1"
        ));
        assert!(
            out.contains("concord_delivery_attempts_total{target=\"erp\",outcome=\"retry\"} 1")
        );
        assert!(out.contains(
            "concord_http_requests_total{method=\"GET\",route=\"/v1/contracts/{id}\",status=\"4xx\"} 1"
        ));
    }
}
