//! Workflows as pure state machines: `apply(state, event) -> (state, actions)`.
//!
//! A driver in `concord-engine` persists the state and carries out the actions (deliver, activate,
//! open an exception, set a timer). Keeping the decision here, free of I/O, lets the tests walk
//! every path and assert on the actions alone.

pub mod bank_change;
pub mod contract;
pub mod onboarding;
pub mod purchase_order;
pub mod requisition;
pub mod usage;
