//! The audit trail: an append-only, hash-chained JSON-lines record of what plugins did.
//!
//! Every plugin run that goes through a [`Journal`](crate::txn::journal::Journal) with an audit log attached
//! ([`Journal::with_audit`](crate::txn::journal::Journal::with_audit)) records, when it ends, one record per capability call that
//! wrote, was denied or failed (allowed reads are counted in the run's record, not listed), one
//! per change (old → new) with the decision (committed or rolled back), and one for the run
//! itself. A run that changed nothing and was denied nothing records nothing; each pass adds one
//! small `pass` record. A pass that changes nothing therefore costs one record of a few hundred
//! bytes, written without waiting for the disk (every 32nd such append is synced, so the head
//! never lags far behind).
//!
//! A committed run's records travel in its journal's commit record (see [`crate::txn::journal`]) and
//! are appended, synced, before the journal goes, so the trail records every run that changed
//! the device, or its rollback, whatever the moment of a crash.
//!
//! # Chain
//!
//! Each line is a JSON object with `seq` (1, 2, …), `prev` (the previous record's `hash`; 64
//! zeros for the first record ever) and `hash` = sha256(`prev` ‖ `"\n"` ‖ the line's JSON
//! without `hash`), hex. `audit.jsonl` is the current file; when it passes
//! [`Retention::rotate_bytes`] it is renamed to `audit-<last seq>.jsonl` and the next record, in
//! a new `audit.jsonl`, carries on the chain (its `prev` is the last hash of the rotated file).
//! `audit.head` holds the last `seq` and `hash` of the last *synced* append, written (synced)
//! after it.
//!
//! # Faults and tampering, at open
//!
//! [`AuditLog::open`] checks the trail before anything is appended, and writes what it finds
//! into the chain itself, synced, so the evidence cannot be overwritten by the next append:
//!
//! - a **torn tail** (a crash or a full disk in the middle of an append: a last line that is not
//!   a whole record) is cut back to the last whole record, and a `repair` record says how many
//!   bytes were cut;
//! - a **mismatch with the head** (the trail ends before the record the head names, or that
//!   record's hash differs, or the head or the current file is gone) is a `tamper` record that
//!   says what the head named and where the trail ends. The chain continues from the last record
//!   that is actually there. A head that lags behind the trail is normal (a crash between an
//!   append and the head's update, or appends made without a sync) when the record it names is
//!   in the trail with its hash.
//!
//! [`verify`] lists both kinds of records as events; `rampart audit verify` fails while the
//! trail holds a tamper record.
//!
//! # Retention
//!
//! Rotated files are pruned, oldest first, while the trail is larger than
//! [`Retention::max_bytes`] or a file is older than [`Retention::max_age`] (defaults: 64 MiB and
//! one year, about a hundred years of passes that change nothing at the default interval). Before
//! a file goes, `audit.checkpoint` (synced) records the `seq` and `hash` of its last record, and
//! a `prune` record in the chain says so: a pruned trail still verifies, because its first
//! record's `prev` must equal the checkpoint's hash.
//!
//! # What [`verify`] detects, and what it cannot
//!
//! It detects an edited record (its hash no longer matches), a deleted, inserted or reordered
//! record (a `seq` gap or a `prev` mismatch), a rotated file deleted from the middle, an oldest
//! file deleted without a checkpoint, and a truncated tail (the last record no longer matches
//! `audit.head`). It cannot detect someone who rewrites the whole chain from some point on, head
//! and checkpoint included: the chain proves internal consistency, not authorship. Anchor it
//! outside the device (ship `audit.head`'s hash to a collector) to detect that. Records appended
//! without a sync (the `pass` records, at most 32 in a row) and not yet covered by the head can
//! be cut without a trace; they never describe a change.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// How a capability call ended, as the audit trail records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome<'a> {
    /// Allowed and done.
    Done,
    /// Refused by the grants: the contract's error case and its message.
    Denied {
        /// The contract's name of the error case (`access-denied`).
        kind: &'static str,
        /// What was refused.
        message: &'a str,
    },
    /// Refused or failed for another reason.
    Failed {
        /// The contract's name of the error case (`not-found`, `failed`, ...).
        kind: &'static str,
        /// Why.
        message: &'a str,
    },
}

/// `prev` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const CURRENT: &str = "audit.jsonl";
const HEAD: &str = "audit.head";
const CHECKPOINT: &str = "audit.checkpoint";

/// Records appended without a sync after which the next append is synced (and the head moved).
const MAX_HEAD_LAG: u64 = 32;

/// The end of the current file read at open to find the last record and the one the head
/// names: more than [`MAX_HEAD_LAG`] records of the usual sizes.
const OPEN_WINDOW: u64 = 32 * 1024;

/// How large the trail may grow, and for how long records are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Size past which `audit.jsonl` is rotated. Default 4 MiB.
    pub rotate_bytes: u64,
    /// Total size of the rotated files kept. Default 64 MiB.
    pub max_bytes: u64,
    /// Age past which a rotated file is pruned (by its last modification). Default 365 days.
    pub max_age: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            rotate_bytes: 4 << 20,
            max_bytes: 64 << 20,
            max_age: Duration::from_secs(365 * 24 * 3600),
        }
    }
}

