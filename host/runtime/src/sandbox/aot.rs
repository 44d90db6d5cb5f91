//! The ahead-of-time compilation cache: compiled plugins on disk, so start-up does not run
//! Cranelift.
//!
//! An entry is named `<wasm sha256>-<engine key>.cwasm`. The engine key hashes wasmtime's
//! `precompile_compatibility_hash` (wasmtime version, compiler settings, enabled features, CPU
//! flags), so an artifact is only ever loaded by an engine that can run it; a different build of
//! rampart simply misses. Entries are content-addressed and immutable: written to a temporary
//! file, flushed, renamed into place, never rewritten in place. An entry that fails to load —
//! corrupt, truncated, forged, or from an incompatible engine — is compiled again and replaced
//! ([`CacheOutcome::Recompiled`]), never a crash.
//!
//! An entry file is a fixed header followed by wasmtime's serialized component:
//!
//! ```text
//! offset  0  ENTRY_MAGIC (8 bytes)
//! offset  8  HMAC-SHA256 tag (32 bytes)
//! offset 40  the serialized component (wasmtime's `.cwasm` bytes)
//! ```
//!
//! The tag is keyed with the cache key ([`KEY_FILE`], 32 random bytes created with the
//! directory) and covers the engine key, the wasm's sha256 and the serialized bytes, so an entry
//! only verifies under the name it was written for.
//!
//! # Trust
//!
//! Loading a compiled artifact is `unsafe` in wasmtime: the bytes are native code and are only
//! lightly validated, so a damaged or planted entry could crash the agent or run arbitrary code
//! inside it. Two layers stand in the way:
//!
//! - The cache directory must be accessible to the agent alone. [`AotCache::open`] creates it
//!   private (mode 0700 on Unix) and refuses an existing directory that other users can write to.
//! - Every entry is read into memory and its MAC checked (in constant time) before wasmtime sees
//!   a byte of it. Bit rot, a torn or truncated write, an entry copied from another machine or
//!   renamed to another plugin's name, and bytes written by anyone who can write the directory
//!   but not read the key all fail the check: the plugin is recompiled from its wasm and the
//!   entry replaced.
//!
//! The MAC does not protect against an attacker who can read the key file (the agent's own
//! user, or root): they can forge entries that verify. Keeping the directory private is what
//! keeps the key secret. Nor does it help if the wasm itself is hostile — that is what the
//! plugin checks and the sandbox are for; the cache only ensures the native code loaded is the
//! code this agent compiled from that wasm.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac as _};
use sha2::Sha256;
use wasmtime::component::Component;

use crate::sandbox::engine::Engine;

/// The name of the file, inside the cache directory, holding the key that authenticates entries.
pub const KEY_FILE: &str = "cache.key";

/// The first bytes of every entry: identifies the format (and its version, the last byte). An
/// entry of another format fails to verify and is replaced.
const ENTRY_MAGIC: [u8; 8] = *b"RMPAOT\x00\x01";

/// Length of the cache key and of an entry's MAC (HMAC-SHA256).
const KEY_LEN: usize = 32;
const MAC_LEN: usize = 32;

/// Length of an entry's header: the magic, then the MAC.
const HEADER_LEN: usize = ENTRY_MAGIC.len() + MAC_LEN;

type HmacSha256 = Hmac<Sha256>;

/// How a component was obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Loaded from a valid cache entry.
    Hit,
    /// Not cached: compiled and stored.
    Miss,
    /// A cache entry existed but could not be used (the reason); compiled again and replaced.
    Recompiled(String),
}

/// Why the cache could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AotCacheError {
    /// The directory could not be created or inspected, or no key could be generated.
    #[error("cache directory '{path}': {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The directory is writable by other users, so its contents cannot be trusted.
    #[error(
        "cache directory '{0}' is writable by other users; refusing to load native code from it"
    )]
    Insecure(PathBuf),
}

/// New entries held back in memory: (wasm sha256, serialized component).
type HeldEntries = std::sync::Arc<std::sync::Mutex<Vec<(String, Vec<u8>)>>>;

/// A directory of compiled plugins for one engine configuration.
#[derive(Clone)]
pub struct AotCache {
    dir: PathBuf,
    engine_key: String,
    /// The key of the entries' MACs (see the module docs).
    key: [u8; KEY_LEN],
    /// Entries held back until [`AotCache::write_held`] (see [`AotCache::holding_writes`]).
    held: Option<HeldEntries>,
}

impl std::fmt::Debug for AotCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key: debug output ends up in logs.
        f.debug_struct("AotCache")
            .field("dir", &self.dir)
            .field("engine_key", &self.engine_key)
            .finish_non_exhaustive()
    }
}

