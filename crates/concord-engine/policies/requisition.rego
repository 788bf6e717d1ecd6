# The requisition policy Concord ships with. It decides each line and the requisition as a
# whole from facts the hub computes (see docs/requisitions.md for every field of `input`):
#
#   input.requisition           the requisition as submitted (id, requester, facility, cost_center, lines)
#   input.lines[]               one per line: line, gtin, quantity, uom, unit_price, item_known,
#                               contract {contract_id, version, unit_price, uom} (absent when none applies),
#                               price_over_contract, uom_differs, price_variance_pct ("5.00"),
#                               contracts_not_admitting [ids], alternatives [{gtin, contract_id, unit_price, uom}]
#   input.total                 Σ quantity × unit_price, a decimal string
#   input.approval_levels       the approval levels the amount calls for (from [approvals] in config)
#
# It answers `verdict`: {"decision": "approved|needs_approval|refused",
#                        "lines": [{"line", "decision": "on_contract|off_contract|not_eligible|price_variance"}],
#                        "reasons": ["…"]}
#
# Copy this file, change it, point `[procurement] requisition_policy` at the copy, and run
# `concord test-policies --config FILE` (tests are the `*_test.rego` files beside the policy).
package concord.requisition

import rego.v1

# How far (in percent) a requested price may be above the contract price before a person must
# approve it. 0: any price above contract needs approval.
max_price_variance_pct := 0

line_decision(l) := "on_contract" if {
	l.contract
	not l.price_over_contract
}

line_decision(l) := "price_variance" if {
	l.contract
	l.price_over_contract
}

line_decision(l) := "not_eligible" if {
	not l.contract
	count(l.contracts_not_admitting) > 0
}

line_decision(l) := "off_contract" if {
	not l.contract
	count(l.contracts_not_admitting) == 0
}

lines := [{"line": l.line, "decision": line_decision(l)} | some l in input.lines]

# Buying off contract when the contract offers the same kind of item is refused: the requester
# is pointed at the alternative instead.
refusals contains msg if {
	some l in input.lines
	line_decision(l) == "off_contract"
	count(l.alternatives) > 0
	a := l.alternatives[0]
	msg := sprintf(
		"line %d: %s is off contract; buy %s on contract %s at %s instead",
		[l.line, l.gtin, a.gtin, a.contract_id, a.unit_price],
	)
}

approval_reasons contains msg if {
	some l in input.lines
	line_decision(l) == "price_variance"
	to_number(l.price_variance_pct) > max_price_variance_pct
	msg := sprintf(
		"line %d: unit price %s is %s%% above the price %s of contract %s",
		[l.line, l.unit_price, l.price_variance_pct, l.contract.unit_price, l.contract.contract_id],
	)
}

approval_reasons contains msg if {
	some l in input.lines
	line_decision(l) == "not_eligible"
	msg := sprintf(
		"line %d: %s is on contract %s, which does not cover this facility",
		[l.line, l.gtin, concat(", ", l.contracts_not_admitting)],
	)
}

approval_reasons contains msg if {
	some l in input.lines
	line_decision(l) == "off_contract"
	count(l.alternatives) == 0
	msg := sprintf("line %d: %s is off contract and no contract offers an alternative", [l.line, l.gtin])
}

approval_reasons contains msg if {
	count(input.approval_levels) > 0
	msg := sprintf("total %s needs %s approval", [input.total, concat(" and ", input.approval_levels)])
}

decision := "refused" if count(refusals) > 0

decision := "needs_approval" if {
	count(refusals) == 0
	count(approval_reasons) > 0
}

decision := "approved" if {
	count(refusals) == 0
	count(approval_reasons) == 0
}

verdict := {
	"decision": decision,
	"lines": lines,
	"reasons": array.concat(sort(refusals), sort(approval_reasons)),
}
