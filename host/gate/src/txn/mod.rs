//! What a run changed and who owns it: the change journal that makes a run all-or-nothing
//! across a crash, the hash-chained audit trail, and the ledger of values rampart wrote (drift).

pub mod audit;
pub mod drift;
pub mod journal;