/// A component obtained through the cache, and the entry still to be written for it.
///
/// A freshly compiled component is not written to the cache straight away: the caller first
/// checks it (imports, linking) and stores it with [`AotCache::store`] only once the plugin is
/// accepted, so a refused input leaves nothing behind.
pub(crate) struct CachedComponent {
    /// The component, ready to link.
    pub(crate) component: Component,
    /// Where it came from.
    pub(crate) outcome: CacheOutcome,
    /// Whether it was compiled now (a miss or a recompilation), so [`AotCache::store`] has an
    /// entry to write.
    unsaved: bool,
}

impl AotCache {
    /// Opens (creating it if needed) the cache directory for `engine`, and reads its key
    /// ([`KEY_FILE`]), generating one if it is missing or unusable (which simply invalidates
    /// every entry made with the old one).
    ///
    /// # Errors
    ///
    /// Fails when the directory cannot be created or is writable by other users, or the system
    /// has no randomness for a new key.
    pub fn open(dir: &Path, engine: &Engine) -> Result<AotCache, AotCacheError> {
        let io = |source| AotCacheError::Io {
            path: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let meta = std::fs::metadata(dir).map_err(io)?;
            let mode = meta.permissions().mode();
            if mode & 0o077 != 0 {
                // Freshly created directories get the umask: make them private. Only the owner
                // (or root) may change the mode, so a directory someone else can write to is
                // refused; one others can merely read is used as it is (the key file has its
                // own 0600 mode, and entries are not secret).
                let tightened =
                    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
                if tightened.is_err() && mode & 0o022 != 0 {
                    return Err(AotCacheError::Insecure(dir.to_path_buf()));
                }
            }
        }
        let key = load_or_create_key(dir).map_err(io)?;
        // DefaultHasher with its fixed keys is deterministic for one build of the binary, which
        // is exactly the lifetime of a compatibility key.
        let mut hasher = DefaultHasher::new();
        engine
            .wasmtime()
            .precompile_compatibility_hash()
            .hash(&mut hasher);
        Ok(AotCache {
            dir: dir.to_path_buf(),
            engine_key: format!("{:016x}", hasher.finish()),
            key,
            held: None,
        })
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of the entry for a wasm digest (hex sha256).
    pub fn entry_path(&self, wasm_sha256_hex: &str) -> PathBuf {
        self.dir
            .join(format!("{wasm_sha256_hex}-{}.cwasm", self.engine_key))
    }

    /// The compiled component for `wasm`: from a verified cache entry, or compiled by the
    /// engine's [`Compiler`](crate::Compiler). Nothing is written here; see
    /// [`AotCache::store`].
    ///
    /// # Errors
    ///
    /// Fails when `wasm` does not compile, or its compilation goes over the compiler's budget
    /// (an unusable entry is never an error).
    pub(crate) fn component(
        &self,
        engine: &Engine,
        wasm: &[u8],
        wasm_sha256_hex: &str,
    ) -> Result<CachedComponent, crate::sandbox::compile::CompileError> {
        let path = self.entry_path(wasm_sha256_hex);
        let outcome = match self.load(engine, &path, wasm_sha256_hex) {
            Ok(Some(component)) => {
                return Ok(CachedComponent {
                    component,
                    outcome: CacheOutcome::Hit,
                    unsaved: false,
                });
            }
            Ok(None) => CacheOutcome::Miss,
            Err(reason) => {
                tracing::warn!(entry = %path.display(), %reason, "unusable AOT cache entry; recompiling");
                CacheOutcome::Recompiled(reason)
            }
        };
        let component = engine.compiler().compile(engine, wasm)?;
        Ok(CachedComponent {
            component,
            outcome,
            unsaved: true,
        })
    }

    /// Writes the entry of a component compiled by [`AotCache::component`] (nothing for a hit).
    /// Call it only once the plugin has passed every check. A failure is logged, not returned:
    /// a cache that cannot be written only costs start-up time.
    pub(crate) fn store(&self, wasm_sha256_hex: &str, cached: &CachedComponent) {
        if !cached.unsaved {
            return;
        }
        // The component's code as wasmtime serializes it: what `Component::deserialize` loads.
        let serialized = match cached.component.serialize() {
            Ok(serialized) => serialized,
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "cannot serialize a compiled plugin for the AOT cache");
                return;
            }
        };
        if let Some(held) = &self.held {
            held.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push((wasm_sha256_hex.to_string(), serialized));
            return;
        }
        self.write_now(wasm_sha256_hex, &serialized);
    }

    /// This cache (and its clones) holding new entries in memory until
    /// [`write_held`](Self::write_held): for a command that validates several inputs and must
    /// write nothing to the state unless all of them are good.
    pub fn holding_writes(mut self) -> AotCache {
        self.held = Some(Default::default());
        self
    }

    /// Writes the entries held back by [`holding_writes`](Self::holding_writes), and writes
    /// every later one at once.
    pub fn write_held(&mut self) {
        if let Some(held) = self.held.take() {
            let entries = std::mem::take(
                &mut *held
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            );
            for (sha256, serialized) in entries {
                self.write_now(&sha256, &serialized);
            }
        }
    }

    fn write_now(&self, wasm_sha256_hex: &str, serialized: &[u8]) {
        let path = self.entry_path(wasm_sha256_hex);
        if let Err(e) = self.write_entry(&path, wasm_sha256_hex, serialized) {
            tracing::warn!(entry = %path.display(), error = %e, "cannot write AOT cache entry");
        }
    }

    /// Reads and verifies the entry at `path`: `Ok(None)` when there is none, `Err(reason)`
    /// when there is one that cannot be used.
    fn load(
        &self,
        engine: &Engine,
        path: &Path,
        wasm_sha256_hex: &str,
    ) -> Result<Option<Component>, String> {
        // Read into memory rather than mapped: the bytes verified are then the bytes loaded,
        // whatever happens to the file meanwhile.
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("unreadable: {e}")),
        };
        let serialized = self.verified(&bytes, wasm_sha256_hex)?;
        // SAFETY: the MAC proves these bytes were written by `store` of an agent holding this
        // cache's key, for this engine key and wasm digest: they are what this engine's
        // compiler produced (see the module docs on who can forge a MAC). wasmtime still checks
        // the header, version and engine configuration, returning `Err` on mismatch.
        match unsafe { Component::deserialize(engine.wasmtime(), serialized) } {
            Ok(component) => Ok(Some(component)),
            Err(e) => Err(format!("{e:#}").lines().next().unwrap_or("").to_string()),
        }
    }

    /// The serialized component of an entry whose header and MAC check out, or why not.
    fn verified<'a>(&self, entry: &'a [u8], wasm_sha256_hex: &str) -> Result<&'a [u8], String> {
        if entry.len() < HEADER_LEN {
            return Err(format!(
                "truncated entry: {} bytes, shorter than its {HEADER_LEN}-byte header",
                entry.len()
            ));
        }
        let (magic, rest) = entry.split_at(ENTRY_MAGIC.len());
        let (tag, serialized) = rest.split_at(MAC_LEN);
        if magic != ENTRY_MAGIC {
            return Err("not a rampart cache entry of this format (bad magic)".to_string());
        }
        self.mac(wasm_sha256_hex, serialized)
            .verify_slice(tag)
            .map_err(|_| {
                "MAC mismatch: the entry was altered, truncated, or written with another key"
                    .to_string()
            })?;
        Ok(serialized)
    }

    /// The MAC state over everything an entry vouches for: the format, the engine key, the wasm
    /// digest and the serialized component. Variable-length fields are length-prefixed so that
    /// no two different inputs feed the same bytes.
    fn mac(&self, wasm_sha256_hex: &str, serialized: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(&ENTRY_MAGIC);
        for field in [self.engine_key.as_bytes(), wasm_sha256_hex.as_bytes()] {
            mac.update(&(field.len() as u64).to_le_bytes());
            mac.update(field);
        }
        mac.update(serialized);
        mac
    }

    /// Writes an entry atomically: temporary file, fsync, rename into place (replacing an
    /// unusable entry of the same name).
    fn write_entry(
        &self,
        path: &Path,
        wasm_sha256_hex: &str,
        serialized: &[u8],
    ) -> std::io::Result<()> {
        let tag = self
            .mac(wasm_sha256_hex, serialized)
            .finalize()
            .into_bytes();
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
        tmp.write_all(&ENTRY_MAGIC)?;
        tmp.write_all(&tag)?;
        tmp.write_all(serialized)?;
        tmp.as_file().sync_all()?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

/// The cache key of `dir`: read from [`KEY_FILE`], or generated and stored there when the file
/// is missing or unusable (wrong size, unreadable, readable by others).
///
/// A key that cannot be stored is still used, for this process only: its entries will not
/// verify in the next one, which costs a compilation, not correctness.
fn load_or_create_key(dir: &Path) -> std::io::Result<[u8; KEY_LEN]> {
    let path = dir.join(KEY_FILE);
    // A few rounds in case several processes open the cache at once: whoever creates the file
    // first wins and the others read its key.
    for _ in 0..3 {
        match read_key(&path) {
            Ok(key) => return Ok(key),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(key = %path.display(), error = %e, "unusable AOT cache key; generating a new one (existing entries will be recompiled)");
                // Making way for the new key; if this fails, so will creating it, below.
                let _ = std::fs::remove_file(&path);
            }
        }
        let mut key = [0u8; KEY_LEN];
        getrandom::fill(&mut key)
            .map_err(|e| std::io::Error::other(format!("no system randomness: {e}")))?;
        match write_key(dir, &path, &key) {
            Ok(()) => return Ok(key),
            // Another process created it meanwhile: read theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                tracing::warn!(key = %path.display(), error = %e, "cannot store the AOT cache key; entries written now will be recompiled by the next process");
                return Ok(key);
            }
        }
    }
    let mut key = [0u8; KEY_LEN];
    getrandom::fill(&mut key)
        .map_err(|e| std::io::Error::other(format!("no system randomness: {e}")))?;
    tracing::warn!(key = %path.display(), "no usable AOT cache key could be stored; using one for this process only");
    Ok(key)
}

