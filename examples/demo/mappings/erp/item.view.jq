# The ERP's item master as reconciliation compares it; the material number is the GTIN.
[.materials[] | {
  external_id: .material,
  record: ({description: .description, uom: .baseUom}
    + (if .materialGroup then {unspsc: .materialGroup} else {} end))
}]