/// An audit trail that cannot be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// File-system failure.
    #[error("audit trail '{path}': {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The chain is broken.
    #[error("audit trail broken at {file}:{line}: {message}")]
    Broken {
        /// The file.
        file: String,
        /// 1-based line (0: the file as a whole).
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// One record before it is chained: the fields the caller knows.
pub type AuditRecord = Map<String, Value>;

#[derive(Debug)]
struct Chain {
    seq: u64,
    hash: String,
    /// The `seq` the head names (the last synced append).
    head_seq: u64,
    /// The last append failed part-way: the current file may end in a torn record, which the
    /// next append cuts first.
    torn: bool,
}

/// An append-only audit trail in a directory.
#[derive(Debug)]
pub struct AuditLog {
    dir: PathBuf,
    retention: Retention,
    chain: Mutex<Chain>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> AuditError + '_ {
    move |source| AuditError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The hash of a record: sha256(prev ‖ "\n" ‖ JSON without `hash`).
fn record_hash(prev: &str, body: &str) -> String {
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(b"\n");
    h.update(body.as_bytes());
    format!("{:x}", h.finalize())
}

/// A `seq` and `hash`, as the head and the checkpoint hold them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mark {
    seq: u64,
    hash: String,
}

impl Mark {
    fn read(path: &Path) -> Result<Option<Result<Mark, String>>, AuditError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(path)(e)),
        };
        let parsed = serde_json::from_str::<Value>(&text)
            .map_err(|e| format!("not JSON: {e}"))
            .and_then(|v| match (v["seq"].as_u64(), v["hash"].as_str()) {
                (Some(seq), Some(hash)) => Ok(Mark {
                    seq,
                    hash: hash.to_string(),
                }),
                _ => Err("no seq or hash".to_string()),
            });
        Ok(Some(parsed))
    }

    /// Writes the mark to `path` atomically and durably.
    fn write(&self, dir: &Path, name: &str, extra: Value) -> Result<(), AuditError> {
        let mut v = serde_json::json!({ "seq": self.seq, "hash": self.hash });
        if let (Value::Object(m), Value::Object(e)) = (&mut v, extra) {
            m.extend(e);
        }
        let path = dir.join(name);
        let tmp = dir.join(format!(".{name}.tmp"));
        let mut file = std::fs::File::create(&tmp).map_err(io(&tmp))?;
        file.write_all(v.to_string().as_bytes())
            .and_then(|()| file.sync_data())
            .map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        crate::txn::journal::sync_dir(dir);
        Ok(())
    }
}

fn now() -> String {
    humantime::format_rfc3339_micros(SystemTime::now()).to_string()
}

fn event(kind: &str, message: String, extra: Value) -> AuditRecord {
    let mut r = Map::new();
    r.insert("kind".into(), kind.into());
    r.insert("time".into(), now().into());
    r.insert("message".into(), message.into());
    if let Value::Object(e) = extra {
        r.extend(e);
    }
    r
}

/// The `seq` and `hash` of a line that is a whole chained record as [`AuditLog::append`] writes
/// it (an object whose last field is `"hash":"<64 hex>"`), read without parsing the JSON: at
/// every start the tail of the trail is scanned for them, and [`verify`] still parses and checks
/// every record in full.
fn chained(line: &str) -> Option<Mark> {
    const HASH_FIELD: &str = ",\"hash\":\"";
    let body = line.strip_prefix('{')?.strip_suffix("\"}")?;
    let hash = body.get(body.len().checked_sub(64)?..)?;
    if !hash.bytes().all(|b| b.is_ascii_hexdigit())
        || !body[..body.len() - 64].ends_with(HASH_FIELD)
    {
        return None;
    }
    // Inside a JSON string every quote is escaped, so `"seq":` can only be a key; the record's
    // own `seq` is its only top-level one.
    let at = body.rfind("\"seq\":")? + "\"seq\":".len();
    let digits = body[at..].bytes().take_while(u8::is_ascii_digit).count();
    Some(Mark {
        seq: body[at..at + digits].parse().ok()?,
        hash: hash.to_string(),
    })
}

impl AuditLog {
    /// Opens (creating) the trail in `dir`, continuing its chain, with the default
    /// [`Retention`]. A torn tail is repaired and a mismatch with the head recorded as a tamper
    /// event, both in the chain (see the module docs).
    ///
    /// # Errors
    ///
    /// [`AuditError`] when the directory or its files cannot be read or written.
    pub fn open(dir: &Path) -> Result<Self, AuditError> {
        AuditLog::open_with(dir, Retention::default())
    }

