# Canonical contract -> ERP price agreement. The ERP knows the supplier by its vendor number,
# which comes from the hub's crosswalk as .xref.supplier; dates are YYYYMMDD.
{
  agreementNo: .contract.id,
  revision: .contract.version,
  vendorNumber: need(.xref.supplier),
  validFrom: (.contract.effective_date | date_to_yyyymmdd),
  validTo: (.contract.expiration_date | date_to_yyyymmdd),
  plants: .contract.eligibility.facilities,
  plantGroups: .contract.eligibility.groups,
  conditions: [.contract.lines[] | {
    material: .gtin,
    uom: .uom,
    scales: [.price_breaks[] | {fromQty: .min_quantity, amount: .unit_price, currency: "USD"}]
  }]
}
