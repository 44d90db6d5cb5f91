//! `rampart:plugin/files`: file calls inside the granted roots.
//!
//! The grant is checked on the root's name; the path is validated and resolved by the file
//! backend (`rampart_backends::files::FileRoots` holds each root as a `cap_std::fs::Dir`
//! handle, so `..`, absolute paths and symlinks cannot leave it).

use base64::Engine as _;
use rampart_backends::files::{DirEntryInfo, FileBackend, FileError};

use crate::grants::Access;
use crate::txn::journal::Change;

use super::{CallError, Gate, GateAnswer};

/// New contents shown in plans: short UTF-8 text only.
const MAX_PLAN_TEXT: usize = 4096;

impl Gate {
    fn file_root(&self, root: &str, needed: Access) -> Result<&dyn FileBackend, CallError> {
        match self.grants.file_access(root) {
            Some(a) if a >= needed => {}
            Some(_) => {
                return Err(CallError::AccessDenied(format!(
                    "file root '{root}' (read-only grant)"
                )));
            }
            None => return Err(CallError::AccessDenied(format!("file root '{root}'"))),
        }
        self.capabilities
            .files
            .as_deref()
            .ok_or_else(|| CallError::Unavailable("no file roots are configured".into()))
    }

    /// `files.read`: the contents of `path` under `root`.
    pub fn files_read(&mut self, root: &str, path: &str) -> GateAnswer<Vec<u8>> {
        self.count_call()?;
        let r = self
            .file_root(root, Access::Read)
            .and_then(|files| files.read(root, path).map_err(file_error));
        self.audit("files.read", || format!("{root}/{path}"), false, &r);
        Ok(r)
    }

    /// `files.write`: replaces `path` under `root` with `contents`, atomically.
    pub fn files_write(&mut self, root: &str, path: &str, contents: &[u8]) -> GateAnswer<()> {
        self.count_call()?;
        let bytes = contents.len();
        self.check_write_budget(bytes)?;
        let r = (|| {
            self.check_size("file contents", contents.len())?;
            let files = self.file_root(root, Access::ReadWrite)?;
            // The old contents go to the journal first, so a failed run can put them back.
            // A name whose contents reads refuse (a symlink leading out of the root, a hard
            // link) is replaced by the write without its contents ever being read: a rollback
            // then removes the new file rather than restoring the link. Any other read
            // failure stops the write, since the change could not be undone.
            let before = match files.read(root, path) {
                Ok(bytes) => Some(bytes),
                Err(FileError::NotFound { .. } | FileError::Denied { .. }) => None,
                Err(e) => return Err(file_error(e)),
            };
            if before.as_deref() == Some(contents) {
                // Already as asked: nothing to write, nothing to undo.
                return Ok(());
            }
            self.journal(Change::File {
                root: root.to_owned(),
                path: path.to_owned(),
                before: before.map(|b| base64::engine::general_purpose::STANDARD.encode(b)),
                after_size: Some(contents.len() as u64),
                after_text: short_text(contents),
            })?;
            self.file_root(root, Access::ReadWrite)?
                .write_atomic(root, path, contents)
                .map_err(file_error)
        })();
        self.wrote(bytes, &r);
        self.audit("files.write", || format!("{root}/{path}"), true, &r);
        Ok(r)
    }

    /// `files.remove`: removes `path` under `root`; whether it existed.
    pub fn files_remove(&mut self, root: &str, path: &str) -> GateAnswer<bool> {
        self.count_call()?;
        let r = (|| {
            let files = self.file_root(root, Access::ReadWrite)?;
            let before = match files.read(root, path) {
                Ok(b) => base64::engine::general_purpose::STANDARD.encode(b),
                Err(FileError::NotFound { .. }) => return Ok(false),
                Err(e) => return Err(file_error(e)),
            };
            self.journal(Change::File {
                root: root.to_owned(),
                path: path.to_owned(),
                before: Some(before),
                after_size: None,
                after_text: None,
            })?;
            self.file_root(root, Access::ReadWrite)?
                .remove(root, path)
                .map_err(file_error)
        })();
        self.audit("files.remove", || format!("{root}/{path}"), true, &r);
        Ok(r)
    }

    /// `files.list-dir`: the entries of directory `path` under `root`.
    pub fn files_list_dir(&mut self, root: &str, path: &str) -> GateAnswer<Vec<DirEntryInfo>> {
        self.count_call()?;
        let r = self
            .file_root(root, Access::Read)
            .and_then(|files| files.list(root, path).map_err(file_error));
        self.audit("files.list-dir", || format!("{root}/{path}"), false, &r);
        Ok(r)
    }
}

fn file_error(e: FileError) -> CallError {
    let message = e.to_string();
    match e {
        FileError::InvalidPath { .. } | FileError::TooLarge { .. } => {
            CallError::InvalidArgument(message)
        }
        FileError::NotFound { .. } => CallError::NotFound(message),
        FileError::Denied { .. } | FileError::ReadOnly { .. } => CallError::AccessDenied(message),
        // The grant named a root the host did not configure.
        FileError::UnknownRoot { .. } => CallError::Unavailable(message),
        _ => CallError::Failed(message),
    }
}

/// New contents shown in plans: short UTF-8 text only.
fn short_text(contents: &[u8]) -> Option<String> {
    if contents.len() > MAX_PLAN_TEXT {
        return None;
    }
    std::str::from_utf8(contents).ok().map(str::to_string)
}
