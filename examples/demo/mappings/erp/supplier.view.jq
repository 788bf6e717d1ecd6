# The ERP's vendor master as reconciliation compares it: the fields the ERP keeps, in
# canonical names. The vendor number is mapped to a supplier id through the crosswalk.
[.vendors[] | {
  external_id: .vendorNumber,
  record: {name: .vendorName, tin: .taxId}
    + (if .postalCode then {address: {line1: .street, city: .city, state: .region, zip: .postalCode}} else {} end)
}]
