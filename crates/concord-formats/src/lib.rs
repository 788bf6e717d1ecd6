//! The wire formats Concord speaks, as pure code: bytes in, a document and its diagnostics out,
//! and typed documents back to bytes. Nothing here does I/O, keeps state between calls or knows
//! about the store; the engine decides what a diagnostic means for a message (quarantine,
//! acknowledgement, exception).
//!
//! - [`x12`]: ASC X12 004010 and 005010 — the streaming parser with envelope checks, the
//!   envelope writer, typed 850/855/856/810 transaction sets and 997/999 acknowledgements.

pub mod fhir;
pub mod hl7;
pub mod x12;
