//! What an embedding agent needs, in one import: `use rampart_runtime::prelude::*;`.
//!
//! The agent itself ([`Agent`] and its builder), the plugins it runs ([`Engine`], [`Plugin`],
//! [`PluginSet`], [`LivePlugins`] and the grant [`ceiling`]), the backends plugins reach
//! ([`Capabilities`] and the backends of `rampart-backends`), the policy side
//! (`rampart-policy`'s documents, device and catalog) and the report.

pub use rampart_backends::defender::{DefenderBackend, SimulatedDefender};
pub use rampart_backends::files::{FileBackend, FileRoots};
pub use rampart_backends::registry::{EmulatedRegistry, RegistryBackend};
pub use rampart_policy::catalog::Catalog;
pub use rampart_policy::device::{Device, Platform};
pub use rampart_policy::graph::{PolicyDocument, PolicyFile, load_policies, parse_policies};
pub use rampart_policy::status::{PolicyStatus, SettingStatus};

pub use crate::{
    Agent, AgentBuilder, AgentError, AsyncPolicySource, Atomicity, Capabilities, DeviceReport,
    EmbedError, Engine, GrantPolicy, Grants, LivePlugins, Plugin, PluginDirectory, PluginSet,
    PolicyBody, RunLimits, ceiling,
};
