//! `rampart:plugin/registry`: registry calls checked against the plugin's key grants.

use std::sync::Arc;

use rampart_backends::registry::{
    KeyPathError, RegValue, RegistryBackend, RegistryError, RegistryPath, validate_value_name,
};

use crate::grants::Access;
use crate::txn::journal::{Change, JournalValue, highest_missing, snapshot_subtree};

use super::{CallError, Gate, GateAnswer};

/// Parsed keys a plugin keeps across its runs (a plugin that names more distinct keys parses
/// the rest in each run that names them).
const PARSED_KEYS_KEPT: usize = 256;

/// The longest key path kept (real policy keys are well under it).
const KEPT_KEY_BYTES: usize = 512;

/// Parsed registry key paths, by the text a plugin named them with.
pub type ParsedKeys = foldhash::HashMap<String, Arc<RegistryPath>>;

/// The canonical form of the key path `key`: from `kept` if an earlier call parsed it, else
/// parsed and kept there while `kept` has room and the key is short (the same bounds as the
/// cache a plugin's runs share). Both the runtime and the SDK's native host resolve key paths
/// this way, so they keep the same keys.
///
/// # Errors
///
/// The key path is malformed (unknown hive, `..`, empty component, NUL).
pub fn parse_registry_key(
    kept: &mut ParsedKeys,
    key: &str,
) -> Result<Arc<RegistryPath>, KeyPathError> {
    if let Some(path) = kept.get(key) {
        return Ok(path.clone());
    }
    let path = Arc::new(RegistryPath::parse(key)?);
    if kept.len() < PARSED_KEYS_KEPT && key.len() <= KEPT_KEY_BYTES {
        kept.insert(key.to_owned(), path.clone());
    }
    Ok(path)
}

/// The canonical form of the registry keys a plugin named in its earlier runs, shared by all
/// of its runs. Parsing a key path is most of a registry call's own cost, every run is a fresh
/// instance, and plugins name the same few keys in every run.
///
/// Parsing is a pure function of the text, so sharing it between runs leaks no value from one
/// run to another (only, through timing, whether an earlier run named a key); the grant check
/// still runs on every call. Only keys of at most `KEPT_KEY_BYTES` (512) are kept, so the cache
/// stays small whatever a plugin names. Runs read a snapshot (one lock per run, none per call)
/// and publish the keys they parsed when they end.
#[derive(Debug, Default)]
pub struct KnownKeys {
    snapshot: std::sync::Mutex<Arc<ParsedKeys>>,
}

impl KnownKeys {
    /// The keys known when a run starts.
    pub fn snapshot(&self) -> Arc<ParsedKeys> {
        self.snapshot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Adds the keys a run parsed, up to `PARSED_KEYS_KEPT` (256) in all. Copies the map, but
    /// only when a run named a key no earlier run did.
    pub fn publish(&self, parsed: ParsedKeys) {
        if parsed.is_empty() {
            return;
        }
        let mut snapshot = self
            .snapshot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let room = PARSED_KEYS_KEPT.saturating_sub(snapshot.len());
        let new: Vec<(String, Arc<RegistryPath>)> = parsed
            .into_iter()
            .filter(|(key, _)| !snapshot.contains_key(key))
            .take(room)
            .collect();
        if new.is_empty() {
            return;
        }
        let mut merged = ParsedKeys::clone(&snapshot);
        merged.extend(new);
        *snapshot = Arc::new(merged);
    }
}

impl Gate {
    /// Canonicalises `key` and checks that the grants allow `needed` on it. The check runs on
    /// the canonical path, so `hklm\software\..` tricks and hive aliases cannot slip past it.
    ///
    /// Plugins name the same few keys over and over (one per setting group), so the canonical
    /// form of the keys is kept (see [`KnownKeys`]); the grant check still runs on every call.
    fn registry_target(
        &mut self,
        key: &str,
        needed: Access,
    ) -> Result<Arc<RegistryPath>, CallError> {
        let path = match self.known_keys.get(key) {
            Some(path) => path.clone(),
            None => parse_registry_key(&mut self.parsed_keys, key)
                .map_err(|e| CallError::InvalidArgument(e.to_string()))?,
        };
        match self.grants.registry_access(&path) {
            Some(access) if access >= needed => Ok(path),
            Some(_) => Err(CallError::AccessDenied(format!("{path} (read-only grant)"))),
            None => Err(CallError::AccessDenied(path.to_string())),
        }
    }

