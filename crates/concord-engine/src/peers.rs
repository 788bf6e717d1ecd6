//! What the other instances did. Each instance answers price lookups and requisition decisions
//! from an in-memory price index (active contracts, items, facilities), which its own commits
//! update at once. Instances sharing a store learn of each other's commits here: every
//! `[hub] peer_sync_ms` this worker reads what changed since its last look and applies it. The
//! same look picks up items a `concord import` beside the hub wrote.

use std::time::Duration;

use chrono::{DateTime, Utc};
use concord_model::{Contract, PriceCatalog};
use concord_store::ContractChange;

use crate::{error::Result, hub::Hub};

/// How far back each look reaches before the previous one began. A row's time is stamped
/// before its transaction commits (and by the clock of the instance that wrote it), so it may
/// become visible a little after the time it carries.
const OVERLAP: chrono::Duration = chrono::Duration::seconds(5);

/// The worker: one look every `peer_sync_ms`.
pub(crate) async fn run_peer_sync(hub: Hub) {
    let every = Duration::from_millis(hub.config().hub.peer_sync_ms.max(50));
    // The index was loaded whole when the hub opened.
    let mut since = Utc::now() - OVERLAP;
    while !hub.stopping() {
        hub.beat("peer_sync");
        let started = Utc::now();
        match hub.sync_from_peers(since).await {
            Ok(()) => since = started - OVERLAP,
            Err(e) => tracing::error!(error = %e, "reading what other instances committed failed"),
        }
        hub.idle("peer_sync", every).await;
    }
}

impl Hub {
    /// Applies to the price index every contract activation, supersession, item and facility
    /// committed at or after `since` (by any instance). Applying one twice changes nothing.
    pub async fn sync_from_peers(&self, since: DateTime<Utc>) -> Result<()> {
        let store = self.store();
        let items = store.items_changed_since(since).await?;
        let facilities = store.facilities_changed_since(since).await?;
        let changes = store.contracts_changed_since(since).await?;
        // The documents of activations this index does not show yet (most are its own).
        let mut activated = Vec::new();
        for change in &changes {
            let Some(document) = &change.document else {
                continue;
            };
            if self.prices().active_version(&change.contract_id) == Some(change.version) {
                continue;
            }
            match serde_json::from_str::<Contract>(document) {
                Ok(contract) => activated.push(contract),
                Err(e) => {
                    tracing::error!(contract = %change.contract_id, error = %e, "stored active contract is unreadable")
                }
            }
        }
        let mut prices = self.inner.prices.write();
        for item in items {
            prices.upsert_item(item);
        }
        for facility in facilities {
            prices.upsert_facility(facility);
        }
        apply_contract_changes(&mut prices, &changes, activated);
        Ok(())
    }
}

/// Puts contract changes into an index: an activation not older than the version it shows is
/// made active; a version that left `active` (superseded, withdrawn) is removed when it is the
/// one shown. Pure, so the rule is tested without a store.
fn apply_contract_changes(
    prices: &mut PriceCatalog,
    changes: &[ContractChange],
    activated: Vec<Contract>,
) {
    for contract in activated {
        if prices
            .active_version(&contract.id)
            .is_none_or(|shown| shown <= contract.version)
        {
            prices.activate(contract);
        }
    }
    for change in changes.iter().filter(|c| c.status != "active") {
        if prices.active_version(&change.contract_id) == Some(change.version) {
            prices.deactivate(&change.contract_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn contract(id: &str, version: u32) -> Contract {
        serde_json::from_value(json!({"id": id, "version": version, "supplier_id": "S-1", "status": "approved",
            "effective_date": "2026-01-01", "expiration_date": "2026-12-31",
            "lines": [{"gtin": "00614141000012", "uom": "EA", "price_breaks": [{"min_quantity": 1, "unit_price": "1.00"}]}]}))
        .unwrap()
    }

    fn change(id: &str, version: u32, status: &str) -> ContractChange {
        ContractChange {
            contract_id: id.into(),
            version,
            status: status.into(),
            updated_at: Utc::now(),
            document: None,
        }
    }

    #[test]
    fn a_peer_activation_shows_and_a_supersession_leaves() {
        let mut prices = PriceCatalog::default();
        apply_contract_changes(
            &mut prices,
            &[change("C-1", 1, "active")],
            vec![contract("C-1", 1)],
        );
        assert_eq!(prices.active_version("C-1"), Some(1));
        // v2 activated elsewhere, v1 superseded in the same commit.
        apply_contract_changes(
            &mut prices,
            &[change("C-1", 1, "superseded"), change("C-1", 2, "active")],
            vec![contract("C-1", 2)],
        );
        assert_eq!(
            prices.active_version("C-1"),
            Some(2),
            "the supersession of v1 must not remove v2"
        );
        // A late look that still sees v1 active never puts it back over v2.
        apply_contract_changes(
            &mut prices,
            &[change("C-1", 1, "active")],
            vec![contract("C-1", 1)],
        );
        assert_eq!(prices.active_version("C-1"), Some(2));
        // Withdrawn: gone from pricing.
        apply_contract_changes(&mut prices, &[change("C-1", 2, "superseded")], vec![]);
        assert_eq!(prices.active_version("C-1"), None);
    }
}
