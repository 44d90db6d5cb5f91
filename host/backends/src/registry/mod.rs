//! The Windows registry: canonical key paths, typed values, and the backend trait.
//!
//! Backends: [`EmulatedRegistry`] everywhere (persistent as `.reg` text, see [`parse_reg`] and
//! [`write_reg`]) and, on Windows, `WindowsRegistry` over the real registry.

mod durable;
mod emulated;
mod overlay;
mod path;
mod raw;
mod reg_file;
mod value;
#[cfg(windows)]
mod windows;

pub use durable::DurableRegistry;
pub use emulated::{EmulatedRegistry, ImportSummary};
pub use overlay::OverlayRegistry;
pub use path::{Hive, KeyPathError, RegistryPath, validate_value_name, value_name_eq};
pub use reg_file::{
    RegEntry, RegFileError, RegKey, decode_reg_bytes, encode_reg_utf16, parse_reg, write_reg,
};
pub use value::RegValue;
#[cfg(windows)]
pub use windows::WindowsRegistry;

/// Why a registry backend call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The key needed by the operation does not exist.
    #[error("registry key '{0}' does not exist")]
    KeyNotFound(String),
    /// The backend could not complete the operation.
    #[error("registry backend failed: {0}")]
    Backend(String),
    /// The request itself is invalid: a bad value name or value data, or deleting a hive root.
    #[error("invalid registry request: {0}")]
    InvalidArgument(String),
}

/// A registry implementation. Keys are canonical [`RegistryPath`]s; value names compare
/// case-insensitively (the empty name is the key's default value).
///
/// Implementations synchronise internally: concurrent runs share one backend.
///
/// A wrapper around another backend (a logging or metering layer) must forward every method,
/// the provided ones too: [`key_exists`](Self::key_exists) (or lose the inner backend's fast
/// answer), and above all [`defers_durability`](Self::defers_durability) and
/// [`flush`](Self::flush). Left to their defaults, a wrapper around a write-behind registry
/// claims that each change is durable when the call returns, so the journal is not synced
/// before the changes and the inner backend is never flushed by the runtime: a crash can then
/// lose changes the report called done.
pub trait RegistryBackend: Send + Sync + std::fmt::Debug {
    /// Reads a value; `Ok(None)` when the key or the value does not exist.
    fn get_value(&self, key: &RegistryPath, name: &str) -> Result<Option<RegValue>, RegistryError>;
    /// Writes a value, creating the key and its missing parents.
    fn set_value(
        &self,
        key: &RegistryPath,
        name: &str,
        value: RegValue,
    ) -> Result<(), RegistryError>;
    /// Deletes a value; returns whether it existed.
    fn delete_value(&self, key: &RegistryPath, name: &str) -> Result<bool, RegistryError>;
    /// Creates a key and its missing parents (no error if it exists).
    fn create_key(&self, key: &RegistryPath) -> Result<(), RegistryError>;
    /// Deletes a key and its whole subtree; returns whether it existed.
    fn delete_key(&self, key: &RegistryPath) -> Result<bool, RegistryError>;
    /// Lists a key's values sorted by name (case-insensitively);
    /// [`RegistryError::KeyNotFound`] if the key does not exist.
    fn list_values(&self, key: &RegistryPath) -> Result<Vec<(String, RegValue)>, RegistryError>;
    /// Lists the names of a key's direct subkeys, sorted case-insensitively;
    /// [`RegistryError::KeyNotFound`] if the key does not exist.
    fn list_subkeys(&self, key: &RegistryPath) -> Result<Vec<String>, RegistryError>;

    /// Whether a key exists (a hive root always does). The default lists the key's values;
    /// backends that can answer without copying them should.
    fn key_exists(&self, key: &RegistryPath) -> Result<bool, RegistryError> {
        match self.list_values(key) {
            Ok(_) => Ok(true),
            Err(RegistryError::KeyNotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Whether a change can survive a crash only after [`flush`](Self::flush) (a write-behind
    /// backend), rather than as soon as the call returns (the real registry, and the default).
    /// The runtime's journal must be durable before a change is; for a backend that defers,
    /// it is made durable once, before the flush, instead of before every change.
    fn defers_durability(&self) -> bool {
        false
    }

    /// Makes every change made so far durable; nothing to do for a backend that persists each
    /// change as it is made (the default).
    fn flush(&self) -> Result<(), RegistryError> {
        Ok(())
    }
}
