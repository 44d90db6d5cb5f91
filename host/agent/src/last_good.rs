//! The last good version of every policy file, kept in the state directory.
//!
//! A policy file that cannot be read or parsed (a torn download, a half-written file, a disk
//! error) does not withdraw the policies it held: a setting is removed only when a readable input
//! does not assign it. So each file read successfully is kept in `<state>/last-good/`
//! (content-addressed, with an index by path), and a file that fails later is enforced from that
//! copy, every document of it (a file may hold several: a Graph list, a JSON array), the report
//! saying which file, why, and since when. A file is read whole or not at all
//! ([`graph::parse_policies`]): one bad element sends the whole file back to its last good
//! version. A directory that cannot be read keeps every document last read from it. A file that
//! is gone from a readable directory is withdrawn, and its copy with it; so is a readable file
//! that holds no policy (an empty Graph list), whose note says so.
//!
//! The store keeps each file's bytes, not its parsed documents: the index maps a path to the
//! sha256 of the last good bytes, and a fallback parses them again, so the store's format does
//! not depend on the layouts the parser reads.
//!
//! Reading ([`read_policies`]) writes nothing, so bad input is still refused before the state is
//! touched; the caller saves the outcome ([`Outcome::save`]) once it owns the state.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use rampart_policy::graph::{self, Note, PolicyDocument, PolicyError};
use rampart_runtime::report::StaleInput;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::state::write_atomic;

const INDEX: &str = "index.json";

/// What the store remembers of one policy file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    /// sha256 of the last good contents (the file `<sha256>.json` beside the index).
    sha256: String,
    /// When those contents were read.
    read_at: String,
    /// Since when the current file has been unreadable, if it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    failing_since: Option<String>,
}

/// The policy documents of a pass: those of the files read now, the last good documents of
/// the files that could not be, and the errors.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) documents: Vec<PolicyDocument>,
    pub(crate) errors: Vec<PolicyError>,
    pub(crate) stale: Vec<StaleInput>,
    /// What the files read now say about themselves (a page of a longer Graph list, a file that
    /// holds no policy), for the caller to show.
    pub(crate) notes: Vec<Note>,
    /// The store's index after this pass, and the contents to add to it.
    index: BTreeMap<String, Entry>,
    new_contents: Vec<(String, Vec<u8>)>,
    changed: bool,
}

fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

fn load_index(dir: &Path) -> BTreeMap<String, Entry> {
    // An unreadable index only loses the fallback, never a policy: the current files are read.
    std::fs::read(dir.join(INDEX))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// Reads every policy document of `paths` (files, or directories of `.json` files), falling
/// back to the last good version kept in `dir` for each file that cannot be read or parsed, and
/// for every file last read from a path (a directory) that cannot be read itself now. Writes
/// nothing.
pub(crate) fn read_policies(paths: &[PathBuf], dir: &Path) -> Outcome {
    let old = load_index(dir);
    let mut out = Outcome::default();
    let time = now();
    for path in paths {
        let files = match list(path) {
            Ok(files) => files,
            Err(source) => {
                // The whole input is unreadable: every document it held stays as it was.
                let error = PolicyError::Io {
                    path: path.clone(),
                    source,
                };
                let under: Vec<&String> = old
                    .keys()
                    .filter(|k| Path::new(k.as_str()).starts_with(path))
                    .collect();
                for key in under {
                    out.fall_back(&old, key, &error.to_string(), dir, &time);
                }
                out.errors.push(error);
                continue;
            }
        };
        for file in files {
            out.read(&old, &file, dir, &time);
        }
    }
    // Documents gone from a readable input are withdrawn: their copies go too.
    if old.keys().any(|k| !out.index.contains_key(k)) {
        out.changed = true;
    }
    out
}

/// The policy files of one `--policies` path: the path itself, or a directory's `.json` files,
/// sorted.
pub(crate) fn list(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if !std::fs::metadata(path)?.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .is_some_and(|x| x.eq_ignore_ascii_case("json"))
        })
        .collect();
    files.sort();
    Ok(files)
}

impl Outcome {
    /// Reads one policy file: its documents, or its last good documents in their place.
    fn read(&mut self, old: &BTreeMap<String, Entry>, file: &Path, dir: &Path, time: &str) {
        let key = file.display().to_string();
        let parsed = std::fs::read(file)
            .map_err(|source| PolicyError::Io {
                path: file.to_path_buf(),
                source,
            })
            .and_then(|bytes| graph::parse_policies(&bytes, &key).map(|read| (read, bytes)));
        match parsed {
            Ok((read, bytes)) => {
                let sha256 = format!("{:x}", Sha256::digest(&bytes));
                let entry = match old.get(&key) {
                    Some(e) if e.sha256 == sha256 && e.failing_since.is_none() => e.clone(),
                    _ => {
                        self.changed = true;
                        self.new_contents.push((sha256.clone(), bytes));
                        Entry {
                            sha256,
                            read_at: time.to_string(),
                            failing_since: None,
                        }
                    }
                };
                self.index.insert(key, entry);
                self.documents.extend(read.documents);
                self.notes.extend(read.notes);
            }
            Err(error) => {
                self.fall_back(old, &key, &error.to_string(), dir, time);
                self.errors.push(error);
            }
        }
    }

