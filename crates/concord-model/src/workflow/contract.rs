//! Contract propagation: an approved contract version is delivered to every subscribed target and
//! becomes active for buying only when every required target has acknowledged it, or when a
//! configured fallback allows it.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where a contract version stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum VersionStatus {
    /// Stored and being propagated; not yet used for pricing.
    Pending,
    /// Used for pricing.
    Active,
    /// A higher version of the same contract is active (or arrived first).
    Superseded,
}

impl VersionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VersionStatus::Pending => "pending",
            VersionStatus::Active => "active",
            VersionStatus::Superseded => "superseded",
        }
    }
}

/// A target system subscribed to contract versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TargetSpec {
    pub system: String,
    /// Activation waits for required targets only.
    pub required: bool,
}

/// Activate after `after_secs` even though some required targets have not acknowledged, provided
/// every target named in `targets` has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FallbackPolicy {
    pub after_secs: u64,
    pub targets: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TargetState {
    Pending,
    Acknowledged,
    DeadLettered,
}

/// One target's progress for one contract version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TargetProgress {
    pub required: bool,
    pub state: TargetState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Why a version became active: kept in the lineage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum ActivationReason {
    /// No required target was subscribed.
    NoRequiredTargets,
    AllRequiredAcknowledged,
    /// The fallback policy fired: these targets had acknowledged, these had not.
    Fallback {
        acknowledged: Vec<String>,
        missing: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Activation {
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub reason: ActivationReason,
}

/// The workflow state of one contract version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ContractPropagation {
    pub contract_id: String,
    pub version: u32,
    pub status: VersionStatus,
    pub targets: BTreeMap<String, TargetProgress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation: Option<Activation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<FallbackPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<u32>,
    /// A `contract_propagation_failed` exception is open for this version.
    #[serde(default)]
    pub exception_open: bool,
}

/// What happened to a contract version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContractEvent {
    Submitted {
        contract_id: String,
        version: u32,
        targets: Vec<TargetSpec>,
        /// The highest version of this contract stored before this one, whatever its status
        /// (pending, active or superseded). A lower version arriving after it (a CLM's retry,
        /// a message an instance held when it died) must not reach targets after it.
        newest_version: Option<u32>,
        fallback: Option<FallbackPolicy>,
        at: DateTime<Utc>,
    },
    TargetAcknowledged {
        system: String,
        at: DateTime<Utc>,
    },
    TargetDeadLettered {
        system: String,
        error: String,
        at: DateTime<Utc>,
    },
    FallbackDue {
        at: DateTime<Utc>,
    },
    /// A higher version became active.
    Superseded {
        by_version: u32,
        at: DateTime<Utc>,
    },
}

/// What the driver must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContractAction {
    Deliver {
        system: String,
    },
    /// Make this version the one used for pricing and supersede lower versions.
    Activate {
        reason: ActivationReason,
    },
    OpenException {
        kind: &'static str,
        detail: String,
    },
    ResolveException {
        kind: &'static str,
    },
    ScheduleFallback {
        due: DateTime<Utc>,
    },
}

