# Canonical contract -> analytics event.
{
  eventType: "contract_price",
  occurredAt: (now | todate),
  payload: .contract
}
