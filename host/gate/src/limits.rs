//! Per-run resource limits.
//!
//! Every run gets a fresh store; these limits bound what one run may consume so that a hostile
//! or buggy plugin costs the host a bounded amount of memory and time, then is discarded.

use std::time::Duration;

/// Default memory cap per run. A Rust plugin's working set is a few MiB; 64 MiB leaves room for
/// large policies while keeping a fleet of concurrent runs affordable.
pub const DEFAULT_MEMORY_LIMIT: usize = 64 << 20;

/// Default wall-clock budget per run. Enforcing a policy is a few hundred host calls; two
/// seconds is generous, and bounds how long a stuck plugin delays the next run.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(2);

/// Default bound on capability calls per run. A flood of calls is a denial-of-service attempt
/// on the backends (the real registry, Defender), so exceeding it traps the run.
pub const DEFAULT_MAX_HOST_CALLS: u32 = 100_000;

/// Default bound on log records kept per run; further records are dropped and counted.
pub const DEFAULT_MAX_LOG_RECORDS: u32 = 1_000;

/// Default bound on log bytes kept per run (after truncating each message); records beyond it
/// are dropped and counted like records beyond [`DEFAULT_MAX_LOG_RECORDS`]. With the record
/// bound alone a run could keep 1 000 × 4 KiB.
pub const DEFAULT_MAX_LOG_BYTES: usize = 256 << 10;

/// Results a run may return beyond two per setting it was given. A longer answer is refused as
/// a whole (`RunError::TooManyResults`): checking a flood of bogus results one by one
/// would be work the plugin chose for the host.
pub const MAX_EXTRA_RESULTS: usize = 64;

/// Longest log message kept; longer messages are truncated.
pub const MAX_LOG_MESSAGE_BYTES: usize = 4 << 10;

/// Largest single value a plugin may pass to or receive from a capability (registry data, file
/// contents). Larger values are refused with `invalid-argument`, so a plugin cannot make the
/// host buffer unbounded data.
pub const DEFAULT_MAX_VALUE_BYTES: usize = 4 << 20;

/// Default bound on the bytes one run may write (registry data, file contents and Defender
/// preference text, summed). First-party plugins write a few kilobytes per pass; the bound
/// keeps a plugin from filling the registry, a file root or the state directory through many
/// values each within [`DEFAULT_MAX_VALUE_BYTES`].
pub const DEFAULT_MAX_WRITTEN_BYTES: usize = 8 << 20;

/// Default bound on the bytes one plugin may own at once (the registry values and files rampart
/// set for it and still tracks, see [`crate::txn::drift::Ledger::owned_bytes`]): a run may write only
/// what is left of it, so that pass after pass of new values or files cannot grow the
/// registry, a file root or the state without end.
pub const DEFAULT_MAX_OWNED_BYTES: usize = 32 << 20;

/// Limits applied to each plugin run. [`RunLimits::default`] uses the `DEFAULT_*` constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunLimits {
    /// Linear-memory cap in bytes.
    pub memory: usize,
    /// Wall-clock deadline for the whole run (instantiation and `apply`).
    pub deadline: Duration,
    /// Maximum capability calls per run.
    pub max_host_calls: u32,
    /// Maximum log records kept per run; a run that drops more records than this is a log flood
    /// (`RunError::LogFlood`).
    pub max_log_records: u32,
    /// Maximum log bytes kept per run.
    pub max_log_bytes: usize,
    /// Maximum bytes of one value crossing a capability.
    pub max_value_bytes: usize,
    /// Maximum bytes written per run, all capabilities together (a run that goes past it
    /// fails and is rolled back: `RunError::WriteQuota`).
    pub max_written_bytes: usize,
    /// Maximum bytes a plugin may own (registry values and files); an enforcer with a ledger
    /// lowers a run's write budget to what is left of it.
    pub max_owned_bytes: usize,
}

impl Default for RunLimits {
    fn default() -> Self {
        RunLimits {
            memory: DEFAULT_MEMORY_LIMIT,
            deadline: DEFAULT_DEADLINE,
            max_host_calls: DEFAULT_MAX_HOST_CALLS,
            max_log_records: DEFAULT_MAX_LOG_RECORDS,
            max_log_bytes: DEFAULT_MAX_LOG_BYTES,
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
            max_written_bytes: DEFAULT_MAX_WRITTEN_BYTES,
            max_owned_bytes: DEFAULT_MAX_OWNED_BYTES,
        }
    }
}

/// A limit a plugin run broke inside a capability call. It ends the run: the sandbox traps
/// with it (and finds it again with `downcast_ref` to report a typed error); the native host
/// answers every later call `failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LimitExceeded {
    /// More calls than [`RunLimits::max_host_calls`].
    #[error("more than {limit} capability calls in one run")]
    HostCalls {
        /// The budget.
        limit: u32,
    },
    /// The plugin kept logging long after its log budget was spent: more records dropped than
    /// [`RunLimits::max_log_records`].
    #[error("{dropped} log records dropped in one run")]
    LogFlood {
        /// Records dropped so far.
        dropped: u32,
    },
    /// A write would take the run past [`RunLimits::max_written_bytes`].
    #[error("write budget of {limit} bytes exceeded")]
    WriteQuota {
        /// The budget.
        limit: usize,
    },
}
