//! A copy-on-write overlay over a [`RegistryBackend`], for what-if runs: every change is kept in
//! memory and reads see it, while the underlying registry (emulated or real) never changes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{RegValue, RegistryBackend, RegistryError, RegistryPath, value_name_eq};

#[derive(Debug, Default)]
struct Layer {
    /// Values set (`Some`) or deleted (`None`) per key; value names keep their first spelling.
    values: BTreeMap<RegistryPath, Vec<(String, Option<RegValue>)>>,
    /// Keys created in the overlay.
    created: BTreeSet<RegistryPath>,
    /// Keys deleted in the overlay (with their subtrees), unless re-created below.
    deleted: BTreeSet<RegistryPath>,
}

impl Layer {
    /// Whether the base registry's content at `key` is hidden by an overlay deletion of the key
    /// or an ancestor (a key re-created since then exists, but without its old base content).
    fn hidden(&self, key: &RegistryPath) -> bool {
        self.deleted.iter().any(|d| key.starts_with(d))
    }

    fn entry(&self, key: &RegistryPath, name: &str) -> Option<&Option<RegValue>> {
        self.values
            .get(key)?
            .iter()
            .find(|(n, _)| value_name_eq(n, name))
            .map(|(_, v)| v)
    }
}

/// Reads fall through to `base` unless the overlay changed the value or key.
#[derive(Debug)]
pub struct OverlayRegistry {
    base: Arc<dyn RegistryBackend>,
    layer: Mutex<Layer>,
}

impl OverlayRegistry {
    /// An empty overlay over `base`.
    pub fn new(base: Arc<dyn RegistryBackend>) -> Self {
        OverlayRegistry {
            base,
            layer: Mutex::new(Layer::default()),
        }
    }

