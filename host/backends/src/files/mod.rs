//! Rooted directories for the `files` capability.
//!
//! The host opens each directory a plugin may use once, by name (for example `mdatp-managed`
//! for `/etc/opt/microsoft/mdatp/managed`), and keeps it as a `cap_std::fs::Dir` handle. A
//! plugin then names a root and a relative path; it cannot name anything outside a root:
//!
//! - paths are checked before the disk is touched: relative, `/`-separated, no empty, `.` or
//!   `..` components, no NUL, control characters, backslashes or colons, at most 4096 bytes;
//! - cap-std resolves every path beneath the root handle, so a symlink inside a root that
//!   points outside it fails with [`FileError::Denied`] instead of being followed;
//! - [`FileRoots::open_ambient`] is the only place that uses ambient authority (an absolute
//!   host path), and it is called by the host's configuration, never with a plugin's input.
//!
//! Writes are atomic ([`FileRoots::write_atomic`]): readers such as Defender for Endpoint see
//! the old or the new file, never a partial one. File sizes are capped in both directions so a
//! plugin cannot exhaust memory or disk through this capability.

use std::collections::BTreeMap;
use std::io::{self, Read as _, Write as _};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use cap_std::fs::{Dir, OpenOptions};

use crate::quote::quoted;

/// Default for [`FileRoots::with_max_file_size`]: 4 MiB, far above any managed configuration.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 4 * 1024 * 1024;
/// Longest relative path accepted, in bytes (Linux's `PATH_MAX`).
const MAX_PATH_BYTES: usize = 4096;
/// Suffix of temporary files, so leftovers from a crash are recognisable.
const TMP_MARKER: &str = ".rampart-tmp-";

/// Distinguishes temporary files of concurrent writes within one process.
static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// What a plugin may do under a root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileAccess {
    /// Read and list.
    Read,
    /// Read, list, write and remove.
    ReadWrite,
}

/// One entry of [`FileRoots::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntryInfo {
    /// The entry's file name.
    pub name: String,
    /// Whether it is a directory (symlinks are not followed and report `false`).
    pub is_dir: bool,
    /// Size in bytes for regular files, 0 otherwise.
    pub size: u64,
}

/// Why a file operation failed; each variant maps to a distinct guest error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// No root has this name.
    #[error("unknown file root {}", quoted(.root))]
    UnknownRoot {
        /// The name given.
        root: String,
    },
    /// The relative path breaks a path rule (checked before touching the disk).
    #[error("invalid path {}: {reason}", quoted(.path))]
    InvalidPath {
        /// The path given.
        path: String,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// The root was granted read-only.
    #[error("file root {} is read-only", quoted(.root))]
    ReadOnly {
        /// The root.
        root: String,
    },
    /// The contents exceed the size limit.
    #[error("{} in root {} is {size} bytes, over the {max}-byte limit", quoted(.path), quoted(.root))]
    TooLarge {
        /// The root.
        root: String,
        /// The path.
        path: String,
        /// The size found or asked for (for reads, possibly only a lower bound).
        size: u64,
        /// The limit.
        max: u64,
    },
    /// The path (or its parent directory) does not exist.
    #[error("{} does not exist in root {}", quoted(.path), quoted(.root))]
    NotFound {
        /// The root.
        root: String,
        /// The path.
        path: String,
    },
    /// The path leads outside the root (for example through a symlink) or the operating
    /// system denied access.
    #[error("{} in root {} leads outside the root or is not permitted", quoted(.path), quoted(.root))]
    Denied {
        /// The root.
        root: String,
        /// The path.
        path: String,
    },
    /// Any other I/O failure.
    #[error("i/o error on {} in root {}: {source}", quoted(.path), quoted(.root))]
    Io {
        /// The root.
        root: String,
        /// The path.
        path: String,
        /// The error.
        #[source]
        source: io::Error,
    },
}

#[derive(Debug)]
struct Root {
    dir: Dir,
    access: FileAccess,
    /// When set, the only paths the root admits (a shared system directory where rampart owns
    /// one file); any other path is [`FileError::Denied`] and `list` shows only these.
    only: Option<Vec<String>>,
}

