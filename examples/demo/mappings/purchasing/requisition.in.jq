# Purchasing suite "REQUISITION_SUBMITTED" webhook -> canonical requisition.
# The suite sends money as {amount, currency}; Concord prices in the contract currency (USD here),
# so another currency is refused rather than compared as if it were dollars.
.requisition as $r
| {
    id: need(.requisition.reqNumber),
    requester: need(.requisition.requestedBy.userId),
    facility: need(.requisition.shipTo.locationGln),
    cost_center: need(.requisition.costCenter),
    lines: [need(.requisition.lines) | .[] | {
      gtin: .itemGtin,
      quantity: .qty,
      uom: .unit,
      unit_price: (if (.price.currency // "USD") == "USD" then (.price.amount | tostring)
                   else "currency \(.price.currency) is not USD" end)
    }]
  }
