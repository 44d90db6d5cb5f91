//! A registry wrapper that journals every change before making it, with the discipline of the
//! runtime's `Journal::durable` (one file per run, created with its header at the first change,
//! the file removed at commit): each record synced before its change when the inner registry
//! persists changes at once, or all records synced once at commit, before the inner registry
//! is flushed, when it writes behind (as `rampart apply` does). The native baseline of the
//! end-to-end benchmark runs the plugin through `rampart_sdk::native`, which has no journal of
//! its own; wrapping its registry keeps the two passes doing the same durable work.

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
    /// The run file, once the first change created it.
    file: Mutex<Option<File>>,
    path: PathBuf,
    changes: Mutex<Vec<Change>>,
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

impl JournaledRegistry {
    /// Starts a run journal in `dir` (created if missing); its file waits for the first change.
    pub(crate) fn start(inner: Arc<dyn RegistryBackend>, dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(JournaledRegistry {
            inner,
            file: Mutex::new(None),
            path: dir.join("run-native.jsonl"),
            changes: Mutex::new(Vec::new()),
        })
    }

    /// The run finished: makes the journal and then the registry durable, deletes the journal
    /// file and returns the changes.
    pub(crate) fn commit(&self) -> Vec<Change> {
        if let Some(file) = self.file.lock().unwrap().take() {
            if self.inner.defers_durability() {
                file.sync_data().expect("sync the journal");
                sync_dir(self.path.parent().unwrap());
            }
            self.inner.flush().expect("flush the registry");
            let _ = std::fs::remove_file(&self.path);
        }
        std::mem::take(&mut *self.changes.lock().unwrap())
    }

    fn record(&self, change: Change) -> Result<(), RegistryError> {
        let line =
            serde_json::to_string(&change).map_err(|e| RegistryError::Backend(e.to_string()))?;
        let sync_each = !self.inner.defers_durability();
        let failed = |e: std::io::Error| RegistryError::Backend(format!("cannot journal: {e}"));
        let mut file = self.file.lock().unwrap();
        if file.is_none() {
            let mut created = std::fs::OpenOptions::new()
                .create_new(true)
                .append(true)
                .open(&self.path)
                .map_err(failed)?;
            writeln!(
                created,
                "{}",
                serde_json::json!({ "plugin": "windows-defender" })
            )
            .map_err(failed)?;
            *file = Some(created);
        }
        let f = file.as_mut().expect("created above");
        f.write_all(line.as_bytes())
            .and_then(|()| f.write_all(b"\n"))
            .map_err(failed)?;
        if sync_each {
            f.sync_data().map_err(failed)?;
            sync_dir(self.path.parent().unwrap());
        }
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

    fn defers_durability(&self) -> bool {
        self.inner.defers_durability()
    }

    fn flush(&self) -> Result<(), RegistryError> {
        self.inner.flush()
    }
}
