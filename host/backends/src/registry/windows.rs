//! The real Windows registry, through the `windows-registry` crate.
//!
//! Paths arrive canonical (see [`RegistryPath`]) and are passed to the API relative to their
//! hive's predefined root key. Value data goes through the same raw encoding as the `.reg`
//! format, so the emulation and the real registry store byte-identical data. "Not found" from
//! Windows becomes `Ok(None)`, `Ok(false)` or [`RegistryError::KeyNotFound`] as the trait says;
//! every other failure is [`RegistryError::Backend`] with the Windows error text.
//!
//! The process's own registry view is used (the 64-bit view for a 64-bit host).

use windows_registry::{
    CLASSES_ROOT, CURRENT_CONFIG, CURRENT_USER, Key, LOCAL_MACHINE, Type, USERS,
};

use super::path::{fold, validate_value_name};
use super::{Hive, RegValue, RegistryBackend, RegistryError, RegistryPath, raw};

/// `HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND)`: the key or value does not exist.
const HRESULT_FILE_NOT_FOUND: i32 = 0x8007_0002_u32 as i32;
/// `HRESULT_FROM_WIN32(ERROR_PATH_NOT_FOUND)`.
const HRESULT_PATH_NOT_FOUND: i32 = 0x8007_0003_u32 as i32;

/// The real registry. Stateless: every call opens the keys it needs and closes them, so the
/// backend is trivially shareable between concurrent runs.
#[derive(Debug, Default, Clone, Copy)]
pub struct WindowsRegistry {
    _private: (),
}

impl WindowsRegistry {
    /// The real registry of this machine.
    pub fn new() -> WindowsRegistry {
        WindowsRegistry { _private: () }
    }
}

fn root(hive: Hive) -> &'static Key {
    match hive {
        Hive::LocalMachine => LOCAL_MACHINE,
        Hive::CurrentUser => CURRENT_USER,
        Hive::ClassesRoot => CLASSES_ROOT,
        Hive::Users => USERS,
        Hive::CurrentConfig => CURRENT_CONFIG,
    }
}

fn is_not_found(hresult: i32) -> bool {
    matches!(hresult, HRESULT_FILE_NOT_FOUND | HRESULT_PATH_NOT_FOUND)
}

/// Splits a Windows result into `Ok(Some)`, "not found" as `Ok(None)`, or a backend error.
fn found<T>(
    result: windows_registry::Result<T>,
    what: impl FnOnce() -> String,
) -> Result<Option<T>, RegistryError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(e) if is_not_found(e.code().0) => Ok(None),
        Err(e) => Err(RegistryError::Backend(format!("{}: {e}", what()))),
    }
}

fn backend(what: String, e: impl std::fmt::Display) -> RegistryError {
    RegistryError::Backend(format!("{what}: {e}"))
}

fn check_name(name: &str) -> Result<(), RegistryError> {
    validate_value_name(name)
        .map_err(|e| RegistryError::InvalidArgument(format!("value name {name:?}: {e}")))
}

/// Opens `key` for reading; `None` if it does not exist.
fn open_read(key: &RegistryPath) -> Result<Option<Key>, RegistryError> {
    found(root(key.hive()).open(key.subkey_path()), || {
        format!("cannot open '{key}'")
    })
}

impl RegistryBackend for WindowsRegistry {
    fn get_value(&self, key: &RegistryPath, name: &str) -> Result<Option<RegValue>, RegistryError> {
        check_name(name)?;
        let Some(handle) = open_read(key)? else {
            return Ok(None);
        };
        let Some(value) = found(handle.get_value(name), || {
            format!("cannot read {name:?} under '{key}'")
        })?
        else {
            return Ok(None);
        };
        raw::from_raw(u32::from(value.ty()), &value)
            .map(Some)
            .map_err(|e| RegistryError::Backend(format!("value {name:?} under '{key}': {e}")))
    }

    fn set_value(
        &self,
        key: &RegistryPath,
        name: &str,
        value: RegValue,
    ) -> Result<(), RegistryError> {
        check_name(name)?;
        if let Some(problem) = raw::value_problem(&value) {
            return Err(RegistryError::InvalidArgument(format!(
                "value {name:?} under '{key}': {problem}"
            )));
        }
        let handle = root(key.hive())
            .create(key.subkey_path())
            .map_err(|e| backend(format!("cannot create '{key}'"), e))?;
        // Raw bytes with the terminators the registry expects (the crate's string setters
        // would do the same; one path keeps the emulation and Windows byte-identical).
        let data = raw::to_raw(&value);
        handle
            .set_bytes(name, Type::from(raw::type_code(&value)), &data)
            .map_err(|e| backend(format!("cannot write {name:?} under '{key}'"), e))
    }

    fn delete_value(&self, key: &RegistryPath, name: &str) -> Result<bool, RegistryError> {
        check_name(name)?;
        let opened = root(key.hive())
            .options()
            .read()
            .write()
            .open(key.subkey_path());
        let Some(handle) = found(opened, || format!("cannot open '{key}'"))? else {
            return Ok(false);
        };
        let removed = found(handle.remove_value(name), || {
            format!("cannot delete {name:?} under '{key}'")
        })?;
        Ok(removed.is_some())
    }

    fn create_key(&self, key: &RegistryPath) -> Result<(), RegistryError> {
        root(key.hive())
            .create(key.subkey_path())
            .map(drop)
            .map_err(|e| backend(format!("cannot create '{key}'"), e))
    }

