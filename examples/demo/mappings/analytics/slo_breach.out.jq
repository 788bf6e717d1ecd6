# A breached service level objective -> the analytics sink's event (an alerting webhook takes
# the same input: .breach is org.concord.slo.breached.v1's data). Deterministic: .occurred_at.
{
  eventType: "slo_breach",
  occurredAt: .occurred_at,
  payload: .breach
}
