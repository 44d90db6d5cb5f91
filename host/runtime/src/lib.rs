//! rampart's embeddable WebAssembly policy-plugin runtime.
//!
//! The runtime takes one device's policy documents, resolves them (with `rampart-policy`),
//! routes each setting to the plugin that claims it, runs that plugin in a fresh sandbox, and
//! collects per-setting status in Intune's vocabulary. It has no CLI dependencies and no
//! process globals. An agent embeds it with [`Agent::builder`]: the backends (from
//! `rampart-backends` or its own), the plugins loaded under a grant ceiling
//! ([`ceiling::recommended`] allows what the first-party plugins need), and a state directory,
//! which wires the journal, crash recovery, drift ledger, audit trail and state lock exactly
//! as the `rampart` agent does (it is built on the same builder).
//!
//! ```no_run
//! use std::sync::Arc;
//! use rampart_backends::registry::EmulatedRegistry;
//! use rampart_runtime::{Agent, Capabilities, Engine, GrantPolicy, Plugin, PluginSet, ceiling};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let engine = Engine::new()?;
//! let wasm = std::fs::read("windows-defender.wasm")?;
//! // Deny by default: a plugin gets what its manifest asks for, narrowed by this ceiling.
//! let policy = GrantPolicy::Ceiling(ceiling::recommended());
//! let mut plugins = PluginSet::new();
//! plugins.insert(Arc::new(Plugin::load(&engine, "windows-defender.wasm", &wasm, &policy)?));
//! let capabilities = Capabilities::none().with_registry(Arc::new(EmulatedRegistry::new()));
//! let agent = Agent::builder(capabilities)
//!     .plugins(plugins)
//!     .state_dir("/var/lib/my-agent/rampart", "my-agent")
//!     .build()?;
//! # let device: rampart_policy::device::Device = todo!();
//! # let documents: Vec<rampart_policy::graph::PolicyDocument> = Vec::new();
//! let report = agent.enforce(&device, &documents);
//! println!("{} settings compliant", report.summary.compliant);
//! # Ok(())
//! # }
//! ```
//!
//! Rooms, in the order a plugin and a setting meet them:
//! - [`supply`]: ed25519 plugin signatures ([`signing`]) and which keys the operator trusts
//!   for which plugins ([`trust`]);
//! - [`sandbox`]: verify, compile (within a budget, [`compile`]; cached, [`aot`]) and pre-link
//!   one plugin version ([`plugin`]); run it in a fresh store with its limits and deadline, its
//!   capability calls handed to the gate;
//! - [`pipeline`]: one pass, route → enforce → report ([`DeviceReport`]);
//! - [`live`]: plugin versions swapped in from a watched directory without a restart;
//! - [`embed`]: [`Agent`], the runtime wired for production, and [`Embedded`], its parts;
//! - [`lock`]: one writer per state directory;
//! - [`prelude`]: what an embedding agent imports.
//!
//! What a plugin may touch, and the journal, audit trail and ledger of what it did, live in
//! `rampart-gate` (re-exported here as [`manifest`], [`grants`], [`journal`], [`audit`],
//! [`drift`], [`redact`]), so that the SDK's native test host runs the same checks without a
//! WebAssembly engine.

#![deny(missing_docs)]

pub mod embed;
mod error;
pub mod live;
pub mod lock;
pub mod pipeline;
pub mod prelude;
pub mod sandbox;
pub mod supply;

pub use pipeline::{enforce, report};
pub use rampart_gate::txn::{audit, drift, journal};
pub use rampart_gate::{capabilities, ceiling, gate, grants, manifest, redact, text};
pub use sandbox::{aot, compile, limits, plugin};
pub use supply::{signing, trust};

pub use aot::{AotCache, CacheOutcome};
pub use compile::{CompileBudget, CompileError, Compiler, InProcess};
pub use embed::{
    Agent, AgentBuilder, AgentError, AsyncPolicySource, EmbedError, Embedded, PolicyBody,
};
pub use enforce::{Atomicity, Enforcer};
pub use error::Error;
pub use grants::{Access, Grants, OperatorGrants};
pub use journal::{Change, Journal};
pub use limits::RunLimits;
pub use live::{LivePlugins, PluginDirectory};
pub use lock::{LockError, StateLock};
pub use manifest::Manifest;
pub use pipeline::route::{ClaimError, PluginSet, Route};
pub use plugin::{CONTRACT_VERSION, GrantPolicy, Plugin};
pub use rampart_gate::Capabilities;
pub use rampart_gate::{ParsedKeys, parse_registry_key};
pub use report::DeviceReport;
pub use sandbox::engine::{DEFAULT_EPOCH_TICK, DEFAULT_MAX_WASM_STACK, Engine, EngineConfig};
pub use sandbox::error::{EngineError, LoadError, LoadFailure, RunError};
pub use sandbox::run::{RunOutput, SettingOutcome, UNCONFIRMED};
pub use trust::{TrustMode, TrustPolicy, TrustVerdict};
