//! Drift: values rampart set that something else changed since.
//!
//! The [`Ledger`] remembers every registry value and file a committed run left in place (from
//! the run's journaled changes). Before each pass the enforcer compares the ledger with the
//! device: a value that differs is *drift* — reported with what rampart set, what is there now,
//! and when it was found. The pass then enforces as usual, so the plugin finds the difference and
//! remediates it, and the setting reports `remediated`.
//!
//! The ledger is a JSON file written atomically; a missing or unreadable ledger starts empty
//! (drift detection then resumes from the next pass) rather than stopping enforcement.
//!
//! The ledger is also what makes rampart *own* its registry values: when a policy revision
//! drops a setting, the enforcer removes the values rampart wrote for it and no remaining
//! setting needs (see `Enforcer::enforce`), and values rampart never wrote are never touched.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rampart_backends::files::FileError;
use rampart_backends::registry::RegistryPath;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::capabilities::Capabilities;
use crate::journal::{Change, JournalValue};

/// One value rampart owns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Owned {
    /// What rampart set (registry: the value; file: `sha256:<hex>` of the contents).
    value: OwnedValue,
    /// The plugin whose run set it.
    plugin: String,
    /// When it was set (RFC 3339).
    set_at: String,
    /// Registry values: the key and the value name, kept apart because a value name may
    /// contain backslashes (exclusion paths). Absent in ledgers written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    registry_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    registry_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
enum OwnedValue {
    Registry { value: JournalValue },
    File { sha256: String, size: u64 },
}

/// A value found different from what rampart set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Drift {
    /// `registry <key>\<name>` or `file <root>:<path>`.
    pub target: String,
    /// What rampart set.
    pub expected: String,
    /// What is there now (`(none)` when it was deleted).
    pub found: String,
    /// The plugin that set it.
    pub plugin: String,
    /// When rampart set it.
    pub set_at: String,
    /// When the drift was found.
    pub detected_at: String,
}

/// A registry value rampart set and still owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedRegistryValue {
    /// The key (canonical spelling).
    pub key: String,
    /// The value name.
    pub name: String,
    /// What rampart set.
    pub value: JournalValue,
}

/// What rampart set and still owns, keyed by target.
#[derive(Debug, Default, Clone)]
pub struct Ledger {
    path: Option<PathBuf>,
    owned: BTreeMap<String, Owned>,
}

const REGISTRY: &str = "registry ";
const FILE: &str = "file ";

impl Ledger {
    /// An in-memory ledger.
    pub fn in_memory() -> Self {
        Ledger::default()
    }

    /// The ledger persisted at `path` (loaded now if it exists).
    pub fn open(path: &Path) -> Self {
        let owned = std::fs::read(path)
            .ok()
            .and_then(|bytes| match serde_json::from_slice(&bytes) {
                Ok(owned) => Some(owned),
                Err(e) => {
                    tracing::warn!(ledger = %path.display(), error = %e, "unreadable drift ledger; starting empty");
                    None
                }
            })
            .unwrap_or_default();
        Ledger {
            path: Some(path.to_path_buf()),
            owned,
        }
    }

    /// Number of owned values.
    pub fn len(&self) -> usize {
        self.owned.len()
    }

    /// True when nothing is owned.
    pub fn is_empty(&self) -> bool {
        self.owned.is_empty()
    }

    /// A copy that is never saved (what-if runs plan against it without touching the file).
    pub fn detached(&self) -> Ledger {
        Ledger {
            path: None,
            owned: self.owned.clone(),
        }
    }

    /// The registry values `plugin` set and still owns.
    pub fn owned_registry(&self, plugin: &str) -> Vec<OwnedRegistryValue> {
        self.owned
            .iter()
            .filter(|(_, o)| o.plugin == plugin)
            .filter_map(|(target, o)| {
                let OwnedValue::Registry { value } = &o.value else {
                    return None;
                };
                let (key, name) = registry_location(target, o)?;
                Some(OwnedRegistryValue {
                    key,
                    name,
                    value: value.clone(),
                })
            })
            .collect()
    }

    /// The plugins that own at least one registry value.
    pub fn registry_owners(&self) -> std::collections::BTreeSet<String> {
        self.owned
            .values()
            .filter(|o| matches!(o.value, OwnedValue::Registry { .. }))
            .map(|o| o.plugin.clone())
            .collect()
    }

    /// Gives up ownership of a registry value (something else changed it since rampart set it).
    pub fn release_registry(&mut self, key: &str, name: &str) {
        self.owned.remove(&format!("{REGISTRY}{key}\\{name}"));
    }

