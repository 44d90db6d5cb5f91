//! `rampart:plugin/files`: file calls inside the granted roots.
//!
//! The grant is checked on the root's name; the path is validated and resolved by
//! [`rampart_backends::files::FileRoots`], which holds each root as a `cap_std::fs::Dir` handle so
//! `..`, absolute paths and symlinks cannot leave it.

use base64::Engine as _;
use rampart_backends::files::{FileBackend, FileError};

use crate::journal::Change;

use crate::bindings::files::{DirEntry, Host};
use crate::bindings::types::CapabilityError;
use crate::grants::Access;

use super::RunState;

type Answer<T> = wasmtime::Result<Result<T, CapabilityError>>;

impl RunState {
    fn file_root(&self, root: &str, needed: Access) -> Result<&dyn FileBackend, CapabilityError> {
        match self.grants.file_access(root) {
            Some(a) if a >= needed => {}
            Some(_) => {
                return Err(CapabilityError::AccessDenied(format!(
                    "file root '{root}' (read-only grant)"
                )));
            }
            None => return Err(CapabilityError::AccessDenied(format!("file root '{root}'"))),
        }
        self.capabilities
            .files
            .as_deref()
            .ok_or_else(|| CapabilityError::Unavailable("no file roots are configured".into()))
    }
}

fn file_error(e: FileError) -> CapabilityError {
    let message = e.to_string();
    match e {
        FileError::InvalidPath { .. } | FileError::TooLarge { .. } => {
            CapabilityError::InvalidArgument(message)
        }
        FileError::NotFound { .. } => CapabilityError::NotFound(message),
        FileError::Denied { .. } | FileError::ReadOnly { .. } => {
            CapabilityError::AccessDenied(message)
        }
        // The grant named a root the host did not configure.
        FileError::UnknownRoot { .. } => CapabilityError::Unavailable(message),
        _ => CapabilityError::Failed(message),
    }
}

/// New contents shown in plans: short UTF-8 text only.
fn short_text(contents: &[u8]) -> Option<String> {
    const MAX_PLAN_TEXT: usize = 4096;
    if contents.len() > MAX_PLAN_TEXT {
        return None;
    }
    std::str::from_utf8(contents).ok().map(str::to_string)
}

impl Host for RunState {
    fn read(&mut self, root: String, path: String) -> Answer<Vec<u8>> {
        self.count_call()?;
        let r = (|| {
            let roots = self.file_root(&root, Access::Read)?;
            roots.read(&root, &path).map_err(file_error)
        })();
        self.audit("files.read", || format!("{root}/{path}"), false, &r);
        Ok(r)
    }

    fn write(&mut self, root: String, path: String, contents: Vec<u8>) -> Answer<()> {
        self.count_call()?;
        let bytes = contents.len();
        self.check_write_budget(bytes)?;
        let r = (|| {
            self.check_size("file contents", contents.len())?;
            let roots = self.file_root(&root, Access::ReadWrite)?;
            // The old contents go to the journal first, so a failed run can put them back.
            // A name whose contents reads refuse (a symlink leading out of the root, a hard
            // link) is replaced by the write without its contents ever being read: a rollback
            // then removes the new file rather than restoring the link. Any other read
            // failure stops the write, since the change could not be undone.
            let before = match roots.read(&root, &path) {
                Ok(bytes) => Some(bytes),
                Err(FileError::NotFound { .. } | FileError::Denied { .. }) => None,
                Err(e) => return Err(file_error(e)),
            };
            if before.as_deref() == Some(contents.as_slice()) {
                // Already as asked: nothing to write, nothing to undo.
                return Ok(());
            }
            self.journal(Change::File {
                root: root.clone(),
                path: path.clone(),
                before: before.map(|b| base64::engine::general_purpose::STANDARD.encode(b)),
                after_size: Some(contents.len() as u64),
                after_text: short_text(&contents),
            })?;
            let roots = self.file_root(&root, Access::ReadWrite)?;
            roots
                .write_atomic(&root, &path, &contents)
                .map_err(file_error)
        })();
        self.wrote(bytes, &r);
        self.audit("files.write", || format!("{root}/{path}"), true, &r);
        Ok(r)
    }

    fn remove(&mut self, root: String, path: String) -> Answer<bool> {
        self.count_call()?;
        let r = (|| {
            let roots = self.file_root(&root, Access::ReadWrite)?;
            let before = match roots.read(&root, &path) {
                Ok(b) => base64::engine::general_purpose::STANDARD.encode(b),
                Err(FileError::NotFound { .. }) => return Ok(false),
                Err(e) => return Err(file_error(e)),
            };
            self.journal(Change::File {
                root: root.clone(),
                path: path.clone(),
                before: Some(before),
                after_size: None,
                after_text: None,
            })?;
            let roots = self.file_root(&root, Access::ReadWrite)?;
            roots.remove(&root, &path).map_err(file_error)
        })();
        self.audit("files.remove", || format!("{root}/{path}"), true, &r);
        Ok(r)
    }

    fn list_dir(&mut self, root: String, path: String) -> Answer<Vec<DirEntry>> {
        self.count_call()?;
        let r = (|| {
            let roots = self.file_root(&root, Access::Read)?;
            let entries = roots.list(&root, &path).map_err(file_error)?;
            Ok(entries
                .into_iter()
                .map(|e| DirEntry {
                    name: e.name,
                    is_dir: e.is_dir,
                    size: e.size,
                })
                .collect())
        })();
        self.audit("files.list-dir", || format!("{root}/{path}"), false, &r);
        Ok(r)
    }
}
