# Canonical purchase order -> the ERP's purchase order. The ERP knows the supplier by its vendor
# number (from the hub's crosswalk, .xref.supplier) and the receiving plant by its GLN; it
# answers with its own PO number (the route's reply_id, /poNumber), which the hub keeps.
{
  externalRef: .purchase_order.po_number,
  vendorNumber: need(.xref.supplier),
  plant: .purchase_order.facility,
  items: [.purchase_order.lines[] | {
    itemNo: .line,
    material: .gtin,
    quantity: (.quantity | tostring),
    uom: .uom,
    netPrice: (.unit_price | tostring)
  }]
}