    fn registry_backend(&self) -> Result<&dyn RegistryBackend, CallError> {
        self.capabilities
            .registry
            .as_deref()
            .ok_or_else(|| CallError::Unavailable("this device has no registry".into()))
    }

    /// `registry.get-value`: the value `name` under `key`, if it exists.
    pub fn registry_get_value(&mut self, key: &str, name: &str) -> GateAnswer<Option<RegValue>> {
        self.count_call()?;
        let r = (|| {
            let path = self.registry_target(key, Access::Read)?;
            value_name(name)?;
            self.registry_backend()?
                .get_value(&path, name)
                .map_err(backend_error)
        })();
        self.audit("registry.get-value", || format!("{key}\\{name}"), false, &r);
        Ok(r)
    }

    /// `registry.set-value`: writes `value` as `name` under `key`, creating the key.
    pub fn registry_set_value(&mut self, key: &str, name: &str, value: RegValue) -> GateAnswer<()> {
        self.count_call()?;
        let bytes = value.data_len().saturating_add(name.len());
        self.check_write_budget(bytes)?;
        let r = (|| {
            let path = self.registry_target(key, Access::ReadWrite)?;
            value_name(name)?;
            self.check_size("registry value", value.data_len())?;
            if let Some(problem) = value.problem() {
                return Err(CallError::InvalidArgument(problem.to_string()));
            }
            let backend = self.registry_backend()?;
            let before = backend.get_value(&path, name).map_err(backend_error)?;
            let created = highest_missing(backend, &path).map_err(backend_error)?;
            if let Some(created) = created {
                self.journal(Change::RegistryKeyCreated {
                    key: created.long_form(),
                })?;
            }
            self.journal(Change::RegistryValue {
                key: path.long_form(),
                name: name.to_owned(),
                before: before.as_ref().map(JournalValue::from),
                after: Some(JournalValue::from(&value)),
            })?;
            self.registry_backend()?
                .set_value(&path, name, value)
                .map_err(backend_error)
        })();
        self.wrote(bytes, &r);
        self.audit("registry.set-value", || format!("{key}\\{name}"), true, &r);
        Ok(r)
    }

    /// `registry.delete-value`: removes `name` under `key`; whether it existed.
    pub fn registry_delete_value(&mut self, key: &str, name: &str) -> GateAnswer<bool> {
        self.count_call()?;
        let r = (|| {
            let path = self.registry_target(key, Access::ReadWrite)?;
            value_name(name)?;
            let Some(before) = self
                .registry_backend()?
                .get_value(&path, name)
                .map_err(backend_error)?
            else {
                return Ok(false);
            };
            self.journal(Change::RegistryValue {
                key: path.long_form(),
                name: name.to_owned(),
                before: Some(JournalValue::from(&before)),
                after: None,
            })?;
            self.registry_backend()?
                .delete_value(&path, name)
                .map_err(backend_error)
        })();
        self.audit(
            "registry.delete-value",
            || format!("{key}\\{name}"),
            true,
            &r,
        );
        Ok(r)
    }

    /// `registry.create-key`: creates `key` and its missing ancestors.
    pub fn registry_create_key(&mut self, key: &str) -> GateAnswer<()> {
        self.count_call()?;
        let r = (|| {
            let path = self.registry_target(key, Access::ReadWrite)?;
            if let Some(created) =
                highest_missing(self.registry_backend()?, &path).map_err(backend_error)?
            {
                self.journal(Change::RegistryKeyCreated {
                    key: created.long_form(),
                })?;
            }
            self.registry_backend()?
                .create_key(&path)
                .map_err(backend_error)
        })();
        self.audit("registry.create-key", || key.to_owned(), true, &r);
        Ok(r)
    }

    /// `registry.delete-key`: deletes `key` with its subtree; whether it existed.
    pub fn registry_delete_key(&mut self, key: &str) -> GateAnswer<bool> {
        self.count_call()?;
        let r = (|| {
            let path = self.registry_target(key, Access::ReadWrite)?;
            let backend = self.registry_backend()?;
            if highest_missing(backend, &path)
                .map_err(backend_error)?
                .is_some()
            {
                return Ok(false);
            }
            let subtree = snapshot_subtree(backend, &path).map_err(CallError::InvalidArgument)?;
            self.journal(Change::RegistryKeyDeleted {
                key: path.long_form(),
                subtree,
            })?;
            self.registry_backend()?
                .delete_key(&path)
                .map_err(backend_error)
        })();
        self.audit("registry.delete-key", || key.to_owned(), true, &r);
        Ok(r)
    }

