# A new (or repaired) supplier in the ERP's vendor master. Without an ERP vendor number the
# ERP gives one, answered as /vendorNumber (the route's reply_id).
{
  vendorName: .supplier.name,
  taxId: .supplier.tin,
  street: .supplier.address.line1,
  city: .supplier.address.city,
  region: .supplier.address.state,
  postalCode: .supplier.address.zip,
  paymentMethod: (.supplier.payment.method // null | if . then ascii_upcase else null end),
  bankRouting: .supplier.payment.bank.routing_number,
  bankAccount: .supplier.payment.bank.account_number
} + (if .erp_vendor then {vendorNumber: .erp_vendor} else {} end)