/// Named directory roots held as capability handles.
#[derive(Debug)]
pub struct FileRoots {
    roots: BTreeMap<String, Root>,
    max_file_size: u64,
}

impl Default for FileRoots {
    fn default() -> Self {
        FileRoots::new()
    }
}

impl FileRoots {
    /// No roots; files up to [`DEFAULT_MAX_FILE_SIZE`].
    pub fn new() -> FileRoots {
        FileRoots {
            roots: BTreeMap::new(),
            max_file_size: DEFAULT_MAX_FILE_SIZE,
        }
    }

    /// Sets the largest file `read` returns and `write_atomic` writes, in bytes.
    pub fn with_max_file_size(mut self, max: u64) -> FileRoots {
        self.max_file_size = max;
        self
    }

    /// The largest file `read` returns and `write_atomic` writes, in bytes.
    pub fn max_file_size(&self) -> u64 {
        self.max_file_size
    }

    /// Adds (or replaces) a root from a directory handle the host already holds.
    pub fn add(&mut self, name: impl Into<String>, dir: Dir, access: FileAccess) {
        self.roots.insert(
            name.into(),
            Root {
                dir,
                access,
                only: None,
            },
        );
    }

    /// Restricts a root to exactly these relative paths (compared byte for byte): reading,
    /// writing or removing any other path is [`FileError::Denied`], and listing shows only
    /// these. For a root in a directory the system shares (`/Library/Preferences` on macOS),
    /// so that a grant on the root reaches one file and not its neighbours. Unknown roots are
    /// ignored.
    pub fn limit_to(&mut self, root: &str, paths: &[&str]) {
        if let Some(r) = self.roots.get_mut(root) {
            r.only = Some(paths.iter().map(|p| (*p).to_owned()).collect());
        }
    }

    /// Opens the host directory at `path` and adds it as a root.
    ///
    /// This is the one use of ambient authority in this module (`Dir::open_ambient_dir` with
    /// `cap_std::ambient_authority()`): `path` must come from the host's configuration, never
    /// from a plugin. Everything afterwards is relative to the handle.
    pub fn open_ambient(
        &mut self,
        name: impl Into<String>,
        path: &Path,
        access: FileAccess,
    ) -> io::Result<()> {
        let dir = Dir::open_ambient_dir(path, cap_std::ambient_authority())?;
        self.add(name, dir, access);
        Ok(())
    }

