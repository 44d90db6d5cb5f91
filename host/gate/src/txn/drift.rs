//! Drift: values rampart set that something else changed since.
//!
//! The [`Ledger`] remembers every registry value and file a committed run left in place (from
//! the run's journaled changes). Before each pass the enforcer compares the ledger with the
//! device: a value that differs is *drift* — reported with what rampart set, what is there now,
//! and when it was found. The pass then enforces as usual, so the plugin finds the difference and
//! remediates it, and the setting reports `remediated`.
//!
//! The ledger is a JSON file written atomically and durably. It commits with the runs that
//! change it (see [`crate::txn::journal`]): a crash at any point leaves it owning exactly what the
//! registry holds of rampart's writes once recovery ran. A missing ledger starts empty (a new
//! state directory); an unreadable one is refused ([`LedgerError::Corrupt`]), never reset:
//! without it rampart could no longer remove the values it set when their policy goes.
//!
//! The ledger is also what makes rampart *own* its registry values: when a policy revision
//! drops a setting, the enforcer removes the values rampart wrote for it and no remaining
//! setting needs (see `Enforcer::enforce`), and values rampart never wrote are never touched.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rampart_backends::files::FileError;
use rampart_backends::registry::RegistryPath;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::capabilities::Capabilities;
use crate::txn::journal::{Change, JournalValue};

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

/// Why the ledger could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// The file is not a ledger (edited, or damaged on disk).
    #[error(
        "ownership ledger '{}' is unreadable ({message}): rampart cannot tell which values it set, so it refuses to enforce; restore the file from a backup, or move it aside to start a new ledger (values set so far are then no longer removed when their policy goes)",
        path.display()
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The file could not be read.
    #[error("ownership ledger '{}': {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// What rampart set and still owns, keyed by target.
#[derive(Debug, Default, Clone)]
pub struct Ledger {
    path: Option<PathBuf>,
    owned: BTreeMap<String, Owned>,
    footprints: BTreeMap<String, Footprint>,
    /// The file's contents as last read or written: a save that would write the same bytes is
    /// skipped, so a pass that changed nothing costs no write and no fsync.
    on_disk: Option<Vec<u8>>,
    /// Changed since it was loaded or saved: a pass that changed nothing does not even
    /// serialise the ledger to find that out.
    dirty: bool,
}

/// The registry values a plugin writes for a set of settings on a blank registry (see
/// `Enforcer::enforce`), remembered with a fingerprint of what produced them so an unchanged
/// policy does not need the plugin to run twice per pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Footprint {
    /// sha256 over the plugin digest, the device, the plugin's effective grants and the
    /// settings (see [`Footprint::fingerprint`]).
    pub fingerprint: String,
    /// (key, value name), both lower-cased.
    pub values: Vec<(String, String)>,
}

impl Footprint {
    /// The fingerprint of one plugin run's inputs. It hashes the inputs' `Debug` form, which
    /// names every field; a rampart version that prints them differently only causes one
    /// recomputation, never a wrong match.
    pub fn fingerprint(
        digest: &str,
        device: &impl std::fmt::Debug,
        settings: &impl std::fmt::Debug,
    ) -> String {
        /// Feeds formatted text straight into the hash, without building the string.
        struct Hashing(Sha256);
        impl std::fmt::Write for Hashing {
            fn write_str(&mut self, s: &str) -> std::fmt::Result {
                self.0.update(s.as_bytes());
                Ok(())
            }
        }
        let mut hash = Hashing(Sha256::new());
        // Writing into a hash cannot fail.
        let _ = write!(
            hash,
            "{}\0{digest}\0{device:?}\0{settings:?}",
            env!("CARGO_PKG_VERSION")
        );
        format!("{:x}", hash.0.finalize())
    }
}

/// The ledger file: the owned values and the plugins' footprints. Ledgers written before
/// footprints existed are a bare map of owned values and still load.
#[derive(Deserialize)]
struct CurrentLedgerFile {
    owned: BTreeMap<String, Owned>,
    #[serde(default)]
    footprints: BTreeMap<String, Footprint>,
}

/// [`CurrentLedgerFile`] as written, borrowing the ledger.
#[derive(Serialize)]
struct LedgerFileView<'a> {
    owned: &'a BTreeMap<String, Owned>,
    footprints: &'a BTreeMap<String, Footprint>,
}

const REGISTRY: &str = "registry ";
const FILE: &str = "file ";

impl Ledger {
    /// An in-memory ledger.
    pub fn in_memory() -> Self {
        Ledger::default()
    }

