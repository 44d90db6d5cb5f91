//! The Windows registry, restricted to the keys the plugin was granted.
//!
//! Key paths start with a hive (`HKLM\...` or `HKEY_LOCAL_MACHINE\...`), use backslashes and
//! compare case-insensitively. [`Key`] wraps one key path with typed helpers; the `ensure_*`
//! helpers implement the common "compare, then write only if different" step and tell whether
//! they changed anything, which is exactly compliant vs remediated.

use crate::CapabilityError;
use crate::imports::registry as raw;

pub use crate::bindings::rampart::plugin::registry::{NamedValue, RegValue};

/// Reads a value (`None` when the key or value does not exist).
pub fn get(key: &str, name: &str) -> Result<Option<RegValue>, CapabilityError> {
    raw::get_value(key, name)
}

/// Writes a value, creating missing keys.
pub fn set(key: &str, name: &str, value: &RegValue) -> Result<(), CapabilityError> {
    raw::set_value(key, name, value)
}

/// Deletes a value; returns whether it existed.
pub fn delete_value(key: &str, name: &str) -> Result<bool, CapabilityError> {
    raw::delete_value(key, name)
}

/// Creates a key and its missing parents.
pub fn create_key(key: &str) -> Result<(), CapabilityError> {
    raw::create_key(key)
}

/// Deletes a key and its subtree; returns whether it existed.
pub fn delete_key(key: &str) -> Result<bool, CapabilityError> {
    raw::delete_key(key)
}

/// Lists a key's values, sorted by name.
pub fn list_values(key: &str) -> Result<Vec<NamedValue>, CapabilityError> {
    raw::list_values(key)
}

/// Lists a key's direct subkeys, sorted.
pub fn list_subkeys(key: &str) -> Result<Vec<String>, CapabilityError> {
    raw::list_subkeys(key)
}

/// One registry key path with typed helpers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    path: String,
}

impl Key {
    /// A key path such as `HKLM\SOFTWARE\Policies\Microsoft\Windows Defender`.
    pub fn new(path: impl Into<String>) -> Self {
        Key { path: path.into() }
    }

    /// The key path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// A subkey of this key.
    pub fn subkey(&self, name: &str) -> Key {
        Key {
            path: format!("{}\\{name}", self.path),
        }
    }

    /// Reads a value.
    pub fn get(&self, name: &str) -> Result<Option<RegValue>, CapabilityError> {
        get(&self.path, name)
    }

    /// Reads a REG_DWORD; a value of another type reads as `None`.
    pub fn dword(&self, name: &str) -> Result<Option<u32>, CapabilityError> {
        Ok(match self.get(name)? {
            Some(RegValue::Dword(v)) => Some(v),
            _ => None,
        })
    }

    /// Reads a REG_SZ; a value of another type reads as `None`.
    pub fn sz(&self, name: &str) -> Result<Option<String>, CapabilityError> {
        Ok(match self.get(name)? {
            Some(RegValue::Sz(v)) => Some(v),
            _ => None,
        })
    }

    /// Writes a value.
    pub fn set(&self, name: &str, value: &RegValue) -> Result<(), CapabilityError> {
        set(&self.path, name, value)
    }

    /// Makes the value equal to `value` (type included); returns whether it had to write.
    pub fn ensure(&self, name: &str, value: &RegValue) -> Result<bool, CapabilityError> {
        if self.get(name)?.as_ref() == Some(value) {
            return Ok(false);
        }
        self.set(name, value)?;
        Ok(true)
    }

    /// [`Key::ensure`] for a REG_DWORD.
    pub fn ensure_dword(&self, name: &str, value: u32) -> Result<bool, CapabilityError> {
        self.ensure(name, &RegValue::Dword(value))
    }

    /// [`Key::ensure`] for a REG_SZ.
    pub fn ensure_sz(&self, name: &str, value: &str) -> Result<bool, CapabilityError> {
        self.ensure(name, &RegValue::Sz(value.to_string()))
    }

    /// Deletes a value; returns whether it existed.
    pub fn delete_value(&self, name: &str) -> Result<bool, CapabilityError> {
        delete_value(&self.path, name)
    }

    /// Lists the key's values.
    pub fn values(&self) -> Result<Vec<NamedValue>, CapabilityError> {
        list_values(&self.path)
    }

    /// Lists the key's direct subkeys.
    pub fn subkeys(&self) -> Result<Vec<String>, CapabilityError> {
        list_subkeys(&self.path)
    }
}
