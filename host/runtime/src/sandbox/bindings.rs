//! The host side of the WIT contract: the only `bindgen!` in the host.
//!
//! `wit` in this crate is a link to the SDK's `sdk/wit`, so the crate packages the contract it
//! implements (`cargo package` copies the files behind the link).
//!
//! Every import is `trappable`: a host function returns `wasmtime::Result<T>`, where the outer
//! `Err` traps the guest (limit violations and host bugs only) and the inner WIT `result` is the
//! guest-visible outcome (access denied, bad argument, ...).

wasmtime::component::bindgen!({
    world: "plugin",
    path: "wit/rampart-plugin-0.1.1",
    imports: { default: trappable },
    ownership: Borrowing { duplicate_if_necessary: true },
});

pub use rampart::plugin::{defender, files, log, registry, types};