    /// [`AuditLog::open`] with a retention of its own.
    ///
    /// # Errors
    ///
    /// As [`AuditLog::open`].
    pub fn open_with(dir: &Path, retention: Retention) -> Result<Self, AuditError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let mut events = Vec::new();
        let current = dir.join(CURRENT);
        // One read of the current file's tail serves the torn-tail check and the search for
        // its last record, unless it has to be repaired.
        let mut tail = read_tail(&current)?;
        let mut cut = 0;
        if tail
            .as_deref()
            .is_some_and(|t| !t.is_empty() && !ends_with_a_record(t))
        {
            cut = repair_tail(&current)?;
            tail = read_tail(&current)?;
        }
        if cut > 0 {
            events.push(event(
                "repair",
                format!(
                    "cut {cut} byte(s) of a torn record at the end of {CURRENT} (a crash or a full disk during an append)"
                ),
                serde_json::json!({ "bytes": cut }),
            ));
        }
        let (last, seen) = last_record(dir, tail)?;
        let mut chain = match &last {
            Some(m) => Chain {
                seq: m.seq,
                hash: m.hash.clone(),
                head_seq: 0,
                torn: false,
            },
            None => Chain {
                seq: 0,
                hash: GENESIS.to_string(),
                head_seq: 0,
                torn: false,
            },
        };
        let head = Mark::read(&dir.join(HEAD))?;
        let mismatch = match (&head, &last) {
            (None, None) => None,
            (None, Some(m)) => Some(format!(
                "{HEAD} is missing while the trail ends at record {}",
                m.seq
            )),
            (Some(Err(e)), _) => Some(format!("{HEAD} is unreadable ({e})")),
            (Some(Ok(h)), last) => {
                let last = last.clone().unwrap_or(Mark {
                    seq: 0,
                    hash: GENESIS.to_string(),
                });
                if h.seq > last.seq {
                    Some(format!(
                        "{HEAD} names record {} but the trail ends at record {} (records were removed from the end, or a file was deleted)",
                        h.seq, last.seq
                    ))
                } else {
                    match seen.iter().find(|m| m.seq == h.seq) {
                        Some(m) if m.hash != h.hash => Some(format!(
                            "record {} of the trail does not have the hash {HEAD} names (rewritten)",
                            h.seq
                        )),
                        _ if h.seq == 0 && last.seq == 0 && h.hash != GENESIS => {
                            Some(format!("{HEAD} names no record but a hash"))
                        }
                        _ => None,
                    }
                }
            }
        };
        if let Some(message) = mismatch {
            let head_value = match &head {
                Some(Ok(h)) => serde_json::json!({ "seq": h.seq, "hash": h.hash }),
                _ => Value::Null,
            };
            events.push(event(
                "tamper",
                message,
                serde_json::json!({ "head": head_value, "trail-ends-at": chain.seq }),
            ));
        }
        if head.is_none() && last.is_none() && chain.seq == 0 {
            // A new trail: its head exists from the start, so a head that goes missing later
            // is evidence, not a fresh start.
            Mark {
                seq: 0,
                hash: GENESIS.to_string(),
            }
            .write(dir, HEAD, Value::Null)?;
        }
        chain.head_seq = match &head {
            Some(Ok(h)) if h.seq <= chain.seq => h.seq,
            _ => 0,
        };
        let log = AuditLog {
            dir: dir.to_path_buf(),
            retention,
            chain: Mutex::new(chain),
        };
        if !events.is_empty() {
            for e in &events {
                tracing::warn!(kind = %e["kind"], message = %e["message"], "audit trail");
            }
            log.append(events, true)?;
        }
        Ok(log)
    }

    /// Sets when `audit.jsonl` is rotated (the rest of the retention unchanged).
    pub fn with_rotate_bytes(mut self, bytes: u64) -> Self {
        self.retention.rotate_bytes = bytes;
        self
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Chains and appends `records` in one write. When `durable`, syncs it and then the head;
    /// otherwise the records reach the disk with the next synced append (or the page cache's
    /// own write-back), and the head stays where it was. A failed append is cut back off the
    /// file, so it never leaves a torn record for the next one to follow.
    ///
    /// # Errors
    ///
    /// [`AuditError::Io`].
    pub fn append(&self, records: Vec<AuditRecord>, durable: bool) -> Result<(), AuditError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut chain = self.chain.lock().unwrap_or_else(|e| e.into_inner());
        // The head never lags far: what the next open checks against it stays in the tail it
        // reads, and what a crash can cut without a trace stays small.
        let durable = durable || chain.seq - chain.head_seq >= MAX_HEAD_LAG;
        let current = self.dir.join(CURRENT);
        if chain.torn {
            repair_tail(&current)?;
            chain.torn = false;
        }
        let open = || {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&current)
                .map_err(io(&current))
        };
        let mut file = open()?;
        let mut before = file.metadata().map_err(io(&current))?.len();
        let mut records = records;
        if before >= self.retention.rotate_bytes {
            drop(file);
            let rotated = self.dir.join(format!("audit-{:012}.jsonl", chain.seq));
            std::fs::rename(&current, &rotated).map_err(io(&current))?;
            if let Some(prune) = self.prune()? {
                records.insert(0, prune);
            }
            file = open()?;
            before = 0;
        }
        let mut text = String::new();
        let (mut seq, mut prev) = (chain.seq, chain.hash.clone());
        for mut record in records {
            seq += 1;
            record.insert("seq".into(), Value::from(seq));
            record.insert("prev".into(), Value::from(prev.clone()));
            record.remove("hash");
            let body = Value::Object(record).to_string();
            let hash = record_hash(&prev, &body);
            // The stored line is the hashed body with the hash added as one more field;
            // `verify` removes it and re-serialises the rest, which gives the body back. Its
            // last character is the object's closing brace, and it has fields (seq, prev).
            text.push_str(&body[..body.len() - 1]);
            text.push_str(",\"hash\":\"");
            text.push_str(&hash);
            text.push_str("\"}\n");
            prev = hash;
        }
        let written = file
            .write_all(text.as_bytes())
            .and_then(|()| if durable { file.sync_data() } else { Ok(()) });
        if let Err(e) = written {
            // Cut what was written; if even that fails, the next append (or open) repairs it.
            if file.set_len(before).is_err() {
                chain.torn = true;
            }
            return Err(io(&current)(e));
        }
        chain.seq = seq;
        chain.hash = prev;
        if durable {
            Mark {
                seq,
                hash: chain.hash.clone(),
            }
            .write(&self.dir, HEAD, Value::Null)?;
            chain.head_seq = seq;
        }
        Ok(())
    }

    /// Whether the end of the current file holds the `run` record of run `run` (recovery asks
    /// before appending the records of a run it completes).
    pub fn holds_run(&self, run: &str) -> bool {
        let _chain = self.chain.lock().unwrap_or_else(|e| e.into_inner());
        let Ok(tail) = last_lines(&self.dir.join(CURRENT), 1 << 20) else {
            return false;
        };
        let needle = format!("\"run\":{}", Value::from(run));
        tail.lines()
            .any(|l| l.contains(&needle) && l.contains("\"kind\":\"run\""))
    }

    /// Prunes rotated files past the retention, oldest first, after recording the last one
    /// pruned in `audit.checkpoint`. Returns the `prune` record to chain, if anything went.
    fn prune(&self) -> Result<Option<AuditRecord>, AuditError> {
        let rotated: Vec<PathBuf> = files(&self.dir)?
            .into_iter()
            .filter(|p| p.file_name().is_some_and(|n| n != CURRENT))
            .collect();
        let sizes: Vec<(PathBuf, u64, Option<SystemTime>)> = rotated
            .into_iter()
            .map(|p| {
                let meta = std::fs::metadata(&p).ok();
                let len = meta.as_ref().map_or(0, std::fs::Metadata::len);
                let modified = meta.and_then(|m| m.modified().ok());
                (p, len, modified)
            })
            .collect();
        let mut total: u64 = sizes.iter().map(|(_, len, _)| len).sum();
        let now = SystemTime::now();
        let mut doomed = Vec::new();
        for (path, len, modified) in &sizes {
            let too_old = modified
                .and_then(|m| now.duration_since(m).ok())
                .is_some_and(|age| age > self.retention.max_age);
            if total <= self.retention.max_bytes && !too_old {
                break;
            }
            doomed.push(path.clone());
            total -= len;
        }
        let Some(last) = doomed.last() else {
            return Ok(None);
        };
        let text = last_lines(last, 64 * 1024)?;
        let Some(mark) = text.lines().rev().find_map(chained) else {
            return Err(AuditError::Broken {
                file: last.display().to_string(),
                line: 0,
                message: "its last record cannot be read; not pruned".into(),
            });
        };
        mark.write(
            &self.dir,
            CHECKPOINT,
            serde_json::json!({ "time": now_rfc3339(), "files": doomed.len() }),
        )?;
        for path in &doomed {
            std::fs::remove_file(path).map_err(io(path))?;
        }
        Ok(Some(event(
            "prune",
            format!(
                "pruned {} rotated file(s) past the retention, through record {}",
                doomed.len(),
                mark.seq
            ),
            serde_json::json!({ "through-seq": mark.seq, "through-hash": mark.hash }),
        )))
    }
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// Cuts everything after the last whole chained record of `file` (a torn append). Returns the
/// number of bytes cut.
fn repair_tail(file: &Path) -> Result<u64, AuditError> {
    let len = match std::fs::metadata(file) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io(file)(e)),
    };
    if len == 0 {
        return Ok(0);
    }
    // Torn: find the end of the last line that is a whole record.
    let bytes = std::fs::read(file).map_err(io(file))?;
    let mut keep = 0;
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' {
            if std::str::from_utf8(&bytes[start..i])
                .ok()
                .and_then(chained)
                .is_some()
            {
                keep = i + 1;
            }
            start = i + 1;
        }
    }
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(file)
        .map_err(io(file))?;
    f.set_len(keep as u64)
        .and_then(|()| f.sync_data())
        .map_err(io(file))?;
    Ok(len - keep as u64)
}

