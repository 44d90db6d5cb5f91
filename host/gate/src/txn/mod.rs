//! What a run changed and who owns it: the change journal that makes a run all-or-nothing
//! across a crash, the hash-chained audit trail, the ledger of values rampart wrote (drift),
//! and the redaction that keeps secrets out of all of them.

pub mod audit;
pub mod change;
pub mod drift;
pub mod journal;
pub mod redact;
mod undo;
