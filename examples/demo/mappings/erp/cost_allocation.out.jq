# A clinical usage's cost (part 6) as the ERP's cost posting: the usage id is the posting
# reference, so a resend books nothing twice. No patient identifier goes to finance.
{
  postingRef: .usage_id,
  plant: .facility,
  costCenter: .cost_center,
  serviceLine: .service_line,
  procedureCode: .procedure_code,
  material: .gtin,
  quantity: .quantity,
  amount: .amount,
  postingDate: (.occurred_at | .[0:10])
}
