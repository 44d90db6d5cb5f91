//! Persistence for the emulated registry, in one of two modes:
//!
//! - **write-through** ([`DurableRegistry::new`]): every change is on disk when the call
//!   returns, as with the real registry. A crashed agent leaves exactly the writes it made,
//!   which the runtime's journal rolls back at the next start.
//! - **write-behind** ([`DurableRegistry::write_behind`]): changes stay in memory until
//!   [`flush`](RegistryBackend::flush), which writes the file once. The runtime flushes at the
//!   end of each plugin run, after making the run's journal durable, so a crash before the
//!   flush leaves the file as it was before the run, and one after it leaves a journal that
//!   undoes the run: the same guarantees for one file rewrite per run instead of one per change.

use std::sync::Arc;

use super::{EmulatedRegistry, RegValue, RegistryBackend, RegistryError, RegistryPath};

/// An [`EmulatedRegistry`] opened from a file and saved after every change (write-through) or
/// at every [`flush`](RegistryBackend::flush) (write-behind).
#[derive(Debug, Clone)]
pub struct DurableRegistry {
    inner: Arc<EmulatedRegistry>,
    write_behind: bool,
}

impl DurableRegistry {
    /// Wraps a registry opened with [`EmulatedRegistry::open`]; every change is saved before
    /// the call returns.
    pub fn new(inner: Arc<EmulatedRegistry>) -> Self {
        DurableRegistry {
            inner,
            write_behind: false,
        }
    }

    /// Wraps a registry opened with [`EmulatedRegistry::open`]; changes are saved at
    /// [`flush`](RegistryBackend::flush) only. Whoever changes it must flush before treating
    /// the changes as made; changes never flushed are lost, as a run cut short must be. (It is
    /// deliberately not saved on drop: a clone dropped mid-run, or a panic, would write a run's
    /// changes before its journal is on disk.)
    ///
    /// Runs that change it must not overlap: a flush saves every change made so far, including
    /// those of a run still in progress, whose journal may not be on disk yet. The agent runs
    /// its plugins one at a time; an embedder running several at once should use
    /// [`new`](Self::new).
    pub fn write_behind(inner: Arc<EmulatedRegistry>) -> Self {
        DurableRegistry {
            inner,
            write_behind: true,
        }
    }

    /// The wrapped registry.
    pub fn inner(&self) -> &Arc<EmulatedRegistry> {
        &self.inner
    }

    fn persist<T>(&self, result: Result<T, RegistryError>) -> Result<T, RegistryError> {
        let value = result?;
        if !self.write_behind {
            self.save()?;
        }
        Ok(value)
    }

    fn save(&self) -> Result<(), RegistryError> {
        self.inner
            .save()
            .map_err(|e| RegistryError::Backend(format!("cannot persist the registry: {e}")))
    }
}

impl RegistryBackend for DurableRegistry {
    fn get_value(&self, key: &RegistryPath, name: &str) -> Result<Option<RegValue>, RegistryError> {
        self.inner.get_value(key, name)
    }

    fn set_value(
        &self,
        key: &RegistryPath,
        name: &str,
        value: RegValue,
    ) -> Result<(), RegistryError> {
        self.persist(self.inner.set_value(key, name, value))
    }

    fn delete_value(&self, key: &RegistryPath, name: &str) -> Result<bool, RegistryError> {
        self.persist(self.inner.delete_value(key, name))
    }

    fn create_key(&self, key: &RegistryPath) -> Result<(), RegistryError> {
        self.persist(self.inner.create_key(key))
    }

    fn delete_key(&self, key: &RegistryPath) -> Result<bool, RegistryError> {
        self.persist(self.inner.delete_key(key))
    }

    fn list_values(&self, key: &RegistryPath) -> Result<Vec<(String, RegValue)>, RegistryError> {
        self.inner.list_values(key)
    }

    fn list_subkeys(&self, key: &RegistryPath) -> Result<Vec<String>, RegistryError> {
        self.inner.list_subkeys(key)
    }

    fn key_exists(&self, key: &RegistryPath) -> Result<bool, RegistryError> {
        Ok(self.inner.contains_key(key))
    }

    fn defers_durability(&self) -> bool {
        self.write_behind
    }

    fn flush(&self) -> Result<(), RegistryError> {
        // In write-through mode the file already holds every change; `save` would find it so.
        if self.write_behind {
            self.save()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opened(dir: &std::path::Path) -> Arc<EmulatedRegistry> {
        Arc::new(EmulatedRegistry::open(&dir.join("registry.reg")).unwrap())
    }

    fn on_disk(dir: &std::path::Path) -> Option<RegValue> {
        opened(dir)
            .get_value(&RegistryPath::parse(r"HKLM\SOFTWARE\A").unwrap(), "x")
            .unwrap()
    }

    #[test]
    fn write_through_saves_each_change_before_returning() {
        let dir = tempfile::tempdir().unwrap();
        let registry = DurableRegistry::new(opened(dir.path()));
        assert!(!registry.defers_durability());
        let key = RegistryPath::parse(r"HKLM\SOFTWARE\A").unwrap();
        registry.set_value(&key, "x", RegValue::Dword(1)).unwrap();
        assert_eq!(on_disk(dir.path()), Some(RegValue::Dword(1)));
    }

    #[test]
    fn write_behind_saves_at_flush_only() {
        let dir = tempfile::tempdir().unwrap();
        let registry = DurableRegistry::write_behind(opened(dir.path()));
        assert!(registry.defers_durability());
        let key = RegistryPath::parse(r"HKLM\SOFTWARE\A").unwrap();
        registry.set_value(&key, "x", RegValue::Dword(1)).unwrap();
        assert_eq!(
            on_disk(dir.path()),
            None,
            "nothing on disk before the flush"
        );
        registry.flush().unwrap();
        assert_eq!(on_disk(dir.path()), Some(RegValue::Dword(1)));
        registry.set_value(&key, "x", RegValue::Dword(2)).unwrap();
        drop(registry);
        assert_eq!(
            on_disk(dir.path()),
            Some(RegValue::Dword(1)),
            "a change never flushed never reaches the file"
        );
    }
}
