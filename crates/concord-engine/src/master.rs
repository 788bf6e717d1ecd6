//! Master data upserts (suppliers, items, facilities), from the canonical API or from a system
//! through an inbound mapping. Each upsert commits with its lineage and updates the price index.

use chrono::Utc;
use concord_model::{Facility, Item, Supplier, parse_canonical};
use concord_store::Write;
use serde_json::{Value, json};

use crate::{
    error::{Rejection, Result},
    hub::{Hub, timeline},
    inbound::{InboundAnswer, InboundContext},
};

/// A validated master-data record. Serialises as the record itself (for digests).
#[derive(Debug, Clone, serde::Serialize)]
#[serde(untagged)]
pub enum MasterRecord {
    Supplier(Supplier),
    Item(Item),
    Facility(Facility),
}

impl MasterRecord {
    /// Parses and validates a canonical record of `entity` ("supplier", "item", "facility").
    pub fn parse(entity: &str, value: &Value) -> Result<MasterRecord, Rejection> {
        let parsed = match entity {
            "supplier" => parse_canonical(value).map(MasterRecord::Supplier),
            "item" => parse_canonical(value).map(MasterRecord::Item),
            "facility" => parse_canonical(value).map(MasterRecord::Facility),
            other => {
                return Err(Rejection::not_found(format!(
                    "no master data type {other:?}"
                )));
            }
        };
        parsed.map_err(Rejection::invalid)
    }

    /// The record's canonical key.
    pub fn key(&self) -> String {
        match self {
            MasterRecord::Supplier(s) => s.id.clone(),
            MasterRecord::Item(i) => i.gtin.to_string(),
            MasterRecord::Facility(f) => f.gln.to_string(),
        }
    }

    /// `entity:key`, as lineage and the audit log name the record.
    fn subject(&self) -> String {
        format!("{}:{}", self.entity(), self.key())
    }

    fn entity(&self) -> &'static str {
        match self {
            MasterRecord::Supplier(_) => "supplier",
            MasterRecord::Item(_) => "item",
            MasterRecord::Facility(_) => "facility",
        }
    }
}

impl Hub {
    /// Stores a master-data record (with `extra` writes in the same transaction), audited
    /// against `actor`.
    pub async fn upsert_master(
        &self,
        record: MasterRecord,
        mut extra: Vec<Write>,
        actor: &str,
    ) -> Result<()> {
        let now = Utc::now();
        // Payment details change only with two approvals (crate::bank_changes). The upsert
        // keeps the ones in force by itself (`Write::UpsertSupplier`); different ones given
        // here are refused, so nobody believes they were applied.
        if let MasterRecord::Supplier(s) = &record
            && let Some(given) = &s.payment
        {
            let stored = self.store().supplier(&s.id).await?.and_then(|s| s.payment);
            match stored {
                Some(stored) if *given == stored => {}
                _ => {
                    return Err(Rejection::new(
                        409,
                        "payment_change_needs_approval",
                        "Payment details are changed with two approvals",
                        format!(
                            "supplier {}: payment method, bank account and remit-to change through POST /v1/suppliers/{}/bank-changes; leave payment out of this update",
                            s.id, s.id
                        ),
                    )
                    .into());
                }
            }
        }
        extra.push(crate::governance::audit(
            actor,
            "master.upserted",
            record.subject(),
            None,
            None,
            Some(crate::governance::digest_of(&record)),
            json!({"entity": record.entity()}),
        ));
        let write = match &record {
            MasterRecord::Supplier(s) => Write::UpsertSupplier(s.clone(), now),
            MasterRecord::Item(i) => Write::UpsertItem(i.clone(), now),
            MasterRecord::Facility(f) => Write::UpsertFacility(f.clone(), now),
        };
        extra.insert(0, write);
        self.commit(extra).await?;
        let mut prices = self.inner.prices.write();
        match record {
            MasterRecord::Item(i) => prices.upsert_item(i),
            MasterRecord::Facility(f) => prices.upsert_facility(f),
            MasterRecord::Supplier(s) => {
                self.inner.known_suppliers.write().insert(s.id);
            }
        }
        Ok(())
    }

    /// Whether the supplier master holds `id`. Suppliers are never deleted, so one seen once
    /// is known for good and asked of the store no more: a contract's intake checks its supplier
    /// from memory. An unknown one is always asked (another instance may have just added it).
    pub(crate) async fn supplier_exists(&self, id: &str) -> Result<bool> {
        if self.inner.known_suppliers.read().contains(id) {
            return Ok(true);
        }
        let found = self.store().supplier(id).await?.is_some();
        if found {
            self.inner.known_suppliers.write().insert(id.to_string());
        }
        Ok(found)
    }

    /// Whether the item master holds `gtin`: the price index holds every item (and, like the
    /// store, never drops one), so the store is asked only for one it has not seen yet.
    pub(crate) async fn item_exists(&self, gtin: &concord_model::Gtin) -> Result<bool> {
        if self.prices().item(gtin).is_some() {
            return Ok(true);
        }
        Ok(self.store().item(gtin.as_str()).await?.is_some())
    }

    pub(crate) async fn upsert_master_inbound(
        &self,
        entity: &str,
        canonical: &Value,
        ctx: &InboundContext,
        mut lineage: Vec<Write>,
    ) -> Result<InboundAnswer> {
        let record = MasterRecord::parse(entity, canonical)?;
        let subject = record.subject();
        let body = ctx.accepted(&subject, "stored");
        lineage.push(timeline(
            &ctx.correlation_id,
            Utc::now(),
            "committed",
            json!({"subject": subject}),
        ));
        lineage.push(ctx.done(202, &body));
        self.upsert_master(record, lineage, &ctx.actor).await?;
        Ok(InboundAnswer {
            status: 202,
            body,
            replayed: false,
        })
    }
}
