# Tests of the shipped requisition policy: `concord test-policies` runs every rule named test_*.
package concord.requisition_test

import rego.v1

import data.concord.requisition

on_contract := {
	"line": 1, "gtin": "00614141000012", "quantity": 10, "uom": "EA", "unit_price": "9.00",
	"item_known": true, "contract": {"contract_id": "C-1", "version": 1, "unit_price": "9.00", "uom": "EA"},
	"price_over_contract": false, "uom_differs": false, "price_variance_pct": "0",
	"contracts_not_admitting": [], "alternatives": [],
}

off_contract_with_alternative := {
	"line": 2, "gtin": "00614141000029", "quantity": 10, "uom": "EA", "unit_price": "12.50",
	"item_known": true, "price_over_contract": false, "uom_differs": false, "price_variance_pct": "0",
	"contracts_not_admitting": [],
	"alternatives": [{"gtin": "00614141000012", "contract_id": "C-1", "unit_price": "9.00", "uom": "EA"}],
}

one_line(l) := {"requisition": {"id": "R-1"}, "lines": [l], "total": "90.00", "approval_levels": []}

test_on_contract_at_contract_price_is_approved if {
	v := requisition.verdict with input as one_line(on_contract)
	v.decision == "approved"
	v.lines == [{"line": 1, "decision": "on_contract"}]
	v.reasons == []
}

test_off_contract_with_an_alternative_is_refused_and_names_it if {
	v := requisition.verdict with input as {
		"requisition": {"id": "R-1"}, "total": "215.00", "approval_levels": [],
		"lines": [on_contract, off_contract_with_alternative],
	}
	v.decision == "refused"
	v.lines[1] == {"line": 2, "decision": "off_contract"}
	contains(v.reasons[0], "buy 00614141000012 on contract C-1 at 9.00")
}

test_price_above_contract_needs_approval if {
	l := object.union(on_contract, {"unit_price": "9.45", "price_over_contract": true, "price_variance_pct": "5.00"})
	v := requisition.verdict with input as one_line(l)
	v.decision == "needs_approval"
	v.lines[0].decision == "price_variance"
	contains(v.reasons[0], "5.00% above")
}

test_a_contract_not_covering_the_facility_is_not_eligible if {
	l := object.union(off_contract_with_alternative, {"alternatives": [], "contracts_not_admitting": ["C-9"]})
	v := requisition.verdict with input as one_line(l)
	v.lines[0].decision == "not_eligible"
	v.decision == "needs_approval"
}

test_off_contract_without_alternative_needs_approval if {
	l := object.union(off_contract_with_alternative, {"alternatives": []})
	v := requisition.verdict with input as one_line(l)
	v.decision == "needs_approval"
	v.lines[0].decision == "off_contract"
}

test_amount_thresholds_need_approval if {
	v := requisition.verdict with input as object.union(one_line(on_contract), {"approval_levels": ["manager"], "total": "1500.00"})
	v.decision == "needs_approval"
	v.reasons == ["total 1500.00 needs manager approval"]
}
