//! The contract's imports for a sandboxed plugin, one file per WIT interface, all on
//! [`RunState`]: the state of one plugin run, created fresh for each run and dropped after it.
//!
//! Each host function converts the generated bindings' types and hands the call to the run's
//! [`Gate`], which counts, checks, validates, journals, reaches the backend and audits (see
//! `rampart_gate::gate`). A broken limit comes back as a trap; a refused or failed call as the
//! contract's `capability-error`, which the plugin handles.

mod defender;
mod files;
mod log;
mod registry;
pub(crate) mod wasi;

use rampart_gate::{CallError, Gate, GateAnswer};
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::sandbox::bindings::types::{self, CapabilityError};
use crate::sandbox::limits::{RunLimiter, RunLimits};

/// The store data of one run.
pub(crate) struct RunState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: RunLimiter,
    pub(crate) limits: RunLimits,
    /// Where every capability call is checked, journaled and audited.
    pub(crate) gate: Gate,
}

/// A gate answer as the contract's: a broken limit traps the run (the run finds it again with
/// `downcast_ref`), a refused or failed call goes back to the plugin.
fn answer<T, U>(answer: GateAnswer<T>, convert: impl FnOnce(T) -> U) -> Answer<U> {
    match answer {
        Ok(result) => Ok(result.map(convert).map_err(capability_error)),
        Err(limit) => Err(wasmtime::Error::new(limit)),
    }
}

/// A host function's answer: a trap, or the contract's `result<T, capability-error>`.
type Answer<T> = wasmtime::Result<Result<T, CapabilityError>>;

fn capability_error(e: CallError) -> CapabilityError {
    match e {
        CallError::AccessDenied(m) => CapabilityError::AccessDenied(m),
        CallError::InvalidArgument(m) => CapabilityError::InvalidArgument(m),
        CallError::NotFound(m) => CapabilityError::NotFound(m),
        CallError::TamperProtected(m) => CapabilityError::TamperProtected(m),
        CallError::Unavailable(m) => CapabilityError::Unavailable(m),
        CallError::Failed(m) => CapabilityError::Failed(m),
    }
}

impl WasiView for RunState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl types::Host for RunState {}

impl std::fmt::Debug for RunState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunState")
            .field("plugin", &self.gate.plugin())
            .field("host_calls", &self.gate.host_calls())
            .finish_non_exhaustive()
    }
}
