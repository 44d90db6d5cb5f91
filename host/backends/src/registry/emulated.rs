//! A registry emulation with Windows semantics, persistent as `.reg` text.
//!
//! Used wherever the real registry is absent or must not be touched: Linux and macOS hosts,
//! tests, demos and what-if runs. It behaves like the registry where plugins can tell:
//! keys and value names are case-insensitive and keep the case they were first written with,
//! values are typed, listings are sorted, deleting a key deletes its subtree, writing a value
//! creates missing parent keys, and hive roots always exist (and cannot be deleted).
//!
//! Persistence is explicit: [`EmulatedRegistry::open`] loads a `.reg` file and
//! [`EmulatedRegistry::save`] replaces it atomically, so a crash leaves either the old or the
//! new file, never a torn one.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::path::{FOLD_SEP, fold, validate_value_name};
use super::reg_file::{RegEntry, RegFileError, RegKey, decode_reg_bytes, parse_reg, write_reg};
use super::{Hive, RegValue, RegistryBackend, RegistryError, RegistryPath, raw};

/// One key: its display name, its values keyed by folded name, and the folded names of its
/// direct subkeys (sorted, so listings and exports come out in registry order).
#[derive(Debug, Default, Clone)]
struct Node {
    /// The name as first written (empty for a hive root).
    name: String,
    /// Folded value name → (name as first written, value).
    values: BTreeMap<String, (String, RegValue)>,
    /// Folded names of the direct subkeys.
    children: BTreeSet<String>,
}

/// The keys of one hive by folded path (the key's folded components joined by the path
/// separator; the hive root is the empty path). A lookup hashes the path once instead of
/// walking from the root component by component, which would be most of the cost of a read.
type HiveKeys = foldhash::HashMap<String, Node>;

/// The folded path of `child` under the key whose folded path is `parent`.
fn child_path(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_owned()
    } else {
        let mut path = String::with_capacity(parent.len() + 1 + child.len());
        path.push_str(parent);
        path.push(FOLD_SEP);
        path.push_str(child);
        path
    }
}

/// Appends the key at folded path `folded` (shown as `path`) if it is worth a section, then its
/// subtree, in sorted order.
fn collect(keys: &HiveKeys, folded: &str, path: &RegistryPath, out: &mut Vec<RegKey>) {
    let Some(node) = keys.get(folded) else {
        return;
    };
    // Hive roots always exist, so they only need a section when they hold values.
    if !path.is_hive_root() || !node.values.is_empty() {
        out.push(RegKey {
            path: path.clone(),
            values: node.values.values().cloned().collect(),
        });
    }
    for child in &node.children {
        let child_folded = child_path(folded, child);
        let Some(child_node) = keys.get(&child_folded) else {
            continue;
        };
        // Children were validated when created, so join cannot fail; skip defensively.
        if let Ok(child_path) = path.join(&child_node.name) {
            collect(keys, &child_folded, &child_path, out);
        }
    }
}

/// The whole registry: the keys of each hive (absent means empty).
#[derive(Debug, Default, Clone)]
struct Tree {
    hives: BTreeMap<Hive, HiveKeys>,
}

impl Tree {
    fn get(&self, key: &RegistryPath) -> Option<&Node> {
        self.hives.get(&key.hive())?.get(key.folded_path())
    }

    fn get_mut(&mut self, key: &RegistryPath) -> Option<&mut Node> {
        self.hives.get_mut(&key.hive())?.get_mut(key.folded_path())
    }

    /// Whether `key` exists; hive roots always do.
    fn exists(&self, key: &RegistryPath) -> bool {
        key.is_hive_root() || self.get(key).is_some()
    }

    /// The number of keys, hive roots left out.
    fn count_keys(&self) -> usize {
        self.hives
            .values()
            .map(|keys| keys.keys().filter(|k| !k.is_empty()).count())
            .sum()
    }

    /// Creates `key` with its missing parents; returns how many keys were created (none when
    /// it exists, the common case, which neither allocates nor hashes twice).
    fn create(&mut self, key: &RegistryPath) -> usize {
        let keys = self.hives.entry(key.hive()).or_default();
        if keys.contains_key(key.folded_path()) {
            return 0;
        }
        keys.entry(String::new()).or_default();
        let mut created = 0;
        let mut parent = "";
        // The prefixes end with the key's own path, so the key exists afterwards.
        for ((path, folded), name) in key
            .folded_prefixes()
            .zip(key.folded_components())
            .zip(key.components())
        {
            if !keys.contains_key(path) {
                keys.insert(
                    path.to_owned(),
                    Node {
                        name: name.clone(),
                        ..Node::default()
                    },
                );
                if let Some(parent) = keys.get_mut(parent) {
                    parent.children.insert(folded.to_owned());
                }
                created += 1;
            }
            parent = path;
        }
        created
    }

