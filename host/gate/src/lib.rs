//! rampart's capability gate: everything that decides and records what a plugin does to the
//! device, with no WebAssembly engine in it.
//!
//! A plugin reaches the device only through capability calls (registry, Defender, files, log).
//! Each call, whether it comes from a `.wasm` plugin in the runtime's sandbox or from a plugin
//! run natively by the SDK's test host, goes through one [`Gate`]: count it against the run's
//! budget, check the effective grants on the canonical target, validate the arguments, journal
//! the change before it is made, reach the backend, and record the call in the audit trail.
//! The sandbox and the native host only translate their own bindings' types to the gate's.
//!
//! Parts:
//! - [`manifest`], [`grants`]: what a plugin asks for and what it may touch (deny by default),
//!   and the recommended [`ceiling`] per platform;
//! - [`limits`]: the budgets of one run;
//! - [`gate`]: the capability calls, one file per contract interface, and their typed outcomes;
//! - [`results`]: a plugin's answer checked against what it was given;
//! - [`txn`]: the change journal, the audit trail and the ledger of what rampart wrote;
//! - [`redact`], [`text`]: secrets and control characters kept out of everything shown.

#![deny(missing_docs)]

pub mod capabilities;
pub mod ceiling;
pub mod gate;
pub mod grants;
pub mod limits;
pub mod manifest;
pub mod pattern;
pub mod results;
pub mod text;
pub mod txn;

pub use capabilities::Capabilities;
pub use gate::{
    CallError, Gate, GateAnswer, GateRun, KnownKeys, LogLevel, LogRecord, ParsedKeys,
    parse_registry_key,
};
pub use grants::{Access, Grants, OperatorGrants};
pub use limits::{LimitExceeded, RunLimits};
pub use manifest::Manifest;
pub use txn::redact;
