//! Service level objectives: "a contract version is active within 15 minutes", "a PO is
//! acknowledged within 24 hours", "an invoice exception is resolved within 5 days". Each item
//! (a version, a PO, an exception) started at some instant and is done at another, or not yet;
//! this module judges them against the objective and says how fast the error budget burns.
//!
//! Pure: the items and the clock are passed in.

use chrono::{DateTime, Duration, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One thing an objective is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SloItem {
    /// What it is, e.g. `C-100:v2`, `PO-7`, an exception id.
    pub id: String,
    pub correlation_id: String,
    pub started: DateTime<Utc>,
    pub done: Option<DateTime<Utc>>,
}

/// How an objective stands over its window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SloStatus {
    /// Items started in the window.
    pub total: usize,
    /// Done within the objective.
    pub met: usize,
    /// Done, but later than the objective.
    pub late: usize,
    /// Not done and already past the objective: each one is a breach to act on.
    pub breaching: Vec<SloItemRef>,
    /// Not done and still within the objective.
    pub in_progress: usize,
    /// How fast the error budget burns: the share of judged items that missed, over the share
    /// the target allows (1.0 spends the budget exactly over the window; above it, faster).
    pub burn_rate: f64,
}

/// A breaching item: what and since when it has been past the objective.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SloItemRef {
    pub id: String,
    pub correlation_id: String,
    pub started: DateTime<Utc>,
}

/// Judges `items` against "done within `within`", with `target` the share that must meet it
/// (0.99: one in a hundred may miss).
pub fn evaluate(items: &[SloItem], within: Duration, target: f64, now: DateTime<Utc>) -> SloStatus {
    let mut status = SloStatus {
        total: items.len(),
        met: 0,
        late: 0,
        breaching: Vec::new(),
        in_progress: 0,
        burn_rate: 0.0,
    };
    for item in items {
        match item.done {
            Some(done) if done - item.started <= within => status.met += 1,
            Some(_) => status.late += 1,
            None if now - item.started > within => status.breaching.push(SloItemRef {
                id: item.id.clone(),
                correlation_id: item.correlation_id.clone(),
                started: item.started,
            }),
            None => status.in_progress += 1,
        }
    }
    let missed = status.late + status.breaching.len();
    let judged = status.met + missed;
    let budget = 1.0 - target;
    status.burn_rate = match (judged, missed) {
        (0, _) | (_, 0) => 0.0,
        _ if budget <= 0.0 => f64::INFINITY,
        _ => (missed as f64 / judged as f64) / budget,
    };
    status
}

/// The `data` of `org.concord.slo.breached.v1`: what an alert webhook receives (through its
/// outbound mapping).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SloBreached {
    /// The objective's name in config, e.g. `contract_propagation`.
    pub slo: String,
    /// What breached it: a contract version, a PO, an exception.
    pub item: String,
    /// The objective, as configured (`15m`, `24h`, `5d`).
    pub objective: String,
    pub started: DateTime<Utc>,
    /// The exception opened for it (type `slo_breach`).
    pub exception_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap() + Duration::minutes(minutes)
    }

    fn item(id: &str, started: i64, done: Option<i64>) -> SloItem {
        SloItem {
            id: id.into(),
            correlation_id: format!("corr-{id}"),
            started: at(started),
            done: done.map(at),
        }
    }

    #[test]
    fn each_item_is_met_late_breaching_or_in_progress() {
        let items = [
            item("met", 0, Some(15)),
            item("late", 0, Some(16)),
            item("breaching", 0, None),
            item("young", 50, None),
        ];
        let s = evaluate(&items, Duration::minutes(15), 0.9, at(60));
        assert_eq!((s.total, s.met, s.late, s.in_progress), (4, 1, 1, 1));
        assert_eq!(s.breaching.len(), 1);
        assert_eq!(s.breaching[0].id, "breaching");
        assert_eq!(s.breaching[0].correlation_id, "corr-breaching");
        // 2 of 3 judged missed, against a 10 % budget: burning 6.67 times too fast.
        assert!(
            (s.burn_rate - (2.0 / 3.0) / 0.1).abs() < 1e-9,
            "{}",
            s.burn_rate
        );
    }

    #[test]
    fn nothing_missed_burns_nothing_and_a_zero_budget_burns_at_once() {
        let fine = [item("a", 0, Some(1)), item("b", 0, None)];
        assert_eq!(
            evaluate(&fine, Duration::minutes(15), 0.99, at(5)).burn_rate,
            0.0
        );
        assert_eq!(
            evaluate(&[], Duration::minutes(15), 0.99, at(5)).burn_rate,
            0.0
        );
        let missed = [item("a", 0, Some(30))];
        assert_eq!(
            evaluate(&missed, Duration::minutes(15), 1.0, at(60)).burn_rate,
            f64::INFINITY
        );
        // Exactly at the objective is met.
        let edge = [item("a", 0, None)];
        assert_eq!(
            evaluate(&edge, Duration::minutes(15), 0.99, at(15)).in_progress,
            1
        );
    }
}
