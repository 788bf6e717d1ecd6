//! ASC X12 EDI, versions 004010 and 005010.
//!
//! - [`parse`] reads one file (any number of interchanges, each with its own separators) in a
//!   single forward pass and returns a [`Document`] that borrows from the input, plus
//!   [`Diagnostic`]s naming the segment, the element and the reason for everything wrong with
//!   the envelopes. It never stops at the first problem: a partner wants every error in one 997.
//! - [`write`] builds interchanges for a partner: its ids and separators, control numbers the
//!   caller allocates (the store makes them never repeat per partner), counts computed here.
//! - [`sets`] reads and writes the transaction sets of procure-to-pay (850, 855, 856, 810);
//!   [`ack`] generates 997/999 acknowledgements for what we receive and reads the ones we get.
//!
//! Element positions are 1-based as in the X12 standard (`BEG03` is element 3 of `BEG`), and
//! segment numbers count from the file's first segment; inside a transaction set the position
//! (`ST` = 1) is what a 997 reports, and diagnostics carry both.

pub mod ack;
mod diag;
mod envelope;
mod lex;
mod segment;
pub mod sets;
pub mod write;

pub use diag::{Diagnostic, Problem, Severity};
pub use envelope::{Document, FunctionalGroup, Interchange, TransactionSet, parse, parse_bytes};
pub use lex::{Lexer, Separators};
pub use segment::Segment;
pub use write::{Envelope, OwnedSegment, PartyId, Usage, Version, WriteError};