    /// Enforces the last good version of the file at `key`, every document of it, if there is
    /// one, because the current one cannot be used (`reason`).
    fn fall_back(
        &mut self,
        old: &BTreeMap<String, Entry>,
        key: &str,
        reason: &str,
        dir: &Path,
        time: &str,
    ) {
        let Some(entry) = old.get(key) else {
            return;
        };
        let Some(kept) = std::fs::read(dir.join(format!("{}.json", entry.sha256)))
            .ok()
            .and_then(|bytes| graph::parse_policies(&bytes, key).ok())
        else {
            return;
        };
        let since = entry
            .failing_since
            .clone()
            .unwrap_or_else(|| time.to_string());
        self.stale.push(StaleInput {
            path: key.to_string(),
            reason: reason.to_string(),
            since: since.clone(),
            last_good_at: entry.read_at.clone(),
        });
        if entry.failing_since.is_none() {
            self.changed = true;
        }
        self.index.insert(
            key.to_string(),
            Entry {
                failing_since: Some(since),
                ..entry.clone()
            },
        );
        self.documents.extend(kept.documents);
    }

    /// The embedded example documents: nothing to keep.
    pub(crate) fn embedded(documents: Vec<PolicyDocument>) -> Outcome {
        Outcome {
            documents,
            ..Outcome::default()
        }
    }

