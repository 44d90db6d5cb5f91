//! The audit trail: an append-only, hash-chained JSON-lines record of what plugins did.
//!
//! Every plugin run that goes through a [`crate::Journal`] with an audit log attached
//! ([`crate::Journal::with_audit`]) appends, when it ends, one record per capability call
//! (operation, target, allowed or denied), one per change (old → new) with the decision
//! (committed or rolled back), and one for the run itself. Records are buffered per run and
//! written once per run, then fsynced, so the hot path only pushes to a vector.
//!
//! # Chain
//!
//! Each line is a JSON object with `seq` (1, 2, …), `prev` (the previous record's `hash`; 64
//! zeros for the first record ever) and `hash` = sha256(`prev` ‖ `"\n"` ‖ the line's JSON
//! without `hash`), hex. `audit.jsonl` is the current file; when it passes
//! [`DEFAULT_ROTATE_BYTES`] it is renamed to `audit-<last seq>.jsonl` and the next record, in a
//! new `audit.jsonl`, carries on the chain (its `prev` is the last hash of the rotated file).
//! `audit.head` holds the last `seq` and `hash`, rewritten atomically after each append.
//!
//! # What [`verify`] detects, and what it cannot
//!
//! It detects an edited record (its hash no longer matches), a deleted, inserted or reordered
//! record (a `seq` gap or a `prev` mismatch), a rotated file deleted from the middle, and a
//! truncated tail (the last record no longer matches `audit.head`). It cannot detect someone
//! who rewrites the whole chain from some point on, head included: the chain proves internal
//! consistency, not authorship. Anchor it outside the device (ship `audit.head`'s hash to a
//! collector) to detect that. Deleting the oldest rotated files is reported as the chain
//! starting at a later `seq`, not as tampering, so retention can prune them.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Size past which `audit.jsonl` is rotated.
pub const DEFAULT_ROTATE_BYTES: u64 = 8 << 20;

/// `prev` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const CURRENT: &str = "audit.jsonl";
const HEAD: &str = "audit.head";

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
}

/// An append-only audit trail in a directory.
#[derive(Debug)]
pub struct AuditLog {
    dir: PathBuf,
    rotate_bytes: u64,
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

impl AuditLog {
    /// Opens (creating) the trail in `dir`, continuing its chain.
    ///
    /// # Errors
    ///
    /// [`AuditError`] when the directory cannot be created or the last record cannot be read.
    pub fn open(dir: &Path) -> Result<Self, AuditError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let chain = match last_record(dir)? {
            Some((seq, hash)) => Chain { seq, hash },
            None => Chain {
                seq: 0,
                hash: GENESIS.to_string(),
            },
        };
        Ok(AuditLog {
            dir: dir.to_path_buf(),
            rotate_bytes: DEFAULT_ROTATE_BYTES,
            chain: Mutex::new(chain),
        })
    }

