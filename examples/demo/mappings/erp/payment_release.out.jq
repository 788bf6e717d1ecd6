# A matched (or accepted) invoice released for payment in the ERP, against the ERP's PO number.
{
  invoiceNo: .invoice.number,
  amount: .invoice.amount,
  currency: "USD"
}