    /// Saves the store's new state in `dir`: new contents first (synced), then the index
    /// (atomically), then the contents no entry names any more. Call it while owning the state.
    pub(crate) fn save(&mut self, dir: &Path) -> anyhow::Result<()> {
        if !self.changed {
            return Ok(());
        }
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create '{}'", dir.display()))?;
        for (sha256, bytes) in self.new_contents.drain(..) {
            let path = dir.join(format!("{sha256}.json"));
            if !path.exists() {
                write_atomic(&path, &bytes)?;
            }
        }
        let index = serde_json::to_vec_pretty(&self.index)?;
        write_atomic(&dir.join(INDEX), &index)?;
        let named: std::collections::HashSet<String> = self
            .index
            .values()
            .map(|e| format!("{}.json", e.sha256))
            .collect();
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name != INDEX && name.ends_with(".json") && !named.contains(&name) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        self.changed = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str =
        r#"{"name":"P","platforms":"windows10","technologies":"mdm,microsoftSense","settings":[]}"#;

    #[test]
    fn a_torn_file_is_enforced_from_its_last_good_version_until_repaired() {
        let inputs = tempfile::tempdir().unwrap();
        let store = tempfile::tempdir().unwrap();
        let file = inputs.path().join("p.json");
        std::fs::write(&file, POLICY).unwrap();
        let mut first = read_policies(std::slice::from_ref(&file), store.path());
        assert_eq!(first.documents.len(), 1);
        assert!(first.errors.is_empty() && first.stale.is_empty());
        first.save(store.path()).unwrap();

        std::fs::write(&file, &POLICY[..20]).unwrap();
        let mut torn = read_policies(std::slice::from_ref(&file), store.path());
        assert_eq!(torn.documents.len(), 1, "the last good version stands in");
        assert_eq!(torn.errors.len(), 1);
        assert_eq!(torn.stale.len(), 1);
        assert_eq!(torn.stale[0].path, file.display().to_string());
        let since = torn.stale[0].since.clone();
        torn.save(store.path()).unwrap();
        // Still torn later: the same "since".
        let again = read_policies(std::slice::from_ref(&file), store.path());
        assert_eq!(again.stale[0].since, since);

        std::fs::write(&file, POLICY).unwrap();
        let repaired = read_policies(std::slice::from_ref(&file), store.path());
        assert!(repaired.stale.is_empty() && repaired.errors.is_empty());
    }

    /// A Graph list response holding `POLICY` named P and Q.
    fn list() -> String {
        format!(
            r#"{{"@odata.context": "c", "value": [{POLICY}, {}]}}"#,
            POLICY.replace("\"P\"", "\"Q\"")
        )
    }

    fn names(out: &Outcome) -> Vec<&str> {
        out.documents.iter().map(|d| d.name.as_str()).collect()
    }

    #[test]
    fn a_torn_list_file_keeps_every_document_it_held() {
        let inputs = tempfile::tempdir().unwrap();
        let store = tempfile::tempdir().unwrap();
        let file = inputs.path().join("all.json");
        std::fs::write(&file, list()).unwrap();
        let mut first = read_policies(std::slice::from_ref(&file), store.path());
        assert_eq!(names(&first), ["P", "Q"]);
        assert_eq!(
            first.documents[1].origin,
            format!("{}#value[1]", file.display())
        );
        first.save(store.path()).unwrap();

        // Torn, or with one bad element: the file falls back whole, both documents stand.
        let bad_element = list().replace(r#""name":"P","#, "");
        for broken in [&list()[..list().len() / 2], bad_element.as_str()] {
            std::fs::write(&file, broken).unwrap();
            let torn = read_policies(std::slice::from_ref(&file), store.path());
            assert_eq!(names(&torn), ["P", "Q"], "{broken}");
            assert_eq!(torn.errors.len(), 1);
            assert_eq!(torn.stale.len(), 1, "one stale input: the file");
            assert_eq!(torn.stale[0].path, file.display().to_string());
        }
    }

    #[test]
    fn a_stored_single_policy_file_loads_as_one_document() {
        let inputs = tempfile::tempdir().unwrap();
        let store = tempfile::tempdir().unwrap();
        let file = inputs.path().join("p.json");
        // The index and contents as a store of one-policy files holds them.
        let sha256 = format!("{:x}", Sha256::digest(POLICY.as_bytes()));
        std::fs::write(store.path().join(format!("{sha256}.json")), POLICY).unwrap();
        let index = serde_json::json!({
            file.display().to_string(): {"sha256": sha256, "readAt": "2026-01-01T00:00:00Z"}
        });
        std::fs::write(store.path().join(INDEX), index.to_string()).unwrap();

        std::fs::write(&file, "{").unwrap();
        let mut torn = read_policies(std::slice::from_ref(&file), store.path());
        assert_eq!(names(&torn), ["P"], "enforced from the old store");
        assert_eq!(torn.stale[0].last_good_at, "2026-01-01T00:00:00Z");
        torn.save(store.path()).unwrap();

        // Repaired as a list: both documents, and the store moves on to the list.
        std::fs::write(&file, list()).unwrap();
        let mut repaired = read_policies(std::slice::from_ref(&file), store.path());
        assert_eq!(names(&repaired), ["P", "Q"]);
        assert!(repaired.stale.is_empty() && repaired.errors.is_empty());
        repaired.save(store.path()).unwrap();
        std::fs::write(&file, "[").unwrap();
        assert_eq!(
            names(&read_policies(std::slice::from_ref(&file), store.path())),
            ["P", "Q"]
        );
    }

    #[test]
    fn an_empty_list_is_read_as_no_policy_with_a_note() {
        let inputs = tempfile::tempdir().unwrap();
        let store = tempfile::tempdir().unwrap();
        let file = inputs.path().join("none.json");
        std::fs::write(&file, list()).unwrap();
        read_policies(std::slice::from_ref(&file), store.path())
            .save(store.path())
            .unwrap();
        std::fs::write(&file, r#"{"value": []}"#).unwrap();
        let out = read_policies(std::slice::from_ref(&file), store.path());
        assert!(out.documents.is_empty() && out.errors.is_empty() && out.stale.is_empty());
        assert!(
            matches!(out.notes.as_slice(), [Note::Empty { .. }]),
            "{:?}",
            out.notes
        );
    }

    #[test]
    fn a_directory_that_cannot_be_read_keeps_every_document_it_held() {
        let inputs = tempfile::tempdir().unwrap();
        let store = tempfile::tempdir().unwrap();
        let policies = inputs.path().join("policies");
        std::fs::create_dir(&policies).unwrap();
        std::fs::write(policies.join("a.json"), POLICY).unwrap();
        std::fs::write(policies.join("b.json"), POLICY.replace("\"P\"", "\"Q\"")).unwrap();
        let paths = [policies.clone()];
        read_policies(&paths, store.path())
            .save(store.path())
            .unwrap();
        // Gone (an unmounted share, a directory being replaced): not a withdrawal.
        std::fs::rename(&policies, inputs.path().join("elsewhere")).unwrap();
        let mut out = read_policies(&paths, store.path());
        assert_eq!(out.documents.len(), 2);
        assert_eq!(out.stale.len(), 2);
        assert_eq!(out.errors.len(), 1, "one error, naming the directory");
        out.save(store.path()).unwrap();
        assert_eq!(load_index(store.path()).len(), 2, "kept for the next pass");
    }

    #[test]
    fn a_file_never_read_has_no_fallback_and_a_removed_one_is_forgotten() {
        let inputs = tempfile::tempdir().unwrap();
        let store = tempfile::tempdir().unwrap();
        let file = inputs.path().join("p.json");
        std::fs::write(&file, "{").unwrap();
        let out = read_policies(std::slice::from_ref(&file), store.path());
        assert!(out.documents.is_empty());
        assert_eq!(out.errors.len(), 1);

        std::fs::write(&file, POLICY).unwrap();
        read_policies(std::slice::from_ref(&file), store.path())
            .save(store.path())
            .unwrap();
        let mut gone = read_policies(&[], store.path());
        gone.save(store.path()).unwrap();
        assert!(load_index(store.path()).is_empty());
        let left: Vec<_> = std::fs::read_dir(store.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "only the index is left");
    }
}