/// Whether `tail` (the end of a file, from the start of a line) ends with a newline that closes
/// a whole record.
fn ends_with_a_record(tail: &str) -> bool {
    tail.strip_suffix('\n')
        .map(|body| body.rsplit('\n').next().unwrap_or(body))
        .and_then(chained)
        .is_some()
}

/// The end of the current file ([`last_lines`] with the open window); `None` when it does not
/// exist. A tail that is not UTF-8 (garbage written over it) reads as one torn line.
fn read_tail(file: &Path) -> Result<Option<String>, AuditError> {
    match last_lines(file, OPEN_WINDOW) {
        Ok(tail) => Ok(Some(tail)),
        Err(AuditError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(None)
        }
        Err(AuditError::Broken { .. }) => Ok(Some("\0".to_string())),
        Err(e) => Err(e),
    }
}

/// The trail's files, oldest first: rotated ones by sequence, then the current one.
fn files(dir: &Path) -> Result<Vec<PathBuf>, AuditError> {
    let mut rotated: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("audit-") && n.ends_with(".jsonl"))
        })
        .collect();
    rotated.sort();
    let current = dir.join(CURRENT);
    if current.exists() {
        rotated.push(current);
    }
    Ok(rotated)
}

/// The last record of the trail, and the marks of the records read to find it (the tail of
/// the file that holds it), for comparing with the head.
fn last_record(
    dir: &Path,
    current_tail: Option<String>,
) -> Result<(Option<Mark>, Vec<Mark>), AuditError> {
    let current = dir.join(CURRENT);
    for file in files(dir)?.iter().rev() {
        let text = match (&current_tail, *file == current) {
            (Some(tail), true) => tail.clone(),
            _ => last_lines(file, OPEN_WINDOW)?,
        };
        let seen: Vec<Mark> = text.lines().filter_map(chained).collect();
        if let Some(last) = text.lines().rev().find(|l| !l.trim().is_empty()) {
            let mark = chained(last).ok_or_else(|| AuditError::Broken {
                file: file.display().to_string(),
                // Only the file's tail was read, so the line number is not known here.
                line: 0,
                message: "its last record is not a chained record".into(),
            })?;
            return Ok((Some(mark), seen));
        }
    }
    Ok((None, Vec::new()))
}

