//! The hub's pipeline: configuration, mapping, validation, commit, delivery and the workflow
//! drivers that carry out what the pure state machines of `concord-model` decide.
//!
//! Data flows one way: `inbound` (store raw, dedupe) → `mapping` → validation (in
//! `concord-model`) → `contracts`/`master` (resolve, decide, commit state + event + outbox in one
//! transaction) → `delivery` (map to the target, send, retry, dead-letter) → workflow steps.

pub mod bank_changes;
pub mod breaker;
pub mod clinical;
pub mod config;
pub mod contracts;
pub mod crosswalks;
pub mod delivery;
pub mod error;
pub mod fhir;
pub mod governance;
pub mod hub;
pub mod import;
pub mod inbound;
pub mod jwt;
pub mod mapping;
pub mod master;
pub mod metrics;
pub mod mllp;
pub mod nats;
pub mod onboarding;
pub mod operations;
pub mod partners;
pub mod peers;
pub mod policy;
pub mod purchase_orders;
pub mod reconciliation;
pub mod requisitions;
pub mod samples;
pub mod slo;
mod timers;
pub mod trace;
pub mod usage;
pub mod x12_files;
pub mod x12_inbound;
mod x12_outbound;

pub use config::Config;
pub use error::{EngineError, Rejection};
pub use hub::{Hub, StartError, Workers};
pub use inbound::{API_SYSTEM, Inbound, InboundAnswer};
pub use master::MasterRecord;