    /// Removes a key and its subtree; hive roots are refused by callers.
    fn remove(&mut self, key: &RegistryPath) -> bool {
        if key.is_hive_root() {
            return false;
        }
        let Some(keys) = self.hives.get_mut(&key.hive()) else {
            return false;
        };
        let folded = key.folded_path();
        let Some(node) = keys.remove(folded) else {
            return false;
        };
        let (parent, last) = folded.rsplit_once(FOLD_SEP).unwrap_or(("", folded));
        if let Some(parent) = keys.get_mut(parent) {
            parent.children.remove(last);
        }
        let mut doomed: Vec<String> = node
            .children
            .iter()
            .map(|child| child_path(folded, child))
            .collect();
        while let Some(path) = doomed.pop() {
            if let Some(node) = keys.remove(&path) {
                doomed.extend(node.children.iter().map(|child| child_path(&path, child)));
            }
        }
        true
    }

    fn set(&mut self, key: &RegistryPath, name: &str, value: RegValue) -> usize {
        let created = self.create(key);
        let node = self.get_mut(key);
        debug_assert!(node.is_some(), "create made the key");
        if let Some(node) = node {
            match node.values.entry(fold(name)) {
                // Windows keeps the case a value name was first written with.
                Entry::Occupied(mut slot) => slot.get_mut().1 = value,
                Entry::Vacant(slot) => {
                    slot.insert((name.to_owned(), value));
                }
            }
        }
        created
    }

    fn delete_value(&mut self, key: &RegistryPath, name: &str) -> bool {
        match self.get_mut(key) {
            Some(node) => node.values.remove(&fold(name)).is_some(),
            None => false,
        }
    }

    /// The display names of a key's direct subkeys, sorted case-insensitively.
    fn subkey_names(&self, key: &RegistryPath) -> Option<Vec<String>> {
        let keys = self.hives.get(&key.hive())?;
        let folded = key.folded_path();
        let node = keys.get(folded)?;
        Some(
            node.children
                .iter()
                .filter_map(|child| keys.get(&child_path(folded, child)))
                .map(|child| child.name.clone())
                .collect(),
        )
    }

    fn collect_under(&self, prefix: &RegistryPath) -> Vec<RegKey> {
        let mut out = Vec::new();
        let Some(keys) = self.hives.get(&prefix.hive()) else {
            return out;
        };
        // Rebuild the prefix from the stored names so the export shows the keys' own case.
        let mut path = RegistryPath::hive_root(prefix.hive());
        for folded in prefix.folded_prefixes() {
            let Some(node) = keys.get(folded) else {
                return out;
            };
            let Ok(joined) = path.join(&node.name) else {
                return out;
            };
            path = joined;
        }
        collect(keys, prefix.folded_path(), &path, &mut out);
        out
    }

    fn collect_all(&self) -> Vec<RegKey> {
        let mut out = Vec::new();
        for (hive, keys) in &self.hives {
            collect(keys, "", &RegistryPath::hive_root(*hive), &mut out);
        }
        out
    }

    /// Applies parsed `.reg` statements (already validated by the parser).
    fn apply(&mut self, entries: Vec<RegEntry>) -> ImportSummary {
        let mut summary = ImportSummary::default();
        for entry in entries {
            match entry {
                RegEntry::CreateKey(key) => summary.keys_created += self.create(&key),
                RegEntry::DeleteKey(key) => summary.keys_deleted += usize::from(self.remove(&key)),
                RegEntry::SetValue { key, name, value } => {
                    summary.keys_created += self.set(&key, &name, value);
                    summary.values_set += 1;
                }
                RegEntry::DeleteValue { key, name } => {
                    summary.values_deleted += usize::from(self.delete_value(&key, &name));
                }
            }
        }
        summary
    }
}

/// What [`EmulatedRegistry::import_reg`] changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Keys that did not exist before, implied parents included.
    pub keys_created: usize,
    /// `[-KEY]` lines whose key existed (each removes a whole subtree).
    pub keys_deleted: usize,
    /// Values written.
    pub values_set: usize,
    /// `"name"=-` lines whose value existed.
    pub values_deleted: usize,
}

