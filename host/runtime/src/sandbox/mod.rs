//! The sandbox: one plugin version verified, compiled and pre-linked ([`plugin`]), and each run
//! of it in a fresh store with its limits and deadline (`run`), its capability imports handed
//! to the gate (`host`), and the engine they share ([`Engine`](engine::Engine)).

#[allow(missing_docs, unreachable_pub, reason = "generated code")]
pub(crate) mod bindings;
pub mod compile;
pub(crate) mod engine;
pub(crate) mod host;
pub mod limits;
pub mod plugin;
pub(crate) mod run;
