//! A copy-on-write overlay over a [`FileBackend`], for what-if runs: writes and removals are
//! kept in memory and reads see them, while the underlying files never change.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::{DirEntryInfo, FileBackend, FileError};

/// Pending content per (root, path): `Some(bytes)` written, `None` removed.
type Changes = BTreeMap<(String, String), Option<Vec<u8>>>;

/// Reads fall through to `base` unless the overlay changed the file.
#[derive(Debug)]
pub struct OverlayFiles {
    base: Arc<dyn FileBackend>,
    changes: Mutex<Changes>,
}

impl OverlayFiles {
    /// An empty overlay over `base`.
    pub fn new(base: Arc<dyn FileBackend>) -> Self {
        OverlayFiles {
            base,
            changes: Mutex::new(BTreeMap::new()),
        }
    }

    fn changes(&self) -> MutexGuard<'_, Changes> {
        self.changes.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl FileBackend for OverlayFiles {
    fn read(&self, root: &str, rel: &str) -> Result<Vec<u8>, FileError> {
        match self.changes().get(&(root.to_string(), rel.to_string())) {
            Some(Some(bytes)) => Ok(bytes.clone()),
            Some(None) => Err(FileError::NotFound {
                root: root.to_string(),
                path: rel.to_string(),
            }),
            None => self.base.read(root, rel),
        }
    }

    fn write_atomic(&self, root: &str, rel: &str, bytes: &[u8]) -> Result<(), FileError> {
        // Validate the target against the real root (path rules, read-only roots) without
        // writing: listing the parent proves the root and directory exist.
        let parent = rel.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
        self.list(root, parent)?;
        self.changes()
            .insert((root.to_string(), rel.to_string()), Some(bytes.to_vec()));
        Ok(())
    }

    fn remove(&self, root: &str, rel: &str) -> Result<bool, FileError> {
        let existed = match self.read(root, rel) {
            Ok(_) => true,
            Err(FileError::NotFound { .. }) => false,
            Err(e) => return Err(e),
        };
        self.changes()
            .insert((root.to_string(), rel.to_string()), None);
        Ok(existed)
    }

    fn list(&self, root: &str, rel: &str) -> Result<Vec<DirEntryInfo>, FileError> {
        let mut entries: BTreeMap<String, DirEntryInfo> = match self.base.list(root, rel) {
            Ok(list) => list.into_iter().map(|e| (e.name.clone(), e)).collect(),
            Err(FileError::NotFound { .. }) if rel.is_empty() => BTreeMap::new(),
            Err(e) => return Err(e),
        };
        let prefix = if rel.is_empty() {
            String::new()
        } else {
            format!("{rel}/")
        };
        for ((r, path), content) in self.changes().iter() {
            let Some(name) = path.strip_prefix(&prefix) else {
                continue;
            };
            if r != root || name.contains('/') {
                continue;
            }
            match content {
                Some(bytes) => {
                    entries.insert(
                        name.to_string(),
                        DirEntryInfo {
                            name: name.to_string(),
                            is_dir: false,
                            size: bytes.len() as u64,
                        },
                    );
                }
                None => {
                    entries.remove(name);
                }
            }
        }
        Ok(entries.into_values().collect())
    }
}