    /// Rotates `audit.jsonl` once it passes `bytes` (default [`DEFAULT_ROTATE_BYTES`]).
    pub fn with_rotate_bytes(mut self, bytes: u64) -> Self {
        self.rotate_bytes = bytes;
        self
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Chains and appends `records` in one write, then fsyncs and updates the head.
    ///
    /// # Errors
    ///
    /// [`AuditError::Io`].
    pub fn append(&self, records: Vec<AuditRecord>) -> Result<(), AuditError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut chain = self.chain.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.dir.join(CURRENT);
        if std::fs::metadata(&current).is_ok_and(|m| m.len() >= self.rotate_bytes) {
            let rotated = self.dir.join(format!("audit-{:012}.jsonl", chain.seq));
            std::fs::rename(&current, &rotated).map_err(io(&current))?;
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
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&current)
            .map_err(io(&current))?;
        file.write_all(text.as_bytes()).map_err(io(&current))?;
        file.sync_data().map_err(io(&current))?;
        let head = self.dir.join(HEAD);
        let tmp = self.dir.join(".audit.head.tmp");
        std::fs::write(
            &tmp,
            serde_json::json!({ "seq": seq, "hash": prev }).to_string(),
        )
        .map_err(io(&tmp))?;
        std::fs::rename(&tmp, &head).map_err(io(&head))?;
        chain.seq = seq;
        chain.hash = prev;
        Ok(())
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

fn last_record(dir: &Path) -> Result<Option<(u64, String)>, AuditError> {
    for file in files(dir)?.iter().rev() {
        let text = last_lines(file)?;
        if let Some(line) = text.lines().rev().find(|l| !l.trim().is_empty()) {
            let v: Value = serde_json::from_str(line).map_err(|e| AuditError::Broken {
                file: file.display().to_string(),
                // Only the file's tail was read, so the line number is not known here.
                line: 0,
                message: format!("its last record is not JSON: {e}"),
            })?;
            let seq = v["seq"].as_u64().unwrap_or(0);
            let hash = v["hash"].as_str().unwrap_or(GENESIS).to_string();
            return Ok(Some((seq, hash)));
        }
    }
    Ok(None)
}

/// The end of `file`, from the start of a line, holding at least its last whole line: every
/// start (`rampart apply` is one) continues the chain, and the current file grows to
/// [`DEFAULT_ROTATE_BYTES`], so only its tail is read.
fn last_lines(file: &Path) -> Result<String, AuditError> {
    use std::io::{Read, Seek, SeekFrom};
    const TAIL: u64 = 64 * 1024;
    let mut f = std::fs::File::open(file).map_err(io(file))?;
    let len = f.metadata().map_err(io(file))?.len();
    let mut back = TAIL.min(len);
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
    /// `seq` of the first record present (above 1 when old rotated files were pruned).
    pub first_seq: u64,
    /// Hash of the last record (anchor it elsewhere to detect a rewritten tail).
    pub last_hash: String,
}

/// Verifies the whole chain in `dir` against itself and `audit.head`.
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
    for file in &files {
        let name = file.display().to_string();
        let text = std::fs::read_to_string(file).map_err(io(file))?;
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
                None => first_seq = seq,
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
            let body = Value::Object(record).to_string();
            if record_hash(&record_prev, &body) != hash {
                return Err(broken("hash does not match the record (edited)".into()));
            }
            expected_seq = Some(seq + 1);
            prev = Some(hash);
            records += 1;
        }
    }
    let head_path = dir.join(HEAD);
    let head = match std::fs::read_to_string(&head_path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(&head_path)(e)),
    };
    let last_hash = prev.unwrap_or_else(|| GENESIS.to_string());
    let last_seq = expected_seq.map_or(0, |s| s - 1);
    let broken_head = |message: String| AuditError::Broken {
        file: head_path.display().to_string(),
        line: 0,
        message,
    };
    match head {
        Some(text) => {
            let head: Value =
                serde_json::from_str(&text).map_err(|e| broken_head(format!("not JSON: {e}")))?;
            if head["seq"].as_u64() != Some(last_seq) || head["hash"].as_str() != Some(&last_hash) {
                return Err(broken_head(format!(
                    "the head names record {} but the trail ends at record {last_seq} (records were removed from the end, or the head was changed)",
                    head["seq"]
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
            log.append(vec![record(i)]).unwrap();
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
        log.append(vec![record(10), record(11)]).unwrap();
        let s = verify(dir.path()).unwrap();
        assert_eq!((s.records, s.first_seq, s.files), (5, 1, 1));
    }

    #[test]
    fn reopening_a_large_trail_continues_from_its_tail() {
        // Opening reads only the tail of the current file; a file far larger than the tail
        // window, and a last record longer than it, must still continue the chain.
        let (dir, log) = trail(0);
        for i in 0..1_500 {
            log.append(vec![record(i)]).unwrap();
        }
        let mut long = record(99_999);
        long.insert("target".into(), Value::from("x".repeat(200_000)));
        log.append(vec![long]).unwrap();
        drop(log);
        assert!(std::fs::metadata(dir.path().join(CURRENT)).unwrap().len() > 4 * 64 * 1024);
        let log = AuditLog::open(dir.path()).unwrap();
        log.append(vec![record(1)]).unwrap();
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
            log.append(vec![record(i)]).unwrap();
        }
        let s = verify(dir.path()).unwrap();
        assert_eq!(s.records, 12);
        assert!(s.files >= 3, "rotated: {s:?}");
        // Pruning the oldest file is retention, not tampering.
        let all = files(dir.path()).unwrap();
        std::fs::remove_file(&all[0]).unwrap();
        let s = verify(dir.path()).unwrap();
        assert!(s.first_seq > 1);
        // Removing one from the middle breaks the chain.
        let all = files(dir.path()).unwrap();
        std::fs::remove_file(&all[1]).unwrap();
        assert!(broken_message(dir.path()).contains("was expected"));
    }
}
