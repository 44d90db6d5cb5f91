//! The change journal: every capability write of a run, recorded (old value → new value)
//! *before* it is made, so a failed run can be rolled back and a crashed one recovered.
//!
//! A [`Journal`] is either durable — one JSON-lines file per run in a directory, each record on
//! disk before the write it describes can be — or in memory (what-if runs and embedders that do
//! not want durability).
//!
//! # One commit point
//!
//! A run's registry changes, the ownership ledger's update and the run's audit records commit
//! together, at one point: the *commit record*, the last line of the run's journal file, which
//! holds the run's audit records and is synced after the backends were flushed. Then the ledger
//! is saved, the audit records are appended to the trail, and only then is the file deleted.
//! A file found at start (or at the start of a pass) is therefore either
//!
//! - **uncommitted** (no commit record, or a torn one): the run never finished. [`Journal::recover`]
//!   undoes its changes, makes the undo durable, records the rollback in the audit trail, and
//!   deletes the file; or
//! - **committed**: the run finished but the ledger or the trail may not have caught up.
//!   Recovery brings the ledger up to date from the journaled changes (idempotent), appends the
//!   run's audit records unless the trail already holds them, and deletes the file.
//!
//! Either way, after recovery the ledger owns exactly what the registry holds of rampart's
//! writes, and the trail records the run or its rollback.
//!
//! When a change is durable as soon as it is made (the real registry, files), its record is
//! synced before it is made. When every backend of the run defers durability to a flush (the
//! emulated registry written behind, see [`Capabilities::defers_durability`]), the records are
//! synced once, when the run ends and before the backends flush (`RunJournal::settle`): one
//! fsync per run instead of one per change, with the same outcome after a crash at any point.
//!
//! # Rollback semantics per backend
//!
//! - **Registry**: a changed or deleted value gets its old value (type included) back; a value
//!   that did not exist is deleted; keys the run created (the highest missing ancestor of a
//!   write) are deleted with their subtree; a deleted key is re-created with its values and
//!   subkeys as they were.
//! - **Files**: the old contents are written back atomically; a file that did not exist is
//!   removed.
//! - **Defender**: a preference gets back the *effective* value it had before (Defender's API
//!   only reads effective values, so a value that came from policy becomes a local preference);
//!   added exclusions are removed and removed ones re-added; an ASR rule that had no action is
//!   set to `off`.
//!
//! Rollback is best effort per change: a change that cannot be undone is reported and the
//! others are still undone.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::capabilities::Capabilities;
pub use crate::txn::change::{
    Change, JournalPreference, JournalValue, KeySnapshot, asr_action_name, exclusion_kind_name,
    highest_missing, snapshot_subtree,
};
use crate::txn::drift::Ledger;
use crate::txn::undo::rollback;

/// Why the journal could not record or undo a change.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// Writing or reading a journal file failed.
    #[error("journal '{path}': {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A journal file is not readable as a journal.
    #[error("journal '{path}' line {line}: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// Where runs record their changes.
#[derive(Debug)]
pub struct Journal {
    dir: Option<PathBuf>,
    counter: AtomicU64,
    audit: Option<std::sync::Arc<crate::txn::audit::AuditLog>>,
}

impl Journal {
    /// A journal that keeps changes in memory only (no crash recovery).
    pub fn in_memory() -> Self {
        Journal {
            dir: None,
            counter: AtomicU64::new(0),
            audit: None,
        }
    }

    /// A durable journal in `dir` (created if needed).
    ///
    /// # Errors
    ///
    /// Fails when the directory cannot be created.
    pub fn durable(dir: &Path) -> Result<Self, JournalError> {
        std::fs::create_dir_all(dir).map_err(|source| JournalError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(Journal {
            dir: Some(dir.to_path_buf()),
            counter: AtomicU64::new(0),
            audit: None,
        })
    }

    /// Also appends every run's capability calls, changes and outcome to `audit` when the run
    /// ends (see [`crate::txn::audit`]).
    pub fn with_audit(mut self, audit: crate::txn::audit::AuditLog) -> Self {
        self.audit = Some(std::sync::Arc::new(audit));
        self
    }

    /// Whether records reach the disk.
    pub fn is_durable(&self) -> bool {
        self.dir.is_some()
    }

    /// Starts the journal of one run. The file is created by the run's first change: a run
    /// that changes nothing (the steady state) costs no file and no fsync.
    ///
    /// `deferred` says that no change made through the run's backends survives a crash before
    /// they are flushed ([`Capabilities::defers_durability`]). Each record must be on disk
    /// before its change is; with deferred backends that holds if the whole journal is synced
    /// once, before the flush ([`RunJournal::settle`]), rather than after every record.
    ///
    /// # Errors
    ///
    /// None today; kept fallible so a journal that must prepare storage up front can say so.
    pub fn start(
        &self,
        plugin: &str,
        digest: &str,
        deferred: bool,
    ) -> Result<RunJournal, JournalError> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let run = format!("{nanos:020}-{}-{n}", std::process::id());
        let audit = self.audit.as_ref().map(|log| RunAudit {
            log: log.clone(),
            run: run.clone(),
            plugin: plugin.to_string(),
            digest: digest.to_string(),
            records: Vec::new(),
            reads: 0,
        });
        let file = self.dir.as_ref().map(|dir| PendingFile {
            path: dir.join(format!("run-{run}.jsonl")),
            header: serde_json::json!({
                "plugin": plugin,
                "digest": digest,
                "deferred": deferred,
                "run": run,
            })
            .to_string(),
            file: None,
            sync_each: !deferred,
            unsynced: false,
            dir_synced: false,
        });
        Ok(RunJournal {
            file,
            changes: Vec::new(),
            audit,
            plugin: plugin.to_string(),
            redactor: std::sync::Arc::default(),
        })
    }