pub const PROPAGATION_FAILED: &str = "contract_propagation_failed";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkflowError {
    #[error("contract workflow received {event} before the version was submitted")]
    NotStarted { event: &'static str },
    #[error("target {0} is not subscribed to this contract version")]
    UnknownTarget(String),
}

/// Advances the workflow by one event.
pub fn apply(
    state: Option<ContractPropagation>,
    event: ContractEvent,
) -> Result<(ContractPropagation, Vec<ContractAction>), WorkflowError> {
    let mut actions = Vec::new();
    let state = match (state, event) {
        (
            _,
            ContractEvent::Submitted {
                contract_id,
                version,
                targets,
                newest_version,
                fallback,
                at,
            },
        ) => {
            let superseded = newest_version.is_some_and(|v| v > version);
            let mut state = ContractPropagation {
                contract_id,
                version,
                status: if superseded {
                    VersionStatus::Superseded
                } else {
                    VersionStatus::Pending
                },
                targets: targets
                    .iter()
                    .map(|t| {
                        let progress = TargetProgress {
                            required: t.required,
                            state: TargetState::Pending,
                            at: None,
                            error: None,
                        };
                        (t.system.clone(), progress)
                    })
                    .collect(),
                activation: None,
                fallback: fallback.clone(),
                superseded_by: if superseded { newest_version } else { None },
                exception_open: false,
            };
            if superseded {
                // An older version arriving after a newer one was stored is kept for the record
                // but never sent: targets must not go back in time, whether the newer version
                // is active yet or still propagating.
                return Ok((state, actions));
            }
            actions.extend(targets.iter().map(|t| ContractAction::Deliver {
                system: t.system.clone(),
            }));
            if let Some(policy) = &fallback
                && state.targets.values().any(|t| t.required)
            {
                let due = at + Duration::seconds(policy.after_secs.min(i64::MAX as u64) as i64);
                actions.push(ContractAction::ScheduleFallback { due });
            }
            activate_if_ready(&mut state, at, &mut actions);
            state
        }
        (None, ContractEvent::TargetAcknowledged { .. }) => {
            return Err(WorkflowError::NotStarted {
                event: "an acknowledgement",
            });
        }
        (None, ContractEvent::TargetDeadLettered { .. }) => {
            return Err(WorkflowError::NotStarted {
                event: "a dead letter",
            });
        }
        (None, ContractEvent::FallbackDue { .. }) => {
            return Err(WorkflowError::NotStarted {
                event: "a fallback timer",
            });
        }
        (None, ContractEvent::Superseded { .. }) => {
            return Err(WorkflowError::NotStarted {
                event: "a supersession",
            });
        }
        (Some(mut state), ContractEvent::TargetAcknowledged { system, at }) => {
            let target = state
                .targets
                .get_mut(&system)
                .ok_or(WorkflowError::UnknownTarget(system))?;
            target.state = TargetState::Acknowledged;
            target.at = Some(at);
            target.error = None;
            activate_if_ready(&mut state, at, &mut actions);
            state
        }
        (Some(mut state), ContractEvent::TargetDeadLettered { system, error, at }) => {
            let target = state
                .targets
                .get_mut(&system)
                .ok_or_else(|| WorkflowError::UnknownTarget(system.clone()))?;
            if target.state == TargetState::Acknowledged {
                // The target has this version; a failed duplicate (a replay) takes nothing away.
                return Ok((state, actions));
            }
            target.state = TargetState::DeadLettered;
            target.at = Some(at);
            target.error = Some(error.clone());
            if target.required && state.status == VersionStatus::Pending && !state.exception_open {
                state.exception_open = true;
                actions.push(ContractAction::OpenException {
                    kind: PROPAGATION_FAILED,
                    detail: format!(
                        "contract {} version {}: required target {system} dead-lettered: {error}",
                        state.contract_id, state.version
                    ),
                });
            }
            state
        }
        (Some(mut state), ContractEvent::FallbackDue { at }) => {
            if state.status == VersionStatus::Pending
                && let Some(policy) = state.fallback.clone()
            {
                let acknowledged = |s: &String| {
                    state
                        .targets
                        .get(s)
                        .is_some_and(|t| t.state == TargetState::Acknowledged)
                };
                if policy.targets.iter().all(acknowledged) {
                    let (acked, missing): (Vec<_>, Vec<_>) = state
                        .targets
                        .iter()
                        .partition(|(_, t)| t.state == TargetState::Acknowledged);
                    let reason = ActivationReason::Fallback {
                        acknowledged: acked.into_iter().map(|(s, _)| s.clone()).collect(),
                        missing: missing.into_iter().map(|(s, _)| s.clone()).collect(),
                    };
                    activate(&mut state, at, reason, &mut actions);
                }
            }
            state
        }
        (Some(mut state), ContractEvent::Superseded { by_version, .. }) => {
            if by_version > state.version && state.status != VersionStatus::Superseded {
                state.status = VersionStatus::Superseded;
                state.superseded_by = Some(by_version);
                if state.exception_open {
                    state.exception_open = false;
                    actions.push(ContractAction::ResolveException {
                        kind: PROPAGATION_FAILED,
                    });
                }
            }
            state
        }
    };
    Ok((state, actions))
}

fn activate_if_ready(
    state: &mut ContractPropagation,
    at: DateTime<Utc>,
    actions: &mut Vec<ContractAction>,
) {
    if state.status != VersionStatus::Pending {
        return;
    }
    let mut required = state.targets.values().filter(|t| t.required).peekable();
    let reason = if required.peek().is_none() {
        ActivationReason::NoRequiredTargets
    } else if required.all(|t| t.state == TargetState::Acknowledged) {
        ActivationReason::AllRequiredAcknowledged
    } else {
        return;
    };
    activate(state, at, reason, actions);
}

fn activate(
    state: &mut ContractPropagation,
    at: DateTime<Utc>,
    reason: ActivationReason,
    actions: &mut Vec<ContractAction>,
) {
    state.status = VersionStatus::Active;
    state.activation = Some(Activation {
        at,
        reason: reason.clone(),
    });
    actions.push(ContractAction::Activate { reason });
    if state.exception_open {
        state.exception_open = false;
        actions.push(ContractAction::ResolveException {
            kind: PROPAGATION_FAILED,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t0() -> DateTime<Utc> {
        "2026-11-21T10:00:00Z".parse().unwrap()
    }

    fn submit(
        targets: &[(&str, bool)],
        newest: Option<u32>,
        fallback: Option<FallbackPolicy>,
    ) -> ContractEvent {
        ContractEvent::Submitted {
            contract_id: "C-1".into(),
            version: 2,
            targets: targets
                .iter()
                .map(|(s, r)| TargetSpec {
                    system: s.to_string(),
                    required: *r,
                })
                .collect(),
            newest_version: newest,
            fallback,
            at: t0(),
        }
    }

    fn ack(s: &str) -> ContractEvent {
        ContractEvent::TargetAcknowledged {
            system: s.into(),
            at: t0(),
        }
    }

    fn dead(s: &str) -> ContractEvent {
        ContractEvent::TargetDeadLettered {
            system: s.into(),
            error: "HTTP 503".into(),
            at: t0(),
        }
    }

    fn is_activate(a: &ContractAction) -> bool {
        matches!(a, ContractAction::Activate { .. })
    }

    #[test]
    fn no_targets_activates_at_once() {
        let (s, actions) = apply(None, submit(&[], None, None)).unwrap();
        assert_eq!(s.status, VersionStatus::Active);
        assert_eq!(
            actions,
            vec![ContractAction::Activate {
                reason: ActivationReason::NoRequiredTargets
            }]
        );
    }

    #[test]
    fn activates_only_after_every_required_target() {
        let (s, actions) = apply(
            None,
            submit(
                &[("erp", true), ("catalog", true), ("bi", false)],
                None,
                None,
            ),
        )
        .unwrap();
        assert_eq!(s.status, VersionStatus::Pending);
        assert_eq!(
            actions
                .iter()
                .filter(|a| matches!(a, ContractAction::Deliver { .. }))
                .count(),
            3
        );
        let (s, actions) = apply(Some(s), ack("erp")).unwrap();
        assert_eq!(s.status, VersionStatus::Pending);
        assert!(actions.is_empty());
        let (s, actions) = apply(Some(s), ack("catalog")).unwrap();
        assert_eq!(s.status, VersionStatus::Active);
        assert_eq!(
            actions,
            vec![ContractAction::Activate {
                reason: ActivationReason::AllRequiredAcknowledged
            }]
        );
        // The optional target's later failure changes nothing.
        let (s, actions) = apply(Some(s), dead("bi")).unwrap();
        assert_eq!(s.status, VersionStatus::Active);
        assert!(actions.is_empty());
    }

    #[test]
    fn required_dead_letter_opens_one_exception_and_ack_after_replay_resolves_it() {
        let (s, _) = apply(None, submit(&[("erp", true)], None, None)).unwrap();
        let (s, actions) = apply(Some(s), dead("erp")).unwrap();
        assert_eq!(s.status, VersionStatus::Pending);
        assert!(matches!(
            &actions[..],
            [ContractAction::OpenException {
                kind: PROPAGATION_FAILED,
                ..
            }]
        ));
        let (s, actions) = apply(Some(s), dead("erp")).unwrap();
        assert!(
            actions.is_empty(),
            "a second dead letter must not open a second exception"
        );
        let (s, actions) = apply(Some(s), ack("erp")).unwrap();
        assert_eq!(s.status, VersionStatus::Active);
        assert!(actions.contains(&ContractAction::ResolveException {
            kind: PROPAGATION_FAILED
        }));
    }

    #[test]
    fn older_version_after_newer_is_superseded_and_never_sent() {
        let (s, actions) = apply(None, submit(&[("erp", true)], Some(3), None)).unwrap();
        assert_eq!(s.status, VersionStatus::Superseded);
        assert_eq!(s.superseded_by, Some(3));
        assert!(actions.is_empty());
    }

    #[test]
    fn fallback_activates_when_named_targets_acknowledged() {
        let policy = FallbackPolicy {
            after_secs: 60,
            targets: vec!["catalog".into()],
        };
        let (s, actions) = apply(
            None,
            submit(&[("erp", true), ("catalog", true)], None, Some(policy)),
        )
        .unwrap();
        assert!(actions.contains(&ContractAction::ScheduleFallback {
            due: t0() + Duration::seconds(60)
        }));
        // Timer fires before the catalog acknowledged: nothing happens.
        let (s, actions) = apply(Some(s), ContractEvent::FallbackDue { at: t0() }).unwrap();
        assert!(actions.is_empty());
        assert_eq!(s.status, VersionStatus::Pending);
        let (s, _) = apply(Some(s), ack("catalog")).unwrap();
        let (s, actions) = apply(Some(s), ContractEvent::FallbackDue { at: t0() }).unwrap();
        assert_eq!(s.status, VersionStatus::Active);
        assert_eq!(
            actions,
            vec![ContractAction::Activate {
                reason: ActivationReason::Fallback {
                    acknowledged: vec!["catalog".into()],
                    missing: vec!["erp".into()],
                }
            }]
        );
    }

    #[test]
    fn events_before_submission_or_for_unknown_targets_are_errors() {
        assert!(apply(None, ack("erp")).is_err());
        let (s, _) = apply(None, submit(&[("erp", true)], None, None)).unwrap();
        assert_eq!(
            apply(Some(s), ack("nope")).unwrap_err(),
            WorkflowError::UnknownTarget("nope".into())
        );
    }

    proptest! {
        /// In any order of acknowledgements and dead letters, the version is active exactly when
        /// every required target acknowledged, and Activate is emitted at most once.
        #[test]
        fn activation_iff_all_required_acknowledged(
            required in proptest::collection::vec(proptest::bool::ANY, 1..5),
            steps in proptest::collection::vec((0usize..5, proptest::bool::ANY), 0..20),
        ) {
            let names: Vec<String> = (0..required.len()).map(|i| format!("t{i}")).collect();
            let targets: Vec<(&str, bool)> = names.iter().map(|s| s.as_str()).zip(required.iter().copied()).collect();
            let (mut s, actions) = apply(None, submit(&targets, None, None)).unwrap();
            let mut activations = actions.iter().filter(|a| is_activate(a)).count();
            let mut acked = vec![false; names.len()];
            for (idx, ok) in steps {
                let i = idx % names.len();
                let event = if ok { ack(&names[i]) } else { dead(&names[i]) };
                if ok { acked[i] = true; }
                let (next, actions) = apply(Some(s), event).unwrap();
                activations += actions.iter().filter(|a| is_activate(a)).count();
                s = next;
            }
            let all_required_acked = required.iter().zip(&acked).all(|(r, a)| !r || *a);
            prop_assert_eq!(s.status == VersionStatus::Active, all_required_acked);
            prop_assert!(activations <= 1);
        }
    }
}
