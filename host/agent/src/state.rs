//! The state directory: where the emulated registry and the latest report live.
//!
//! ```text
//! <state>/registry.reg      the emulated registry, as .reg text (written atomically)
//! <state>/last-report.json  the latest report
//! <state>/reports/          the last 20 reports
//! <state>/owned.json        values rampart set (drift detection)
//! <state>/journal/          change journals of runs in progress (crash recovery)
//! <state>/last-good/        the last good version of each policy document
//! <state>/aot-cache/        compiled plugins
//! <state>/plugins/          plugin directory of `rampart run` (default)
//! <state>/roots/<name>/    file roots of Linux/macOS plugins (simulation; see --file-root)
//! <state>/agent.sock        where `rampart run` listens for `rampart sync`
//! <state>/lock, owner.json  the owner's lock, and who holds it (see `rampart_runtime::lock`)
//! ```

use std::path::{Path, PathBuf};

use anyhow::Context;

/// The state directory's paths.
#[derive(Debug, Clone)]
pub(crate) struct StateDir {
    root: PathBuf,
    /// `--file-root NAME=DIR` overrides.
    file_roots: Vec<(String, PathBuf)>,
}

impl StateDir {
    /// `--state DIR`, else `<cache dir>/rampart`, else `<temp dir>/rampart`.
    pub(crate) fn resolve(explicit: Option<&Path>) -> Self {
        let root = match explicit {
            Some(p) => p.to_path_buf(),
            None => dirs::cache_dir()
                .unwrap_or_else(std::env::temp_dir)
                .join("rampart"),
        };
        StateDir {
            root,
            file_roots: Vec::new(),
        }
    }

    /// Points file roots somewhere else than their defaults inside the state.
    pub(crate) fn with_file_roots(mut self, roots: Vec<(String, PathBuf)>) -> Self {
        self.file_roots = roots;
        self
    }

    /// The file roots for a platform's plugins: (name, directory).
    pub(crate) fn file_roots(
        &self,
        platform: rampart_policy::device::Platform,
    ) -> Vec<(String, PathBuf)> {
        use rampart_policy::device::Platform;
        let defaults: &[&str] = match platform {
            Platform::Linux => &["mdatp-managed"],
            Platform::Macos => &["library-preferences"],
            Platform::WindowsClient | Platform::WindowsServer => &[],
        };
        let mut roots: Vec<(String, PathBuf)> = defaults
            .iter()
            .map(|name| (name.to_string(), self.root.join("roots").join(name)))
            .collect();
        for (name, dir) in &self.file_roots {
            roots.retain(|(n, _)| n != name);
            roots.push((name.clone(), dir.clone()));
        }
        roots
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// Creates the directory and takes its lock for `command` (see
    /// [`rampart_runtime::StateLock`]): a second writer fails at once, naming the holder.
    pub(crate) fn create_locked(
        &self,
        command: &str,
    ) -> anyhow::Result<rampart_runtime::StateLock> {
        self.create()?;
        Ok(rampart_runtime::StateLock::acquire(&self.root, command)?)
    }

    /// Creates the directory (only once inputs are known to be good).
    pub(crate) fn create(&self) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.root)
            .with_context(|| format!("cannot create state directory '{}'", self.root.display()))
    }

    pub(crate) fn registry_file(&self) -> PathBuf {
        self.root.join("registry.reg")
    }

    pub(crate) fn report_file(&self) -> PathBuf {
        self.root.join("last-report.json")
    }
}

/// Writes `bytes` to `path` atomically and durably (temp file in the same directory, fsync,
/// rename).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    replace(path, bytes, true)
}

/// Writes `bytes` to `path` atomically (temp file in the same directory, rename) without
/// waiting for the disk. For what every pass writes anew, the reports: readers never see a
/// torn file, and after a power loss the file may be an older one (or, on some file systems,
/// empty) until the next pass rewrites it. The state that cannot be recomputed (registry,
/// journal, ledger, audit trail) is always synced; an fsync per report would be the largest
/// cost of a pass that changed nothing.
pub(crate) fn write_replaceable(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    replace(path, bytes, false)
}

fn replace(path: &Path, bytes: &[u8], sync: bool) -> anyhow::Result<()> {
    use std::io::Write as _;
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot create a temporary file in '{}'", dir.display()))?;
    tmp.write_all(bytes)?;
    if sync {
        tmp.as_file().sync_all()?;
    }
    tmp.persist(path)
        .with_context(|| format!("cannot write '{}'", path.display()))?;
    Ok(())
}

impl StateDir {
    /// `<state>/reports/`: the bounded report history.
    pub(crate) fn history_dir(&self) -> PathBuf {
        self.root.join("reports")
    }

    /// `<state>/aot-cache/`: compiled plugins.
    pub(crate) fn aot_cache_dir(&self) -> PathBuf {
        self.root.join("aot-cache")
    }

    /// `<state>/audit/`: the hash-chained audit trail (`rampart audit verify`).
    pub(crate) fn audit_dir(&self) -> PathBuf {
        self.root.join("audit")
    }

    /// `<state>/last-good/`: the last good version of each policy document.
    pub(crate) fn last_good_dir(&self) -> PathBuf {
        self.root.join("last-good")
    }

    /// `<state>/agent.sock`: where a running agent listens for `rampart sync`.
    #[cfg_attr(
        not(unix),
        allow(dead_code, reason = "the sync socket is Unix-only for now")
    )]
    pub(crate) fn socket_file(&self) -> PathBuf {
        self.root.join("agent.sock")
    }
}
