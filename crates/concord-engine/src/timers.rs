//! Timers: workflows schedule them (a contract's activation fallback, a requisition step's
//! escalation, a PO's wait for its 997/999) as rows in the store, so they survive restarts; one loop fires the due ones,
//! each by its kind's workflow.

use std::time::Duration;

use chrono::Utc;

use crate::{error::Result, hub::Hub};

impl Hub {
    /// Fires the timers due now (up to 100 a round), each through the workflow of its kind.
    /// Each is claimed first (leased for `[hub] work_lease_secs`), so with several instances
    /// only one fires it; one whose instance died fires when the lease ends.
    pub async fn fire_due_timers(&self) -> Result<usize> {
        let now = Utc::now();
        let lease = now + chrono::Duration::from_std(self.work_lease()).unwrap_or_default();
        let due = self.store().claim_timers(now, lease, 100).await?;
        for timer in &due {
            let span = tracing::info_span!("timer", timer = %timer.id, kind = %timer.kind, correlation_id = %timer.correlation_id);
            // One timer that fails (or is of a kind this build does not know) is left in place
            // and logged; the others behind it still fire.
            tracing::Instrument::instrument(
                async {
                    let fired = match timer.kind.as_str() {
                        crate::contracts::FALLBACK_TIMER => self.fire_contract_timer(timer).await,
                        crate::requisitions::ESCALATION_TIMER => {
                            self.fire_requisition_timer(timer).await
                        }
                        crate::purchase_orders::ACK_TIMER => self.fire_ack_timer(timer).await,
                        other => {
                            tracing::error!(timer = %timer.id, kind = other, "timer of a kind this build does not know; left in place");
                            Ok(())
                        }
                    };
                    if let Err(e) = fired {
                        tracing::error!(error = %e, "firing a timer failed; it fires again when its lease ends");
                    }
                },
                span,
            )
            .await;
        }
        Ok(due.len())
    }
}

/// Background loop firing timers.
pub(crate) async fn run_timers(hub: Hub) {
    let interval = Duration::from_millis(hub.config().delivery.poll_ms.max(100) * 4);
    while !hub.stopping() {
        hub.beat("timers");
        if let Err(e) = hub.fire_due_timers().await {
            tracing::error!(error = %e, "firing timers failed");
        }
        hub.idle("timers", interval).await;
    }
}
