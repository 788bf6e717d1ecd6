//! Concord's canonical model: the types every system is mapped to and from, the identifiers that
//! are checked at the edge (GTIN, GLN, NPI), and the pure domain rules (price resolution, the
//! contract propagation workflow).
//!
//! Nothing in this crate does I/O. That is what makes the rules testable exhaustively: a rule is a
//! function of its inputs, and a workflow step is `apply(state, event) -> (state, actions)`.

pub mod access;
pub mod audit;
pub mod contract;
pub mod error;
pub mod events;
pub mod gs1;
pub mod ids;
pub mod master;
pub mod matching;
pub mod phi;
pub mod price;
pub mod purchasing;
pub mod reconcile;
pub mod redact;
pub mod requisition;
pub mod schema;
pub mod screening;
pub mod slo;
pub mod workflow;

pub use contract::{Contract, ContractLine, ContractStatus, Eligibility, PriceBreak};
pub use error::{FieldError, parse_canonical};
pub use ids::{Gln, Gtin, IdError, Npi, Unspsc, Uom};
pub use master::{Facility, Item, PackLevel, PaymentDetails, PostalAddress, Supplier};
pub use price::{Alternative, PriceAnswer, PriceCatalog, PriceQuery};
pub use redact::{Phi, Secret};
