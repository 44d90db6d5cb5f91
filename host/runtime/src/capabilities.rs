//! The backends a host offers to plugins, and the per-run state that checks every call.

use std::sync::Arc;

use rampart_backends::defender::DefenderBackend;
use rampart_backends::files::FileRoots;
use rampart_backends::registry::RegistryBackend;

/// The backends the capabilities reach. A capability whose backend is `None` answers
/// `unavailable` (for example there is no registry on Linux).
///
/// Cloning is cheap; backends are shared by all runs and synchronise internally.
#[derive(Debug, Clone, Default)]
pub struct Capabilities {
    /// The registry (emulated, or the real one on Windows).
    pub registry: Option<Arc<dyn RegistryBackend>>,
    /// Microsoft Defender.
    pub defender: Option<Arc<dyn DefenderBackend>>,
    /// Directory roots for the `files` capability.
    pub files: Option<Arc<FileRoots>>,
}

impl Capabilities {
    /// No backends at all: every capability call answers `unavailable`.
    pub fn none() -> Self {
        Capabilities::default()
    }

    /// Sets the registry backend.
    pub fn with_registry(mut self, registry: Arc<dyn RegistryBackend>) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Sets the Defender backend.
    pub fn with_defender(mut self, defender: Arc<dyn DefenderBackend>) -> Self {
        self.defender = Some(defender);
        self
    }

    /// Sets the file roots.
    pub fn with_files(mut self, files: Arc<FileRoots>) -> Self {
        self.files = Some(files);
        self
    }
}
