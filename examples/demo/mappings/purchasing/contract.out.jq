# Canonical contract -> purchasing suite catalog contract (PUT /catalog/v2/contracts/{id}).
{
  contractNumber: .contract.id,
  contractRevision: .contract.version,
  supplierRef: .contract.supplier_id,
  startsOn: .contract.effective_date,
  endsOn: .contract.expiration_date,
  eligibleSites: .contract.eligibility.facilities,
  eligibleRegions: .contract.eligibility.groups,
  items: [.contract.lines[] | {
    gtin: .gtin,
    unitOfMeasure: .uom,
    tiers: [.price_breaks[] | {minQty: .min_quantity, price: .unit_price}]
  }]
}
