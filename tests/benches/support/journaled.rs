//! A registry wrapper that journals every change durably before making it, with the discipline
//! of the runtime's `Journal::durable` (one file per run, an fsync'd header and an fsync'd
//! record per change, the directory synced, the file removed at commit). The native baseline
//! of the end-to-end benchmark runs the plugin through `rampart_sdk::native`, which has no
//! journal of its own; wrapping its registry keeps the two passes doing the same durable work.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rampart_backends::registry::{RegValue, RegistryBackend, RegistryError, RegistryPath};
use rampart_runtime::journal::{Change, JournalValue};

/// Journals writes to `inner` in a run file under a directory.
#[derive(Debug)]
pub(crate) struct JournaledRegistry {
    inner: Arc<dyn RegistryBackend>,
    file: Mutex<File>,
    path: PathBuf,
    changes: Mutex<Vec<Change>>,
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

impl JournaledRegistry {
    /// Starts a run journal in `dir` (created if missing).
    pub(crate) fn start(
        inner: Arc<dyn RegistryBackend>,
        dir: &Path,
        plugin: &str,
    ) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("run-native.jsonl");
        let mut file = std::fs::OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)?;
        writeln!(file, "{}", serde_json::json!({ "plugin": plugin }))?;
        file.sync_data()?;
        sync_dir(dir);
        Ok(JournaledRegistry {
            inner,
            file: Mutex::new(file),
            path,
            changes: Mutex::new(Vec::new()),
        })
    }

    /// The run finished: deletes the journal file and returns the changes.
    pub(crate) fn commit(&self) -> Vec<Change> {
        let _ = std::fs::remove_file(&self.path);
        std::mem::take(&mut *self.changes.lock().unwrap())
    }

    fn record(&self, change: Change) -> Result<(), RegistryError> {
        let line =
            serde_json::to_string(&change).map_err(|e| RegistryError::Backend(e.to_string()))?;
        let mut file = self.file.lock().unwrap();
        file.write_all(line.as_bytes())
            .and_then(|()| file.write_all(b"\n"))
            .and_then(|()| file.sync_data())
            .map_err(|e| RegistryError::Backend(format!("cannot journal the change: {e}")))?;
        self.changes.lock().unwrap().push(change);
        Ok(())
    }

    fn record_value(
        &self,
        key: &RegistryPath,
        name: &str,
        after: Option<&RegValue>,
    ) -> Result<(), RegistryError> {
        let before = self.inner.get_value(key, name)?;
        self.record(Change::RegistryValue {
            key: key.to_string(),
            name: name.to_string(),
            before: before.as_ref().map(JournalValue::from),
            after: after.map(JournalValue::from),
        })
    }
}

impl RegistryBackend for JournaledRegistry {
    fn get_value(&self, key: &RegistryPath, name: &str) -> Result<Option<RegValue>, RegistryError> {
        self.inner.get_value(key, name)
    }

    fn set_value(
        &self,
        key: &RegistryPath,
        name: &str,
        value: RegValue,
    ) -> Result<(), RegistryError> {
        self.record_value(key, name, Some(&value))?;
        self.inner.set_value(key, name, value)
    }

    fn delete_value(&self, key: &RegistryPath, name: &str) -> Result<bool, RegistryError> {
        self.record_value(key, name, None)?;
        self.inner.delete_value(key, name)
    }

    fn create_key(&self, key: &RegistryPath) -> Result<(), RegistryError> {
        self.record(Change::RegistryKeyCreated {
            key: key.to_string(),
        })?;
        self.inner.create_key(key)
    }

    fn delete_key(&self, key: &RegistryPath) -> Result<bool, RegistryError> {
        // The first-party plugins never delete keys; journal it as a creation would be wrong,
        // so refuse rather than make an unjournaled change.
        Err(RegistryError::Backend(format!(
            "the benchmark journal does not record key deletions ({key})"
        )))
    }

    fn list_values(&self, key: &RegistryPath) -> Result<Vec<(String, RegValue)>, RegistryError> {
        self.inner.list_values(key)
    }

    fn list_subkeys(&self, key: &RegistryPath) -> Result<Vec<String>, RegistryError> {
        self.inner.list_subkeys(key)
    }
}
