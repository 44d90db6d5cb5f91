//! The sandbox: one plugin version verified, compiled (within a budget, [`compile`]; cached
//! with authentication, [`aot`]) and pre-linked ([`plugin`]), and each run of it in a fresh
//! store with its limits and deadline (`run`), its capability imports handed to the gate
//! (`host`), and the engine they share ([`Engine`](engine::Engine)). [`error`] says what went
//! wrong when a plugin cannot be loaded or a run fails.

pub mod aot;
#[allow(missing_docs, unreachable_pub, reason = "generated code")]
pub(crate) mod bindings;
pub mod compile;
pub(crate) mod engine;
pub mod error;
pub(crate) mod host;
pub mod limits;
pub mod plugin;
pub(crate) mod run;
