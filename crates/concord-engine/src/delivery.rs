//! Delivery: workers claim due outbox rows, map each canonical document to the target's native
//! body, and send it with a stable `Idempotency-Key`. Failures retry with exponential backoff and
//! jitter until the attempt limit, then dead-letter; a circuit breaker and a rate limit protect
//! each target. The attempt's result and its workflow consequences commit in one transaction.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use concord_model::Contract;
use concord_store::{DeliveryOutcome, DeliveryRecord, Write};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::{
    breaker::backoff,
    error::Result,
    hub::{Hub, timeline},
    mapping::Direction,
};

/// How one HTTP attempt went.
#[derive(Debug)]
struct Attempt {
    status_code: Option<u16>,
    latency_us: i64,
    error: Option<String>,
    kind: AttemptKind,
    /// The target's JSON answer to an acknowledged request (the ERP's PO number is in it).
    reply: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AttemptKind {
    Acknowledged,
    /// Worth trying again (5xx, 408, 429, timeouts, connection errors).
    Transient {
        retry_after: Option<Duration>,
    },
    /// The target refused the content (other 4xx) or it could not be mapped: retrying cannot help.
    Permanent,
}

/// Classifies an HTTP status. 408, 425 and 429 are the 4xx that are worth retrying.
fn classify(status: u16) -> AttemptKind {
    match status {
        200..=299 => AttemptKind::Acknowledged,
        408 | 425 | 429 | 500..=599 => AttemptKind::Transient { retry_after: None },
        _ => AttemptKind::Permanent,
    }
}

/// The worker loop: claim what is due, deliver each in its own task, bounded by `concurrency`.
pub(crate) async fn run(hub: Hub) {
    let config = hub.config().delivery.clone();
    let permits = Arc::new(Semaphore::new(config.concurrency));
    let poll = Duration::from_millis(config.poll_ms);
    let gap = Duration::from_millis(config.claim_gap_ms.unwrap_or(match hub.store().dialect() {
        concord_store::Dialect::Sqlite => 5,
        concord_store::Dialect::Postgres => 50,
    }));
    let mut last_claim = tokio::time::Instant::now();
    while !hub.stopping() {
        hub.beat("delivery");
        // Under load, wake-ups come with every commit; a short gap between claims lets the
        // due rows gather, so one claim takes many instead of each claim taking one (every
        // claim costs the database a look at the queue).
        tokio::time::sleep_until(last_claim + gap).await;
        last_claim = tokio::time::Instant::now();
        let available = permits.available_permits();
        let claimed = if available == 0 {
            Vec::new()
        } else {
            let claim = hub.claim(Duration::from_secs(config.lease_secs));
            match hub
                .store()
                .claim_deliveries(Utc::now(), &claim, available as u32)
                .await
            {
                Ok(claimed) => claimed,
                Err(e) => {
                    tracing::error!(error = %e, "claiming deliveries failed");
                    Vec::new()
                }
            }
        };
        let n = claimed.len();
        for delivery in claimed {
            let permit = permits
                .clone()
                .acquire_owned()
                .await
                .expect("semaphore is never closed");
            let hub = hub.clone();
            // Every log line of the attempt names its transaction.
            let span = tracing::info_span!("deliver", delivery = %delivery.id, target = %delivery.target, correlation_id = %delivery.correlation_id);
            tokio::spawn(tracing::Instrument::instrument(
                async move {
                    let id = delivery.id.clone();
                    match hub.deliver(delivery).await {
                        Ok(()) => {}
                        Err(crate::EngineError::Store(concord_store::Error::LostClaim(why))) => {
                            // Our lease ended mid-attempt and another worker took the delivery
                            // (same idempotency key): its attempt is the one recorded.
                            tracing::info!(delivery = %id, reason = %why, "another worker took this delivery over");
                        }
                        Err(e) => {
                            // The lease expires and the delivery is claimed again: nothing is lost.
                            tracing::error!(delivery = %id, error = %e, "recording a delivery attempt failed");
                        }
                    }
                    drop(permit);
                    hub.inner.work.notify_one();
                },
                span,
            ));
        }
        // Everything due was taken (fewer than the free slots): wait to be woken by a commit
        // that queues work or a finished delivery, or for the poll, rather than asking again
        // at once for what is almost surely nothing.
        if n < available {
            tokio::select! {
                _ = hub.inner.work.notified() => {}
                _ = tokio::time::sleep(poll) => {}
                _ = hub.inner.stop.notified() => {}
            }
        }
    }
}

impl Hub {
    /// Adds the system's outbound credential, read now (so a rotated secret is used at once),
    /// as a header marked sensitive (never printed by the HTTP client's debug output).
    pub(crate) fn with_credentials(
        &self,
        credentials: Option<&crate::config::CredentialRef>,
        request: reqwest::RequestBuilder,
    ) -> std::result::Result<reqwest::RequestBuilder, String> {
        let Some(creds) = credentials else {
            return Ok(request);
        };
        let (name, secret) = creds.header(self.config())?;
        let mut value = reqwest::header::HeaderValue::from_str(secret.expose())
            .map_err(|_| "credential: the secret is not a valid header value".to_string())?;
        value.set_sensitive(true);
        Ok(request.header(name, value))
    }

