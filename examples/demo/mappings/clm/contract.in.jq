# CLM "CONTRACT_APPROVED" webhook -> canonical contract submission.
# The CLM knows suppliers by its own vendor id; the hub resolves it (crosswalk, supplier master
# by TIN, then the ERP's vendor lookup). Amendment 0 is the original contract: version 1.
.contract as $c
| {
    id: need(.contract.contractNumber),
    version: (need(.contract.amendmentNo) + 1),
    supplier: {
      external_id: need(.contract.counterparty.clmVendorId),
      name: $c.counterparty.legalName,
      tin: $c.counterparty.taxId
    },
    status: (if .eventType == "CONTRACT_APPROVED" then "approved" else "draft" end),
    effective_date: need(.contract.term.start),
    expiration_date: need(.contract.term.end),
    eligibility: {
      facilities: ($c.coverage.facilityGlns // []),
      groups: ($c.coverage.facilityGroups // [])
    },
    lines: [need(.contract.pricing) | .[] | {
      gtin: .itemGtin,
      vendor_part: .vendorPartNo,
      uom: .unit,
      price_breaks: [.tiers[] | {min_quantity: .fromQty, unit_price: .price}]
    }]
  }
