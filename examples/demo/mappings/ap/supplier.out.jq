# A supplier accounts payable may pay, under the ERP's vendor number.
{
  payeeId: .supplier.id,
  legalName: .supplier.name,
  erpVendorNumber: .erp_vendor,
  taxId: .supplier.tin,
  remitTo: (.supplier.payment.remit_to // .supplier.address)
}