    /// The ledger persisted at `path` (loaded now if it exists; empty if it does not).
    ///
    /// # Errors
    ///
    /// [`LedgerError::Corrupt`] when the file is not a ledger, [`LedgerError::Io`] when it
    /// cannot be read.
    pub fn open(path: &Path) -> Result<Self, LedgerError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(LedgerError::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        // The current layout first, directly: an untagged enum would buffer the whole
        // document before trying each variant.
        let parsed = bytes.as_deref().map(|bytes| {
            serde_json::from_slice::<CurrentLedgerFile>(bytes)
                .map(|f| (f.owned, f.footprints))
                .or_else(|current| {
                    serde_json::from_slice::<BTreeMap<String, Owned>>(bytes)
                        .map(|owned| (owned, BTreeMap::new()))
                        .map_err(|_| current)
                })
        });
        let (owned, footprints) = match parsed {
            None => Default::default(),
            Some(Ok(ledger)) => ledger,
            Some(Err(e)) => {
                return Err(LedgerError::Corrupt {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                });
            }
        };
        Ok(Ledger {
            path: Some(path.to_path_buf()),
            owned,
            footprints,
            on_disk: bytes,
            dirty: false,
        })
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
            footprints: self.footprints.clone(),
            on_disk: None,
            dirty: false,
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
                    key: key.to_string(),
                    name: name.to_string(),
                    value: value.clone(),
                })
            })
            .collect()
    }

    /// The bytes `plugin` owns: its registry values (name and data, as a write of them is
    /// counted) and its files' sizes. See [`crate::RunLimits::max_owned_bytes`].
    pub fn owned_bytes(&self, plugin: &str) -> usize {
        self.owned
            .iter()
            .filter(|(_, o)| o.plugin == plugin)
            .map(|(target, o)| match &o.value {
                OwnedValue::Registry { value } => {
                    registry_location(target, o).map_or(0, |(_, name)| name.len())
                        + value.data_len()
                }
                OwnedValue::File { size, .. } => usize::try_from(*size).unwrap_or(usize::MAX),
            })
            .fold(0, usize::saturating_add)
    }

    /// The footprint remembered for `plugin`, if it was computed for `fingerprint`.
    pub fn footprint(&self, plugin: &str, fingerprint: &str) -> Option<&[(String, String)]> {
        self.footprints
            .get(plugin)
            .filter(|f| f.fingerprint == fingerprint)
            .map(|f| f.values.as_slice())
    }

    /// Remembers `plugin`'s footprint (replacing the previous one).
    pub fn remember_footprint(&mut self, plugin: &str, footprint: Footprint) {
        if self.footprints.get(plugin) != Some(&footprint) {
            self.dirty = true;
        }
        self.footprints.insert(plugin.to_string(), footprint);
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
        if self
            .owned
            .remove(&format!("{REGISTRY}{key}\\{name}"))
            .is_some()
        {
            self.dirty = true;
        }
    }

    /// The files `plugin` wrote and still owns.
    pub fn owned_files(&self, plugin: &str) -> Vec<OwnedFile> {
        self.owned
            .iter()
            .filter(|(_, o)| o.plugin == plugin)
            .filter_map(|(target, o)| {
                let OwnedValue::File { sha256, size } = &o.value else {
                    return None;
                };
                let (root, path) = target.strip_prefix(FILE)?.split_once(':')?;
                Some(OwnedFile {
                    root: root.to_string(),
                    path: path.to_string(),
                    sha256: sha256.clone(),
                    size: *size,
                })
            })
            .collect()
    }

    /// Forgets an owned file (it is gone, or something else changed it).
    pub fn release_file(&mut self, root: &str, path: &str) {
        if self.owned.remove(&format!("{FILE}{root}:{path}")).is_some() {
            self.dirty = true;
        }
    }

    /// Compares every owned value with the device.
    pub fn detect(&self, caps: &Capabilities, now: &str) -> Vec<Drift> {
        let mut drift = Vec::new();
        for (target, owned) in &self.owned {
            let found = match &owned.value {
                // Compared as typed values: a pass with no drift formats nothing.
                OwnedValue::Registry { value } => match registry_now(caps, target, owned) {
                    Some(now) if now.as_ref() != Some(value) => {
                        Some(now.map_or("(none)".to_string(), |v| v.to_string()))
                    }
                    _ => None,
                },
                OwnedValue::File { .. } => {
                    file_now(caps, target).filter(|found| *found != describe(&owned.value))
                }
            };
            if let Some(found) = found {
                drift.push(Drift {
                    target: target.clone(),
                    expected: describe(&owned.value),
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
        if changes.is_empty() {
            return;
        }
        self.dirty = true;
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
                self.dirty = true;
            }
        }
    }

    /// Writes the ledger atomically and durably (no-op in memory, and when the file already
    /// holds exactly these contents).
    ///
    /// # Errors
    ///
    /// Fails when the file cannot be written.
    pub fn save(&mut self) -> std::io::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        if !self.dirty && self.on_disk.is_some() {
            return Ok(());
        }
        // Compact: every `rampart apply` parses it, and pretty-printing doubles its size.
        let json = serde_json::to_vec(&LedgerFileView {
            owned: &self.owned,
            footprints: &self.footprints,
        })
        .map_err(std::io::Error::other)?;
        if self.on_disk.as_deref() == Some(json.as_slice()) {
            return Ok(());
        }
        let dir = path.parent().unwrap_or_else(|| Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        std::io::Write::write_all(&mut tmp, &json)?;
        tmp.as_file().sync_all()?;
        tmp.persist(path).map_err(|e| e.error)?;
        // The rename is durable only once the directory is.
        #[cfg(unix)]
        std::fs::File::open(dir)?.sync_all()?;
        self.on_disk = Some(json);
        self.dirty = false;
        Ok(())
    }
}

/// A file a plugin wrote and the ledger still owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedFile {
    /// The file root.
    pub root: String,
    /// The path in the root.
    pub path: String,
    /// `sha256:<hex>` of what rampart wrote; empty until the ledger hashed it.
    sha256: String,
    /// Its size.
    size: u64,
}

