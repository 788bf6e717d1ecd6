//! Overview: throughput, sync latency per workflow, open exceptions by type and age, dead
//! letters, and each system's health, over the last hour, day or week.

use std::collections::{BTreeMap, HashMap};

use axum::{
    extract::{Extension, Query, State},
    response::Response,
};
use chrono::{Duration, Utc};
use concord_engine::metrics::workflow_of;
use concord_model::access::Scope;

use super::{
    Console, Viewer,
    html::{age, bar_chart, esc, latency, link, quantile, table, tile, url_part},
};
use crate::routes::ApiResult;

/// The window a page looks at: its length, its chart's bucket width, and how many buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Range {
    Hour,
    Day,
    Week,
}

impl Range {
    pub fn parse(text: Option<&str>) -> Range {
        match text {
            Some("hour") => Range::Hour,
            Some("week") => Range::Week,
            _ => Range::Day,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Range::Hour => "hour",
            Range::Day => "day",
            Range::Week => "week",
        }
    }

    /// (bucket width, bucket count): 60 minutes, 24 hours, 28 quarter-days.
    pub fn buckets(self) -> (Duration, usize) {
        match self {
            Range::Hour => (Duration::minutes(1), 60),
            Range::Day => (Duration::hours(1), 24),
            Range::Week => (Duration::hours(6), 28),
        }
    }

    /// The bucket width in words, for the chart's caption.
    pub fn bucket_words(self) -> &'static str {
        match self {
            Range::Hour => "minute",
            Range::Day => "hour",
            Range::Week => "6 hours",
        }
    }

    pub fn length(self) -> Duration {
        let (width, n) = self.buckets();
        width * n as i32
    }

    /// The links to switch the window, this one marked.
    pub fn switcher(self, path: &str) -> String {
        let mut out = String::from("<p class=\"ranges\">Last ");
        for r in [Range::Hour, Range::Day, Range::Week] {
            let class = if r == self { " class=\"active\"" } else { "" };
            out.push_str(&format!(
                "<a href=\"{path}?range={0}\"{class}>{0}</a>",
                r.name()
            ));
        }
        out.push_str("</p>");
        out
    }
}

/// How many delivered deliveries the latency table reads at most (the newest).
const LATENCY_SAMPLE: u32 = 20_000;

pub(super) async fn page(
    State(console): State<Console>,
    Extension(viewer): Extension<Viewer>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let store = console.hub.store();
    let range = Range::parse(q.get("range").map(String::as_str));
    let now = Utc::now();
    let (width, buckets) = range.buckets();
    // Bucket edges on whole widths, so a chart does not shift with every reload.
    let step = width.num_microseconds().unwrap_or(1);
    let end = chrono::DateTime::from_timestamp_micros((now.timestamp_micros() / step + 1) * step)
        .unwrap_or(now);
    let since = end - range.length();

    let events = store.event_counts(since, width).await?;
    let total: i64 = events.iter().map(|(_, n)| n).sum();
    let open = store.open_exception_counts().await?;
    let open_total: i64 = open.iter().map(|(_, n, _)| n).sum();
    let queue = store.open_delivery_counts().await?;
    let count = |status: &str| -> i64 {
        queue
            .iter()
            .filter(|(_, s, _)| s == status)
            .map(|(_, _, n)| n)
            .sum()
    };
    let paused = store.paused_targets().await?;

    let mut body = range.switcher("/console/overview");
    body.push_str("<div class=\"tiles\">");
    body.push_str(&tile(
        &format!("events in the last {}", range.name()),
        total,
        "",
    ));
    body.push_str(&tile(
        "open exceptions",
        open_total,
        if open_total > 0 { "bad" } else { "" },
    ));
    body.push_str(&tile(
        "dead letters",
        count("dead"),
        if count("dead") > 0 { "bad" } else { "" },
    ));
    body.push_str(&tile(
        "queued deliveries",
        count("pending") + count("in_flight"),
        "",
    ));
    body.push_str(&tile(
        "paused targets",
        paused.len(),
        if paused.is_empty() { "" } else { "warn" },
    ));
    body.push_str("</div><h2>Throughput</h2>");
    body.push_str(&bar_chart(
        &format!(
            "canonical events per {} over the last {}",
            range.bucket_words(),
            range.name()
        ),
        &events,
        since,
        width,
        buckets,
    ));

    body.push_str("<div class=\"grid2\"><section><h2>Sync latency</h2>");
    body.push_str(&sync_latency(&console, since).await?);
    body.push_str("</section><section><h2>Open exceptions</h2>");
    let rows: Vec<Vec<String>> = open
        .iter()
        .map(|(kind, n, oldest)| {
            vec![
                link(
                    &format!("/console/exceptions?type={}", url_part(kind)),
                    kind,
                ),
                n.to_string(),
                age(now - *oldest),
            ]
        })
        .collect();
    body.push_str(&table(
        "open-exceptions",
        &["Type", "Open", "Oldest"],
        &rows,
        "No open exceptions.",
    ));
    body.push_str(&objectives(&console, &viewer));
    // Health is about now: error rates over at most the last day, whatever the window.
    let health_since = since.max(now - Range::Day.length());
    body.push_str(&format!(
        "</section></div><h2>Systems (attempts since {})</h2>",
        esc(&super::html::when(health_since))
    ));
    body.push_str(&systems_health(&console, &viewer, health_since, &queue, &paused).await?);
    Ok(viewer.page("Overview", "/console/overview", &body))
}

