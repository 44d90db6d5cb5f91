//! The sandbox's typed errors: why the engine did not start, why a plugin did not load, and
//! why a run failed.

use std::time::Duration;

use crate::manifest::ManifestError;

/// The WebAssembly engine could not be created.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot create the WebAssembly engine: {0}")]
pub struct EngineError(pub String);

/// A plugin that was refused at load; `source` names the file (or `embedded:<name>`).
#[derive(Debug, thiserror::Error)]
#[error("plugin '{origin}': {reason}")]
pub struct LoadError {
    /// Where the plugin came from.
    pub origin: String,
    /// Why it was refused.
    pub reason: LoadFailure,
}

/// Why a plugin was refused at load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoadFailure {
    /// The file could not be read.
    #[error("cannot read the file: {0}")]
    Io(String),
    /// The file is larger than the loader accepts.
    #[error("the file is {size} bytes, more than the {max} allowed")]
    TooLarge {
        /// File size.
        size: usize,
        /// Limit.
        max: usize,
    },
    /// The manifest or contract sections are missing or invalid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The plugin was built against an incompatible contract.
    #[error(
        "built against contract rampart:plugin@{plugin}, but this host implements rampart:plugin@{host} (rebuild it with a compatible rampart-sdk)"
    )]
    Contract {
        /// The plugin's contract version.
        plugin: String,
        /// The host's contract version.
        host: String,
    },
    /// The component imports something rampart never grants.
    #[error("imports '{import}', which is not allowed: {reason}")]
    ForbiddenImport {
        /// The import's full name.
        import: String,
        /// Why it is refused.
        reason: String,
    },
    /// The manifest asks for grants beyond the operator's ceiling (strict policy).
    #[error("requests grants beyond what this host allows: {}", .excess.join(", "))]
    OverPrivileged {
        /// What it asks for beyond the ceiling.
        excess: Vec<String>,
    },
    /// The signature check refused the plugin (trust mode enforce).
    #[error("signature refused: {0}")]
    Signature(#[from] crate::supply::signing::SignatureError),
    /// The component does not compile.
    #[error("not a valid WebAssembly component: {0}")]
    Compile(String),
    /// Compiling the component went over the compiler's time or memory budget (see
    /// [`crate::sandbox::compile`]); it was stopped.
    #[error(transparent)]
    CompileBudget(crate::sandbox::compile::CompileBudget),
    /// The compiler failed without saying the component is invalid: it could not be started,
    /// crashed, or answered something that is not a compiled component.
    #[error("the compiler failed: {0}")]
    Compiler(String),
    /// The component's imports or exports do not match the contract.
    #[error("does not match the rampart:plugin contract: {0}")]
    Link(String),
}

impl From<crate::sandbox::compile::CompileError> for LoadFailure {
    fn from(e: crate::sandbox::compile::CompileError) -> Self {
        use crate::sandbox::compile::CompileError;
        match e {
            CompileError::Invalid(message) => LoadFailure::Compile(message),
            CompileError::Budget(budget) => LoadFailure::CompileBudget(budget),
            CompileError::Failed(message) => LoadFailure::Compiler(message),
        }
    }
}

/// Why a plugin run failed as a whole. Each variant turns into `error` for every setting of the
/// run, with this message; the host goes on with other plugins and later runs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The run exceeded its deadline, running its code or waiting in a WASI call (a sleep, a
    /// poll).
    #[error("plugin '{plugin}' timed out after {deadline:?}")]
    Timeout {
        /// Plugin name.
        plugin: String,
        /// The deadline.
        deadline: Duration,
    },
    /// The run was stopped, or not started, because its engine was stopped
    /// ([`crate::Engine::stop`]): the host is shutting down.
    #[error("plugin '{plugin}' was stopped: the host is shutting down")]
    Stopped {
        /// Plugin name.
        plugin: String,
    },
    /// The run tried to grow memory past its cap.
    #[error("plugin '{plugin}' exceeded its memory limit of {limit} bytes")]
    MemoryLimit {
        /// Plugin name.
        plugin: String,
        /// The cap.
        limit: usize,
    },
    /// The run made more capability calls than allowed.
    #[error("plugin '{plugin}' made more than {limit} capability calls")]
    HostCallLimit {
        /// Plugin name.
        plugin: String,
        /// The cap.
        limit: u32,
    },
    /// The run kept logging long after its log budget was spent (more records dropped than
    /// the run may keep).
    #[error("plugin '{plugin}' flooded the log: {dropped} records over its budget were dropped")]
    LogFlood {
        /// Plugin name.
        plugin: String,
        /// Records dropped when the run was stopped.
        dropped: u32,
    },
    /// The run answered with far more results than settings it was given.
    #[error(
        "plugin '{plugin}' returned {results} results, more than the {limit} allowed for this run"
    )]
    TooManyResults {
        /// Plugin name.
        plugin: String,
        /// Results returned.
        results: usize,
        /// The bound (two per setting plus a small allowance).
        limit: usize,
    },
    /// The run tried to write more than its write budget ([`crate::RunLimits::max_written_bytes`],
    /// lowered to what is left of [`crate::RunLimits::max_owned_bytes`]).
    #[error(
        "plugin '{plugin}' tried to write more than its budget of {limit} bytes; its changes were not kept"
    )]
    WriteQuota {
        /// Plugin name.
        plugin: String,
        /// The run's budget.
        limit: usize,
    },
    /// The plugin called `exit` (WASI) instead of returning its results.
    #[error("plugin '{plugin}' exited with status {code} instead of returning results")]
    Exited {
        /// Plugin name.
        plugin: String,
        /// The exit status.
        code: i32,
    },
    /// The plugin broke the component ABI: data a host call or its results lifted out of
    /// bounds or oversized, a bad `cabi_realloc` answer, an unknown resource handle.
    #[error("plugin '{plugin}' broke the component calling convention: {message}")]
    AbiViolation {
        /// Plugin name.
        plugin: String,
        /// What wasmtime found (a short excerpt).
        message: String,
    },
    /// The run overflowed its stack.
    #[error("plugin '{plugin}' overflowed its stack")]
    StackOverflow {
        /// Plugin name.
        plugin: String,
    },
    /// The plugin trapped (a panic, an abort, an invalid operation).
    #[error("plugin '{plugin}' trapped: {message}")]
    Trap {
        /// Plugin name.
        plugin: String,
        /// What happened, including the plugin's panic message when it printed one.
        message: String,
    },
    /// The run finished but its changes could not be made durable (the journal or a
    /// write-behind backend could not reach the disk).
    #[error("plugin '{plugin}' ran, but its changes could not be made durable: {message}")]
    NotPersisted {
        /// Plugin name.
        plugin: String,
        /// What could not be written.
        message: String,
    },
}
