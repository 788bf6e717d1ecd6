# Canonical contract -> analytics event. Mappings must be deterministic: a redelivery sends the
# same body under the same Idempotency-Key, so use .occurred_at, never `now`.
{
  eventType: "contract_price",
  occurredAt: .occurred_at,
  payload: .contract
}
