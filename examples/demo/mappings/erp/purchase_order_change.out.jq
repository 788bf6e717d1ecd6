# What the supplier changed in its 855 (backorders, quantities, prices, rejections), for the
# ERP's PO change log. The path carries the ERP's PO number.
{
  externalRef: .purchase_order.po_number,
  changes: [.changes[] | {itemNo: .line, status: .status}
    + (if .quantity then {quantity: (.quantity | tostring)} else {} end)
    + (if .unit_price then {netPrice: (.unit_price | tostring)} else {} end)]
}
