# ERP vendor search answer -> candidate suppliers.
[.vendors[] | {external_id: .vendorNumber, name: .vendorName, tin: .taxId}]