    /// The root names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.roots.keys().map(String::as_str)
    }

    /// The access a root was added with, if it exists.
    pub fn access(&self, root: &str) -> Option<FileAccess> {
        self.roots.get(root).map(|r| r.access)
    }

    /// Reads a whole regular file; [`FileError::TooLarge`] if it is over the size limit.
    pub fn read(&self, root: &str, rel: &str) -> Result<Vec<u8>, FileError> {
        let r = self.root_for(root, rel)?;
        check_path(rel, false)?;
        let io_err = |e| map_io(root, rel, e);
        // Check the type before opening: opening a FIFO would block the host.
        let meta = r.dir.metadata(rel).map_err(io_err)?;
        if !meta.is_file() {
            return Err(invalid(rel, "not a regular file"));
        }
        if meta.len() > self.max_file_size {
            return Err(self.too_large(root, rel, meta.len()));
        }
        let file = r.dir.open(rel).map_err(io_err)?.into_std();
        // A hard link inside the root may name a file that lives outside it (links can cross
        // directories, and cap-std cannot tell): reading it would disclose that file. Refused
        // on the opened handle, so a swap after the check above cannot slip one in. (Writes
        // replace the name by temp + rename, so they never write through a hard link.)
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt as _;
            if file.metadata().map_err(io_err)?.nlink() > 1 {
                return Err(FileError::Denied {
                    root: root.to_owned(),
                    path: rel.to_owned(),
                });
            }
        }
        // The file may grow between the check and the read; never read past the limit.
        let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
        file.take(self.max_file_size.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(io_err)?;
        let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        if len > self.max_file_size {
            return Err(self.too_large(root, rel, len));
        }
        Ok(bytes)
    }

    /// Replaces (or creates) a file atomically: writes `<name>.rampart-tmp-<pid>-<n>` in the
    /// same directory, syncs it, renames it over the target and syncs the directory (best
    /// effort). On error the temporary file is removed, so no partial file is ever visible.
    /// The parent directory must exist. An existing target's permissions are kept.
    pub fn write_atomic(&self, root: &str, rel: &str, bytes: &[u8]) -> Result<(), FileError> {
        let r = self.root_for(root, rel)?;
        check_path(rel, false)?;
        if r.access != FileAccess::ReadWrite {
            return Err(FileError::ReadOnly {
                root: root.to_owned(),
            });
        }
        let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        if len > self.max_file_size {
            return Err(self.too_large(root, rel, len));
        }
        let io_err = |e| map_io(root, rel, e);
        let (parent, name) = match rel.rsplit_once('/') {
            Some((parent, name)) => (Some(parent), name),
            None => (None, rel),
        };
        let opened;
        let dir = match parent {
            Some(parent) => {
                opened = r.dir.open_dir(parent).map_err(io_err)?;
                &opened
            }
            None => &r.dir,
        };

        let (tmp_name, mut file) = create_temp(dir, name).map_err(io_err)?;
        let result = (|| {
            file.write_all(bytes)?;
            if let Ok(meta) = dir.metadata(name)
                && meta.is_file()
            {
                file.set_permissions(meta.permissions())?;
            }
            file.sync_all()?;
            drop(file);
            dir.rename(&tmp_name, dir, name)
        })();
        if let Err(e) = result {
            let _ = dir.remove_file(&tmp_name);
            return Err(io_err(e));
        }
        // Make the rename durable. Directories cannot be synced on every platform (Windows),
        // hence best effort.
        if let Ok(handle) = dir.try_clone() {
            let _ = handle.into_std_file().sync_all();
        }
        Ok(())
    }

    /// Removes a file; returns whether it existed. Directories are not removed.
    pub fn remove(&self, root: &str, rel: &str) -> Result<bool, FileError> {
        let r = self.root_for(root, rel)?;
        check_path(rel, false)?;
        if r.access != FileAccess::ReadWrite {
            return Err(FileError::ReadOnly {
                root: root.to_owned(),
            });
        }
        match r.dir.remove_file(rel) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(map_io(root, rel, e)),
        }
    }

    /// Lists a directory sorted by name; `rel` may be empty for the root itself. Names that are
    /// not UTF-8 are skipped (a plugin could not name them anyway).
    pub fn list(&self, root: &str, rel: &str) -> Result<Vec<DirEntryInfo>, FileError> {
        let r = self.root(root)?;
        check_path(rel, true)?;
        let io_err = |e| map_io(root, rel, e);
        let entries = if rel.is_empty() {
            r.dir.entries()
        } else {
            r.dir.read_dir(rel)
        };
        let mut out = Vec::new();
        for entry in entries.map_err(io_err)? {
            let entry = entry.map_err(io_err)?;
            let Ok(name) = entry.file_name().into_string() else {
                tracing::debug!(root, path = rel, "skipping a non-UTF-8 file name");
                continue;
            };
            let file_type = entry.file_type().map_err(io_err)?;
            let size = if file_type.is_file() {
                entry.metadata().map_err(io_err)?.len()
            } else {
                0
            };
            out.push(DirEntryInfo {
                name,
                is_dir: file_type.is_dir(),
                size,
            });
        }
        if let Some(only) = &r.only {
            let prefix = if rel.is_empty() {
                String::new()
            } else {
                format!("{rel}/")
            };
            out.retain(|e| only.iter().any(|p| *p == format!("{prefix}{}", e.name)));
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn root(&self, root: &str) -> Result<&Root, FileError> {
        self.roots.get(root).ok_or_else(|| FileError::UnknownRoot {
            root: root.to_owned(),
        })
    }

    /// The root, if it admits `rel` (see [`FileRoots::limit_to`]).
    fn root_for(&self, root: &str, rel: &str) -> Result<&Root, FileError> {
        let r = self.root(root)?;
        match &r.only {
            Some(only) if !only.iter().any(|p| p == rel) => Err(FileError::Denied {
                root: root.to_owned(),
                path: rel.to_owned(),
            }),
            _ => Ok(r),
        }
    }

    fn too_large(&self, root: &str, rel: &str, size: u64) -> FileError {
        FileError::TooLarge {
            root: root.to_owned(),
            path: rel.to_owned(),
            size,
            max: self.max_file_size,
        }
    }
}

/// Creates a fresh temporary file next to `name`; retries if a name is taken.
fn create_temp(dir: &Dir, name: &str) -> io::Result<(String, cap_std::fs::File)> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    let mut last_error = None;
    for _ in 0..16 {
        let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp_name = format!("{name}{TMP_MARKER}{}-{n}", std::process::id());
        match dir.open_with(&tmp_name, &options) {
            Ok(file) => return Ok((tmp_name, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_error = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::other("no free temporary file name")))
}

fn invalid(path: &str, reason: &'static str) -> FileError {
    FileError::InvalidPath {
        path: path.to_owned(),
        reason,
    }
}

/// Checks a relative path against the rules in the module docs.
fn check_path(rel: &str, allow_empty: bool) -> Result<(), FileError> {
    if rel.len() > MAX_PATH_BYTES {
        return Err(invalid(rel, "longer than 4096 bytes"));
    }
    if rel.is_empty() {
        return if allow_empty {
            Ok(())
        } else {
            Err(invalid(rel, "empty path"))
        };
    }
    if rel.starts_with('/') {
        return Err(invalid(rel, "absolute path"));
    }
    if rel.contains('\0') {
        return Err(invalid(rel, "contains NUL"));
    }
    if rel.chars().any(char::is_control) {
        return Err(invalid(rel, "contains a control character"));
    }
    if rel.contains('\\') {
        return Err(invalid(
            rel,
            "contains '\\'; use '/' to separate components",
        ));
    }
    // Colons make drive-relative paths and alternate data streams on Windows.
    if rel.contains(':') {
        return Err(invalid(rel, "contains ':'"));
    }
    for component in rel.split('/') {
        match component {
            "" => return Err(invalid(rel, "empty component (trailing or doubled '/')")),
            "." => return Err(invalid(rel, "'.' component")),
            ".." => return Err(invalid(rel, "'..' component")),
            _ => {}
        }
    }
    Ok(())
}

fn map_io(root: &str, rel: &str, e: io::Error) -> FileError {
    let (root, path) = (root.to_owned(), rel.to_owned());
    match e.kind() {
        io::ErrorKind::NotFound => FileError::NotFound { root, path },
        // cap-std reports escapes from the root as PermissionDenied.
        io::ErrorKind::PermissionDenied => FileError::Denied { root, path },
        _ => FileError::Io {
            root,
            path,
            source: e,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limited_root_reaches_its_own_files_and_not_their_neighbours() {
        let base = tempfile::tempdir().unwrap();
        std::fs::write(base.path().join("com.apple.other.plist"), b"theirs").unwrap();
        let mut roots = FileRoots::new();
        roots
            .open_ambient("prefs", base.path(), FileAccess::ReadWrite)
            .unwrap();
        roots.limit_to("prefs", &["ours.plist"]);
        roots.write_atomic("prefs", "ours.plist", b"mine").unwrap();
        assert_eq!(roots.read("prefs", "ours.plist").unwrap(), b"mine");
        for denied in [
            roots.read("prefs", "com.apple.other.plist").map(|_| ()),
            roots.write_atomic("prefs", "com.apple.other.plist", b"x"),
            roots.remove("prefs", "com.apple.other.plist").map(|_| ()),
            // Byte for byte: another spelling is another path (case-sensitive file systems).
            roots.write_atomic("prefs", "OURS.plist", b"x"),
        ] {
            assert!(
                matches!(denied, Err(FileError::Denied { .. })),
                "{denied:?}"
            );
        }
        let listed: Vec<String> = roots
            .list("prefs", "")
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(listed, ["ours.plist"]);
        assert_eq!(
            std::fs::read(base.path().join("com.apple.other.plist")).unwrap(),
            b"theirs"
        );
        assert!(roots.remove("prefs", "ours.plist").unwrap());
    }

    struct Fixture {
        /// Holds `root/` and `outside/` side by side.
        base: tempfile::TempDir,
        roots: FileRoots,
    }

    impl Fixture {
        fn new(max: u64) -> Fixture {
            let base = tempfile::tempdir().unwrap();
            std::fs::create_dir(base.path().join("root")).unwrap();
            std::fs::create_dir(base.path().join("outside")).unwrap();
            std::fs::write(base.path().join("outside/secret.txt"), b"secret").unwrap();
            let mut roots = FileRoots::new().with_max_file_size(max);
            roots
                .open_ambient("rw", &base.path().join("root"), FileAccess::ReadWrite)
                .unwrap();
            roots
                .open_ambient("ro", &base.path().join("root"), FileAccess::Read)
                .unwrap();
            Fixture { base, roots }
        }

        fn root_path(&self) -> std::path::PathBuf {
            self.base.path().join("root")
        }

        /// Everything under `base`, to prove nothing was written outside the root.
        fn outside_listing(&self) -> Vec<String> {
            let mut names: Vec<String> = std::fs::read_dir(self.base.path().join("outside"))
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            names.extend(
                std::fs::read_dir(self.base.path())
                    .unwrap()
                    .map(|e| format!("base/{}", e.unwrap().file_name().into_string().unwrap())),
            );
            names.sort();
            names
        }
    }

    #[test]
    fn write_read_list_remove() {
        let f = Fixture::new(DEFAULT_MAX_FILE_SIZE);
        f.roots.write_atomic("rw", "managed.json", b"{}").unwrap();
        std::fs::create_dir(f.root_path().join("sub")).unwrap();
        f.roots.write_atomic("rw", "sub/a.txt", b"hello").unwrap();
        f.roots
            .write_atomic("rw", "sub/a.txt", b"replaced")
            .unwrap();
        assert_eq!(f.roots.read("ro", "sub/a.txt").unwrap(), b"replaced");
        assert_eq!(
            f.roots.list("ro", "").unwrap(),
            vec![
                DirEntryInfo {
                    name: "managed.json".into(),
                    is_dir: false,
                    size: 2
                },
                DirEntryInfo {
                    name: "sub".into(),
                    is_dir: true,
                    size: 0
                },
            ]
        );
        assert_eq!(
            f.roots.list("ro", "sub").unwrap().len(),
            1,
            "no temporary files remain"
        );
        assert!(f.roots.remove("rw", "sub/a.txt").unwrap());
        assert!(!f.roots.remove("rw", "sub/a.txt").unwrap());
        assert!(!f.roots.remove("rw", "nodir/a.txt").unwrap());
        assert!(matches!(
            f.roots.read("ro", "sub/a.txt"),
            Err(FileError::NotFound { .. })
        ));
        assert!(matches!(
            f.roots.list("ro", "nodir"),
            Err(FileError::NotFound { .. })
        ));
        assert!(matches!(
            f.roots.write_atomic("rw", "nodir/a", b""),
            Err(FileError::NotFound { .. })
        ));
        assert!(matches!(
            f.roots.read("ro", "sub"),
            Err(FileError::InvalidPath { .. })
        ));
        assert_eq!(f.roots.names().collect::<Vec<_>>(), ["ro", "rw"]);
        assert_eq!(f.roots.access("ro"), Some(FileAccess::Read));
    }

    #[test]
    fn read_only_and_unknown_roots() {
        let f = Fixture::new(DEFAULT_MAX_FILE_SIZE);
        assert!(matches!(
            f.roots.write_atomic("ro", "x", b"1"),
            Err(FileError::ReadOnly { .. })
        ));
        std::fs::write(f.root_path().join("x"), b"1").unwrap();
        assert!(matches!(
            f.roots.remove("ro", "x"),
            Err(FileError::ReadOnly { .. })
        ));
        assert!(f.root_path().join("x").exists());
        assert!(matches!(
            f.roots.read("nope", "x"),
            Err(FileError::UnknownRoot { .. })
        ));
        assert!(matches!(
            f.roots.list("nope", ""),
            Err(FileError::UnknownRoot { .. })
        ));
    }

    #[test]
    fn path_rules_are_checked_before_the_disk() {
        let f = Fixture::new(DEFAULT_MAX_FILE_SIZE);
        let outside = f.base.path().join("outside/secret.txt");
        let absolute = outside.to_str().unwrap().to_owned();
        let long = "a/".repeat(2049);
        let bad = [
            "",
            "/etc/passwd",
            absolute.as_str(),
            "..",
            "../outside/secret.txt",
            "sub/../../outside/secret.txt",
            "./x",
            "x/.",
            "a//b",
            "a/",
            "a\\b",
            "..\\outside\\secret.txt",
            "C:x",
            "x:stream",
            "a\0b",
            "a\nb",
            long.as_str(),
        ];
        let before = f.outside_listing();
        for path in bad {
            let errors = [
                f.roots.read("rw", path).map(drop),
                f.roots.write_atomic("rw", path, b"pwned"),
                f.roots.remove("rw", path).map(drop),
            ];
            for e in errors {
                assert!(
                    matches!(e, Err(FileError::InvalidPath { .. })),
                    "{path:?}: {e:?}"
                );
            }
        }
        assert!(matches!(
            f.roots.list("rw", "../outside"),
            Err(FileError::InvalidPath { .. })
        ));
        assert_eq!(f.outside_listing(), before);
        assert_eq!(std::fs::read(&outside).unwrap(), b"secret");
        assert_eq!(f.roots.list("rw", "").unwrap(), vec![]);
        let message = f.roots.read("rw", "a\0b").unwrap_err().to_string();
        assert!(message.contains(r"'a\u{0}b'"), "{message}");
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_cannot_escape() {
        use std::os::unix::fs::symlink;
        let f = Fixture::new(DEFAULT_MAX_FILE_SIZE);
        let outside = f.base.path().join("outside");
        symlink(&outside, f.root_path().join("dirlink")).unwrap();
        symlink(outside.join("secret.txt"), f.root_path().join("abslink")).unwrap();
        symlink("../outside/secret.txt", f.root_path().join("rellink")).unwrap();
        symlink("../outside/new.txt", f.root_path().join("dangling")).unwrap();
        let before = f.outside_listing();

        for path in ["abslink", "rellink", "dirlink/secret.txt"] {
            let e = f.roots.read("rw", path);
            assert!(matches!(e, Err(FileError::Denied { .. })), "{path}: {e:?}");
        }
        let e = f.roots.write_atomic("rw", "dirlink/new.txt", b"pwned");
        assert!(matches!(e, Err(FileError::Denied { .. })), "{e:?}");
        let e = f.roots.list("rw", "dirlink");
        assert!(matches!(e, Err(FileError::Denied { .. })), "{e:?}");
        let e = f.roots.remove("rw", "dirlink/secret.txt");
        assert!(matches!(e, Err(FileError::Denied { .. })), "{e:?}");
        let e = f.roots.read("rw", "dangling");
        assert!(
            matches!(
                e,
                Err(FileError::Denied { .. } | FileError::NotFound { .. })
            ),
            "{e:?}"
        );

        // Writing over a symlink replaces the link itself; the target outside is untouched.
        f.roots.write_atomic("rw", "rellink", b"inside").unwrap();
        f.roots.write_atomic("rw", "dangling", b"inside").unwrap();
        assert_eq!(f.roots.read("rw", "rellink").unwrap(), b"inside");
        assert_eq!(
            std::fs::read(outside.join("secret.txt")).unwrap(),
            b"secret"
        );
        assert_eq!(f.outside_listing(), before);

        // Symlinks within the root are fine.
        symlink("rellink", f.root_path().join("inner")).unwrap();
        assert_eq!(f.roots.read("rw", "inner").unwrap(), b"inside");
        let listed = f.roots.list("rw", "").unwrap();
        assert!(listed.iter().any(|e| e.name == "dirlink" && !e.is_dir));
    }

    #[cfg(unix)]
    #[test]
    fn hard_links_neither_disclose_nor_let_a_write_escape() {
        let f = Fixture::new(DEFAULT_MAX_FILE_SIZE);
        let secret = f.base.path().join("outside/secret.txt");
        std::fs::hard_link(&secret, f.root_path().join("link.txt")).unwrap();
        let e = f.roots.read("rw", "link.txt");
        assert!(matches!(e, Err(FileError::Denied { .. })), "{e:?}");
        // A write replaces the name inside the root; the inode outside keeps its content.
        f.roots.write_atomic("rw", "link.txt", b"inside").unwrap();
        assert_eq!(std::fs::read(&secret).unwrap(), b"secret");
        assert_eq!(f.roots.read("rw", "link.txt").unwrap(), b"inside");
        // Removing the link removes the name only.
        std::fs::hard_link(&secret, f.root_path().join("link2.txt")).unwrap();
        assert!(f.roots.remove("rw", "link2.txt").unwrap());
        assert_eq!(std::fs::read(&secret).unwrap(), b"secret");
    }

    #[test]
    fn size_limits() {
        let f = Fixture::new(4);
        let e = f.roots.write_atomic("rw", "big", b"12345");
        assert!(
            matches!(
                e,
                Err(FileError::TooLarge {
                    size: 5,
                    max: 4,
                    ..
                })
            ),
            "{e:?}"
        );
        assert!(!f.root_path().join("big").exists());
        f.roots.write_atomic("rw", "ok", b"1234").unwrap();
        std::fs::write(f.root_path().join("big"), b"1234567890").unwrap();
        let e = f.roots.read("ro", "big");
        assert!(
            matches!(
                e,
                Err(FileError::TooLarge {
                    size: 10,
                    max: 4,
                    ..
                })
            ),
            "{e:?}"
        );
        assert_eq!(f.roots.read("ro", "ok").unwrap(), b"1234");
        assert_eq!(f.roots.list("ro", "").unwrap().len(), 2);
    }

    #[test]
    fn failed_write_leaves_no_temporary_file() {
        let f = Fixture::new(DEFAULT_MAX_FILE_SIZE);
        // Renaming a file over a non-empty directory fails after the temporary file exists.
        std::fs::create_dir(f.root_path().join("target")).unwrap();
        std::fs::write(f.root_path().join("target/keep"), b"").unwrap();
        assert!(f.roots.write_atomic("rw", "target", b"data").is_err());
        let names: Vec<String> = f
            .roots
            .list("rw", "")
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, ["target"]);
    }

    #[cfg(unix)]
    #[test]
    fn write_keeps_permissions() {
        use std::os::unix::fs::PermissionsExt as _;
        let f = Fixture::new(DEFAULT_MAX_FILE_SIZE);
        let path = f.root_path().join("conf");
        std::fs::write(&path, b"old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        f.roots.write_atomic("rw", "conf", b"new").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
    }
}

/// The `files` capability's backend: what [`FileRoots`] does, as a trait so the host can put a
/// copy-on-write overlay (what-if) or an embedder's own implementation in its place.
pub trait FileBackend: Send + Sync + std::fmt::Debug {
    /// Reads a whole file.
    fn read(&self, root: &str, rel: &str) -> Result<Vec<u8>, FileError>;
    /// Replaces a file atomically.
    fn write_atomic(&self, root: &str, rel: &str, bytes: &[u8]) -> Result<(), FileError>;
    /// Removes a file; returns whether it existed.
    fn remove(&self, root: &str, rel: &str) -> Result<bool, FileError>;
    /// Lists a directory, sorted by name.
    fn list(&self, root: &str, rel: &str) -> Result<Vec<DirEntryInfo>, FileError>;
}

impl FileBackend for FileRoots {
    fn read(&self, root: &str, rel: &str) -> Result<Vec<u8>, FileError> {
        FileRoots::read(self, root, rel)
    }

    fn write_atomic(&self, root: &str, rel: &str, bytes: &[u8]) -> Result<(), FileError> {
        FileRoots::write_atomic(self, root, rel, bytes)
    }

    fn remove(&self, root: &str, rel: &str) -> Result<bool, FileError> {
        FileRoots::remove(self, root, rel)
    }

    fn list(&self, root: &str, rel: &str) -> Result<Vec<DirEntryInfo>, FileError> {
        FileRoots::list(self, root, rel)
    }
}

mod overlay;

pub use overlay::OverlayFiles;
