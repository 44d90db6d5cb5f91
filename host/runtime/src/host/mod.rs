//! Host implementations of the contract's imports, one file per WIT interface, all on
//! [`RunState`]: the state of one plugin run, created fresh for each run and dropped after it.
//!
//! Every capability call first counts against the run's call budget (exceeding it traps: a call
//! flood is abuse), then checks the effective grants on the canonicalised target (a denial is a
//! `capability-error` value the plugin handles), and only then reaches a backend.

mod defender;
mod files;
mod log;
mod registry;
pub(crate) mod wasi;

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::types::{self, CapabilityError};
use crate::capabilities::Capabilities;
use crate::grants::Grants;
use crate::limits::{HostCallLimitExceeded, RunLimiter, RunLimits};

pub(crate) use log::{LogRecord, truncate as truncate_message};
pub(crate) use registry::KnownKeys;
pub use registry::{ParsedKeys, parse_registry_key};

/// The store data of one run.
pub(crate) struct RunState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: RunLimiter,
    pub(crate) plugin: Arc<str>,
    pub(crate) grants: Arc<Grants>,
    pub(crate) capabilities: Capabilities,
    pub(crate) limits: RunLimits,
    pub(crate) host_calls: u32,
    pub(crate) logs: Vec<LogRecord>,
    pub(crate) logs_dropped: u32,
    /// Bytes of the log messages kept in `logs`.
    pub(crate) log_bytes: usize,
    pub(crate) journal: crate::journal::RunJournal,
    /// Bytes written so far (see [`RunLimits::max_written_bytes`]).
    pub(crate) written_bytes: usize,
    /// The run's secrets, taken out of its log records.
    pub(crate) redactor: Arc<crate::redact::Redactor>,
    /// Registry keys as the plugin spelled them → their canonical form (see
    /// `registry_target`): those earlier runs of the plugin parsed, and those this run parsed
    /// first, which are published to the plugin's [`KnownKeys`] when the run ends. Hashed with
    /// foldhash: the maps hold at most a few hundred keys, so SipHash's flooding resistance
    /// buys nothing here.
    pub(crate) known_keys: Arc<ParsedKeys>,
    pub(crate) parsed_keys: ParsedKeys,
}

impl RunState {
    /// Counts one capability call; traps the run once the budget is spent.
    fn count_call(&mut self) -> wasmtime::Result<()> {
        self.host_calls = self.host_calls.saturating_add(1);
        if self.host_calls > self.limits.max_host_calls {
            return Err(wasmtime::Error::new(HostCallLimitExceeded {
                limit: self.limits.max_host_calls,
            }));
        }
        Ok(())
    }

    /// Checks that writing `bytes` more stays within the run's write budget; traps the run
    /// (which is then rolled back) when it would not. Call [`RunState::wrote`] once written.
    /// A value over the per-value cap passes: the call refuses it on its own
    /// ([`RunState::check_size`]) and writes nothing.
    fn check_write_budget(&self, bytes: usize) -> wasmtime::Result<()> {
        if bytes <= self.limits.max_value_bytes
            && self.written_bytes.saturating_add(bytes) > self.limits.max_written_bytes
        {
            return Err(wasmtime::Error::new(crate::limits::WriteQuotaExceeded {
                limit: self.limits.max_written_bytes,
            }));
        }
        Ok(())
    }

    /// Counts `bytes` written against the run's write budget.
    fn wrote<T, E>(&mut self, bytes: usize, result: &Result<T, E>) {
        if result.is_ok() {
            self.written_bytes = self.written_bytes.saturating_add(bytes);
        }
    }

    /// Journals a change before it is made; if it cannot be journaled it must not be made.
    fn journal(&mut self, change: crate::journal::Change) -> Result<(), CapabilityError> {
        self.journal.record(change).map_err(|e| {
            CapabilityError::Failed(format!(
                "cannot journal the change, so it was not made: {e}"
            ))
        })
    }

    /// Records a capability call in the audit trail (when one is attached); `target` is only
    /// formatted then.
    fn audit<T>(
        &mut self,
        operation: &str,
        target: impl FnOnce() -> String,
        write: bool,
        result: &Result<T, CapabilityError>,
    ) {
        if !self.journal.auditing() {
            return;
        }
        let outcome = result.as_ref().err().map(|e| {
            let (kind, message) = match e {
                CapabilityError::AccessDenied(m) => ("access-denied", m),
                CapabilityError::InvalidArgument(m) => ("invalid-argument", m),
                CapabilityError::NotFound(m) => ("not-found", m),
                CapabilityError::TamperProtected(m) => ("tamper-protected", m),
                CapabilityError::Unavailable(m) => ("unavailable", m),
                CapabilityError::Failed(m) => ("failed", m),
            };
            format!("{kind}: {}", truncate_message(message.clone(), 512))
        });
        self.journal
            .audit_call(operation, &target(), write, outcome);
    }

    /// Refuses a value larger than the per-value cap.
    fn check_size(&self, what: &str, bytes: usize) -> Result<(), CapabilityError> {
        if bytes > self.limits.max_value_bytes {
            return Err(CapabilityError::InvalidArgument(format!(
                "{what} is {bytes} bytes, more than the {} allowed",
                self.limits.max_value_bytes
            )));
        }
        Ok(())
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
            .field("plugin", &self.plugin)
            .field("host_calls", &self.host_calls)
            .finish_non_exhaustive()
    }
}