/// p50 and p95 from the event to the target's acknowledgement, per workflow.
async fn sync_latency(console: &Console, since: chrono::DateTime<Utc>) -> ApiResult<String> {
    let samples = console
        .hub
        .store()
        .sync_latencies(since, LATENCY_SAMPLE)
        .await?;
    let mut by_workflow: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    for (subject, took) in &samples {
        by_workflow
            .entry(workflow_of(subject))
            .or_default()
            .push(*took);
    }
    let rows: Vec<Vec<String>> = by_workflow
        .into_iter()
        .map(|(workflow, mut v)| {
            v.sort();
            let q = |p| quantile(&v, p).map(latency).unwrap_or_default();
            vec![esc(workflow), v.len().to_string(), q(0.5), q(0.95)]
        })
        .collect();
    Ok(table(
        "sync-latency",
        &["Workflow", "Delivered", "p50", "p95"],
        &rows,
        "Nothing delivered in this window.",
    ))
}

/// Each configured system: circuit, paused, last success, attempts and error rate, queue.
pub(super) async fn systems_health(
    console: &Console,
    viewer: &Viewer,
    since: chrono::DateTime<Utc>,
    queue: &[(String, String, i64)],
    paused: &[concord_store::PausedTarget],
) -> ApiResult<String> {
    let attempts = console.hub.store().attempt_summary(since).await?;
    let now = Utc::now();
    let rows: Vec<Vec<String>> = console
        .hub
        .circuit_states()
        .into_iter()
        .map(|(system, circuit)| {
            let mine = attempts.iter().filter(|a| a.target == system);
            let (mut ok, mut failed, mut last_ok) = (0, 0, None);
            for a in mine {
                if a.outcome == "delivered" {
                    ok += a.count;
                    last_ok = last_ok.max(Some(a.last_at));
                } else {
                    failed += a.count;
                }
            }
            let rate = if ok + failed == 0 {
                "–".to_string()
            } else {
                format!("{:.1}%", 100.0 * failed as f64 / (ok + failed) as f64)
            };
            let waiting: i64 = queue
                .iter()
                .filter(|(t, s, _)| *t == system && s != "dead")
                .map(|(_, _, n)| n)
                .sum();
            let dead: i64 = queue
                .iter()
                .filter(|(t, s, _)| *t == system && s == "dead")
                .map(|(_, _, n)| n)
                .sum();
            let circuit_class = match circuit {
                "open" => "bad",
                "half_open" => "warn",
                _ => "good",
            };
            let state = match paused.iter().find(|p| p.target == system) {
                Some(p) => format!(
                    "<span class=\"warn\">paused</span> by {} ({})",
                    esc(&p.actor),
                    esc(&p.reason)
                ),
                None => format!("<span class=\"{circuit_class}\">{circuit}</span>"),
            };
            let dead_cell = if dead > 0 && viewer.can(Scope::DeliveriesRead) {
                link(
                    &format!(
                        "/console/deliveries?status=dead&target={}",
                        url_part(&system)
                    ),
                    &dead.to_string(),
                )
            } else {
                dead.to_string()
            };
            vec![
                esc(&system),
                state,
                last_ok.map(|t| age(now - t) + " ago").unwrap_or("–".into()),
                (ok + failed).to_string(),
                rate,
                waiting.to_string(),
                dead_cell,
            ]
        })
        .collect();
    Ok(table(
        "systems-health",
        &[
            "System",
            "State",
            "Last success",
            "Attempts",
            "Error rate",
            "Queued",
            "Dead letters",
        ],
        &rows,
        "No systems are configured.",
    ))
}

/// The service level objectives at their last check: how each stands and how fast it burns.
fn objectives(console: &Console, viewer: &Viewer) -> String {
    let config = &console.hub.config().slo;
    if config.is_empty() {
        return String::new();
    }
    let statuses = console.hub.slo_statuses();
    let rows: Vec<Vec<String>> = config
        .iter()
        .map(|(name, slo)| {
            let Some((s, checked)) = statuses.get(name) else {
                return vec![esc(name), esc(&slo.objective), "not checked yet".into()];
            };
            let burn = match s.burn_rate {
                b if b.is_infinite() => "<span class=\"bad\">∞</span>".to_string(),
                b if b > 1.0 => format!("<span class=\"bad\">{b:.2}×</span>"),
                b => format!("<span class=\"good\">{b:.2}×</span>"),
            };
            let breaching = if !s.breaching.is_empty() && viewer.can(Scope::ExceptionsRead) {
                link(
                    "/console/exceptions?type=slo_breach",
                    &s.breaching.len().to_string(),
                )
            } else {
                s.breaching.len().to_string()
            };
            vec![
                esc(name),
                format!(
                    "{} within {} for {:.1} %",
                    slo.kind.as_str(),
                    esc(&slo.objective),
                    slo.target * 100.0
                ),
                format!(
                    "{} met, {} late, {} in progress",
                    s.met, s.late, s.in_progress
                ),
                breaching,
                burn,
                format!("{} ago", age(Utc::now() - *checked)),
            ]
        })
        .collect();
    format!(
        "<h2>Service level objectives</h2>{}",
        table(
            "objectives",
            &[
                "Objective",
                "Goal",
                "Items in window",
                "Breaching",
                "Burn rate",
                "Checked"
            ],
            &rows,
            "",
        )
    )
}
