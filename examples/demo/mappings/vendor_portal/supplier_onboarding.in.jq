# A vendor portal registration → a canonical supplier to onboard. The canonical id is the
# portal's registration id with an S- prefix.
{
  id: ("S-" + need(.registrationId)),
  name: need(.company.legalName),
  tin: .company.ein,
  address: {
    line1: need(.mailing.street),
    city: need(.mailing.city),
    state: need(.mailing.stateCode),
    zip: need(.mailing.postalCode)
  }
}
+ (if .company.npi then {npi: .company.npi} else {} end)
+ (if .banking then {payment: {
    method: (.banking.method | ascii_downcase),
    bank: {routing_number: .banking.routing, account_number: .banking.account}
  }} else {} end)
