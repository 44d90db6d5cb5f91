//! `rampart:plugin/files` for a sandboxed plugin.

use crate::sandbox::bindings::files::{DirEntry, Host};

use super::{Answer, RunState, answer};

impl Host for RunState {
    fn read(&mut self, root: String, path: String) -> Answer<Vec<u8>> {
        answer(self.gate.files_read(&root, &path), |b| b)
    }

    fn write(&mut self, root: String, path: String, contents: Vec<u8>) -> Answer<()> {
        answer(self.gate.files_write(&root, &path, &contents), |()| ())
    }

    fn remove(&mut self, root: String, path: String) -> Answer<bool> {
        answer(self.gate.files_remove(&root, &path), |b| b)
    }

    fn list_dir(&mut self, root: String, path: String) -> Answer<Vec<DirEntry>> {
        answer(self.gate.files_list_dir(&root, &path), |entries| {
            entries
                .into_iter()
                .map(|e| DirEntry {
                    name: e.name,
                    is_dir: e.is_dir,
                    size: e.size,
                })
                .collect()
        })
    }
}