/// Distinguishes temporary files of concurrent saves within one process.
static SAVE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// An in-memory registry with Windows semantics, optionally backed by a `.reg` file.
///
/// Cheap reads take a shared lock; a panic while the lock is held cannot corrupt the tree
/// (every mutation is a single map operation), so a poisoned lock is recovered, not propagated.
pub struct EmulatedRegistry {
    tree: RwLock<Tree>,
    /// The `.reg` file `save` writes, if opened from one.
    file: Option<PathBuf>,
    /// Serialises saves so an older snapshot cannot be renamed over a newer one; holds the
    /// [`generation`](Self::generation) the file last matched (`None`: it may not match).
    save_lock: Mutex<Option<u64>>,
    /// Counts write-locked accesses to the tree: a save when it has not moved since the file
    /// last matched the tree is skipped, so a pass that changed nothing writes nothing.
    generation: AtomicU64,
    /// The file as this registry last read or wrote it, to notice a change made by someone
    /// else ([`reload_if_changed`](Self::reload_if_changed)).
    stamp: Mutex<Option<FileStamp>>,
}

/// What identifies one version of a file: size, modification time and (on Unix) inode.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    inode: u64,
}

impl FileStamp {
    fn of(path: &Path) -> Option<FileStamp> {
        let meta = fs::metadata(path).ok()?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&meta);
        #[cfg(not(unix))]
        let inode = 0;
        Some(FileStamp {
            len: meta.len(),
            modified: meta.modified().ok(),
            inode,
        })
    }
}

impl EmulatedRegistry {
    /// An empty registry with no file behind it ([`save`](Self::save) does nothing).
    pub fn new() -> EmulatedRegistry {
        EmulatedRegistry {
            tree: RwLock::default(),
            file: None,
            save_lock: Mutex::new(None),
            generation: AtomicU64::new(0),
            stamp: Mutex::new(None),
        }
    }

    /// A registry persisted in the `.reg` file at `path`: loaded if the file exists (UTF-16LE
    /// or UTF-8), empty otherwise. [`save`](Self::save) writes back to `path`.
    pub fn open(path: &Path) -> Result<EmulatedRegistry, RegFileError> {
        let mut tree = Tree::default();
        // A file that exists holds this tree (though maybe not in `save`'s spelling); a missing
        // one must be written by the first save.
        let mut on_disk = None;
        match fs::read(path) {
            Ok(bytes) => {
                let text = decode_reg_bytes(&bytes)?;
                tree.apply(parse_reg(&text)?);
                on_disk = Some(0);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(RegFileError::Io {
                    path: path.to_owned(),
                    source,
                });
            }
        }
        Ok(EmulatedRegistry {
            tree: RwLock::new(tree),
            file: Some(path.to_owned()),
            save_lock: Mutex::new(on_disk),
            generation: AtomicU64::new(0),
            stamp: Mutex::new(FileStamp::of(path)),
        })
    }

    /// Loads the file again if something else changed it since this registry last read or
    /// wrote it (an operator's edit, another tool): a long-running agent then works on what is
    /// on disk, not on a stale copy. Returns whether it reloaded. A file that is gone or does
    /// not parse is an error, and the registry in memory is left as it was.
    pub fn reload_if_changed(&self) -> Result<bool, RegFileError> {
        let Some(path) = &self.file else {
            return Ok(false);
        };
        let mut on_disk = self
            .save_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut stamp = self.stamp.lock().unwrap_or_else(PoisonError::into_inner);
        let now = FileStamp::of(path);
        if now == *stamp {
            return Ok(false);
        }
        let bytes = fs::read(path).map_err(|source| RegFileError::Io {
            path: path.clone(),
            source,
        })?;
        let mut tree = Tree::default();
        tree.apply(parse_reg(&decode_reg_bytes(&bytes)?)?);
        *self.write() = tree;
        *on_disk = Some(self.generation.load(Ordering::Acquire));
        *stamp = now;
        Ok(true)
    }

    /// The file this registry was opened from.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// Writes the whole registry to its file as `.reg` text (UTF-8, LF): a temporary file in
    /// the same directory is written, synced and renamed over the target, then the directory
    /// is synced (best effort). Does nothing for a registry made with [`new`](Self::new), nor
    /// when nothing was written since the file was loaded or last saved.
    pub fn save(&self) -> Result<(), RegFileError> {
        let Some(path) = &self.file else {
            return Ok(());
        };
        let mut on_disk = self
            .save_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Read before the export: a write racing with this save moves the generation past
        // the one recorded, so the next save writes again.
        let generation = self.generation.load(Ordering::Acquire);
        if *on_disk == Some(generation) {
            return Ok(());
        }
        let text = self.export_reg();
        write_atomically(path, text.as_bytes()).map_err(|source| RegFileError::Io {
            path: path.clone(),
            source,
        })?;
        *on_disk = Some(generation);
        *self.stamp.lock().unwrap_or_else(PoisonError::into_inner) = FileStamp::of(path);
        Ok(())
    }

