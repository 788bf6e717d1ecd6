# The ERP's vendor master as reconciliation compares it: the fields the ERP keeps that mean the
# same in both, in canonical names (the ERP writes legal names its own way, so names are not
# compared). The vendor number becomes a supplier id through the crosswalk.
[.vendors[] | {
  external_id: .vendorNumber,
  record: {tin: .taxId}
    + (if .postalCode then {address: {line1: .street, city: .city, state: .region, zip: .postalCode}} else {} end)
}]
