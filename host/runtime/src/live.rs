//! Live plugins: a plugin directory watched for changes, verified hot swap, keep-last-good.
//!
//! [`LivePlugins`] holds the set of plugins currently serving behind an `ArcSwap`. A run takes a
//! [`LivePlugins::snapshot`] (an `Arc` clone) and finishes on the versions it started with,
//! whatever is swapped in meanwhile; an old version is freed when its last run ends.
//!
//! [`PluginDirectory`] keeps that set in step with a directory of `.wasm` files:
//!
//! - a new or changed file is read once (a file over [`crate::sandbox::plugin::MAX_PLUGIN_BYTES`] is
//!   refused without being read), hashed (unchanged content is skipped), verified (manifest,
//!   contract version, imports against grants), compiled by the engine's
//!   [`Compiler`](crate::Compiler) (within its budget, if it has one) and pre-linked — all
//!   before anything is swapped — and only then published with one atomic store;
//! - a corrupt, truncated, incompatible, over-privileged or otherwise failing file is rejected:
//!   the previous version keeps serving and the rejection is part of [`PluginStatus`] (reports
//!   show it, not only logs) until a later version of that file loads;
//! - a deleted file unloads its plugin; if it was overriding an embedded first-party plugin of
//!   the same name, the embedded one serves again;
//! - [`PluginDirectory::watch`] drives all this from file-system events (notify, debounced;
//!   `Access` events ignored, since the loader's own reads would otherwise trigger reloads).
//!
//! Deployers should write `name.wasm.tmp` (or any name not ending in `.wasm`) and rename it over
//! the target; a slow in-place copy also works — each partial state is rejected and the complete
//! file loads once the copy settles — but reports a transient rejection.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use notify_debouncer_full::notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, new_debouncer};
use sha2::{Digest, Sha256};

pub use crate::pipeline::report::{ActivePlugin, PluginStatus, Rejection};
use crate::pipeline::route::PluginSet;
use crate::sandbox::aot::AotCache;
use crate::sandbox::engine::Engine;
use crate::sandbox::plugin::{GrantPolicy, Plugin};

/// Default debounce of directory events. Long enough to coalesce a rename's events and a short
/// burst of writes, short enough that a new version serves within ~100 ms of its rename.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(50);