    /// `registry.list-values`: the values under `key`, by name.
    pub fn registry_list_values(&mut self, key: &str) -> GateAnswer<Vec<(String, RegValue)>> {
        self.count_call()?;
        let r = (|| {
            let path = self.registry_target(key, Access::Read)?;
            self.registry_backend()?
                .list_values(&path)
                .map_err(backend_error)
        })();
        self.audit("registry.list-values", || key.to_owned(), false, &r);
        Ok(r)
    }

    /// `registry.list-subkeys`: the names of the keys under `key`.
    pub fn registry_list_subkeys(&mut self, key: &str) -> GateAnswer<Vec<String>> {
        self.count_call()?;
        let r = (|| {
            let path = self.registry_target(key, Access::Read)?;
            self.registry_backend()?
                .list_subkeys(&path)
                .map_err(backend_error)
        })();
        self.audit("registry.list-subkeys", || key.to_owned(), false, &r);
        Ok(r)
    }
}

fn value_name(name: &str) -> Result<(), CallError> {
    validate_value_name(name).map_err(|e| CallError::InvalidArgument(e.to_string()))
}

fn backend_error(e: RegistryError) -> CallError {
    match e {
        RegistryError::KeyNotFound(k) => CallError::NotFound(k),
        RegistryError::InvalidArgument(m) => CallError::InvalidArgument(m),
        other => CallError::Failed(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(keys: &[&str]) -> ParsedKeys {
        keys.iter()
            .map(|k| ((*k).to_owned(), Arc::new(RegistryPath::parse(k).unwrap())))
            .collect()
    }

    #[test]
    fn runs_see_the_keys_earlier_runs_published_and_a_taken_snapshot_never_changes() {
        let known = KnownKeys::default();
        let before = known.snapshot();
        known.publish(parsed(&[r"HKLM\SOFTWARE\A", r"hklm\software\a"]));
        assert!(before.is_empty(), "a run's snapshot is its own");
        let after = known.snapshot();
        assert_eq!(after.len(), 2);
        assert_eq!(
            after[r"hklm\software\a"].to_string(),
            r"HKEY_LOCAL_MACHINE\software\a"
        );

        // Publishing only keys already known keeps the same map.
        known.publish(parsed(&[r"HKLM\SOFTWARE\A"]));
        assert!(Arc::ptr_eq(&after, &known.snapshot()));
    }

    #[test]
    fn at_most_the_kept_number_of_keys_are_published() {
        let known = KnownKeys::default();
        let many: Vec<String> = (0..PARSED_KEYS_KEPT + 10)
            .map(|i| format!(r"HKLM\SOFTWARE\K{i}"))
            .collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        known.publish(parsed(&many[..100]));
        known.publish(parsed(&many[100..]));
        assert_eq!(known.snapshot().len(), PARSED_KEYS_KEPT);
        known.publish(parsed(&[r"HKLM\SOFTWARE\One more"]));
        assert_eq!(known.snapshot().len(), PARSED_KEYS_KEPT);
    }

    #[test]
    fn only_short_well_formed_keys_are_kept_and_every_key_parses_the_same() {
        let mut kept = ParsedKeys::default();
        let short = r"HKLM\SOFTWARE\Short";
        let first = parse_registry_key(&mut kept, short).unwrap();
        assert!(Arc::ptr_eq(
            &first,
            &parse_registry_key(&mut kept, short).unwrap()
        ));

        // Longer than kept, in components of a length the registry accepts.
        let long = format!(
            r"HKLM\SOFTWARE{}",
            r"\component".repeat(KEPT_KEY_BYTES / 10)
        );
        let parsed_long = parse_registry_key(&mut kept, &long).unwrap();
        assert_eq!(*parsed_long, RegistryPath::parse(&long).unwrap());
        assert!(parse_registry_key(&mut kept, r"HKLM\SOFTWARE\..\X").is_err());
        assert_eq!(
            kept.len(),
            1,
            "neither the long nor the malformed key is kept"
        );

        for i in 0..PARSED_KEYS_KEPT + 10 {
            parse_registry_key(&mut kept, &format!(r"HKLM\SOFTWARE\K{i}")).unwrap();
        }
        assert_eq!(kept.len(), PARSED_KEYS_KEPT);
    }
}