    fn layer(&self) -> MutexGuard<'_, Layer> {
        self.layer.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn key_exists(&self, layer: &Layer, key: &RegistryPath) -> Result<bool, RegistryError> {
        if layer.created.contains(key) || layer.values.contains_key(key) {
            return Ok(true);
        }
        if layer.hidden(key) {
            return Ok(false);
        }
        match self.base.list_values(key) {
            Ok(_) => Ok(true),
            Err(RegistryError::KeyNotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn mark_created(layer: &mut Layer, key: &RegistryPath) {
        let mut k = Some(key.clone());
        while let Some(path) = k {
            if path.is_hive_root() {
                break;
            }
            layer.created.insert(path.clone());
            k = path.parent();
        }
    }
}

impl RegistryBackend for OverlayRegistry {
    fn get_value(&self, key: &RegistryPath, name: &str) -> Result<Option<RegValue>, RegistryError> {
        let layer = self.layer();
        if let Some(v) = layer.entry(key, name) {
            return Ok(v.clone());
        }
        if layer.hidden(key) {
            return Ok(None);
        }
        drop(layer);
        self.base.get_value(key, name)
    }

    fn set_value(
        &self,
        key: &RegistryPath,
        name: &str,
        value: RegValue,
    ) -> Result<(), RegistryError> {
        let mut layer = self.layer();
        Self::mark_created(&mut layer, key);
        let entries = layer.values.entry(key.clone()).or_default();
        match entries.iter_mut().find(|(n, _)| value_name_eq(n, name)) {
            Some(slot) => slot.1 = Some(value),
            None => entries.push((name.to_string(), Some(value))),
        }
        Ok(())
    }

    fn delete_value(&self, key: &RegistryPath, name: &str) -> Result<bool, RegistryError> {
        let existed = self.get_value(key, name)?.is_some();
        let mut layer = self.layer();
        let entries = layer.values.entry(key.clone()).or_default();
        match entries.iter_mut().find(|(n, _)| value_name_eq(n, name)) {
            Some(slot) => slot.1 = None,
            None => entries.push((name.to_string(), None)),
        }
        Ok(existed)
    }

    fn create_key(&self, key: &RegistryPath) -> Result<(), RegistryError> {
        Self::mark_created(&mut self.layer(), key);
        Ok(())
    }

    fn delete_key(&self, key: &RegistryPath) -> Result<bool, RegistryError> {
        if key.is_hive_root() {
            return Err(RegistryError::InvalidArgument(format!(
                "refusing to delete the hive root '{key}'"
            )));
        }
        let mut layer = self.layer();
        let existed = self.key_exists(&layer, key)?;
        layer.values.retain(|k, _| !k.starts_with(key));
        layer.created.retain(|k| !k.starts_with(key));
        layer.deleted.insert(key.clone());
        Ok(existed)
    }

    fn list_values(&self, key: &RegistryPath) -> Result<Vec<(String, RegValue)>, RegistryError> {
        let layer = self.layer();
        if !self.key_exists(&layer, key)? {
            return Err(RegistryError::KeyNotFound(key.to_string()));
        }
        let mut values: Vec<(String, RegValue)> = if layer.hidden(key) {
            Vec::new()
        } else {
            match self.base.list_values(key) {
                Ok(v) => v,
                Err(RegistryError::KeyNotFound(_)) if self.key_exists(&layer, key)? => Vec::new(),
                Err(e) => return Err(e),
            }
        };
        if let Some(entries) = layer.values.get(key) {
            for (name, value) in entries {
                values.retain(|(n, _)| !value_name_eq(n, name));
                if let Some(v) = value {
                    values.push((name.clone(), v.clone()));
                }
            }
        }
        values.sort_by_key(|(n, _)| n.to_uppercase());
        Ok(values)
    }

    fn list_subkeys(&self, key: &RegistryPath) -> Result<Vec<String>, RegistryError> {
        let layer = self.layer();
        if !self.key_exists(&layer, key)? {
            return Err(RegistryError::KeyNotFound(key.to_string()));
        }
        let mut names: Vec<String> = if layer.hidden(key) {
            Vec::new()
        } else {
            match self.base.list_subkeys(key) {
                Ok(v) => v,
                Err(RegistryError::KeyNotFound(_)) => Vec::new(),
                Err(e) => return Err(e),
            }
        };
        names.retain(|n| {
            key.join(n)
                .map(|child| !layer.hidden(&child))
                .unwrap_or(true)
        });
        for created in layer.created.iter().chain(layer.values.keys()) {
            if created.parent().as_ref() == Some(key)
                && let Some(name) = created.name()
                && !names.iter().any(|n| value_name_eq(n, name))
            {
                names.push(name.to_string());
            }
        }
        names.sort_by_key(|n| n.to_uppercase());
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::EmulatedRegistry;

    fn key(s: &str) -> RegistryPath {
        RegistryPath::parse(s).unwrap()
    }

    #[test]
    fn writes_stay_in_the_overlay() {
        let base = Arc::new(EmulatedRegistry::new());
        base.set_value(&key(r"HKLM\A"), "x", RegValue::Dword(1))
            .unwrap();
        base.set_value(&key(r"HKLM\A\B"), "y", RegValue::Dword(2))
            .unwrap();
        let before = base.export_reg();
        let o = OverlayRegistry::new(base.clone());
        o.set_value(&key(r"HKLM\A"), "X", RegValue::Dword(5))
            .unwrap();
        o.set_value(&key(r"HKLM\A\C\D"), "z", RegValue::Sz("new".into()))
            .unwrap();
        assert_eq!(
            o.get_value(&key(r"hklm\a"), "x").unwrap(),
            Some(RegValue::Dword(5))
        );
        assert_eq!(o.list_subkeys(&key(r"HKLM\A")).unwrap(), ["B", "C"]);
        assert!(o.delete_value(&key(r"HKLM\A"), "x").unwrap());
        assert_eq!(o.get_value(&key(r"HKLM\A"), "x").unwrap(), None);
        assert!(o.delete_key(&key(r"HKLM\A\B")).unwrap());
        assert_eq!(o.get_value(&key(r"HKLM\A\B"), "y").unwrap(), None);
        assert_eq!(o.list_subkeys(&key(r"HKLM\A")).unwrap(), ["C"]);
        assert!(matches!(
            o.list_values(&key(r"HKLM\A\B")),
            Err(RegistryError::KeyNotFound(_))
        ));
        assert_eq!(base.export_reg(), before, "the base never changes");
    }
}