    fn delete_key(&self, key: &RegistryPath) -> Result<bool, RegistryError> {
        // RegDeleteTreeW with an empty subkey would empty the whole hive.
        if key.is_hive_root() {
            return Err(RegistryError::InvalidArgument(format!(
                "refusing to delete hive root '{key}'"
            )));
        }
        if open_read(key)?.is_none() {
            return Ok(false);
        }
        let removed = found(root(key.hive()).remove_tree(key.subkey_path()), || {
            format!("cannot delete '{key}'")
        })?;
        Ok(removed.is_some())
    }

    fn list_values(&self, key: &RegistryPath) -> Result<Vec<(String, RegValue)>, RegistryError> {
        let handle = open_read(key)?.ok_or_else(|| RegistryError::KeyNotFound(key.to_string()))?;
        let iter = handle
            .values()
            .map_err(|e| backend(format!("cannot list values of '{key}'"), e))?;
        let mut values = Vec::new();
        for (name, value) in iter {
            match raw::from_raw(u32::from(value.ty()), &value) {
                Ok(decoded) => values.push((name, decoded)),
                // One value of a type rampart does not model (REG_NONE, REG_LINK, ...) should
                // not hide the others; it is skipped and logged.
                Err(e) => {
                    tracing::debug!(key = %key, name = %name, error = %e, "skipping registry value")
                }
            }
        }
        values.sort_by_cached_key(|(name, _)| fold(name));
        Ok(values)
    }

    fn key_exists(&self, key: &RegistryPath) -> Result<bool, RegistryError> {
        Ok(key.is_hive_root() || open_read(key)?.is_some())
    }

    fn list_subkeys(&self, key: &RegistryPath) -> Result<Vec<String>, RegistryError> {
        let handle = open_read(key)?.ok_or_else(|| RegistryError::KeyNotFound(key.to_string()))?;
        let mut names: Vec<String> = handle
            .keys()
            .map_err(|e| backend(format!("cannot list subkeys of '{key}'"), e))?
            .collect();
        names.sort_by_cached_key(|name| fold(name));
        Ok(names)
    }
}

/// These run on Windows or under Wine against a scratch key in HKCU, removed afterwards.
#[cfg(test)]
mod tests {
    use super::*;

    struct Scratch(RegistryPath);

    impl Scratch {
        fn new(tag: &str) -> Scratch {
            let path = RegistryPath::parse(&format!(
                r"HKCU\Software\rampart-test-{}-{tag}",
                std::process::id()
            ))
            .unwrap();
            Scratch(path)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = WindowsRegistry::new().delete_key(&self.0);
        }
    }

    #[test]
    fn values_round_trip_with_windows_semantics() {
        let reg = WindowsRegistry::new();
        let scratch = Scratch::new("values");
        let key = scratch.0.join("Sub").unwrap();
        let values = [
            ("", RegValue::Sz("default".into())),
            ("dw", RegValue::Dword(0x1f)),
            ("qw", RegValue::Qword(u64::MAX)),
            ("sz", RegValue::Sz("ünï 😀".into())),
            ("empty", RegValue::Sz(String::new())),
            ("exp", RegValue::ExpandSz("%TEMP%".into())),
            ("multi", RegValue::MultiSz(vec!["a".into(), "bc".into()])),
            ("nomulti", RegValue::MultiSz(vec![])),
            ("bin", RegValue::Binary(vec![0, 1, 2, 255])),
        ];
        for (name, value) in &values {
            reg.set_value(&key, name, value.clone()).unwrap();
        }
        for (name, value) in &values {
            let upper = name.to_uppercase();
            assert_eq!(
                reg.get_value(&key, &upper).unwrap().as_ref(),
                Some(value),
                "{name}"
            );
        }
        let listed: Vec<String> = reg
            .list_values(&key)
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(
            listed,
            [
                "", "bin", "dw", "empty", "exp", "multi", "nomulti", "qw", "sz"
            ]
        );
        assert!(reg.delete_value(&key, "DW").unwrap());
        assert!(!reg.delete_value(&key, "dw").unwrap());
        assert_eq!(reg.get_value(&key, "dw").unwrap(), None);
        assert_eq!(
            reg.get_value(&scratch.0.join("Missing").unwrap(), "x")
                .unwrap(),
            None
        );
        assert!(
            !reg.delete_value(&scratch.0.join("Missing").unwrap(), "x")
                .unwrap()
        );
    }

    #[test]
    fn keys_and_subtrees() {
        let reg = WindowsRegistry::new();
        let scratch = Scratch::new("keys");
        for name in ["zeta", "Alpha", "beta"] {
            reg.create_key(&scratch.0.join(name).unwrap().join("Deep").unwrap())
                .unwrap();
        }
        assert_eq!(
            reg.list_subkeys(&scratch.0).unwrap(),
            ["Alpha", "beta", "zeta"]
        );
        assert!(reg.delete_key(&scratch.0.join("ALPHA").unwrap()).unwrap());
        assert!(!reg.delete_key(&scratch.0.join("Alpha").unwrap()).unwrap());
        assert_eq!(reg.list_subkeys(&scratch.0).unwrap(), ["beta", "zeta"]);
        let missing = scratch.0.join("Missing").unwrap();
        assert!(matches!(
            reg.list_subkeys(&missing),
            Err(RegistryError::KeyNotFound(_))
        ));
        assert!(matches!(
            reg.list_values(&missing),
            Err(RegistryError::KeyNotFound(_))
        ));
        assert!(!reg.key_exists(&missing).unwrap());
        assert!(reg.key_exists(&scratch.0.join("BETA").unwrap()).unwrap());
        let root = RegistryPath::hive_root(Hive::CurrentUser);
        assert!(reg.key_exists(&root).unwrap());
        assert!(matches!(
            reg.delete_key(&root),
            Err(RegistryError::InvalidArgument(_))
        ));
    }
}