    /// Merges `.reg` text into the registry: `[KEY]` creates, `[-KEY]` deletes a subtree,
    /// values are set, `"name"=-` deletes. The whole text is parsed before anything changes,
    /// so a file with an error changes nothing.
    pub fn import_reg(&self, text: &str) -> Result<ImportSummary, RegFileError> {
        let entries = parse_reg(text)?;
        Ok(self.write().apply(entries))
    }

    /// [`import_reg`](Self::import_reg) for a file's bytes (UTF-16LE with BOM, or UTF-8).
    pub fn import_reg_bytes(&self, bytes: &[u8]) -> Result<ImportSummary, RegFileError> {
        self.import_reg(&decode_reg_bytes(bytes)?)
    }

    /// The whole registry as `.reg` text (see [`write_reg`](super::write_reg)). Hive roots
    /// appear only when they hold values; empty keys appear as sections without values.
    pub fn export_reg(&self) -> String {
        write_reg(&self.snapshot())
    }

    /// `prefix` and its subtree as `.reg` text; just the header if `prefix` does not exist.
    pub fn export_reg_under(&self, prefix: &RegistryPath) -> String {
        write_reg(&self.read().collect_under(prefix))
    }

    /// Every key with its values, sorted like an export (for comparisons and drift checks).
    pub fn snapshot(&self) -> Vec<RegKey> {
        self.read().collect_all()
    }

    /// Whether a key exists (hive roots always do).
    pub fn contains_key(&self, key: &RegistryPath) -> bool {
        self.read().exists(key)
    }

    fn read(&self) -> RwLockReadGuard<'_, Tree> {
        self.tree.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The tree for a change; every caller may change it, so the generation moves.
    fn write(&self) -> RwLockWriteGuard<'_, Tree> {
        let tree = self.tree.write().unwrap_or_else(PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::AcqRel);
        tree
    }
}

impl Default for EmulatedRegistry {
    fn default() -> Self {
        EmulatedRegistry::new()
    }
}

impl fmt::Debug for EmulatedRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = self.read().count_keys();
        f.debug_struct("EmulatedRegistry")
            .field("file", &self.file)
            .field("keys", &keys)
            .finish()
    }
}

