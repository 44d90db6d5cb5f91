//! The capability calls of one plugin run, checked in one place.
//!
//! A [`Gate`] is created fresh for each run and holds what the run may do and what it did.
//! Every call goes through the same steps, in this order:
//!
//! 1. **count** it against the run's call budget (exceeding it is [`LimitExceeded`]: a call
//!    flood is abuse, and the run ends);
//! 2. **check** the effective grants on the canonical target (a denial is a [`CallError`] the
//!    plugin handles);
//! 3. **validate** the arguments (names, sizes, values a reader could not read back) and the
//!    write budget;
//! 4. **journal** the change before it is made (a change that cannot be journaled is not made);
//! 5. reach the **backend**;
//! 6. **audit** the call with its typed outcome.
//!
//! The runtime's sandbox and the SDK's native test host both call these methods and only
//! convert their generated bindings' types to the backends' types used here.

mod defender;
mod files;
mod log;
mod registry;

use std::sync::Arc;

use crate::capabilities::Capabilities;
use crate::grants::Grants;
use crate::limits::{LimitExceeded, RunLimits};
use crate::txn::audit::CallOutcome;
use crate::txn::journal::{Change, RunJournal};
use crate::txn::redact::Redactor;

pub use crate::text::truncate;
pub use defender::MAX_PREFERENCE_NAME;
pub use log::{LogLevel, LogRecord};
pub use registry::{KnownKeys, ParsedKeys, parse_registry_key};

/// Why a capability call was refused or failed: the contract's `capability-error`, which the
/// plugin receives and handles.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The grants do not allow the call on this target.
    #[error("access denied: {0}")]
    AccessDenied(String),
    /// An argument is malformed or too large.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The key, file or value does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// Defender's tamper protection refused the change.
    #[error("tamper protected: {0}")]
    TamperProtected(String),
    /// The device has no such backend (no registry on Linux, Defender missing).
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The backend failed.
    #[error("failed: {0}")]
    Failed(String),
}

impl CallError {
    /// The contract's name of the error's case (`access-denied`, ...), as the audit trail
    /// records it.
    pub fn kind(&self) -> &'static str {
        match self {
            CallError::AccessDenied(_) => "access-denied",
            CallError::InvalidArgument(_) => "invalid-argument",
            CallError::NotFound(_) => "not-found",
            CallError::TamperProtected(_) => "tamper-protected",
            CallError::Unavailable(_) => "unavailable",
            CallError::Failed(_) => "failed",
        }
    }

    /// The message without the case's name.
    pub fn message(&self) -> &str {
        match self {
            CallError::AccessDenied(m)
            | CallError::InvalidArgument(m)
            | CallError::NotFound(m)
            | CallError::TamperProtected(m)
            | CallError::Unavailable(m)
            | CallError::Failed(m) => m,
        }
    }
}

/// A capability call's answer: the outer error ends the run (a limit was broken), the inner
/// one goes back to the plugin.
pub type GateAnswer<T> = Result<Result<T, CallError>, LimitExceeded>;

/// The capability calls of one plugin run, with the run's grants, backends, budgets, journal
/// and log.
#[derive(Debug)]
pub struct Gate {
    plugin: Arc<str>,
    grants: Arc<Grants>,
    capabilities: Capabilities,
    limits: RunLimits,
    journal: RunJournal,
    /// Takes the run's secrets out of its log records.
    redactor: Arc<Redactor>,
    host_calls: u32,
    /// Bytes written so far (see [`RunLimits::max_written_bytes`]).
    written_bytes: usize,
    logs: Vec<LogRecord>,
    logs_dropped: u32,
    /// Bytes of the log messages kept in `logs`.
    log_bytes: usize,
    /// Registry keys as the plugin spelled them → their canonical form: those the plugin's
    /// earlier runs parsed (see [`KnownKeys`]), and those this run parsed first, published
    /// when the run ends.
    known_keys: Arc<ParsedKeys>,
    parsed_keys: ParsedKeys,
}

/// What a run's calls left behind, taken with [`Gate::finish`].
#[derive(Debug)]
#[non_exhaustive]
pub struct GateRun {
    /// The journal of the run's changes, to commit or roll back.
    pub journal: RunJournal,
    /// The log records kept, redacted.
    pub logs: Vec<LogRecord>,
    /// Log records dropped beyond the run's log budget.
    pub logs_dropped: u32,
    /// Capability calls made.
    pub host_calls: u32,
    /// Registry keys this run parsed first (see [`KnownKeys::publish`]).
    pub parsed_keys: ParsedKeys,
}