/// Reads a key file; `InvalidData` when it has the wrong size or, on Unix, is accessible to
/// other users (then it may have been read, and forged entries would verify).
fn read_key(path: &Path) -> std::io::Result<[u8; KEY_LEN]> {
    let file = std::fs::File::open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = file.metadata()?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("accessible to other users (mode {:o})", mode & 0o777),
            ));
        }
    }
    // One byte more than a key, to tell a longer file from a key without reading all of it.
    let mut bytes = Vec::with_capacity(KEY_LEN + 1);
    file.take(KEY_LEN as u64 + 1).read_to_end(&mut bytes)?;
    <[u8; KEY_LEN]>::try_from(bytes.as_slice()).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} bytes, not a {KEY_LEN}-byte key", bytes.len()),
        )
    })
}

/// Creates the key file, failing with `AlreadyExists` if there is one: written to a private
/// temporary file, flushed, then linked into place without replacing anything, so no reader
/// ever sees a partial key.
fn write_key(dir: &Path, path: &Path, key: &[u8; KEY_LEN]) -> std::io::Result<()> {
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    #[cfg(unix)]
    {
        // tempfile already creates it 0600; say so rather than rely on it.
        use std::os::unix::fs::PermissionsExt as _;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    tmp.write_all(key)?;
    tmp.as_file().sync_all()?;
    tmp.persist_noclobber(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest valid component: compiles (to a few KB of native code) and links.
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";
    const DIGEST: &str = "00ff";

    fn engine() -> Engine {
        static ENGINE: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
        ENGINE
            .get_or_init(|| {
                Engine::with_config(&crate::EngineConfig {
                    concurrent_runs: None,
                    ..Default::default()
                })
                .expect("engine")
            })
            .clone()
    }

    /// Loads the empty component through `cache`, storing what was compiled; the outcome.
    fn load(cache: &AotCache) -> CacheOutcome {
        let cached = cache
            .component(&engine(), EMPTY_COMPONENT, DIGEST)
            .expect("the empty component compiles");
        cache.store(DIGEST, &cached);
        cached.outcome
    }

    fn recompiled(outcome: &CacheOutcome, why: &str) {
        match outcome {
            CacheOutcome::Recompiled(reason) => assert!(reason.contains(why), "{reason}"),
            other => panic!("expected a recompilation ({why}), got {other:?}"),
        }
    }

    #[test]
    fn an_entry_is_written_only_when_stored_and_then_hits() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = AotCache::open(tmp.path(), &engine()).unwrap();
        let cached = cache.component(&engine(), EMPTY_COMPONENT, DIGEST).unwrap();
        assert_eq!(cached.outcome, CacheOutcome::Miss);
        assert!(
            !cache.entry_path(DIGEST).exists(),
            "nothing written before `store`"
        );
        cache.store(DIGEST, &cached);
        let entry = std::fs::read(cache.entry_path(DIGEST)).unwrap();
        assert_eq!(entry[..ENTRY_MAGIC.len()], ENTRY_MAGIC);
        assert_eq!(load(&cache), CacheOutcome::Hit);
        assert_eq!(load(&cache), CacheOutcome::Hit, "a hit writes nothing");
    }

    #[test]
    fn flipped_bytes_are_caught_before_wasmtime_reads_the_entry() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = AotCache::open(tmp.path(), &engine()).unwrap();
        assert_eq!(load(&cache), CacheOutcome::Miss);
        let path = cache.entry_path(DIGEST);
        let good = std::fs::read(&path).unwrap();
        // Anywhere: the magic, the MAC, wasmtime's header, the code.
        for at in [
            0,
            ENTRY_MAGIC.len(),
            HEADER_LEN,
            HEADER_LEN + 64,
            good.len() - 1,
        ] {
            let mut bad = good.clone();
            bad[at] ^= 0x40;
            std::fs::write(&path, &bad).unwrap();
            let outcome = load(&cache);
            let why = if at == 0 { "magic" } else { "MAC mismatch" };
            recompiled(&outcome, why);
            assert_eq!(std::fs::read(&path).unwrap(), good, "replaced (byte {at})");
        }
        assert_eq!(load(&cache), CacheOutcome::Hit);
    }

    #[test]
    fn truncated_entries_and_other_formats_are_recompiled() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = AotCache::open(tmp.path(), &engine()).unwrap();
        assert_eq!(load(&cache), CacheOutcome::Miss);
        let path = cache.entry_path(DIGEST);
        let good = std::fs::read(&path).unwrap();
        // The header alone, cut inside the header, empty, and a bare wasmtime artifact (no
        // header and no MAC: what wasmtime itself writes).
        let cases: [(&[u8], &str); 5] = [
            (&good[..good.len() - 1], "MAC mismatch"),
            (&good[..HEADER_LEN], "MAC mismatch"),
            (&good[..HEADER_LEN - 1], "truncated"),
            (b"", "truncated"),
            (&good[HEADER_LEN..], "magic"),
        ];
        for (bytes, why) in cases {
            std::fs::write(&path, bytes).unwrap();
            recompiled(&load(&cache), why);
            assert_eq!(load(&cache), CacheOutcome::Hit, "replaced");
        }
    }

    #[test]
    fn an_entry_only_verifies_under_its_own_name_and_key() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = AotCache::open(tmp.path(), &engine()).unwrap();
        assert_eq!(load(&cache), CacheOutcome::Miss);
        // Renamed to another plugin's digest: the MAC covers the digest.
        let other = cache.entry_path("11ee");
        std::fs::copy(cache.entry_path(DIGEST), &other).unwrap();
        let cached = cache.component(&engine(), EMPTY_COMPONENT, "11ee").unwrap();
        recompiled(&cached.outcome, "MAC mismatch");

        // A new key (the old key file deleted): every entry made with the old one is refused.
        std::fs::remove_file(tmp.path().join(KEY_FILE)).unwrap();
        let reopened = AotCache::open(tmp.path(), &engine()).unwrap();
        assert_ne!(reopened.key, cache.key);
        recompiled(&load(&reopened), "MAC mismatch");
        assert_eq!(load(&reopened), CacheOutcome::Hit);
        // The same key is read back by the next process.
        let again = AotCache::open(tmp.path(), &engine()).unwrap();
        assert_eq!(again.key, reopened.key);
        assert_eq!(load(&again), CacheOutcome::Hit);
    }

    #[test]
    fn an_unusable_key_file_is_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        let key_file = tmp.path().join(KEY_FILE);
        let first = AotCache::open(tmp.path(), &engine()).unwrap();
        assert_eq!(std::fs::read(&key_file).unwrap(), first.key);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let mode = std::fs::metadata(tmp.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        assert_eq!(load(&first), CacheOutcome::Miss);

        let mut previous = first.key;
        for bad in [&b""[..], &[7; KEY_LEN - 1], &[7; KEY_LEN + 1]] {
            std::fs::write(&key_file, bad).unwrap();
            let cache = AotCache::open(tmp.path(), &engine()).unwrap();
            assert_ne!(cache.key, previous);
            assert_eq!(std::fs::read(&key_file).unwrap(), cache.key, "stored");
            recompiled(&load(&cache), "MAC mismatch");
            previous = cache.key;
        }
        #[cfg(unix)]
        {
            // Readable by others: it may have leaked, so it is not trusted.
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
            let cache = AotCache::open(tmp.path(), &engine()).unwrap();
            assert_ne!(cache.key, previous);
        }
    }

    #[test]
    fn debug_output_does_not_show_the_key() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = AotCache::open(tmp.path(), &engine()).unwrap();
        let debug = format!("{cache:?}");
        assert!(debug.contains("engine_key"), "{debug}");
        assert!(!debug.contains(" key:"), "{debug}");
        assert!(!debug.contains(&format!("{:?}", cache.key)), "{debug}");
    }
}