    /// Journal files left by runs that never finished.
    pub fn pending(&self) -> Vec<PathBuf> {
        let Some(dir) = &self.dir else {
            return Vec::new();
        };
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
            .collect();
        files.sort();
        files
    }

    /// Settles every run whose journal is still on disk (see the module docs): rolls back the
    /// uncommitted ones (newest first), rolls the committed ones forward into `ledger` and the
    /// audit trail (oldest first), and deletes each file once that is durable. Returns one line
    /// per run settled (and per change that could not be undone). With one owner per state
    /// directory (the runtime's `StateLock`) every file found belongs to a run of a dead process, or
    /// to an earlier pass of this one whose commit could not be finished.
    ///
    /// A journal that cannot be read is discarded, with a line saying so, when it cannot have
    /// been synced: its header is unreadable (a change is made only after the header reached
    /// the disk with the first record), or it belongs to a run whose backends defer durability
    /// (they are flushed only after the whole journal is synced, so none of its changes can
    /// have reached the disk).
    ///
    /// # Errors
    ///
    /// Fails when a journal file cannot be read, when one that was synced is corrupt beyond its
    /// last line (a torn last line is expected after a crash and ignored: its write was never
    /// made), when the undone changes cannot be made durable ([`Capabilities::flush`]), or when
    /// the ledger or the audit trail cannot be written. A file whose outcome could not be made
    /// durable is kept, so the next attempt finishes the job (every step is idempotent).
    pub fn recover(
        &self,
        capabilities: &Capabilities,
        mut ledger: Option<&mut Ledger>,
    ) -> Result<Vec<String>, JournalError> {
        let mut lines = Vec::new();
        let mut committed = Vec::new();
        for path in self.pending().into_iter().rev() {
            let journal = match read_journal(&path) {
                Ok(journal) => journal,
                Err(JournalError::Corrupt { line, message, .. }) if never_synced(&path) => {
                    tracing::warn!(path = %path.display(), line, %message, "discarding an unsynced journal");
                    lines.push(format!(
                        "discarded the unreadable journal of a run none of whose changes reached the disk ({})",
                        path.display()
                    ));
                    remove(&path)?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            if journal.commit.is_some() {
                committed.push((path, journal));
                continue;
            }
            let failures = rollback(&journal.changes, capabilities);
            // The undo must be durable before the record of what to undo goes.
            capabilities.flush().map_err(|e| JournalError::Io {
                path: path.clone(),
                source: std::io::Error::other(format!("cannot persist the rollback: {e}")),
            })?;
            if let Some(audit) = &self.audit {
                let record = recovery_record(&journal, "rolled-back", &failures);
                audit
                    .append(vec![record], true)
                    .map_err(|e| audit_failed(&path, &e))?;
            }
            lines.push(format!(
                "rolled back {} change(s) of an unfinished run of '{}' ({})",
                journal.changes.len(),
                journal.plugin,
                path.display()
            ));
            lines.extend(failures);
            remove(&path)?;
        }
        for (path, journal) in committed.into_iter().rev() {
            let commit = journal.commit.as_ref().expect("partitioned above");
            if let Some(ledger) = ledger.as_deref_mut() {
                ledger.record(&journal.plugin, &journal.changes, &commit.time);
                ledger.refresh_files(capabilities);
                ledger.save().map_err(|source| JournalError::Io {
                    path: path.clone(),
                    source: std::io::Error::other(format!(
                        "cannot save the ownership ledger: {source}"
                    )),
                })?;
            }
            if let Some(audit) = &self.audit
                && !audit.holds_run(&journal.run)
            {
                let mut records = commit.audit.clone();
                records.push(recovery_record(&journal, "committed", &[]));
                audit
                    .append(records, true)
                    .map_err(|e| audit_failed(&path, &e))?;
            }
            lines.push(format!(
                "completed the commit of a run of '{}' with {} change(s) ({})",
                journal.plugin,
                journal.changes.len(),
                path.display()
            ));
            remove(&path)?;
        }
        Ok(lines)
    }

    /// Finishes a committed run: appends its audit records to the trail, then deletes its
    /// journal file — unless `keep_file` (the ledger could not be saved), in which case the
    /// file stays for [`Journal::recover`] to finish the job. Call it after the ledger took
    /// ownership of the run's changes and was saved.
    ///
    /// # Errors
    ///
    /// The trail could not be written; the file is kept (recovery appends the records).
    pub fn seal(&self, run: CommittedRun, keep_file: bool) -> Result<(), String> {
        // Records exist only for a run that changed something, or was denied or failed a
        // call: evidence worth its fsync.
        if let Some(audit) = &self.audit
            && !run.audit.is_empty()
            && let Err(e) = audit.append(run.audit, true)
        {
            return Err(format!("cannot write the audit trail: {e}"));
        }
        if let Some(path) = run.file
            && !keep_file
        {
            remove(&path).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Appends one small record for a whole pass (see [`crate::txn::audit`]); not synced: it only
    /// says that a pass ran, and every change is recorded durably by its run.
    pub fn audit_pass(&self, fields: serde_json::Value) {
        let Some(audit) = &self.audit else {
            return;
        };
        let mut r = serde_json::Map::new();
        r.insert("kind".into(), "pass".into());
        r.insert("time".into(), now_micros().into());
        if let serde_json::Value::Object(f) = fields {
            r.extend(f);
        }
        if let Err(e) = audit.append(vec![r], false) {
            tracing::error!(error = %e, "cannot write the audit trail");
        }
    }
}

fn remove(path: &Path) -> Result<(), JournalError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(JournalError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn audit_failed(path: &Path, e: &crate::txn::audit::AuditError) -> JournalError {
    JournalError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(format!(
            "cannot record the recovery in the audit trail: {e}"
        )),
    }
}

fn now_micros() -> String {
    humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string()
}

/// The audit record of a run settled by recovery.
fn recovery_record(
    journal: &JournalFile,
    decision: &str,
    failures: &[String],
) -> crate::txn::audit::AuditRecord {
    let mut r = serde_json::Map::new();
    r.insert("kind".into(), "recovery".into());
    r.insert("time".into(), now_micros().into());
    r.insert("run".into(), journal.run.clone().into());
    r.insert("plugin".into(), journal.plugin.clone().into());
    r.insert("decision".into(), decision.into());
    let shown: Vec<Change> = journal
        .changes
        .iter()
        .map(|c| journal.redactor.present(c))
        .collect();
    r.insert(
        "changes".into(),
        serde_json::to_value(&shown).unwrap_or_default(),
    );
    r.insert("undo-failures".into(), failures.into());
    r
}

/// Whether a journal file cannot have been synced before any of its changes reached the disk:
/// its header is unreadable, or says the run's backends defer durability (see
/// [`Journal::recover`]).
fn never_synced(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    match text
        .lines()
        .next()
        .map(serde_json::from_str::<serde_json::Value>)
    {
        Some(Ok(header)) => header["deferred"].as_bool() == Some(true),
        _ => true,
    }
}

/// Makes a directory's entries (a new, renamed or removed file) durable; best effort, and a
/// no-op where directories cannot be opened for syncing.
pub fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// A journal file as read back: its header, its changes, and its commit record if the run
/// committed.
#[derive(Debug)]
struct JournalFile {
    plugin: String,
    run: String,
    /// The run's secrets (from the header), kept out of the recovery's audit record.
    redactor: crate::txn::redact::Redactor,
    changes: Vec<Change>,
    commit: Option<CommitRecord>,
}

/// The last line of a committed run's journal (see the module docs).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CommitRecord {
    /// When the run committed (RFC 3339).
    time: String,
    /// The run's audit records, for recovery to append if the trail lacks them.
    #[serde(default)]
    audit: Vec<crate::txn::audit::AuditRecord>,
}

#[derive(Serialize, Deserialize)]
struct CommitLine {
    commit: CommitRecord,
}

fn read_journal(path: &Path) -> Result<JournalFile, JournalError> {
    let text = std::fs::read_to_string(path).map_err(|source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let lines: Vec<&str> = text.lines().collect();
    let corrupt = |line: usize, message: String| JournalError::Corrupt {
        path: path.to_path_buf(),
        line,
        message,
    };
    let header: serde_json::Value = lines
        .first()
        .map(|l| serde_json::from_str(l))
        .transpose()
        .map_err(|e| corrupt(1, format!("header: {e}")))?
        .unwrap_or_default();
    let mut journal = JournalFile {
        plugin: header["plugin"].as_str().unwrap_or("?").to_string(),
        // Journals written before runs were named in the header: the file name holds it.
        run: header["run"].as_str().map_or_else(
            || {
                path.file_stem()
                    .and_then(|s| s.to_str())
                    .and_then(|s| s.strip_prefix("run-"))
                    .unwrap_or("?")
                    .to_string()
            },
            str::to_string,
        ),
        redactor: crate::txn::redact::Redactor::from_secrets(
            header["secrets"]
                .as_array()
                .map(|l| {
                    l.iter()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        ),
        changes: Vec::new(),
        commit: None,
    };
    for (i, line) in lines.iter().enumerate().skip(1) {
        // The last record may be torn by the crash: its write was never made (records are
        // synced before their write), and a torn commit record is no commit.
        if i + 1 == lines.len() && !text.ends_with('\n') {
            break;
        }
        if journal.commit.is_some() {
            return Err(corrupt(i + 1, "a record after the commit record".into()));
        }
        if line.starts_with("{\"commit\"") {
            let c = serde_json::from_str::<CommitLine>(line)
                .map_err(|e| corrupt(i + 1, e.to_string()))?;
            journal.commit = Some(c.commit);
        } else {
            let c =
                serde_json::from_str::<Change>(line).map_err(|e| corrupt(i + 1, e.to_string()))?;
            journal.changes.push(c);
        }
    }
    Ok(journal)
}

/// The journal of one run in progress. One dropped without [`RunJournal::commit`] or
/// [`RunJournal::rollback`] (a host panic) keeps its file, so the next start recovers it (or
/// discards it, if it was never synced and so none of its changes can have reached the disk).
#[derive(Debug)]
pub struct RunJournal {
    /// The run's journal file when the journal is durable; created on the first change.
    file: Option<PendingFile>,
    changes: Vec<Change>,
    audit: Option<RunAudit>,
    plugin: String,
    /// Takes the run's secrets out of its audit records (the journal lines keep the values:
    /// they must restore them).
    redactor: std::sync::Arc<crate::txn::redact::Redactor>,
}

/// A run whose changes stand (see [`RunJournal::commit`]): its journal file, if it changed
/// anything, ends with the commit record; the ledger and the audit trail catch up from it
/// ([`Journal::seal`]).
#[derive(Debug)]
pub struct CommittedRun {
    /// What the run changed.
    pub changes: Vec<Change>,
    file: Option<PathBuf>,
    audit: Vec<crate::txn::audit::AuditRecord>,
}

/// A durable run journal's file: its name and header are chosen when the run starts, the file
/// itself is created (header first) just before the first change is recorded.
#[derive(Debug)]
struct PendingFile {
    path: PathBuf,
    header: String,
    file: Option<std::fs::File>,
    /// Make every record durable before returning (backends that persist each change at once);
    /// otherwise records are synced together by [`PendingFile::sync`].
    sync_each: bool,
    /// Records were written since the file was last synced.
    unsynced: bool,
    /// The file's directory entry is durable.
    dir_synced: bool,
}

impl PendingFile {
    /// Appends `line`, creating the file first if needed, and makes it durable when every
    /// record must be.
    fn append(&mut self, line: &str) -> std::io::Result<()> {
        if self.file.is_none() {
            let mut file = std::fs::OpenOptions::new()
                .create_new(true)
                .append(true)
                .open(&self.path)?;
            writeln!(file, "{}", self.header)?;
            self.file = Some(file);
        }
        let file = self.file.as_mut().expect("created above");
        let mut record = String::with_capacity(line.len() + 1);
        record.push_str(line);
        record.push('\n');
        file.write_all(record.as_bytes())?;
        self.unsynced = true;
        if self.sync_each {
            self.sync()?;
        }
        Ok(())
    }

    /// Makes every record written so far durable, with the file's directory entry (or
    /// recovery would not find the file).
    fn sync(&mut self) -> std::io::Result<()> {
        if let (Some(file), true) = (&self.file, self.unsynced) {
            file.sync_data()?;
            self.unsynced = false;
            if !self.dir_synced {
                if let Some(dir) = self.path.parent() {
                    sync_dir(dir);
                }
                self.dir_synced = true;
            }
        }
        Ok(())
    }
}

/// The audit records of one run, buffered until it ends.
///
/// Allowed reads are counted, not recorded one by one: a run that changes nothing and is
/// denied nothing leaves no record at all (the pass's own record names it), so the trail grows
/// with what plugins did, not with how often they looked.
#[derive(Debug)]
struct RunAudit {
    log: std::sync::Arc<crate::txn::audit::AuditLog>,
    run: String,
    plugin: String,
    digest: String,
    records: Vec<crate::txn::audit::AuditRecord>,
    reads: u64,
}

impl RunAudit {
    fn record(&mut self, kind: &str, fields: serde_json::Value) {
        let mut r = serde_json::Map::new();
        r.insert("kind".into(), kind.into());
        r.insert("time".into(), now_micros().into());
        r.insert("run".into(), self.run.clone().into());
        r.insert("plugin".into(), self.plugin.clone().into());
        r.insert("digest".into(), self.digest.clone().into());
        if let serde_json::Value::Object(f) = fields {
            r.extend(f);
        }
        self.records.push(r);
    }

    /// The run's records with its decision: one per recorded call and per change, then the
    /// run's own. Nothing when the run changed nothing and no call was denied or failed.
    fn finish(
        mut self,
        decision: &str,
        changes: &[Change],
        failures: &[String],
        redactor: &crate::txn::redact::Redactor,
    ) -> Vec<crate::txn::audit::AuditRecord> {
        if changes.is_empty() && self.records.is_empty() && failures.is_empty() {
            return Vec::new();
        }
        for change in changes {
            self.record(
                "change",
                serde_json::json!({ "change": redactor.present(change), "decision": decision }),
            );
        }
        let reads = self.reads;
        self.record(
            "run",
            serde_json::json!({
                "decision": decision,
                "changes": changes.len(),
                "undo-failures": failures,
                "reads": reads,
            }),
        );
        self.records
    }
}

impl RunJournal {
    /// A journal that only keeps changes in memory.
    pub fn in_memory() -> Self {
        RunJournal {
            file: None,
            changes: Vec::new(),
            audit: None,
            plugin: String::new(),
            redactor: std::sync::Arc::default(),
        }
    }

    /// Takes `redactor`'s secrets out of the run's audit records. Call it before the first
    /// change: the journal file's header then names the secrets too, so that recovery after a
    /// crash redacts its audit record the same way.
    pub fn redact_with(&mut self, redactor: std::sync::Arc<crate::txn::redact::Redactor>) {
        if let Some(file) = &mut self.file
            && file.file.is_none()
            && !redactor.is_empty()
            && let Ok(serde_json::Value::Object(mut header)) =
                serde_json::from_str::<serde_json::Value>(&file.header)
        {
            header.insert("secrets".into(), redactor.secrets().into());
            file.header = serde_json::Value::Object(header).to_string();
        }
        self.redactor = redactor;
    }

    /// The redactor of the run's audit records (see [`RunJournal::redact_with`]).
    pub fn redactor(&self) -> std::sync::Arc<crate::txn::redact::Redactor> {
        self.redactor.clone()
    }

    /// Records a change durably, before the caller makes it.
    pub fn record(&mut self, change: Change) -> Result<(), JournalError> {
        if let Some(file) = &mut self.file {
            serde_json::to_string(&change)
                .map_err(std::io::Error::other)
                .and_then(|line| file.append(&line))
                .map_err(|source| JournalError::Io {
                    path: file.path.clone(),
                    source,
                })?;
        }
        self.changes.push(change);
        Ok(())
    }

    /// Makes the run's changes durable: first the journal (so that a crash from here on is
    /// recovered by undoing the run), then the backends that defer durability. Call before
    /// [`commit`](Self::commit); on an error the run's changes are not durable and the caller
    /// must [`rollback`](Self::rollback).
    pub fn settle(&mut self, capabilities: &Capabilities) -> Result<(), String> {
        if let Some(file) = &mut self.file {
            file.sync().map_err(|e| {
                format!(
                    "cannot sync the change journal '{}': {e}",
                    file.path.display()
                )
            })?;
        }
        capabilities.flush()
    }

    /// The changes so far.
    pub fn changes(&self) -> &[Change] {
        &self.changes
    }

    /// Whether capability calls are audited (so callers format targets only when needed).
    pub fn auditing(&self) -> bool {
        self.audit.is_some()
    }

    /// Records one capability call and its outcome.
    pub fn audit_call(
        &mut self,
        operation: &str,
        target: &str,
        write: bool,
        outcome: crate::txn::audit::CallOutcome<'_>,
    ) {
        use crate::txn::audit::CallOutcome;
        let Some(audit) = &mut self.audit else {
            return;
        };
        if !write && matches!(outcome, CallOutcome::Done) {
            audit.reads += 1;
            return;
        }
        let target: String = self.redactor.redact(target).chars().take(1024).collect();
        let error = |kind: &str, message: &str| {
            let message = crate::text::truncate(message.to_owned(), 512);
            Some(self.redactor.redact_owned(format!("{kind}: {message}")))
        };
        let (decision, error) = match outcome {
            CallOutcome::Done => ("allowed", None),
            CallOutcome::Denied { kind, message } => ("denied", error(kind, message)),
            CallOutcome::Failed { kind, message } => ("failed", error(kind, message)),
        };
        audit.record(
            "call",
            serde_json::json!({
                "operation": operation,
                "target": target,
                "decision": decision,
                "error": error,
            }),
        );
    }

    /// The run finished and its changes stand: writes and syncs the commit record (the run's
    /// audit records included) at the end of its journal file, if it has one. Call it after
    /// [`settle`](Self::settle); then let the ledger take ownership of the changes and
    /// [`Journal::seal`] the run.
    ///
    /// # Errors
    ///
    /// The commit record could not be made durable: the run did not commit, and the caller
    /// must [`rollback`](Self::rollback) it (its backends are flushed by then, so the undo
    /// must be flushed too).
    pub fn commit(mut self) -> Result<CommittedRun, Box<(RunJournal, JournalError)>> {
        let audit = self
            .audit
            .take()
            .map(|a| a.finish("committed", &self.changes, &[], &self.redactor))
            .unwrap_or_default();
        let mut path = None;
        if let Some(file) = &mut self.file
            && file.file.is_some()
        {
            let line = serde_json::to_string(&CommitLine {
                commit: CommitRecord {
                    time: humantime::format_rfc3339_seconds(std::time::SystemTime::now())
                        .to_string(),
                    audit: audit.clone(),
                },
            })
            .map_err(std::io::Error::other);
            let written = line.and_then(|line| {
                file.append(&line)?;
                file.sync()
            });
            if let Err(source) = written {
                let error = JournalError::Io {
                    path: file.path.clone(),
                    source,
                };
                // The records go with the rollback instead.
                self.audit = None;
                return Err(Box::new((self, error)));
            }
            path = Some(file.path.clone());
        }
        Ok(CommittedRun {
            changes: std::mem::take(&mut self.changes),
            file: path,
            audit,
        })
    }

    /// The run failed: undo its changes (newest first), record the rollback in the audit
    /// trail, then delete the journal file. Returns the changes and a line per change that
    /// could not be undone.
    ///
    /// Call it before [`settle`](Self::settle), or after a `settle` that failed: backends that
    /// defer durability then still hold on disk what they held before the run, so undoing the
    /// run in memory is enough. After a failed [`commit`](Self::commit) the backends were
    /// flushed: pass `flushed` and the undo is flushed too. When the undo cannot be made
    /// durable or recorded in the trail, the journal file is kept, and recovery undoes the run
    /// again (undoing is idempotent) and records it.
    pub fn rollback(
        mut self,
        capabilities: &Capabilities,
        flushed: bool,
    ) -> (Vec<Change>, Vec<String>) {
        let mut failures = rollback(&self.changes, capabilities);
        let mut keep = false;
        if flushed && let Err(e) = capabilities.flush() {
            // The run's changes are on disk and the undo is not: recovery undoes it again.
            failures.push(format!("cannot persist the rollback: {e}"));
            keep = true;
        }
        if let Some(audit) = self.audit.take() {
            let log = audit.log.clone();
            let records = audit.finish("rolled-back", &self.changes, &failures, &self.redactor);
            if let Err(e) = log.append(records, true) {
                tracing::error!(error = %e, plugin = %self.plugin, "cannot record a rollback in the audit trail; recovery will");
                keep = true;
            }
        }
        if let Some(PendingFile {
            path,
            file: Some(file),
            ..
        }) = self.file.take()
        {
            drop(file);
            if !keep {
                let _ = std::fs::remove_file(&path);
            }
        }
        (std::mem::take(&mut self.changes), failures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_backends::registry::{RegValue, RegistryBackend, RegistryPath};

    fn files_in(dir: &Path) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        files
    }

    fn change() -> Change {
        Change::RegistryValue {
            key: r"HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Test".into(),
            name: "v".into(),
            before: None,
            after: Some(JournalValue::RegDword(1)),
        }
    }

    #[test]
    fn a_run_that_changes_nothing_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::durable(dir.path()).unwrap();
        let run = journal.start("p", "sha256:d", false).unwrap();
        assert!(files_in(dir.path()).is_empty());
        assert!(run.commit().unwrap().changes.is_empty());
        assert!(files_in(dir.path()).is_empty());
    }

    #[test]
    fn the_first_change_creates_the_file_before_it_is_made() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::durable(dir.path()).unwrap();
        let mut run = journal.start("p", "sha256:d", false).unwrap();
        run.record(change()).unwrap();
        run.record(change()).unwrap();
        // A crash now leaves a file recovery can read: header, then both changes.
        let pending = journal.pending();
        assert_eq!(pending.len(), 1);
        let text = std::fs::read_to_string(&pending[0]).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].contains(r#""plugin":"p""#), "{text}");
        assert_eq!(
            read_journal(&pending[0]).unwrap().changes,
            vec![change(), change()]
        );
        let committed = run.commit().unwrap();
        assert_eq!(committed.changes.len(), 2);
        // Committed: the file ends with the commit record, and stays until sealed.
        let journal_file = read_journal(&pending[0]).unwrap();
        assert!(journal_file.commit.is_some());
        journal.seal(committed, false).unwrap();
        assert!(files_in(dir.path()).is_empty());
    }

    #[test]
    fn a_journal_dropped_mid_run_keeps_its_file_for_recovery() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::durable(dir.path()).unwrap();
        let mut run = journal.start("p", "sha256:d", false).unwrap();
        run.record(change()).unwrap();
        drop(run);
        assert_eq!(journal.pending().len(), 1);
    }

    fn write_journal(dir: &Path, header: &str, body: &str) {
        std::fs::write(dir.join("run-1.jsonl"), format!("{header}\n{body}")).unwrap();
    }

    #[test]
    fn a_synced_journal_that_is_corrupt_stops_recovery() {
        let dir = tempfile::tempdir().unwrap();
        let good = serde_json::to_string(&change()).unwrap();
        write_journal(
            dir.path(),
            r#"{"plugin":"p","digest":"d","deferred":false}"#,
            &format!("garbage\n{good}\n"),
        );
        let journal = Journal::durable(dir.path()).unwrap();
        let err = journal.recover(&Capabilities::none(), None).unwrap_err();
        assert!(
            matches!(err, JournalError::Corrupt { line: 2, .. }),
            "{err}"
        );
        assert_eq!(
            journal.pending().len(),
            1,
            "kept for an operator to look at"
        );
    }

    #[test]
    fn an_unsynced_journal_that_is_corrupt_is_discarded() {
        // Deferred backends are flushed only after the whole journal is synced, so a journal
        // of such a run that cannot be read never had a change reach the disk.
        let good = serde_json::to_string(&change()).unwrap();
        for header in [r#"{"plugin":"p","digest":"d","deferred":true}"#, "\0\0\0"] {
            let dir = tempfile::tempdir().unwrap();
            write_journal(dir.path(), header, &format!("garbage\n{good}\n"));
            let journal = Journal::durable(dir.path()).unwrap();
            let lines = journal.recover(&Capabilities::none(), None).unwrap();
            assert_eq!(lines.len(), 1, "{lines:?}");
            assert!(lines[0].starts_with("discarded"), "{lines:?}");
            assert!(journal.pending().is_empty());
        }
    }

    #[test]
    fn the_header_says_whether_the_run_defers_durability() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::durable(dir.path()).unwrap();
        let mut run = journal.start("p", "sha256:d", true).unwrap();
        run.record(change()).unwrap();
        let pending = journal.pending();
        let text = std::fs::read_to_string(&pending[0]).unwrap();
        assert!(text.starts_with(r#"{"deferred":true"#), "{text}");
        assert!(never_synced(&pending[0]));
        run.settle(&Capabilities::none()).unwrap();
        let committed = run.commit().unwrap();
        assert_eq!(committed.changes.len(), 1);
        journal.seal(committed, false).unwrap();
        assert!(journal.pending().is_empty());
    }

    fn registry_caps() -> (
        Capabilities,
        std::sync::Arc<rampart_backends::registry::EmulatedRegistry>,
    ) {
        let registry = std::sync::Arc::new(rampart_backends::registry::EmulatedRegistry::new());
        (
            Capabilities::none().with_registry(registry.clone()),
            registry,
        )
    }

    fn value_of(registry: &rampart_backends::registry::EmulatedRegistry) -> Option<RegValue> {
        registry
            .get_value(
                &RegistryPath::parse(r"HKLM\SOFTWARE\Policies\Test").unwrap(),
                "v",
            )
            .unwrap()
    }

    /// A durable journal with an audit trail, and a run of it that set `v` = 1 through `caps`
    /// and settled.
    fn settled_run(dir: &Path, caps: &Capabilities) -> (Journal, RunJournal) {
        let journal = Journal::durable(&dir.join("journal"))
            .unwrap()
            .with_audit(crate::txn::audit::AuditLog::open(&dir.join("audit")).unwrap());
        let mut run = journal.start("p", "sha256:d", false).unwrap();
        run.record(change()).unwrap();
        caps.registry
            .as_deref()
            .unwrap()
            .set_value(
                &RegistryPath::parse(r"HKLM\SOFTWARE\Policies\Test").unwrap(),
                "v",
                RegValue::Dword(1),
            )
            .unwrap();
        run.settle(caps).unwrap();
        (journal, run)
    }

    #[test]
    fn a_run_killed_before_its_commit_record_is_rolled_back_and_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let (caps, registry) = registry_caps();
        let (journal, run) = settled_run(dir.path(), &caps);
        drop(run); // killed: no commit record
        let mut ledger = Ledger::in_memory();
        let lines = journal.recover(&caps, Some(&mut ledger)).unwrap();
        assert!(lines[0].starts_with("rolled back 1 change"), "{lines:?}");
        assert_eq!(value_of(&registry), None, "undone");
        assert!(ledger.is_empty(), "nothing owned");
        assert!(journal.pending().is_empty());
        let trail = std::fs::read_to_string(dir.path().join("audit/audit.jsonl")).unwrap();
        assert!(
            trail.contains(r#""decision":"rolled-back""#) && trail.contains(r#""kind":"recovery""#),
            "{trail}"
        );
        crate::txn::audit::verify(&dir.path().join("audit")).unwrap();
    }

    #[test]
    fn the_recovery_record_of_a_killed_run_keeps_its_secrets_out() {
        let dir = tempfile::tempdir().unwrap();
        let (caps, _registry) = registry_caps();
        let journal = Journal::durable(&dir.path().join("journal"))
            .unwrap()
            .with_audit(crate::txn::audit::AuditLog::open(&dir.path().join("audit")).unwrap());
        let mut run = journal.start("p", "sha256:d", false).unwrap();
        run.redact_with(std::sync::Arc::new(
            crate::txn::redact::Redactor::from_secrets(vec!["0nboarding-SECRET".into()]),
        ));
        run.record(Change::RegistryValue {
            key: r"HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Test".into(),
            name: "blob".into(),
            before: None,
            after: Some(JournalValue::RegSz("x 0nboarding-SECRET".into())),
        })
        .unwrap();
        drop(run); // killed: no commit record
        journal.recover(&caps, None).unwrap();
        let trail = std::fs::read_to_string(dir.path().join("audit/audit.jsonl")).unwrap();
        assert!(trail.contains(r#""kind":"recovery""#), "{trail}");
        assert!(!trail.contains("0nboarding-SECRET"), "{trail}");
        assert!(trail.contains("<redacted>"), "{trail}");
    }

    #[test]
    fn a_run_killed_after_its_commit_record_is_completed_into_ledger_and_trail() {
        let dir = tempfile::tempdir().unwrap();
        let (caps, registry) = registry_caps();
        let (journal, run) = settled_run(dir.path(), &caps);
        let committed = run.commit().unwrap();
        drop(committed); // killed before the ledger and the trail caught up
        let mut ledger = Ledger::in_memory();
        let lines = journal.recover(&caps, Some(&mut ledger)).unwrap();
        assert!(lines[0].starts_with("completed the commit"), "{lines:?}");
        assert_eq!(value_of(&registry), Some(RegValue::Dword(1)), "kept");
        assert_eq!(ledger.owned_registry("p").len(), 1, "owned");
        assert!(journal.pending().is_empty());
        let trail = std::fs::read_to_string(dir.path().join("audit/audit.jsonl")).unwrap();
        assert_eq!(trail.matches(r#""kind":"run""#).count(), 1, "{trail}");
        crate::txn::audit::verify(&dir.path().join("audit")).unwrap();
    }

    #[test]
    fn a_run_whose_trail_already_holds_it_is_not_recorded_twice() {
        let dir = tempfile::tempdir().unwrap();
        let (caps, _registry) = registry_caps();
        let (journal, run) = settled_run(dir.path(), &caps);
        let committed = run.commit().unwrap();
        // Killed after the trail's append, before the file went.
        journal.seal(committed, true).unwrap();
        assert_eq!(journal.pending().len(), 1);
        let mut ledger = Ledger::in_memory();
        journal.recover(&caps, Some(&mut ledger)).unwrap();
        let trail = std::fs::read_to_string(dir.path().join("audit/audit.jsonl")).unwrap();
        assert_eq!(trail.matches(r#""kind":"run""#).count(), 1, "{trail}");
        assert_eq!(ledger.owned_registry("p").len(), 1);
    }

    #[test]
    fn a_torn_commit_record_is_no_commit() {
        let dir = tempfile::tempdir().unwrap();
        let (caps, registry) = registry_caps();
        let (journal, run) = settled_run(dir.path(), &caps);
        drop(run.commit().unwrap());
        let path = journal.pending().remove(0);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, &text[..text.len() - 10]).unwrap();
        let mut ledger = Ledger::in_memory();
        let lines = journal.recover(&caps, Some(&mut ledger)).unwrap();
        assert!(lines[0].starts_with("rolled back"), "{lines:?}");
        assert_eq!(value_of(&registry), None);
        assert!(ledger.is_empty());
    }
}