/// The end of `file`, from the start of a line, holding at least its last whole line (and at
/// least `window` bytes when the file is that long): every start continues the chain, and the
/// current file grows to the rotation size, so only its tail is read.
fn last_lines(file: &Path, window: u64) -> Result<String, AuditError> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(file).map_err(io(file))?;
    let len = f.metadata().map_err(io(file))?.len();
    let mut back = window.min(len);
    loop {
        f.seek(SeekFrom::Start(len - back)).map_err(io(file))?;
        let mut bytes = Vec::with_capacity(usize::try_from(back).unwrap_or(0));
        f.read_to_end(&mut bytes).map_err(io(file))?;
        if back == len {
            return String::from_utf8(bytes).map_err(|e| AuditError::Broken {
                file: file.display().to_string(),
                line: 0,
                message: format!("not UTF-8: {e}"),
            });
        }
        // Skip the partial line the seek landed in; the rest must hold a whole record.
        let trimmed = bytes.trim_ascii_end();
        if let Some(first_break) = trimmed.iter().position(|&b| b == b'\n') {
            let tail = String::from_utf8_lossy(&bytes[first_break + 1..]).into_owned();
            return Ok(tail);
        }
        back = (back * 4).min(len);
    }
}

/// What [`verify`] found in an intact trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditSummary {
    /// Records checked.
    pub records: u64,
    /// Files checked.
    pub files: usize,
    /// `seq` of the first record present (above 1 when old rotated files were pruned behind a
    /// checkpoint).
    pub first_seq: u64,
    /// Hash of the last record (anchor it elsewhere to detect a rewritten tail).
    pub last_hash: String,
    /// The `tamper` records of the chain: evidence found at an earlier start (see the module
    /// docs), one line each.
    pub tamper_events: Vec<String>,
    /// The `repair` records of the chain (torn tails cut at start), one line each.
    pub repairs: Vec<String>,
}