impl Gate {
    /// The gate of one run of `plugin`, checking calls against `grants`, reaching
    /// `capabilities`, within `limits`, journaling into `journal` (whose redactor also cleans
    /// the run's log records). `known_keys` is the plugin's [`KnownKeys::snapshot`] (or an
    /// empty map).
    pub fn new(
        plugin: Arc<str>,
        grants: Arc<Grants>,
        capabilities: Capabilities,
        limits: RunLimits,
        journal: RunJournal,
        known_keys: Arc<ParsedKeys>,
    ) -> Gate {
        Gate {
            redactor: journal.redactor(),
            plugin,
            grants,
            capabilities,
            limits,
            journal,
            host_calls: 0,
            written_bytes: 0,
            logs: Vec::new(),
            logs_dropped: 0,
            log_bytes: 0,
            known_keys,
            parsed_keys: ParsedKeys::default(),
        }
    }

    /// The plugin whose run this is.
    pub fn plugin(&self) -> &str {
        &self.plugin
    }

    /// Capability calls made so far.
    pub fn host_calls(&self) -> u32 {
        self.host_calls
    }

    /// The changes journaled so far.
    pub fn changes(&self) -> &[Change] {
        self.journal.changes()
    }

    /// Ends the run's calls and hands back what they left.
    pub fn finish(self) -> GateRun {
        GateRun {
            journal: self.journal,
            logs: self.logs,
            logs_dropped: self.logs_dropped,
            host_calls: self.host_calls,
            parsed_keys: self.parsed_keys,
        }
    }

    /// Counts one capability call; past the budget the run must end.
    ///
    /// # Errors
    ///
    /// [`LimitExceeded::HostCalls`] once the budget is spent.
    pub fn count_call(&mut self) -> Result<(), LimitExceeded> {
        self.host_calls = self.host_calls.saturating_add(1);
        if self.host_calls > self.limits.max_host_calls {
            return Err(LimitExceeded::HostCalls {
                limit: self.limits.max_host_calls,
            });
        }
        Ok(())
    }

    /// Checks that writing `bytes` more stays within the run's write budget; the run ends
    /// (and is rolled back) when it would not. Call [`Gate::wrote`] once written. A value over
    /// the per-value cap passes: the call refuses it on its own ([`Gate::check_size`]) and
    /// writes nothing.
    fn check_write_budget(&self, bytes: usize) -> Result<(), LimitExceeded> {
        if bytes <= self.limits.max_value_bytes
            && self.written_bytes.saturating_add(bytes) > self.limits.max_written_bytes
        {
            return Err(LimitExceeded::WriteQuota {
                limit: self.limits.max_written_bytes,
            });
        }
        Ok(())
    }

    /// Counts `bytes` written against the run's write budget.
    fn wrote<T>(&mut self, bytes: usize, result: &Result<T, CallError>) {
        if result.is_ok() {
            self.written_bytes = self.written_bytes.saturating_add(bytes);
        }
    }

    /// Journals a change before it is made; if it cannot be journaled it must not be made.
    fn journal(&mut self, change: Change) -> Result<(), CallError> {
        self.journal.record(change).map_err(|e| {
            CallError::Failed(format!(
                "cannot journal the change, so it was not made: {e}"
            ))
        })
    }

    /// Records a call in the audit trail (when one is attached); `target` is only formatted
    /// then.
    fn audit<T>(
        &mut self,
        operation: &str,
        target: impl FnOnce() -> String,
        write: bool,
        result: &Result<T, CallError>,
    ) {
        if !self.journal.auditing() {
            return;
        }
        let outcome = match result {
            Ok(_) => CallOutcome::Done,
            Err(e @ CallError::AccessDenied(_)) => CallOutcome::Denied {
                kind: e.kind(),
                message: e.message(),
            },
            Err(e) => CallOutcome::Failed {
                kind: e.kind(),
                message: e.message(),
            },
        };
        self.journal
            .audit_call(operation, &target(), write, outcome);
    }

    /// Refuses a value larger than the per-value cap.
    fn check_size(&self, what: &str, bytes: usize) -> Result<(), CallError> {
        if bytes > self.limits.max_value_bytes {
            return Err(CallError::InvalidArgument(format!(
                "{what} is {bytes} bytes, more than the {} allowed",
                self.limits.max_value_bytes
            )));
        }
        Ok(())
    }
}

/// Allows `needed` when `granted` covers it; otherwise denies, naming `what`.
fn need(
    granted: Option<crate::grants::Access>,
    needed: crate::grants::Access,
    what: &str,
) -> Result<(), CallError> {
    match granted {
        Some(a) if a >= needed => Ok(()),
        _ => Err(CallError::AccessDenied(what.to_string())),
    }
}