    /// Delivers one claimed row and records the outcome.
    async fn deliver(&self, d: DeliveryRecord) -> Result<()> {
        if d.message_type == crate::x12_inbound::X12 {
            let attempt = self.send_x12(&d).await;
            return self.finish(&d, attempt).await;
        }
        if d.target == crate::nats::EVENTS_TARGET {
            let attempt = self.publish_event(&d).await;
            return self.finish(&d, attempt).await;
        }
        let Some(system) = self.config().systems.get(&d.target) else {
            return self
                .finish(
                    &d,
                    permanent(format!("system {:?} is no longer configured", d.target)),
                )
                .await;
        };
        if let Err(wait) = self.breaker_allow(&d.target) {
            let until = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
            self.commit(vec![Write::Postpone {
                id: d.id.clone(),
                claim: d.claim.clone(),
                until,
                reason: format!("circuit open for {}", d.target),
            }])
            .await?;
            return Ok(());
        }
        if let Some(wait) = self.rate_wait(&d.target) {
            tokio::time::sleep(wait).await;
        }
        let attempt = match self.references(&d).await? {
            Err(lookup_failed) => Attempt {
                status_code: None,
                latency_us: 0,
                error: Some(lookup_failed),
                kind: AttemptKind::Transient { retry_after: None },
                reply: None,
            },
            Ok(xref) => match system.transport {
                crate::config::Transport::Http => match self.build_request(&d, system, xref) {
                    Ok(request) => self.send(request, system.timeout_ms).await,
                    Err(message) => permanent(message),
                },
                crate::config::Transport::Nats => self.publish_to_subscriber(&d, xref).await,
            },
        };
        match attempt.kind {
            AttemptKind::Acknowledged => self.breaker_record(&d.target, true),
            AttemptKind::Transient { .. } if attempt.status_code != Some(429) => {
                self.breaker_record(&d.target, false)
            }
            _ => {}
        }
        self.finish(&d, attempt).await
    }