impl OwnedFile {
    /// Whether `bytes` are exactly what rampart wrote. `false` while the ledger has not hashed
    /// the file yet: then nothing proves it, and nothing is removed on its strength.
    pub fn holds(&self, bytes: &[u8]) -> bool {
        !self.sha256.is_empty()
            && self.size == bytes.len() as u64
            && self.sha256 == format!("sha256:{:x}", Sha256::digest(bytes))
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
fn registry_location<'a>(target: &'a str, owned: &'a Owned) -> Option<(&'a str, &'a str)> {
    if let (Some(key), Some(name)) = (&owned.registry_key, &owned.registry_name) {
        return Some((key, name));
    }
    target.strip_prefix(REGISTRY)?.rsplit_once('\\')
}

/// The value at a registry target now (`Some(None)`: deleted); `None` when it cannot be read
/// (not drift).
fn registry_now(caps: &Capabilities, target: &str, owned: &Owned) -> Option<Option<JournalValue>> {
    let (key, name) = registry_location(target, owned)?;
    let key = RegistryPath::parse(key).ok()?;
    let value = caps.registry.as_deref()?.get_value(&key, name).ok()?;
    Some(value.as_ref().map(JournalValue::from))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn set(key: &str, name: &str, dword: u32) -> Change {
        Change::RegistryValue {
            key: key.into(),
            name: name.into(),
            before: None,
            after: Some(JournalValue::RegDword(dword)),
        }
    }

    #[test]
    fn footprints_persist_and_match_only_their_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("owned.json");
        let mut ledger = Ledger::open(&path).unwrap();
        ledger.record("p", &[set(r"HKLM\A", "x", 1)], "t");
        let fingerprint = Footprint::fingerprint("sha256:1", &"device", &["s1"]);
        ledger.remember_footprint(
            "p",
            Footprint {
                fingerprint: fingerprint.clone(),
                values: vec![("hklm\\a".into(), "x".into())],
            },
        );
        ledger.save().unwrap();

        let reopened = Ledger::open(&path).unwrap();
        assert_eq!(reopened.len(), 1);
        assert_eq!(
            reopened.footprint("p", &fingerprint),
            Some(&[("hklm\\a".to_string(), "x".to_string())][..])
        );
        // Another plugin digest, device or settings list is another fingerprint.
        for other in [
            Footprint::fingerprint("sha256:2", &"device", &["s1"]),
            Footprint::fingerprint("sha256:1", &"other", &["s1"]),
            Footprint::fingerprint("sha256:1", &"device", &["s1", "s2"]),
        ] {
            assert_ne!(other, fingerprint);
            assert_eq!(reopened.footprint("p", &other), None);
        }
        assert_eq!(reopened.footprint("q", &fingerprint), None);
    }

    #[test]
    fn a_save_that_would_write_the_same_bytes_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("owned.json");
        let mut ledger = Ledger::open(&path).unwrap();
        ledger.record("p", &[set(r"HKLM\A", "x", 1)], "t");
        ledger.save().unwrap();
        // Reopened and saved unchanged: the file is not rewritten (the marker stays).
        let mut reopened = Ledger::open(&path).unwrap();
        let original = std::fs::read(&path).unwrap();
        reopened.save().unwrap();
        let mut marked = original.clone();
        marked.extend_from_slice(b"\n");
        std::fs::write(&path, &marked).unwrap();
        reopened.save().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), marked);
        // A change is written.
        reopened.record("p", &[set(r"HKLM\A", "y", 2)], "t");
        reopened.save().unwrap();
        assert_eq!(Ledger::open(&path).unwrap().len(), 2);
    }

    #[test]
    fn a_corrupt_ledger_is_refused_not_reset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("owned.json");
        let torn = b"{\"owned\": {\"registry HKLM";
        std::fs::write(&path, torn).unwrap();
        let err = Ledger::open(&path).unwrap_err();
        assert!(matches!(err, LedgerError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("refuses to enforce"), "{err}");
        // Left as it was, for the operator.
        assert_eq!(std::fs::read(&path).unwrap(), torn);
        // A missing ledger is a new one.
        assert!(
            Ledger::open(&dir.path().join("none.json"))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_ledger_written_before_footprints_still_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("owned.json");
        let old = serde_json::json!({
            "registry HKLM\\A\\x": {
                "value": { "kind": "registry", "value": { "type": "REG_DWORD", "data": 1 } },
                "plugin": "p",
                "setAt": "t",
                "registryKey": "HKLM\\A",
                "registryName": "x"
            }
        });
        std::fs::write(&path, old.to_string()).unwrap();
        let ledger = Ledger::open(&path).unwrap();
        assert_eq!(ledger.len(), 1);
        assert_eq!(ledger.owned_registry("p")[0].name, "x");
    }
}
