# Warehouse goods receipt -> canonical goods receipt. Quantities come as decimal strings.
{
  receipt_id: need(.receiptNo),
  po_number: need(.purchaseOrder),
  facility: need(.plant),
  lines: [need(.items) | .[] | {
    po_line: .poItem,
    gtin: .gtin,
    quantity: .qtyReceived,
    uom: .unit
  }]
}
