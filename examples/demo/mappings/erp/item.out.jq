# The canonical item re-published to the ERP's item master (reconciliation's repair).
{
  description: .item.description,
  baseUom: .item.uom,
  materialGroup: .item.unspsc
}