    /// The target's native body for a delivery (its outbound mapping run on the canonical
    /// document and references), with its route and the id the route's path or subject names.
    fn outbound_body<'c>(
        &'c self,
        d: &DeliveryRecord,
        xref: Value,
    ) -> Result<(Value, &'c crate::config::OutboundRoute, String), String> {
        let route = self
            .config()
            .systems
            .get(&d.target)
            .and_then(|s| s.outbound.get(&d.message_type))
            .ok_or_else(|| {
                format!(
                    "system {} has no outbound route for {}",
                    d.target, d.message_type
                )
            })?;
        let mapping = self
            .inner
            .mappings
            .get(&d.target, &d.message_type, Direction::Outbound)
            .ok_or_else(|| format!("no outbound mapping for {} {}", d.target, d.message_type))?;
        let mut input = d.payload.clone();
        input["target"] = json!(d.target);
        input["xref"] = xref;
        // A redelivery must send the same bytes under the same key, so mappings get the time
        // the delivery was created rather than reading a clock.
        input["occurred_at"] = json!(
            d.created_at
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        );
        let body = mapping.run(&input).map_err(|e| e.to_string())?;
        let id = d
            .payload
            .get("path_id")
            .or_else(|| d.payload.pointer("/contract/id"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        Ok((body, route, id))
    }

    fn build_request(
        &self,
        d: &DeliveryRecord,
        system: &crate::config::SystemConfig,
        xref: Value,
    ) -> Result<reqwest::RequestBuilder, String> {
        let (body, route, id) = self.outbound_body(d, xref)?;
        let path = route.path.replace("{id}", &urlencode(&id));
        let url = format!("{}{path}", system.base_url.as_deref().unwrap_or_default());
        let method =
            reqwest::Method::from_bytes(route.method.as_bytes()).map_err(|e| e.to_string())?;
        let request = self
            .http_for(&d.target)
            .request(method, url)
            .header("Idempotency-Key", &d.idempotency_key)
            .header("X-Correlation-Id", &d.correlation_id)
            .header("traceparent", traceparent(d))
            .json(&body);
        let request = self.with_credentials(system.credentials.as_ref(), request)?;
        Ok(request)
    }

    /// Publishes a canonical event (its CloudEvents envelope, kept as the delivery's payload)
    /// on its type's subject; the events stream is created the first time it is missing.
    async fn publish_event(&self, d: &DeliveryRecord) -> Attempt {
        let Some(nats) = &self.inner.nats else {
            return permanent("NATS is not configured any more ([nats])".into());
        };
        let event_type = d.payload["type"].as_str().unwrap_or_default();
        let envelope = crate::nats::sink::Envelope {
            subject: nats.config.event_subject(event_type),
            message_id: &d.idempotency_key,
            content_type: "application/cloudevents+json",
            headers: vec![
                ("ce-specversion", "1.0".into()),
                ("ce-id", d.idempotency_key.clone()),
                ("ce-type", event_type.to_string()),
                (
                    "ce-source",
                    d.payload["source"].as_str().unwrap_or_default().into(),
                ),
                ("ce-subject", d.subject.clone()),
                ("X-Correlation-Id", d.correlation_id.clone()),
                ("traceparent", traceparent(d)),
            ],
        };
        let events_stream = (
            nats.config.stream.as_str(),
            vec![format!("{}.>", nats.config.subject_prefix)],
        );
        let payload = d.payload.to_string().into_bytes();
        attempt_of(nats.publish(envelope, payload, Some(events_stream)).await)
    }

    /// Publishes a subscriber's delivery on its route's subject (`transport = "nats"`).
    async fn publish_to_subscriber(&self, d: &DeliveryRecord, xref: Value) -> Attempt {
        let Some(nats) = &self.inner.nats else {
            return permanent("NATS is not configured any more ([nats])".into());
        };
        let (body, route, id) = match self.outbound_body(d, xref) {
            Ok(found) => found,
            Err(message) => return permanent(message),
        };
        // A subject token holds no dots or wildcards: an id's are replaced.
        let token: String = id
            .chars()
            .map(|c| {
                if c == '.' || c == '*' || c == '>' || c.is_whitespace() {
                    '_'
                } else {
                    c
                }
            })
            .collect();
        let subject = route
            .subject
            .as_deref()
            .unwrap_or_default()
            .replace("{id}", &token);
        let envelope = crate::nats::sink::Envelope {
            subject,
            message_id: &d.idempotency_key,
            content_type: "application/json",
            headers: vec![
                ("Idempotency-Key", d.idempotency_key.clone()),
                ("X-Correlation-Id", d.correlation_id.clone()),
                ("traceparent", traceparent(d)),
            ],
        };
        attempt_of(
            nats.publish(envelope, body.to_string().into_bytes(), None)
                .await,
        )
    }

    /// The target's own ids for what the document references (from the crosswalks), given to
    /// the outbound mapping as `.xref` so that mappings never query anything themselves.
    /// The inner `Err` is a failed lookup in the target: worth retrying, like a failed send.
    async fn references(&self, d: &DeliveryRecord) -> Result<Result<Value, String>> {
        let Some(supplier_id) = d
            .payload
            .pointer("/contract/supplier_id")
            .or_else(|| d.payload.get("supplier_id"))
            .and_then(Value::as_str)
        else {
            return Ok(Ok(json!({"supplier": null})));
        };
        if let Some(external) = self
            .store()
            .crosswalk_to_external(&d.target, "supplier", supplier_id)
            .await?
        {
            return Ok(Ok(json!({"supplier": external})));
        }
        // No crosswalk yet: ask the target itself, by TIN, when it offers a supplier lookup, and
        // remember the answer so the next delivery does not ask again.
        let Some(route) = self
            .config()
            .systems
            .get(&d.target)
            .and_then(|s| s.lookups.get("supplier"))
            .cloned()
        else {
            return Ok(Ok(json!({"supplier": null})));
        };
        let tin = self
            .store()
            .supplier(supplier_id)
            .await?
            .and_then(|s| s.tin);
        if let Some(tin) = tin {
            match self.lookup_supplier(&d.target, &route, &tin).await {
                Ok(Some(found)) => {
                    let now = Utc::now();
                    self.commit(vec![
                        Write::Crosswalk(
                            concord_store::Crosswalk {
                                system: d.target.clone(),
                                entity_type: "supplier".into(),
                                external_id: found.external_id.clone(),
                                canonical_id: supplier_id.to_string(),
                            },
                            now,
                        ),
                        timeline(&d.correlation_id, now, "crosswalk_learned", json!({"system": d.target, "supplier_id": supplier_id, "external_id": found.external_id})),
                    ])
                    .await?;
                    return Ok(Ok(json!({"supplier": found.external_id})));
                }
                Ok(None) => {}
                Err(e) => return Ok(Err(format!("supplier lookup in {} failed: {e}", d.target))),
            }
        }
        Ok(Ok(json!({"supplier": null})))
    }

    async fn send(&self, request: reqwest::RequestBuilder, timeout_ms: u64) -> Attempt {
        let started = std::time::Instant::now();
        let result = request
            .timeout(Duration::from_millis(timeout_ms))
            .send()
            .await;
        let latency_us = started.elapsed().as_micros() as i64;
        match result {
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                let mut kind = classify(status);
                if let AttemptKind::Transient { retry_after: slot } = &mut kind {
                    *slot = retry_after;
                }
                let text = response.text().await.unwrap_or_default();
                let (error, reply) = if kind == AttemptKind::Acknowledged {
                    (None, serde_json::from_str(&text).ok())
                } else {
                    let error = format!(
                        "HTTP {status}: {}",
                        text.chars().take(500).collect::<String>()
                    );
                    (Some(error), None)
                };
                Attempt {
                    status_code: Some(status),
                    latency_us,
                    error,
                    kind,
                    reply,
                }
            }
            Err(e) => Attempt {
                status_code: None,
                latency_us,
                error: Some(if e.is_timeout() {
                    format!("timed out after {timeout_ms} ms")
                } else {
                    // The whole chain: the reason (a refused certificate, a reset) is in a source.
                    format!("request failed: {}", crate::error::error_chain(&e))
                }),
                kind: AttemptKind::Transient { retry_after: None },
                reply: None,
            },
        }
    }

    /// Sends an interchange by the partner's transport: an HTTP POST of the X12 text, or a file
    /// in the partner's outbox folder (written under a temporary name and renamed, so the
    /// partner's gateway never picks up half a file; named by the idempotency key, so a resend
    /// replaces rather than duplicates it).
    async fn send_x12(&self, d: &DeliveryRecord) -> Attempt {
        let Some(partner) = self.config().partners.get(&d.target) else {
            return permanent(format!("partner {:?} is no longer configured", d.target));
        };
        let Some(text) = d.payload["x12"].as_str() else {
            return permanent("the delivery holds no X12 text".into());
        };
        match &partner.transport {
            crate::partners::Transport::Http { url, credentials } => {
                let request = self
                    .http_for(&d.target)
                    .post(url)
                    .header("Content-Type", "application/edi-x12")
                    .header("Idempotency-Key", &d.idempotency_key)
                    .header("X-Correlation-Id", &d.correlation_id)
                    .header("traceparent", traceparent(d))
                    .body(text.to_string());
                match self.with_credentials(credentials.as_ref(), request) {
                    Ok(request) => self.send(request, 10_000).await,
                    Err(e) => permanent(format!("partner {e}")),
                }
            }
            crate::partners::Transport::File { outbox, .. } => {
                let started = std::time::Instant::now();
                let dir = self.config().hub.data_dir.join(outbox);
                let name = format!("{}.x12", d.idempotency_key);
                let result = async {
                    tokio::fs::create_dir_all(&dir).await?;
                    let tmp = dir.join(format!(".{name}.tmp"));
                    tokio::fs::write(&tmp, text).await?;
                    tokio::fs::rename(&tmp, dir.join(&name)).await
                }
                .await;
                let latency_us = started.elapsed().as_micros() as i64;
                match result {
                    Ok(()) => Attempt {
                        status_code: None,
                        latency_us,
                        error: None,
                        kind: AttemptKind::Acknowledged,
                        reply: None,
                    },
                    Err(e) => Attempt {
                        status_code: None,
                        latency_us,
                        error: Some(format!("writing {}: {e}", dir.join(&name).display())),
                        kind: AttemptKind::Transient { retry_after: None },
                        reply: None,
                    },
                }
            }
        }
    }

    /// Records an attempt, and when it is final, tells the workflow — in one transaction.
    async fn finish(&self, d: &DeliveryRecord, attempt: Attempt) -> Result<()> {
        let config = &self.config().delivery;
        let number = d.attempts + 1;
        let now = Utc::now();
        let (outcome, next) = match attempt.kind {
            AttemptKind::Acknowledged => (DeliveryOutcome::Delivered, now),
            AttemptKind::Permanent => (DeliveryOutcome::Dead, now),
            AttemptKind::Transient { .. } if number >= config.max_attempts => {
                (DeliveryOutcome::Dead, now)
            }
            AttemptKind::Transient { retry_after } => {
                let delay = retry_after.unwrap_or_else(|| {
                    backoff(
                        number,
                        Duration::from_millis(config.base_backoff_ms),
                        Duration::from_millis(config.max_backoff_ms),
                        fastrand::f64(),
                    )
                });
                (
                    DeliveryOutcome::Retry,
                    now + chrono::Duration::from_std(delay).unwrap_or_default(),
                )
            }
        };
        self.metrics().observe_delivery(
            &d.target,
            outcome.as_str(),
            Duration::from_micros(attempt.latency_us.max(0) as u64),
        );
        if outcome == DeliveryOutcome::Delivered {
            self.metrics().observe_sync(
                &d.subject,
                (now - d.created_at).to_std().unwrap_or_default(),
            );
        }
        let mut writes = vec![
            Write::DeliveryResult {
                delivery_id: d.id.clone(),
                claim: d.claim.clone(),
                attempt: number,
                outcome,
                at: now,
                status_code: attempt.status_code,
                latency_us: attempt.latency_us,
                error: attempt.error.clone(),
                next_attempt_at: next,
            },
            timeline(
                &d.correlation_id,
                now,
                "delivery_attempt",
                json!({"delivery_id": d.id, "target": d.target, "attempt": number, "outcome": outcome.as_str(),
                       "status_code": attempt.status_code, "latency_ms": attempt.latency_us as f64 / 1000.0,
                       "error": attempt.error, "idempotency_key": d.idempotency_key}),
            ),
        ];
        if outcome != DeliveryOutcome::Retry && d.message_type == "contract" {
            let contract = <Contract as serde::Deserialize>::deserialize(&d.payload["contract"])
                .map_err(|source| concord_store::Error::Corrupt {
                    table: "deliveries",
                    source,
                })?;
            let _guard = self.lock_workflow(&contract.id).await?;
            let ok = outcome == DeliveryOutcome::Delivered;
            if ok {
                writes.push(timeline(&d.correlation_id, now, "acknowledged", json!({"target": d.target, "contract_id": contract.id, "version": contract.version})));
            } else {
                writes.push(timeline(
                    &d.correlation_id,
                    now,
                    "dead_lettered",
                    json!({"target": d.target, "error": attempt.error}),
                ));
            }
            let mut step = self
                .contract_delivery_outcome(
                    &contract,
                    &d.correlation_id,
                    &d.event_id,
                    &d.target,
                    ok,
                    attempt.error.clone(),
                )
                .await?;
            writes.append(&mut step.writes);
            self.commit(writes).await?;
            step.apply_to_index(self);
        } else if outcome != DeliveryOutcome::Retry
            && d.message_type == crate::onboarding::SUPPLIER_MESSAGE
        {
            self.onboarding_delivery_outcome(
                d,
                outcome == DeliveryOutcome::Delivered,
                attempt.reply.as_ref(),
                attempt.error.clone(),
                &mut writes,
            )
            .await?;
            self.commit(writes).await?;
        } else if outcome == DeliveryOutcome::Dead
            && d.message_type == crate::bank_changes::PAYMENT_MESSAGE
        {
            writes.push(self.bank_change_delivery_failed(d, attempt.error.clone()));
            self.commit(writes).await?;
        } else if outcome != DeliveryOutcome::Retry
            && let Some(po) = crate::purchase_orders::po_of_delivery(d)
        {
            let _guard = self
                .lock_workflow(&crate::purchase_orders::subject(po))
                .await?;
            let mut step = self
                .po_delivery_outcome(
                    po,
                    d,
                    outcome == DeliveryOutcome::Delivered,
                    attempt.reply.as_ref(),
                    attempt.error.clone(),
                )
                .await?;
            writes.append(&mut step);
            self.commit(writes).await?;
        } else {
            self.commit(writes).await?;
        }
        if outcome == DeliveryOutcome::Dead {
            // A target's error body may echo what it was sent: redacted unless switched on.
            let error = attempt.error.as_deref().unwrap_or("");
            tracing::warn!(delivery = %d.id, target = %d.target, error = %concord_model::Phi(error), "delivery dead-lettered");
        }
        Ok(())
    }

    /// The id a target answered for what it created (the ERP's PO or vendor number): the
    /// value at the route's `reply_id` pointer, text or number, never empty. Answers the
    /// pointer too, for the message when it is missing.
    pub(crate) fn reply_id(
        &self,
        target: &str,
        message_type: &str,
        reply: Option<&Value>,
    ) -> (String, Option<String>) {
        let pointer = self
            .config()
            .systems
            .get(target)
            .and_then(|s| s.outbound.get(message_type))
            .and_then(|r| r.reply_id.clone())
            .unwrap_or_default();
        let id = reply
            .and_then(|r| r.pointer(&pointer))
            .and_then(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .filter(|s| !s.is_empty());
        (pointer, id)
    }

    /// Puts a delivery back in the queue (same idempotency key), e.g. after a dead letter.
    pub async fn replay_delivery(&self, id: &str, actor: &str) -> Result<DeliveryRecord> {
        let d = self
            .store()
            .delivery(id)
            .await?
            .ok_or_else(|| crate::error::Rejection::not_found(format!("no delivery {id}")))?;
        if d.status == concord_store::DeliveryStatus::InFlight {
            return Err(crate::error::Rejection::new(
                409,
                "in_flight",
                "The delivery is in flight",
                format!("delivery {id} is being sent now"),
            )
            .into());
        }
        if d.message_type == crate::bank_changes::PAYMENT_MESSAGE {
            self.check_payment_replay(&d).await?;
        }
        self.commit(replay_writes(&d, actor, Utc::now())).await?;
        Ok(self.store().delivery(id).await?.unwrap_or(d))
    }
}

/// The W3C `traceparent` of one attempt: the transaction's trace, a new span per attempt.
fn traceparent(d: &DeliveryRecord) -> String {
    crate::trace::outbound(&d.correlation_id, fastrand::u64(..).to_be_bytes()).header()
}

/// A delivery sent again from its first attempt's state, with its lineage and audit entry:
/// what `POST /v1/deliveries/{id}/replay` and the workbench's `retry` commit.
pub(crate) fn replay_writes(d: &DeliveryRecord, actor: &str, now: DateTime<Utc>) -> Vec<Write> {
    let id = &d.id;
    vec![
        Write::ReplayDelivery {
            id: id.clone(),
            at: now,
        },
        timeline(
            &d.correlation_id,
            now,
            "delivery_replayed",
            json!({"delivery_id": id, "target": d.target, "previous_status": d.status.as_str()}),
        ),
        crate::governance::audit(
            actor,
            "delivery.replayed",
            format!("delivery:{id}"),
            Some(&d.correlation_id),
            Some(crate::governance::digest_of(d)),
            None,
            json!({"target": d.target, "previous_status": d.status.as_str(), "attempts": d.attempts}),
        ),
    ]
}

/// A publish's outcome as a delivery attempt: stored is acknowledged, anything else is worth
/// trying again (the stream may be created, NATS may come back).
fn attempt_of(published: crate::nats::sink::Published) -> Attempt {
    match published {
        crate::nats::sink::Published::Acked {
            latency_us,
            duplicate,
        } => {
            if duplicate {
                tracing::debug!(
                    "JetStream already had this message (a resend inside its duplicate window)"
                );
            }
            Attempt {
                status_code: None,
                latency_us,
                error: None,
                kind: AttemptKind::Acknowledged,
                reply: None,
            }
        }
        crate::nats::sink::Published::Failed { latency_us, error } => Attempt {
            status_code: None,
            latency_us,
            error: Some(error),
            kind: AttemptKind::Transient { retry_after: None },
            reply: None,
        },
    }
}

fn permanent(message: String) -> Attempt {
    Attempt {
        status_code: None,
        latency_us: 0,
        error: Some(message),
        kind: AttemptKind::Permanent,
        reply: None,
    }
}

/// Percent-encodes a path segment.
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_statuses() {
        assert_eq!(classify(201), AttemptKind::Acknowledged);
        assert_eq!(classify(503), AttemptKind::Transient { retry_after: None });
        assert_eq!(classify(429), AttemptKind::Transient { retry_after: None });
        assert_eq!(classify(409), AttemptKind::Permanent);
        assert_eq!(classify(422), AttemptKind::Permanent);
    }

    #[test]
    fn encodes_path_segments() {
        assert_eq!(urlencode("C-100"), "C-100");
        assert_eq!(urlencode("a/b c"), "a%2Fb%20c");
    }
}