/// The plugins currently serving.
#[derive(Debug)]
pub struct LivePlugins {
    current: ArcSwap<PluginSet>,
    rejections: Mutex<Vec<Rejection>>,
    generation: std::sync::atomic::AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave these maps half-updated in a way that matters
    // more than stopping the agent would; carry on with the data.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl LivePlugins {
    /// A live set starting with `initial`.
    pub fn new(initial: PluginSet) -> Self {
        LivePlugins {
            current: ArcSwap::from_pointee(initial),
            rejections: Mutex::new(Vec::new()),
            generation: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The set serving now. Hold it for the duration of a run; it never changes under you.
    pub fn snapshot(&self) -> Arc<PluginSet> {
        self.current.load_full()
    }

    /// Increases on every swap; lets waiters tell that something changed.
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Serving plugins and outstanding rejections.
    pub fn status(&self) -> PluginStatus {
        let set = self.snapshot();
        PluginStatus {
            active: set
                .iter()
                .map(|p| ActivePlugin {
                    name: p.name().to_string(),
                    version: p.version().to_string(),
                    digest: p.digest().to_string(),
                    source: p.source().to_string(),
                    signature: match p.trust() {
                        crate::supply::trust::TrustVerdict::NotChecked => None,
                        verdict => Some(verdict.to_string()),
                    },
                })
                .collect(),
            rejected: lock(&self.rejections).clone(),
        }
    }

    fn publish(&self, change: impl FnOnce(&mut PluginSet)) {
        let mut next = (*self.current.load_full()).clone();
        change(&mut next);
        self.current.store(Arc::new(next));
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    fn set_rejection(&self, file: &str, rejection: Option<Rejection>) {
        let mut rejections = lock(&self.rejections);
        rejections.retain(|r| r.file != file);
        if let Some(r) = rejection {
            rejections.push(r);
        }
    }
}

/// What the directory knows about one file.
#[derive(Debug, Clone)]
struct FileState {
    digest: String,
    /// The plugin name this file currently provides, if its last good content loaded.
    provides: Option<String>,
}

/// Keeps a [`LivePlugins`] in step with a directory of plugin files.
#[derive(Debug)]
pub struct PluginDirectory {
    dir: PathBuf,
    engine: Engine,
    policy: GrantPolicy,
    trust: crate::supply::trust::TrustPolicy,
    cache: Option<AotCache>,
    embedded: Vec<Arc<Plugin>>,
    live: Arc<LivePlugins>,
    files: Mutex<HashMap<PathBuf, FileState>>,
}

/// What a scan or a single update did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateSummary {
    /// Plugins (name@version) now serving from a new file version.
    pub loaded: Vec<String>,
    /// Files refused.
    pub rejected: Vec<String>,
    /// Plugins unloaded.
    pub removed: Vec<String>,
}

impl PluginDirectory {
    /// A directory of plugins over the embedded (first-party) ones, each file loaded under
    /// `policy`, whose operator grants (if any) also assign setting ids (see [`PluginSet`]).
    /// A file with a first-party plugin's name replaces it only when its signature is trusted
    /// for that name ([`PluginSet::check_admission`]). Nothing is read until [`Self::scan`].
    pub fn new(
        dir: impl Into<PathBuf>,
        engine: Engine,
        policy: GrantPolicy,
        cache: Option<AotCache>,
        embedded: Vec<Arc<Plugin>>,
    ) -> Self {
        let mut initial = match &policy {
            GrantPolicy::Operator { operator, .. }
            | GrantPolicy::ThirdParty {
                operator: Some(operator),
                ..
            } => PluginSet::new().with_assignments(operator),
            _ => PluginSet::new(),
        };
        for p in &embedded {
            initial.insert_first_party(p.clone());
        }
        PluginDirectory {
            dir: dir.into(),
            engine,
            policy,
            trust: crate::supply::trust::TrustPolicy::off(),
            cache,
            embedded,
            live: Arc::new(LivePlugins::new(initial)),
            files: Mutex::new(HashMap::new()),
        }
    }

    /// Checks every file's signature against `trust` (default: not checked). In enforce mode an
    /// unsigned, tampered or untrusted file is rejected like any other bad file: the previous
    /// version keeps serving.
    pub fn with_trust(mut self, trust: crate::supply::trust::TrustPolicy) -> Self {
        self.trust = trust;
        self
    }

    /// The live set this directory maintains.
    pub fn live(&self) -> &Arc<LivePlugins> {
        &self.live
    }

    /// The watched directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Loads every plugin file in the directory (a missing directory is empty).
    pub fn scan(&self) -> UpdateSummary {
        let mut summary = UpdateSummary::default();
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            // No directory yet: nothing to load, the embedded plugins serve.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return summary,
            Err(e) => {
                tracing::error!(dir = %self.dir.display(), error = %e, "cannot list the plugin directory");
                summary
                    .rejected
                    .push(format!("{}: {e}", self.dir.display()));
                return summary;
            }
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| is_plugin_file(p))
            .collect();
        paths.sort();
        for path in paths {
            let s = self.update(&path);
            summary.loaded.extend(s.loaded);
            summary.rejected.extend(s.rejected);
            summary.removed.extend(s.removed);
        }
        summary
    }

    /// Reacts to `path` having changed, appeared or disappeared.
    pub fn update(&self, path: &Path) -> UpdateSummary {
        if !is_plugin_file(path) {
            return UpdateSummary::default();
        }
        let mut files = lock(&self.files);
        // Size-checked before anything is read: a huge file is refused, never loaded whole.
        match crate::sandbox::plugin::read_plugin_file(path) {
            Ok(bytes) => self.file_changed(&mut files, path, &bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.file_removed(&mut files, path)
            }
            Err(e) => self.refuse_unread(
                &files,
                path,
                match e.kind() {
                    // Already a one-line reason ("the file is N bytes, more than …").
                    std::io::ErrorKind::FileTooLarge => e.to_string(),
                    _ => format!("cannot read the file: {e}"),
                },
            ),
        }
    }

    /// Records a version refused before its content was read (unreadable, too large): the
    /// version `key` provided so far, if any, keeps serving.
    fn refuse_unread(
        &self,
        files: &HashMap<PathBuf, FileState>,
        key: &Path,
        reason: String,
    ) -> UpdateSummary {
        let file = key.display().to_string();
        let kept = files
            .get(key)
            .and_then(|s| s.provides.clone())
            .and_then(|n| self.serving_label(&n));
        self.live.set_rejection(
            &file,
            Some(Rejection {
                file: file.clone(),
                digest: String::new(),
                reason,
                at: now(),
                kept,
            }),
        );
        UpdateSummary {
            rejected: vec![file],
            ..UpdateSummary::default()
        }
    }

    /// Publishes a plugin version from bytes in memory (downloaded, or built in), as a new
    /// file in the directory would be: verified (signature, manifest, contract, grants,
    /// admission), compiled on the caller's thread, then swapped in atomically; passes hold
    /// snapshots and never wait for it. `source` names where the version came from (for
    /// example `oci://registry/repo@sha256:…`) and is what status and rejections show;
    /// publishing again under the same source replaces that version. A version that fails any
    /// check is rejected and the previous one keeps serving (keep-last-good).
    pub fn publish(&self, source: &str, bytes: &[u8]) -> UpdateSummary {
        let mut files = lock(&self.files);
        if source.trim().is_empty() {
            let reason = "a published version needs a source name".to_string();
            return self.refuse_unread(&files, Path::new(source), reason);
        }
        if bytes.len() > crate::sandbox::plugin::MAX_PLUGIN_BYTES {
            let reason = format!(
                "the plugin is {} bytes, more than the {} allowed",
                bytes.len(),
                crate::sandbox::plugin::MAX_PLUGIN_BYTES
            );
            return self.refuse_unread(&files, Path::new(source), reason);
        }
        self.file_changed(&mut files, Path::new(source), bytes)
    }

    /// Withdraws the version published under `source` (see [`PluginDirectory::publish`]): the
    /// plugin is unloaded, or the embedded plugin of the same name serves again.
    pub fn withdraw(&self, source: &str) -> UpdateSummary {
        let mut files = lock(&self.files);
        self.file_removed(&mut files, Path::new(source))
    }

    fn serving_label(&self, name: &str) -> Option<String> {
        self.live
            .snapshot()
            .get(name)
            .map(|p| format!("{}@{}", p.name(), p.version()))
    }

    fn file_changed(
        &self,
        files: &mut HashMap<PathBuf, FileState>,
        path: &Path,
        bytes: &[u8],
    ) -> UpdateSummary {
        let file = path.display().to_string();
        let digest = format!("sha256:{:x}", Sha256::digest(bytes));
        let previous = files.get(path).cloned();
        if previous.as_ref().is_some_and(|p| p.digest == digest) {
            // Same content (a touch, our own read, a duplicate event): nothing to do.
            return UpdateSummary::default();
        }
        let reject = |files: &mut HashMap<PathBuf, FileState>, reason: String| {
            let provides = previous.as_ref().and_then(|p| p.provides.clone());
            let kept = provides.as_deref().and_then(|n| self.serving_label(n));
            tracing::warn!(%file, %reason, ?kept, "plugin file rejected; the previous version keeps serving");
            self.live.set_rejection(
                &file,
                Some(Rejection {
                    file: file.clone(),
                    digest: digest.clone(),
                    reason,
                    at: now(),
                    kept,
                }),
            );
            files.insert(
                path.to_path_buf(),
                FileState {
                    digest: digest.clone(),
                    provides,
                },
            );
            UpdateSummary {
                rejected: vec![file.clone()],
                ..UpdateSummary::default()
            }
        };
        let plugin = match Plugin::load_trusted(
            &self.engine,
            &file,
            bytes,
            &self.policy,
            &self.trust,
            self.cache.as_ref(),
        ) {
            Ok(p) => p,
            Err(e) => return reject(files, e.reason.to_string()),
        };
        if let Err(e) = self.live.snapshot().check_admission(&plugin) {
            return reject(files, e.to_string());
        }
        let name = plugin.name().to_string();
        if let Some((other, _)) = files
            .iter()
            .find(|(p, s)| p.as_path() != path && s.provides.as_deref() == Some(name.as_str()))
        {
            return reject(
                files,
                format!(
                    "plugin name '{name}' is already provided by '{}'",
                    other.display()
                ),
            );
        }
        let label = format!("{}@{}", plugin.name(), plugin.version());
        let old_name = previous.and_then(|p| p.provides).filter(|n| *n != name);
        let plugin = Arc::new(plugin);
        self.live.publish(|set| {
            if let Some(old) = &old_name {
                set.remove(old);
                if let Some(e) = self.embedded.iter().find(|e| e.name() == old) {
                    set.insert(e.clone());
                }
            }
            set.insert(plugin);
        });
        self.live.set_rejection(&file, None);
        files.insert(
            path.to_path_buf(),
            FileState {
                digest,
                provides: Some(name),
            },
        );
        tracing::info!(%file, plugin = %label, "plugin version serving");
        UpdateSummary {
            loaded: vec![label],
            ..UpdateSummary::default()
        }
    }

    fn file_removed(&self, files: &mut HashMap<PathBuf, FileState>, path: &Path) -> UpdateSummary {
        let file = path.display().to_string();
        self.live.set_rejection(&file, None);
        let Some(state) = files.remove(path) else {
            return UpdateSummary::default();
        };
        let Some(name) = state.provides else {
            return UpdateSummary::default();
        };
        self.live.publish(|set| {
            set.remove(&name);
            if let Some(e) = self.embedded.iter().find(|e| e.name() == name) {
                set.insert(e.clone());
            }
        });
        tracing::info!(%file, plugin = %name, "plugin file removed; plugin unloaded");
        UpdateSummary {
            removed: vec![name],
            ..UpdateSummary::default()
        }
    }

    /// Watches the directory and applies changes until the returned handle is dropped.
    ///
    /// `on_change` runs after every update that loaded, rejected or removed something (for
    /// example to trigger an enforcement run).
    ///
    /// # Errors
    ///
    /// Fails when the directory cannot be watched (it must exist).
    pub fn watch(
        self: &Arc<Self>,
        debounce: Duration,
        on_change: impl Fn(&UpdateSummary) + Send + 'static,
    ) -> Result<WatchHandle, WatchError> {
        let this = Arc::clone(self);
        let mut debouncer = new_debouncer(debounce, None, move |result: DebounceEventResult| {
            let events = match result {
                Ok(events) => events,
                Err(errors) => {
                    for e in errors {
                        tracing::warn!(error = %e, "plugin directory watch error");
                    }
                    return;
                }
            };
            let mut paths: Vec<PathBuf> = events
                .iter()
                // Our own reads of a plugin file produce access events; reacting to them would
                // reload forever.
                .filter(|e| !matches!(e.kind, EventKind::Access(_)))
                .flat_map(|e| e.paths.iter().cloned())
                .collect();
            paths.sort();
            paths.dedup();
            for path in paths {
                let summary = this.update(&path);
                if summary != UpdateSummary::default() {
                    on_change(&summary);
                }
            }
        })
        .map_err(|e| WatchError {
            dir: self.dir.clone(),
            message: e.to_string(),
        })?;
        debouncer
            .watch(&self.dir, RecursiveMode::NonRecursive)
            .map_err(|e| WatchError {
                dir: self.dir.clone(),
                message: e.to_string(),
            })?;
        Ok(WatchHandle {
            _debouncer: Box::new(debouncer),
        })
    }
}

/// Keeps a directory watch alive; dropping it stops watching.
pub struct WatchHandle {
    _debouncer: Box<dyn std::any::Any + Send>,
}

impl std::fmt::Debug for WatchHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchHandle").finish_non_exhaustive()
    }
}

/// Only `*.wasm` files count; temporary names (`x.wasm.tmp`, dot-files) are ignored so a
/// write-then-rename deployment is seen once, under its final name.
fn is_plugin_file(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    !name.starts_with('.') && name.ends_with(".wasm")
}

fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// The plugin directory could not be watched (see [`PluginDirectory::watch`]).
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot watch the plugin directory '{}': {message}", dir.display())]
pub struct WatchError {
    /// The directory.
    pub dir: PathBuf,
    /// Why, as the file-watching service said.
    pub message: String,
}
