# A supplier buyers may order from, once the ERP has its vendor number.
{
  supplierCode: .supplier.id,
  displayName: .supplier.name,
  erpVendor: .erp_vendor,
  taxId: .supplier.tin
}
