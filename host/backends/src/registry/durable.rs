//! Write-through persistence for the emulated registry: every change is on disk when the call
//! returns, as with the real registry. A crashed agent therefore leaves exactly the writes it
//! made — which is what the runtime's journal is for: it rolls an unfinished run back at the
//! next start.

use std::sync::Arc;

use super::{EmulatedRegistry, RegValue, RegistryBackend, RegistryError, RegistryPath};

/// An [`EmulatedRegistry`] opened from a file, saved after every change.
#[derive(Debug, Clone)]
pub struct DurableRegistry {
    inner: Arc<EmulatedRegistry>,
}

impl DurableRegistry {
    /// Wraps a registry opened with [`EmulatedRegistry::open`].
    pub fn new(inner: Arc<EmulatedRegistry>) -> Self {
        DurableRegistry { inner }
    }

    /// The wrapped registry.
    pub fn inner(&self) -> &Arc<EmulatedRegistry> {
        &self.inner
    }

    fn persist<T>(&self, result: Result<T, RegistryError>) -> Result<T, RegistryError> {
        let value = result?;
        self.inner
            .save()
            .map_err(|e| RegistryError::Backend(format!("cannot persist the registry: {e}")))?;
        Ok(value)
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
}
