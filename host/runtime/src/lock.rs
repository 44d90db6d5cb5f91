//! One owner per state directory.
//!
//! Everything that writes a state directory (the registry, the journal, the ledger, the audit
//! trail) assumes it is the only writer: two processes enforcing at once would interleave their
//! registry writes, fork the audit chain and roll back each other's live journals. A
//! [`StateLock`] makes that assumption true. It is an exclusive lock on `<state>/lock` (an
//! advisory `flock` on Unix, `LockFileEx` on Windows, both through `std::fs::File::try_lock`),
//! held for as long as the value lives; the operating system releases it when the process ends,
//! however it ends, so a killed owner never leaves the directory locked.
//!
//! Beside it, `<state>/owner.json` says who holds the lock (pid, command, since), so a second
//! writer can fail at once with a line naming the holder. That file is informative only: the
//! lock is the truth, and a stale `owner.json` left by a killed process is simply overwritten by
//! the next owner.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

const LOCK_FILE: &str = "lock";
const OWNER_FILE: &str = "owner.json";

/// Who holds a state directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// Process id.
    pub pid: u32,
    /// What it runs (e.g. `rampart run`).
    pub command: String,
    /// When it took the lock (RFC 3339).
    pub since: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pid {} (`{}`) since {}",
            self.pid, self.command, self.since
        )
    }
}

/// Why a state directory could not be locked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// Another process holds the lock.
    #[error(
        "state directory '{}' is in use by {}; stop it (or ask it with `rampart sync`), or use another --state",
        dir.display(),
        holder.as_ref().map_or_else(|| "another process".to_string(), ToString::to_string)
    )]
    Busy {
        /// The state directory.
        dir: PathBuf,
        /// Who holds it, when it said so.
        holder: Option<Holder>,
    },
    /// The lock file could not be created or locked.
    #[error("cannot lock state directory '{}': {source}", dir.display())]
    Io {
        /// The state directory.
        dir: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// The exclusive lock on a state directory; released when dropped (or when the process ends).
/// `owner.json` stays behind, naming the last owner: it is read only when the lock is held.
#[derive(Debug)]
pub struct StateLock {
    dir: PathBuf,
    /// Held open: closing it releases the lock.
    _file: File,
}

impl StateLock {
    /// Takes the lock on `dir` (which must exist) for `command`, or fails at once when another
    /// process holds it.
    ///
    /// # Errors
    ///
    /// [`LockError::Busy`] naming the holder, or [`LockError::Io`].
    pub fn acquire(dir: &Path, command: &str) -> Result<StateLock, LockError> {
        let io = |source| LockError::Io {
            dir: dir.to_path_buf(),
            source,
        };
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK_FILE))
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(LockError::Busy {
                    dir: dir.to_path_buf(),
                    holder: StateLock::holder(dir),
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        let holder = Holder {
            pid: std::process::id(),
            command: command.to_string(),
            since: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        };
        // Informative only (see the module docs): not synced, and a failure to write it does
        // not give the lock up.
        let _ = write_owner(&dir.join(OWNER_FILE), &holder);
        Ok(StateLock {
            dir: dir.to_path_buf(),
            _file: file,
        })
    }

    /// Who holds `dir` according to its `owner.json`: the last owner, which may be gone when
    /// nobody holds the lock.
    pub fn holder(dir: &Path) -> Option<Holder> {
        let bytes = std::fs::read(dir.join(OWNER_FILE)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// The locked directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Writes `holder` over the file in place, padded with spaces to a fixed size, without
/// truncating it: on ext4 a truncating rewrite makes the close wait for the data to be written
/// (its `auto_da_alloc` heuristic), which would cost every `rampart apply` a tenth of a
/// millisecond for a file nobody syncs.
fn write_owner(path: &Path, holder: &Holder) -> std::io::Result<()> {
    use std::io::Write as _;
    const SIZE: usize = 256;
    let mut json = serde_json::to_vec(holder).map_err(std::io::Error::other)?;
    let len = json.len().max(SIZE);
    json.resize(len, b' ');
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    file.write_all(&json)?;
    // Only a holder longer than the padding leaves a longer file behind it to cut.
    if file.metadata()?.len() > len as u64 {
        file.set_len(len as u64)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_owner_is_refused_with_the_holder_named() {
        let dir = tempfile::tempdir().unwrap();
        let first = StateLock::acquire(dir.path(), "rampart run").unwrap();
        let err = StateLock::acquire(dir.path(), "rampart apply").unwrap_err();
        let LockError::Busy { holder, .. } = &err else {
            panic!("expected busy, got {err}");
        };
        let holder = holder.as_ref().expect("the holder is named");
        assert_eq!(holder.pid, std::process::id());
        assert_eq!(holder.command, "rampart run");
        assert!(err.to_string().contains("`rampart run`"), "{err}");
        drop(first);
        // Released: the next owner gets it.
        let again = StateLock::acquire(dir.path(), "rampart apply").unwrap();
        assert_eq!(
            StateLock::holder(again.dir()).unwrap().command,
            "rampart apply"
        );
    }
}
