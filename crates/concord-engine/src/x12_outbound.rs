//! Interchanges the hub sends a trading partner (850s, and the 997/999s for what it received):
//! written with the partner's envelope and fresh control numbers, and queued as an outbox row
//! that `delivery::send_x12` carries by the partner's transport.

use chrono::{DateTime, Utc};
use concord_formats::x12::write::{Controls, SetBody, WriteError, interchange};
use concord_store::{ControlNumbers, NewDelivery, Write};
use serde_json::{Value, json};

use crate::{
    error::{EngineError, Result},
    hub::{Hub, new_id},
    x12_inbound::X12,
};

/// What the outbox row carries besides the interchange.
pub(crate) struct Route<'a> {
    pub event_id: String,
    /// Deliveries to the partner with the same subject go out in order.
    pub subject: String,
    pub correlation_id: &'a str,
    /// Merged into the payload (`po_number`, what an acknowledgement acknowledges…).
    pub payload: Value,
}

impl Hub {
    /// Writes `set` in an interchange of its own to `partner` (functional group
    /// `functional_id`) and makes its outbox row. The inner `Err` is a set that cannot be
    /// written (data holding a separator): the caller decides whose problem that is.
    pub(crate) async fn queue_interchange(
        &self,
        partner: &str,
        functional_id: &str,
        set: SetBody,
        route: Route<'_>,
        now: DateTime<Utc>,
    ) -> Result<Result<(Write, ControlNumbers), WriteError>> {
        let envelope = self
            .config()
            .partners
            .get(partner)
            .ok_or_else(|| EngineError::Config(format!("no partner {partner:?}")))?
            .envelope(&self.config().x12)
            .map_err(|e| EngineError::Config(format!("partners.{partner}: {e}")))?;
        let set_id = set.id.clone();
        let controls = self.store().next_x12_control_numbers(partner).await?;
        let text = match interchange(
            &envelope,
            Controls {
                interchange: controls.interchange,
                group: controls.group,
            },
            functional_id,
            &[set],
            now,
        ) {
            Ok(text) => text,
            Err(e) => return Ok(Err(e)),
        };
        let mut payload = json!({"x12": text, "set": set_id,
            "interchange": controls.interchange, "group": controls.group});
        if let (Some(p), Value::Object(extra)) = (payload.as_object_mut(), route.payload) {
            p.extend(extra);
        }
        let write = Write::Delivery(NewDelivery {
            id: new_id("dlv"),
            event_id: route.event_id,
            target: partner.to_string(),
            message_type: X12.into(),
            subject: route.subject,
            // ISA13 never repeats per partner, so neither does the key.
            idempotency_key: format!("concord-{partner}-x12-{:09}", controls.interchange),
            correlation_id: route.correlation_id.to_string(),
            required: true,
            payload,
            next_attempt_at: now,
        });
        Ok(Ok((write, controls)))
    }
}
