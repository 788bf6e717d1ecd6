//! What both X12 test files write with: one envelope, one clock, one interchange writer.

#![allow(dead_code)] // each test file uses its own part

use chrono::{TimeZone, Utc};
use concord_formats::x12::{
    Separators,
    write::{self, Controls, Envelope, PartyId, SetBody, Usage, Version},
};

pub fn envelope(version: Version, separators: Separators) -> Envelope {
    Envelope {
        sender: PartyId {
            qualifier: "ZZ".into(),
            id: "CONCORDHUB".into(),
        },
        receiver: PartyId {
            qualifier: "ZZ".into(),
            id: "MEDSUPPLY".into(),
        },
        gs_sender: "CONCORDHUB".into(),
        gs_receiver: "MEDSUPPLY".into(),
        version,
        separators,
        usage: Usage::Test,
        ack_requested: false,
        line_breaks: true,
    }
}

pub fn at() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 9, 30, 0).unwrap()
}

pub fn write_one(set: &SetBody, functional_id: &str, version: Version, seps: Separators) -> String {
    write::interchange(
        &envelope(version, seps),
        Controls {
            interchange: 42,
            group: 7,
        },
        functional_id,
        std::slice::from_ref(set),
        at(),
    )
    .unwrap()
}