    /// Compares every owned value with the device.
    pub fn detect(&self, caps: &Capabilities, now: &str) -> Vec<Drift> {
        let mut drift = Vec::new();
        for (target, owned) in &self.owned {
            let found = match &owned.value {
                OwnedValue::Registry { .. } => registry_now(caps, target, owned),
                OwnedValue::File { .. } => file_now(caps, target),
            };
            let Some(found) = found else { continue };
            let expected = describe(&owned.value);
            if found != expected {
                drift.push(Drift {
                    target: target.clone(),
                    expected,
                    found,
                    plugin: owned.plugin.clone(),
                    set_at: owned.set_at.clone(),
                    detected_at: now.to_string(),
                });
            }
        }
        drift
    }

    /// Takes ownership of what a committed run left in place.
    pub fn record(&mut self, plugin: &str, changes: &[Change], now: &str) {
        for change in changes {
            match change {
                Change::RegistryValue {
                    key, name, after, ..
                } => {
                    let target = format!("{REGISTRY}{key}\\{name}");
                    match after {
                        Some(value) => {
                            self.owned.insert(
                                target,
                                Owned {
                                    value: OwnedValue::Registry {
                                        value: value.clone(),
                                    },
                                    plugin: plugin.to_string(),
                                    set_at: now.to_string(),
                                    registry_key: Some(key.clone()),
                                    registry_name: Some(name.clone()),
                                },
                            );
                        }
                        None => {
                            self.owned.remove(&target);
                        }
                    }
                }
                Change::RegistryKeyDeleted { key, .. } => {
                    let prefix = format!("{REGISTRY}{key}\\");
                    self.owned.retain(|t, _| !t.starts_with(&prefix));
                }
                Change::File {
                    root,
                    path,
                    after_size,
                    ..
                } => {
                    let target = format!("{FILE}{root}:{path}");
                    match after_size {
                        Some(_) => {
                            // The journal keeps the old contents, not the new; hash what is
                            // there now (the run just wrote it).
                            self.owned.insert(
                                target.clone(),
                                Owned {
                                    value: OwnedValue::File {
                                        sha256: String::new(),
                                        size: 0,
                                    },
                                    plugin: plugin.to_string(),
                                    set_at: now.to_string(),
                                    registry_key: None,
                                    registry_name: None,
                                },
                            );
                        }
                        None => {
                            self.owned.remove(&target);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// Fills in file hashes recorded without contents (see [`Ledger::record`]).
    pub fn refresh_files(&mut self, caps: &Capabilities) {
        for (target, owned) in self.owned.iter_mut() {
            if let OwnedValue::File { sha256, size } = &mut owned.value
                && sha256.is_empty()
                && let Some((root, path)) =
                    target.strip_prefix(FILE).and_then(|t| t.split_once(':'))
                && let Some(files) = caps.files.as_deref()
                && let Ok(bytes) = files.read(root, path)
            {
                *sha256 = format!("sha256:{:x}", Sha256::digest(&bytes));
                *size = bytes.len() as u64;
            }
        }
    }

    /// Writes the ledger atomically (no-op in memory).
    ///
    /// # Errors
    ///
    /// Fails when the file cannot be written.
    pub fn save(&self) -> std::io::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let json = serde_json::to_vec_pretty(&self.owned).map_err(std::io::Error::other)?;
        let dir = path.parent().unwrap_or_else(|| Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        std::io::Write::write_all(&mut tmp, &json)?;
        tmp.as_file().sync_all()?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

fn describe(value: &OwnedValue) -> String {
    match value {
        OwnedValue::Registry { value } => value.to_string(),
        OwnedValue::File { sha256, size } => format!("{size} bytes {sha256}"),
    }
}

/// The key and value name of a registry target: as recorded, else split at the last
/// backslash (ledgers written before the two were recorded apart).
fn registry_location(target: &str, owned: &Owned) -> Option<(String, String)> {
    if let (Some(key), Some(name)) = (&owned.registry_key, &owned.registry_name) {
        return Some((key.clone(), name.clone()));
    }
    let (key, name) = target.strip_prefix(REGISTRY)?.rsplit_once('\\')?;
    Some((key.to_owned(), name.to_owned()))
}

/// The value at a registry target now; `None` when it cannot be read (not drift).
fn registry_now(caps: &Capabilities, target: &str, owned: &Owned) -> Option<String> {
    let (key, name) = registry_location(target, owned)?;
    let name = name.as_str();
    let key = RegistryPath::parse(&key).ok()?;
    let value = caps.registry.as_deref()?.get_value(&key, name).ok()?;
    Some(
        value
            .as_ref()
            .map_or("(none)".to_string(), |v| JournalValue::from(v).to_string()),
    )
}

/// The file at a target now; `None` when it cannot be read (not drift).
fn file_now(caps: &Capabilities, target: &str) -> Option<String> {
    let (root, path) = target.strip_prefix(FILE)?.split_once(':')?;
    match caps.files.as_deref()?.read(root, path) {
        Ok(bytes) => Some(format!(
            "{} bytes sha256:{:x}",
            bytes.len(),
            Sha256::digest(&bytes)
        )),
        Err(FileError::NotFound { .. }) => Some("(none)".to_string()),
        Err(_) => None,
    }
}
