# Approved payment details (after two approvals) to the ERP vendor named in the path.
{
  paymentMethod: (.payment.method | ascii_upcase),
  bankRouting: .payment.bank.routing_number,
  bankAccount: .payment.bank.account_number
}
