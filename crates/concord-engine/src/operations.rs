//! What operators do to the running hub from the console (and could from the API): pause and
//! resume a target for a maintenance window, test a system's connection, read circuit states.
//! Each change is audited in the same transaction as itself.

use std::time::{Duration, Instant};

use chrono::Utc;
use concord_store::Write;
use serde::Serialize;
use serde_json::json;

use crate::{Hub, breaker::CircuitState, error::Rejection, error::Result};

/// The answer of a connection test: reached or not, how, and how long it took.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionCheck {
    pub system: String,
    pub url: String,
    /// The system answered (any HTTP status: the point is that it is there).
    pub reachable: bool,
    pub status: Option<u16>,
    pub latency_ms: u64,
    pub error: Option<String>,
}

impl Hub {
    fn configured(&self, system: &str) -> Result<&crate::config::SystemConfig> {
        self.config().systems.get(system).ok_or_else(|| {
            Rejection::not_found(format!("no system {system:?} is configured")).into()
        })
    }

    async fn paused(&self, target: &str) -> Result<Option<concord_store::PausedTarget>> {
        let paused = self.store().paused_targets().await?;
        Ok(paused.into_iter().find(|p| p.target == target))
    }

    /// Stops delivering to `target` (queued deliveries wait; nothing is dropped or dead-lettered).
    pub async fn pause_target(&self, target: &str, actor: &str, reason: &str) -> Result<()> {
        self.configured(target)?;
        let reason = reason.trim();
        if reason.is_empty() || reason.len() > 500 {
            return Err(Rejection::new(
                400,
                "invalid",
                "A reason is required",
                "say why the target is paused (1 to 500 characters), e.g. the maintenance window",
            )
            .into());
        }
        if let Some(p) = self.paused(target).await? {
            return Err(Rejection::new(
                409,
                "already_paused",
                "The target is already paused",
                format!("{target} was paused by {} ({})", p.actor, p.reason),
            )
            .into());
        }
        let now = Utc::now();
        self.commit(vec![
            Write::PauseTarget {
                target: target.into(),
                actor: actor.into(),
                reason: reason.into(),
                at: now,
            },
            crate::governance::audit(
                actor,
                "target.paused",
                format!("system:{target}"),
                None,
                None,
                None,
                json!({"reason": reason}),
            ),
        ])
        .await?;
        Ok(())
    }

    /// Delivers to `target` again, in the order the deliveries were queued.
    pub async fn resume_target(&self, target: &str, actor: &str) -> Result<()> {
        self.configured(target)?;
        if self.paused(target).await?.is_none() {
            return Err(Rejection::new(
                409,
                "not_paused",
                "The target is not paused",
                format!("{target} is delivering; there is nothing to resume"),
            )
            .into());
        }
        self.commit(vec![
            Write::ResumeTarget {
                target: target.into(),
            },
            crate::governance::audit(
                actor,
                "target.resumed",
                format!("system:{target}"),
                None,
                None,
                None,
                json!({}),
            ),
        ])
        .await?;
        self.inner.work.notify_one();
        Ok(())
    }

    /// One GET to the system's base URL with its own client (its CA) and timeout: whether it
    /// answers at all. No credentials are sent and nothing is changed there.
    pub async fn test_connection(&self, system: &str) -> Result<ConnectionCheck> {
        let config = self.configured(system)?;
        let Some(url) = config.base_url.clone() else {
            return Err(Rejection::new(
                409,
                "no_base_url",
                "The system has no base URL",
                format!("systems.{system} has no base_url: the hub never calls it"),
            )
            .into());
        };
        let started = Instant::now();
        let answer = self
            .http_for(system)
            .get(&url)
            .timeout(Duration::from_millis(config.timeout_ms))
            .send()
            .await;
        let latency_ms = started.elapsed().as_millis() as u64;
        Ok(match answer {
            Ok(response) => ConnectionCheck {
                system: system.into(),
                url,
                reachable: true,
                status: Some(response.status().as_u16()),
                latency_ms,
                error: None,
            },
            Err(e) => ConnectionCheck {
                system: system.into(),
                url,
                reachable: false,
                status: None,
                latency_ms,
                error: Some(if e.is_timeout() {
                    format!("timed out after {} ms", config.timeout_ms)
                } else {
                    format!("request failed: {}", crate::error::error_chain(&e))
                }),
            },
        })
    }

    /// Each configured system's circuit: `closed`, `open` or `half_open`.
    pub fn circuit_states(&self) -> Vec<(String, &'static str)> {
        let breakers = self.inner.breakers.lock().clone();
        self.config()
            .systems
            .keys()
            .map(|system| {
                let state = match breakers.get(system).map(|b| b.state()) {
                    Some(CircuitState::Open { .. }) => "open",
                    Some(CircuitState::HalfOpen) => "half_open",
                    Some(CircuitState::Closed { .. }) | None => "closed",
                };
                (system.clone(), state)
            })
            .collect()
    }
}