/// Verifies the whole chain in `dir` against itself, `audit.checkpoint` and `audit.head`.
///
/// # Errors
///
/// [`AuditError::Broken`] naming the first broken record, or [`AuditError::Io`].
pub fn verify(dir: &Path) -> Result<AuditSummary, AuditError> {
    let files = files(dir)?;
    let mut expected_seq: Option<u64> = None;
    let mut prev: Option<String> = None;
    let mut records = 0;
    let mut first_seq = 0;
    let mut first_prev = String::new();
    let mut tamper_events = Vec::new();
    let mut repairs = Vec::new();
    let mut marks: std::collections::HashMap<u64, String> = std::collections::HashMap::new();
    for file in &files {
        let name = file.display().to_string();
        let text = std::fs::read_to_string(file).map_err(io(file))?;
        if !text.is_empty() && !text.ends_with('\n') {
            return Err(AuditError::Broken {
                file: name,
                line: text.lines().count(),
                message: "torn last record (a crash or a full disk during an append); the next start of the agent cuts it".into(),
            });
        }
        for (i, line) in text.lines().enumerate() {
            let broken = |message: String| AuditError::Broken {
                file: name.clone(),
                line: i + 1,
                message,
            };
            let Value::Object(mut record) = serde_json::from_str::<Value>(line)
                .map_err(|e| broken(format!("not a JSON record: {e}")))?
            else {
                return Err(broken("not a JSON object".into()));
            };
            let hash = match record.remove("hash") {
                Some(Value::String(h)) => h,
                _ => return Err(broken("no hash".into())),
            };
            let seq = record["seq"]
                .as_u64()
                .ok_or_else(|| broken("no seq".into()))?;
            let record_prev = record["prev"]
                .as_str()
                .ok_or_else(|| broken("no prev".into()))?
                .to_string();
            match expected_seq {
                Some(want) if seq != want => {
                    return Err(broken(format!(
                        "seq {seq} where {want} was expected (records deleted, inserted or reordered)"
                    )));
                }
                None => {
                    first_seq = seq;
                    first_prev = record_prev.clone();
                }
                _ => {}
            }
            if let Some(p) = &prev
                && *p != record_prev
            {
                return Err(broken(
                    "prev does not match the previous record's hash".into(),
                ));
            }
            if seq == 1 && record_prev != GENESIS {
                return Err(broken("the first record does not start the chain".into()));
            }
            let body = Value::Object(record.clone()).to_string();
            if record_hash(&record_prev, &body) != hash {
                return Err(broken("hash does not match the record (edited)".into()));
            }
            let describe = || {
                format!(
                    "record {seq} ({}): {}",
                    record["time"].as_str().unwrap_or("?"),
                    record["message"].as_str().unwrap_or("")
                )
            };
            match record["kind"].as_str() {
                Some("tamper") => tamper_events.push(describe()),
                Some("repair") => repairs.push(describe()),
                _ => {}
            }
            marks.insert(seq, hash.clone());
            expected_seq = Some(seq + 1);
            prev = Some(hash);
            records += 1;
        }
    }
    if first_seq > 1 {
        let path = dir.join(CHECKPOINT);
        let broken = |message: String| AuditError::Broken {
            file: path.display().to_string(),
            line: 0,
            message,
        };
        match Mark::read(&path)? {
            Some(Ok(c)) if c.seq + 1 == first_seq && c.hash == first_prev => {}
            Some(Ok(c)) => {
                return Err(broken(format!(
                    "the checkpoint covers records through {} but the trail starts at record {first_seq} with another link (records or files deleted)",
                    c.seq
                )));
            }
            Some(Err(e)) => return Err(broken(format!("unreadable: {e}"))),
            None => {
                return Err(broken(format!(
                    "missing while the trail starts at record {first_seq}: records 1 to {} were deleted without a checkpoint",
                    first_seq - 1
                )));
            }
        }
    }
    let head_path = dir.join(HEAD);
    let last_hash = prev.unwrap_or_else(|| GENESIS.to_string());
    let last_seq = expected_seq.map_or(0, |s| s - 1);
    let broken_head = |message: String| AuditError::Broken {
        file: head_path.display().to_string(),
        line: 0,
        message,
    };
    match Mark::read(&head_path)? {
        Some(Err(e)) => return Err(broken_head(e)),
        Some(Ok(head)) => {
            // The head may lag behind appends made without a sync, never run ahead.
            let matches = if head.seq == 0 {
                head.hash == GENESIS
            } else {
                marks.get(&head.seq) == Some(&head.hash)
            };
            if head.seq > last_seq || !matches {
                return Err(broken_head(format!(
                    "the head names record {} but the trail ends at record {last_seq} (records were removed from the end, or the head was changed)",
                    head.seq
                )));
            }
        }
        None if records > 0 => {
            return Err(broken_head("missing while the trail has records".into()));
        }
        None => {}
    }
    Ok(AuditSummary {
        records,
        files: files.len(),
        first_seq,
        last_hash,
        tamper_events,
        repairs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: u64) -> AuditRecord {
        let mut r = Map::new();
        r.insert("kind".into(), Value::from("call"));
        r.insert("target".into(), Value::from(format!("HKLM\\X\\{n}")));
        r
    }

    fn trail(n: u64) -> (tempfile::TempDir, AuditLog) {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(dir.path()).unwrap();
        for i in 0..n {
            log.append(vec![record(i)], true).unwrap();
        }
        (dir, log)
    }

    fn lines(dir: &Path) -> Vec<String> {
        std::fs::read_to_string(dir.join(CURRENT))
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn write_lines(dir: &Path, lines: &[String]) {
        std::fs::write(dir.join(CURRENT), lines.join("\n") + "\n").unwrap();
    }

    fn broken_message(dir: &Path) -> String {
        match verify(dir) {
            Err(e @ AuditError::Broken { .. }) => e.to_string(),
            other => panic!("expected a broken chain, got {other:?}"),
        }
    }

    #[test]
    fn an_intact_trail_verifies_and_reopening_continues_the_chain() {
        let (dir, log) = trail(3);
        drop(log);
        let log = AuditLog::open(dir.path()).unwrap();
        log.append(vec![record(10), record(11)], true).unwrap();
        let s = verify(dir.path()).unwrap();
        assert_eq!((s.records, s.first_seq, s.files), (5, 1, 1));
    }

    #[test]
    fn reopening_a_large_trail_continues_from_its_tail() {
        // Opening reads only the tail of the current file; a file far larger than the tail
        // window, and a last record longer than it, must still continue the chain.
        let (dir, log) = trail(0);
        for i in 0..1_500 {
            log.append(vec![record(i)], true).unwrap();
        }
        let mut long = record(99_999);
        long.insert("target".into(), Value::from("x".repeat(200_000)));
        log.append(vec![long], true).unwrap();
        drop(log);
        assert!(std::fs::metadata(dir.path().join(CURRENT)).unwrap().len() > 4 * 64 * 1024);
        let log = AuditLog::open(dir.path()).unwrap();
        log.append(vec![record(1)], true).unwrap();
        let s = verify(dir.path()).unwrap();
        assert_eq!(s.records, 1_502);
    }

    #[test]
    fn an_edited_field_is_detected() {
        let (dir, _log) = trail(4);
        let mut l = lines(dir.path());
        l[1] = l[1].replace("HKLM\\\\X\\\\1", "HKLM\\\\X\\\\9");
        assert_ne!(l[1], lines(dir.path())[1], "the edit happened");
        write_lines(dir.path(), &l);
        assert!(broken_message(dir.path()).contains(":2: hash does not match"));
    }

    #[test]
    fn a_deleted_line_is_detected() {
        let (dir, _log) = trail(4);
        let mut l = lines(dir.path());
        l.remove(1);
        write_lines(dir.path(), &l);
        assert!(broken_message(dir.path()).contains(":2: seq 3 where 2 was expected"));
    }

    #[test]
    fn swapped_lines_are_detected() {
        let (dir, _log) = trail(4);
        let mut l = lines(dir.path());
        l.swap(1, 2);
        write_lines(dir.path(), &l);
        assert!(broken_message(dir.path()).contains(":2: seq 3 where 2 was expected"));
    }

    #[test]
    fn a_truncated_tail_is_detected_against_the_head() {
        let (dir, _log) = trail(4);
        let mut l = lines(dir.path());
        l.pop();
        write_lines(dir.path(), &l);
        assert!(
            broken_message(dir.path())
                .contains("head names record 4 but the trail ends at record 3")
        );
    }

    #[test]
    fn a_recomputed_record_still_breaks_the_next_link() {
        // Editing a record and fixing its own hash is caught by the next record's prev.
        let (dir, _log) = trail(3);
        let mut l = lines(dir.path());
        let mut v: Map<String, Value> = serde_json::from_str(&l[0]).unwrap();
        v.insert("target".into(), Value::from("forged"));
        v.remove("hash");
        let prev = v["prev"].as_str().unwrap().to_string();
        let hash = record_hash(&prev, &Value::Object(v.clone()).to_string());
        v.insert("hash".into(), Value::from(hash));
        l[0] = Value::Object(v).to_string();
        write_lines(dir.path(), &l);
        assert!(broken_message(dir.path()).contains(":2: prev does not match"));
    }

    #[test]
    fn rotation_keeps_the_chain_and_a_missing_middle_file_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(dir.path()).unwrap().with_rotate_bytes(300);
        for i in 0..12 {
            log.append(vec![record(i)], true).unwrap();
        }
        let s = verify(dir.path()).unwrap();
        assert_eq!(s.records, 12);
        assert!(s.files >= 3, "rotated: {s:?}");
        // Removing one from the middle breaks the chain.
        let all = files(dir.path()).unwrap();
        std::fs::remove_file(&all[1]).unwrap();
        assert!(broken_message(dir.path()).contains("was expected"));
        // Removing the oldest without a checkpoint is detected too.
        std::fs::remove_file(&all[0]).unwrap();
        assert!(broken_message(dir.path()).contains("without a checkpoint"));
    }

    #[test]
    fn a_torn_tail_is_cut_at_open_and_the_repair_recorded() {
        let (dir, log) = trail(3);
        drop(log);
        let current = dir.path().join(CURRENT);
        let len = std::fs::metadata(&current).unwrap().len();
        // A crash mid-append: half a record, then zeros a file system may leave.
        let mut bytes = std::fs::read(&current).unwrap();
        bytes.extend_from_slice(br#"{"kind":"call","seq":4,"pr"#);
        bytes.extend_from_slice(&[0; 100]);
        std::fs::write(&current, &bytes).unwrap();
        assert!(broken_message(dir.path()).contains("torn last record"));
        let log = AuditLog::open(dir.path()).unwrap();
        log.append(vec![record(4)], true).unwrap();
        let s = verify(dir.path()).unwrap();
        assert_eq!(s.records, 5, "3 + the repair + 1");
        assert_eq!(s.repairs.len(), 1, "{s:?}");
        assert!(s.repairs[0].contains(&format!("cut {} byte(s)", bytes.len() as u64 - len)));
        assert!(s.tamper_events.is_empty());
    }

    #[test]
    fn a_failed_append_leaves_no_torn_record() {
        let (dir, log) = trail(2);
        // The records cannot be written (the file is a directory now): the chain does not move.
        std::fs::remove_file(dir.path().join(CURRENT)).unwrap();
        std::fs::create_dir(dir.path().join(CURRENT)).unwrap();
        assert!(log.append(vec![record(3)], true).is_err());
        std::fs::remove_dir(dir.path().join(CURRENT)).unwrap();
        let chain = log.chain.lock().unwrap();
        assert_eq!(chain.seq, 2);
    }

    #[test]
    fn records_removed_from_the_end_are_recorded_as_tampering_that_stays() {
        for damage in ["truncate", "empty", "delete", "head"] {
            let (dir, log) = trail(5);
            drop(log);
            let current = dir.path().join(CURRENT);
            match damage {
                "truncate" => {
                    let l = lines(dir.path());
                    write_lines(dir.path(), &l[..3]);
                }
                "empty" => std::fs::write(&current, b"").unwrap(),
                "delete" => std::fs::remove_file(&current).unwrap(),
                _ => std::fs::remove_file(dir.path().join(HEAD)).unwrap(),
            }
            let log = AuditLog::open(dir.path()).unwrap();
            log.append(vec![record(9)], true).unwrap();
            drop(log);
            // Reopened again: the evidence is part of the chain, not re-derived from the head.
            let log = AuditLog::open(dir.path()).unwrap();
            log.append(vec![record(10)], true).unwrap();
            let s = verify(dir.path()).unwrap();
            assert_eq!(s.tamper_events.len(), 1, "{damage}: {s:?}");
        }
    }

    #[test]
    fn a_head_that_lags_behind_unsynced_records_is_no_tampering() {
        let (dir, log) = trail(2);
        log.append(vec![record(3)], false).unwrap();
        log.append(vec![record(4)], false).unwrap();
        drop(log);
        let s = verify(dir.path()).unwrap();
        assert_eq!(s.records, 4);
        let log = AuditLog::open(dir.path()).unwrap();
        log.append(vec![record(5)], true).unwrap();
        let s = verify(dir.path()).unwrap();
        assert!(s.tamper_events.is_empty() && s.repairs.is_empty(), "{s:?}");
        // A head naming a record whose hash differs is not a lag.
        let mut head: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join(HEAD)).unwrap()).unwrap();
        head["seq"] = Value::from(3);
        std::fs::write(dir.path().join(HEAD), head.to_string()).unwrap();
        assert!(broken_message(dir.path()).contains("head names record 3"));
    }

    #[test]
    fn retention_prunes_old_files_behind_a_checkpoint_and_the_trail_still_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let retention = Retention {
            rotate_bytes: 400,
            max_bytes: 1_500,
            max_age: Duration::from_secs(3600),
        };
        let log = AuditLog::open_with(dir.path(), retention).unwrap();
        for i in 0..60 {
            log.append(vec![record(i)], true).unwrap();
        }
        let s = verify(dir.path()).unwrap();
        assert!(s.first_seq > 1, "pruned: {s:?}");
        let rotated: u64 = files(dir.path())
            .unwrap()
            .iter()
            .filter(|p| p.file_name().is_some_and(|n| n != CURRENT))
            .map(|p| std::fs::metadata(p).unwrap().len())
            .sum();
        assert!(rotated <= 1_500, "bounded: {rotated}");
        let trail: String = files(dir.path())
            .unwrap()
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect();
        assert!(trail.contains(r#""kind":"prune""#));
        // The checkpoint is what lets the pruned trail verify.
        std::fs::remove_file(dir.path().join(CHECKPOINT)).unwrap();
        assert!(broken_message(dir.path()).contains("without a checkpoint"));
    }

    #[test]
    fn a_pass_that_changes_nothing_costs_one_small_unsynced_record() {
        let (dir, log) = trail(1);
        let head = std::fs::read_to_string(dir.path().join(HEAD)).unwrap();
        let before = std::fs::metadata(dir.path().join(CURRENT)).unwrap().len();
        let mut pass = Map::new();
        pass.insert("kind".into(), Value::from("pass"));
        pass.insert("settings".into(), Value::from(30));
        log.append(vec![pass], false).unwrap();
        let grew = std::fs::metadata(dir.path().join(CURRENT)).unwrap().len() - before;
        assert!(grew < 400, "{grew} bytes");
        assert_eq!(
            std::fs::read_to_string(dir.path().join(HEAD)).unwrap(),
            head,
            "the head is only moved by synced appends"
        );
    }
}
