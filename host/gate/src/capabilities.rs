//! The backends a host offers to plugins.

use std::sync::Arc;

use rampart_backends::defender::DefenderBackend;
use rampart_backends::files::FileBackend;
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
    /// Directory roots for the `files` capability (usually a `FileRoots`).
    pub files: Option<Arc<dyn FileBackend>>,
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
    pub fn with_files(mut self, files: Arc<dyn FileBackend>) -> Self {
        self.files = Some(files);
        self
    }
}

impl Capabilities {
    /// Copy-on-write overlays of these backends for a what-if run: plugins see the effect of
    /// their own writes, and nothing reaches the real backends.
    pub fn what_if(&self) -> Capabilities {
        use rampart_backends::defender::OverlayDefender;
        use rampart_backends::files::OverlayFiles;
        use rampart_backends::registry::OverlayRegistry;
        let registry: Option<Arc<dyn RegistryBackend>> = self
            .registry
            .as_ref()
            .map(|r| Arc::new(OverlayRegistry::new(r.clone())) as Arc<dyn RegistryBackend>);
        let defender = self.defender.as_ref().map(|d| {
            registry
                .as_ref()
                .and_then(|r| d.fork_for_what_if(r.clone()))
                .unwrap_or_else(|| {
                    Arc::new(OverlayDefender::new(d.clone())) as Arc<dyn DefenderBackend>
                })
        });
        let files = self
            .files
            .as_ref()
            .map(|f| Arc::new(OverlayFiles::new(f.clone())) as Arc<dyn FileBackend>);
        Capabilities {
            registry,
            defender,
            files,
        }
    }

    /// Whether no change made through these backends survives a crash before
    /// [`flush`](Self::flush): every backend present defers durability, and there are no file
    /// roots (files are replaced on disk as they are written). A run's journal then needs to
    /// reach the disk only once, before the flush.
    pub fn defers_durability(&self) -> bool {
        self.files.is_none()
            && self.registry.as_ref().is_none_or(|r| r.defers_durability())
            && self.defender.as_ref().is_none_or(|d| d.defers_durability())
    }

    /// Makes every change made through these backends durable (see
    /// [`RegistryBackend::flush`]).
    ///
    /// # Errors
    ///
    /// Says which backend could not persist its changes.
    pub fn flush(&self) -> Result<(), String> {
        // The registry goes last: the first-party deferring backends are the emulated
        // registry (one atomic file replacement) and the simulated Defender (nothing to
        // write), so when a flush fails nothing of the run has reached the disk, and undoing
        // the run in memory is a complete rollback (see `RunJournal::rollback`).
        if let Some(defender) = &self.defender {
            defender.flush().map_err(|e| e.to_string())?;
        }
        if let Some(registry) = &self.registry {
            registry.flush().map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}