/// Replaces `path` with `bytes` so readers see the old or the new file, never a torn one.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let file_name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut tmp_name = file_name.to_owned();
    tmp_name.push(format!(
        ".rampart-tmp-{}-{}",
        std::process::id(),
        SAVE_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let tmp = dir.join(tmp_name);
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    // Make the rename itself durable; directories cannot be opened for sync on every platform.
    if let Ok(dir) = fs::File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Calls `f` with `name` folded, without allocating for the usual short ASCII names (this is
/// on the path of every registry read).
fn with_folded<T>(name: &str, f: impl FnOnce(&str) -> T) -> T {
    const INLINE: usize = 128;
    if name.len() <= INLINE && name.is_ascii() {
        let mut buffer = [0u8; INLINE];
        let folded = &mut buffer[..name.len()];
        folded.copy_from_slice(name.as_bytes());
        folded.make_ascii_uppercase();
        // ASCII in, ASCII out: always valid UTF-8 (were it not, the slow path below is right).
        if let Ok(folded) = std::str::from_utf8(folded) {
            return f(folded);
        }
    }
    f(&fold(name))
}

fn invalid_name(name: &str) -> impl Fn(super::KeyPathError) -> RegistryError + '_ {
    move |e| RegistryError::InvalidArgument(format!("value name {name:?}: {e}"))
}

impl RegistryBackend for EmulatedRegistry {
    fn get_value(&self, key: &RegistryPath, name: &str) -> Result<Option<RegValue>, RegistryError> {
        validate_value_name(name).map_err(invalid_name(name))?;
        let tree = self.read();
        Ok(tree.get(key).and_then(|node| {
            with_folded(name, |folded| {
                node.values.get(folded).map(|(_, v)| v.clone())
            })
        }))
    }

    fn set_value(
        &self,
        key: &RegistryPath,
        name: &str,
        value: RegValue,
    ) -> Result<(), RegistryError> {
        validate_value_name(name).map_err(invalid_name(name))?;
        if let Some(problem) = raw::value_problem(&value) {
            return Err(RegistryError::InvalidArgument(format!(
                "value {name:?} under '{key}': {problem}"
            )));
        }
        self.write().set(key, name, value);
        Ok(())
    }

    fn delete_value(&self, key: &RegistryPath, name: &str) -> Result<bool, RegistryError> {
        validate_value_name(name).map_err(invalid_name(name))?;
        Ok(self.write().delete_value(key, name))
    }

    fn create_key(&self, key: &RegistryPath) -> Result<(), RegistryError> {
        self.write().create(key);
        Ok(())
    }

    fn delete_key(&self, key: &RegistryPath) -> Result<bool, RegistryError> {
        if key.is_hive_root() {
            return Err(RegistryError::InvalidArgument(format!(
                "refusing to delete hive root '{key}'"
            )));
        }
        Ok(self.write().remove(key))
    }

    fn list_values(&self, key: &RegistryPath) -> Result<Vec<(String, RegValue)>, RegistryError> {
        let tree = self.read();
        match tree.get(key) {
            Some(node) => Ok(node.values.values().cloned().collect()),
            None if key.is_hive_root() => Ok(Vec::new()),
            None => Err(RegistryError::KeyNotFound(key.to_string())),
        }
    }

    fn key_exists(&self, key: &RegistryPath) -> Result<bool, RegistryError> {
        Ok(self.contains_key(key))
    }

    fn list_subkeys(&self, key: &RegistryPath) -> Result<Vec<String>, RegistryError> {
        match self.read().subkey_names(key) {
            Some(names) => Ok(names),
            None if key.is_hive_root() => Ok(Vec::new()),
            None => Err(RegistryError::KeyNotFound(key.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> RegistryPath {
        RegistryPath::parse(s).unwrap()
    }

    #[test]
    fn a_file_changed_by_someone_else_is_reloaded_and_an_unchanged_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.reg");
        let reg = EmulatedRegistry::open(&path).unwrap();
        reg.set_value(&p(r"HKLM\A"), "v", RegValue::Dword(1))
            .unwrap();
        reg.save().unwrap();
        assert!(
            !reg.reload_if_changed().unwrap(),
            "its own save is no change"
        );
        let other = EmulatedRegistry::open(&path).unwrap();
        other
            .set_value(&p(r"HKLM\A"), "v", RegValue::Dword(2))
            .unwrap();
        other.save().unwrap();
        assert!(reg.reload_if_changed().unwrap());
        assert_eq!(
            reg.get_value(&p(r"HKLM\A"), "v").unwrap(),
            Some(RegValue::Dword(2))
        );
        // A file that no longer parses is an error; the registry keeps what it held.
        std::fs::write(&path, "garbage").unwrap();
        assert!(reg.reload_if_changed().is_err());
        assert_eq!(
            reg.get_value(&p(r"HKLM\A"), "v").unwrap(),
            Some(RegValue::Dword(2))
        );
    }

    #[test]
    fn key_exists_through_the_trait_agrees_with_listing() {
        let reg = EmulatedRegistry::new();
        reg.set_value(&p(r"HKLM\A\B"), "v", RegValue::Dword(1))
            .unwrap();
        let backend: &dyn RegistryBackend = &reg;
        for (key, exists) in [
            (r"HKLM", true),
            (r"HKLM\A", true),
            (r"hklm\a\b", true),
            (r"HKLM\A\B\C", false),
            (r"HKCU\A", false),
        ] {
            assert_eq!(backend.key_exists(&p(key)).unwrap(), exists, "{key}");
            assert_eq!(backend.list_values(&p(key)).is_ok(), exists, "{key}");
        }
    }

    #[test]
    fn case_insensitive_and_case_preserving() {
        let reg = EmulatedRegistry::new();
        let key = p(r"HKLM\SOFTWARE\Policies\Microsoft\Windows Defender");
        reg.set_value(&key, "DisableAntiSpyware", RegValue::Dword(1))
            .unwrap();
        let other_case = p(r"hkey_local_machine\software\POLICIES\microsoft\WINDOWS DEFENDER");
        assert_eq!(
            reg.get_value(&other_case, "disableantispyware").unwrap(),
            Some(RegValue::Dword(1))
        );
        // Overwriting with another case keeps the first-written name.
        reg.set_value(&other_case, "DISABLEANTISPYWARE", RegValue::Dword(0))
            .unwrap();
        assert_eq!(
            reg.list_values(&key).unwrap(),
            vec![("DisableAntiSpyware".to_owned(), RegValue::Dword(0))]
        );
        assert_eq!(
            reg.list_subkeys(&p(r"HKLM\software\policies")).unwrap(),
            ["Microsoft"]
        );
        assert_eq!(reg.get_value(&key, "missing").unwrap(), None);
        assert_eq!(reg.get_value(&p(r"HKLM\Nope"), "x").unwrap(), None);
    }

    #[test]
    fn set_value_creates_parents_and_listings_are_sorted() {
        let reg = EmulatedRegistry::new();
        let base = p(r"HKCU\Software\Test");
        for name in ["zeta", "Alpha", "beta", "_under"] {
            reg.create_key(&base.join(name).unwrap()).unwrap();
            reg.set_value(&base, name, RegValue::Sz(name.into()))
                .unwrap();
        }
        reg.set_value(&base, "", RegValue::Sz("default".into()))
            .unwrap();
        assert!(reg.contains_key(&p(r"HKCU\Software")));
        let values: Vec<String> = reg
            .list_values(&base)
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(values, ["", "Alpha", "beta", "zeta", "_under"]);
        assert_eq!(
            reg.list_subkeys(&base).unwrap(),
            ["Alpha", "beta", "zeta", "_under"]
        );
        assert!(matches!(
            reg.list_subkeys(&p(r"HKCU\Nope")),
            Err(RegistryError::KeyNotFound(_))
        ));
        assert!(matches!(
            reg.list_values(&p(r"HKCU\Nope")),
            Err(RegistryError::KeyNotFound(_))
        ));
        // Hive roots always exist.
        assert_eq!(reg.list_subkeys(&p("HKCC")).unwrap(), Vec::<String>::new());
        assert_eq!(reg.list_subkeys(&p("HKCU")).unwrap(), ["Software"]);
    }

    #[test]
    fn delete_key_removes_subtree_and_values() {
        let reg = EmulatedRegistry::new();
        reg.set_value(&p(r"HKLM\A\B\C"), "v", RegValue::Dword(1))
            .unwrap();
        reg.set_value(&p(r"HKLM\A\B"), "w", RegValue::Dword(2))
            .unwrap();
        reg.set_value(&p(r"HKLM\A\BB"), "x", RegValue::Dword(3))
            .unwrap();
        assert!(reg.delete_key(&p(r"hklm\a\b")).unwrap());
        assert!(!reg.contains_key(&p(r"HKLM\A\B")));
        assert!(!reg.contains_key(&p(r"HKLM\A\B\C")));
        assert_eq!(reg.get_value(&p(r"HKLM\A\B\C"), "v").unwrap(), None);
        assert_eq!(
            reg.get_value(&p(r"HKLM\A\BB"), "x").unwrap(),
            Some(RegValue::Dword(3))
        );
        assert!(!reg.delete_key(&p(r"HKLM\A\B")).unwrap());
        assert!(!reg.delete_key(&p(r"HKU\Nope\Deeper")).unwrap());
        assert!(matches!(
            reg.delete_key(&p("HKLM")),
            Err(RegistryError::InvalidArgument(_))
        ));
        // Recreating a deleted key starts empty.
        reg.create_key(&p(r"HKLM\A\B")).unwrap();
        assert_eq!(reg.list_values(&p(r"HKLM\A\B")).unwrap(), vec![]);
    }

    #[test]
    fn delete_value_and_invalid_arguments() {
        let reg = EmulatedRegistry::new();
        let key = p(r"HKLM\K");
        reg.set_value(&key, "Name", RegValue::Qword(5)).unwrap();
        assert!(reg.delete_value(&key, "NAME").unwrap());
        assert!(!reg.delete_value(&key, "name").unwrap());
        assert!(!reg.delete_value(&p(r"HKLM\Missing"), "name").unwrap());
        assert!(matches!(
            reg.set_value(&key, "a\0b", RegValue::Dword(1)),
            Err(RegistryError::InvalidArgument(_))
        ));
        assert!(matches!(
            reg.get_value(&key, "a\0b"),
            Err(RegistryError::InvalidArgument(_))
        ));
        assert!(matches!(
            reg.set_value(&key, "s", RegValue::Sz("nul\0".into())),
            Err(RegistryError::InvalidArgument(_))
        ));
        assert!(matches!(
            reg.set_value(
                &key,
                "m",
                RegValue::MultiSz(vec!["a".into(), String::new()])
            ),
            Err(RegistryError::InvalidArgument(_))
        ));
        // Rejected writes create nothing.
        assert!(!reg.contains_key(&p(r"HKLM\K\s")));
        assert_eq!(reg.list_values(&key).unwrap(), vec![]);
    }

    #[test]
    fn import_and_export() {
        let reg = EmulatedRegistry::new();
        reg.set_value(&p(r"HKLM\Old\Sub"), "x", RegValue::Dword(1))
            .unwrap();
        reg.set_value(&p(r"HKLM\Keep"), "gone", RegValue::Dword(1))
            .unwrap();
        let summary = reg
            .import_reg(
                "Windows Registry Editor Version 5.00\n\n[-HKEY_LOCAL_MACHINE\\Old]\n\n\
                 [HKEY_LOCAL_MACHINE\\Keep]\n\"gone\"=-\n\"new\"=\"v\"\n\n[HKLM\\A\\B\\C]\n",
            )
            .unwrap();
        assert_eq!(
            summary,
            ImportSummary {
                keys_created: 3,
                keys_deleted: 1,
                values_set: 1,
                values_deleted: 1
            }
        );
        assert!(!reg.contains_key(&p(r"HKLM\Old")));
        assert_eq!(
            reg.export_reg(),
            "Windows Registry Editor Version 5.00\n\n\
             [HKEY_LOCAL_MACHINE\\A]\n\n\
             [HKEY_LOCAL_MACHINE\\A\\B]\n\n\
             [HKEY_LOCAL_MACHINE\\A\\B\\C]\n\n\
             [HKEY_LOCAL_MACHINE\\Keep]\n\"new\"=\"v\"\n\n"
        );
        assert_eq!(
            reg.export_reg_under(&p(r"hklm\a\b")),
            "Windows Registry Editor Version 5.00\n\n\
             [HKEY_LOCAL_MACHINE\\A\\B]\n\n\
             [HKEY_LOCAL_MACHINE\\A\\B\\C]\n\n"
        );
        assert_eq!(
            reg.export_reg_under(&p(r"HKLM\Nope")),
            "Windows Registry Editor Version 5.00\n\n"
        );
        // A bad file changes nothing, even if its first lines are fine.
        let before = reg.export_reg();
        let bad = "Windows Registry Editor Version 5.00\n[-HKLM\\A]\n[HKLM\\B]\n\"x\"=hex(0):\n";
        assert!(matches!(
            reg.import_reg(bad),
            Err(RegFileError::UnsupportedType { line: 4, .. })
        ));
        assert_eq!(reg.export_reg(), before);
    }

    #[test]
    fn export_import_round_trip() {
        let reg = EmulatedRegistry::new();
        let key = p(r"HKCU\Software\Round Trip\Ü");
        let values = [
            ("", RegValue::Sz("d".into())),
            ("dw", RegValue::Dword(31)),
            ("qw", RegValue::Qword(u64::MAX)),
            ("sz \"quoted\" \\", RegValue::Sz(String::new())),
            ("exp", RegValue::ExpandSz("%PATH%".into())),
            ("multi", RegValue::MultiSz(vec!["x".into(), "ÿ".into()])),
            ("empty multi", RegValue::MultiSz(vec![])),
            ("bin", RegValue::Binary(vec![7; 100])),
        ];
        for (name, value) in values {
            reg.set_value(&key, name, value).unwrap();
        }
        reg.create_key(&p(r"HKU\S-1-5-18\Empty")).unwrap();
        let copy = EmulatedRegistry::new();
        copy.import_reg(&reg.export_reg()).unwrap();
        assert_eq!(copy.snapshot(), reg.snapshot());
        assert_eq!(copy.export_reg(), reg.export_reg());
    }

    #[test]
    fn persistence() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("registry.reg");
        let reg = EmulatedRegistry::open(&file).unwrap();
        assert_eq!(reg.snapshot(), vec![]);
        let key = p(r"HKLM\SOFTWARE\Policies\Microsoft\Windows Defender\Real-Time Protection");
        reg.set_value(&key, "DisableRealtimeMonitoring", RegValue::Dword(1))
            .unwrap();
        reg.save().unwrap();
        // Only the target remains: no temporary files.
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["registry.reg"]);
        // The file is a valid .reg that regedit-style parsing accepts.
        let text = fs::read_to_string(&file).unwrap();
        assert!(text.starts_with("Windows Registry Editor Version 5.00\n"));
        // Five key sections (regedit also lists every intermediate key) and the value.
        assert_eq!(parse_reg(&text).unwrap().len(), 6);
        let reopened = EmulatedRegistry::open(&file).unwrap();
        assert_eq!(
            reopened
                .get_value(&key, "disablerealtimemonitoring")
                .unwrap(),
            Some(RegValue::Dword(1))
        );
        // Saving again replaces the file.
        reopened.delete_key(&p(r"HKLM\SOFTWARE")).unwrap();
        reopened.save().unwrap();
        assert_eq!(EmulatedRegistry::open(&file).unwrap().snapshot(), vec![]);
        // A UTF-16LE file written by regedit loads too.
        let utf16 = super::super::reg_file::encode_reg_utf16(&reg.export_reg());
        fs::write(&file, utf16).unwrap();
        assert_eq!(
            EmulatedRegistry::open(&file).unwrap().snapshot(),
            reg.snapshot()
        );
        // new() has nowhere to save.
        EmulatedRegistry::new().save().unwrap();
        // A corrupt file is an error, not an empty registry.
        fs::write(&file, "not a reg file").unwrap();
        assert!(matches!(
            EmulatedRegistry::open(&file),
            Err(RegFileError::MissingHeader { .. })
        ));
        // A save to a missing directory fails cleanly.
        let lost = EmulatedRegistry::open(&dir.path().join("missing").join("r.reg")).unwrap();
        assert!(matches!(lost.save(), Err(RegFileError::Io { .. })));
    }

    #[test]
    fn save_writes_only_what_changed_since_the_file_last_matched() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("r.reg");
        // A registry opened from a missing file creates it on the first save.
        let reg = EmulatedRegistry::open(&file).unwrap();
        reg.save().unwrap();
        assert!(file.exists());
        reg.set_value(&p(r"HKLM\A"), "x", RegValue::Dword(1))
            .unwrap();
        reg.save().unwrap();
        let saved = fs::read_to_string(&file).unwrap();
        assert!(saved.contains(r#""x"=dword:00000001"#), "{saved}");
        // Nothing changed since: the file is left alone (an edit made behind its back stays).
        fs::write(&file, "marker").unwrap();
        reg.save().unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "marker");
        // Reads do not count as changes; a write does.
        reg.get_value(&p(r"HKLM\A"), "x").unwrap();
        reg.save().unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "marker");
        reg.delete_value(&p(r"HKLM\A"), "x").unwrap();
        reg.save().unwrap();
        assert!(!fs::read_to_string(&file).unwrap().contains("marker"));
        // Freshly opened from an existing file: nothing to save until something changes.
        fs::write(&file, "Windows Registry Editor Version 5.00\n\n[HKEY_LOCAL_MACHINE\\B]\n\"y\"=dword:00000002\n").unwrap();
        let reopened = EmulatedRegistry::open(&file).unwrap();
        fs::write(&file, "marker").unwrap();
        reopened.save().unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "marker");
        reopened
            .set_value(&p(r"HKLM\B"), "z", RegValue::Dword(3))
            .unwrap();
        reopened.save().unwrap();
        let text = fs::read_to_string(&file).unwrap();
        assert!(
            text.contains(r#""y"=dword:00000002"#) && text.contains(r#""z"=dword:00000003"#),
            "{text}"
        );
    }

    #[test]
    fn survives_a_poisoned_lock() {
        let reg = std::sync::Arc::new(EmulatedRegistry::new());
        let clone = reg.clone();
        let _ = std::thread::spawn(move || {
            let _guard = clone.tree.write().unwrap();
            panic!("poison the lock");
        })
        .join();
        assert!(reg.tree.is_poisoned());
        reg.set_value(&p(r"HKLM\A"), "x", RegValue::Dword(1))
            .unwrap();
        assert_eq!(
            reg.get_value(&p(r"HKLM\A"), "x").unwrap(),
            Some(RegValue::Dword(1))
        );
    }

    #[test]
    fn concurrent_use() {
        let reg = std::sync::Arc::new(EmulatedRegistry::new());
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let reg = reg.clone();
                std::thread::spawn(move || {
                    let key = p(&format!(r"HKLM\T\{i}"));
                    for j in 0..100 {
                        reg.set_value(&key, &format!("v{j}"), RegValue::Dword(j))
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(reg.list_subkeys(&p(r"HKLM\T")).unwrap().len(), 8);
        assert_eq!(reg.list_values(&p(r"HKLM\T\7")).unwrap().len(), 100);
    }
}
