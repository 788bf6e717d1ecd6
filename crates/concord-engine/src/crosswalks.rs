//! A person's changes to the crosswalks (the id maps between each system and canonical ids):
//! set one (overwriting, and resolving the external id's open conflicts) or remove one, each
//! audited with what it was before. Mappings the hub learns itself never overwrite: a second
//! canonical id for a known external id is recorded as a conflict (`Write::Crosswalk`).

use chrono::Utc;
use concord_store::{Crosswalk, Write};
use serde_json::json;

use crate::{
    error::{Rejection, Result},
    hub::Hub,
};

impl Hub {
    /// Maps `external_id` of `system` to `canonical_id`; answers the previous canonical id.
    pub async fn set_crosswalk(
        &self,
        c: Crosswalk,
        actor: &str,
        user: Option<&str>,
    ) -> Result<Option<String>> {
        let before = self
            .store()
            .crosswalk_to_canonical(&c.system, &c.entity_type, &c.external_id)
            .await?;
        let now = Utc::now();
        let subject = format!("crosswalk:{}:{}:{}", c.system, c.entity_type, c.external_id);
        let after = c.canonical_id.clone();
        self.commit(vec![
            Write::SetCrosswalk {
                crosswalk: c,
                resolution: json!({"by": actor, "user": user, "mapped_to": after, "at": now}),
                at: now,
            },
            crate::governance::audit(
                actor,
                "crosswalk.set",
                subject,
                None,
                None,
                None,
                json!({"before": before, "after": after}),
            ),
        ])
        .await?;
        Ok(before)
    }

    /// Removes a mapping (404 when there is none).
    pub async fn delete_crosswalk(
        &self,
        system: &str,
        entity_type: &str,
        external_id: &str,
        actor: &str,
    ) -> Result<()> {
        let before = self
            .store()
            .crosswalk_to_canonical(system, entity_type, external_id)
            .await?
            .ok_or_else(|| {
                Rejection::not_found(format!("no crosswalk {system}/{entity_type}/{external_id}"))
            })?;
        self.commit(vec![
            Write::DeleteCrosswalk {
                system: system.into(),
                entity_type: entity_type.into(),
                external_id: external_id.into(),
                resolution: json!({"by": actor, "deleted": true, "at": Utc::now()}),
            },
            crate::governance::audit(
                actor,
                "crosswalk.deleted",
                format!("crosswalk:{system}:{entity_type}:{external_id}"),
                None,
                None,
                None,
                json!({"before": before}),
            ),
        ])
        .await?;
        Ok(())
    }
}
