//! One error type for embedders: every way the runtime can fail an embedder's call, with a
//! `From` conversion from each part's own error, so an agent can use `?` throughout and match
//! on the part that failed. No dependency's error type appears in it.

use crate::embed::{AgentError, EmbedError};
use crate::grants::GrantsConfigError;
use crate::live::WatchError;
use crate::sandbox::error::{EngineError, LoadError};
use crate::supply::trust::TrustConfigError;

/// Why a call into the runtime failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The WebAssembly engine could not be created.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A plugin could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The agent could not be built over its state directory.
    #[error(transparent)]
    Agent(#[from] AgentError),
    /// A pass produced no report.
    #[error(transparent)]
    Pass(#[from] EmbedError),
    /// A device description is unusable.
    #[error(transparent)]
    Device(#[from] rampart_policy::device::DeviceError),
    /// A policy file or body could not be read.
    #[error(transparent)]
    Policy(#[from] rampart_policy::graph::PolicyError),
    /// The operator's grants file is invalid.
    #[error(transparent)]
    Grants(#[from] GrantsConfigError),
    /// The operator's trust file is invalid.
    #[error(transparent)]
    Trust(#[from] TrustConfigError),
    /// The plugin directory cannot be watched.
    #[error(transparent)]
    Watch(#[from] WatchError),
}
