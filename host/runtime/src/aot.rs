//! The ahead-of-time compilation cache: compiled plugins on disk, so start-up does not run
//! Cranelift.
//!
//! An entry is named `<wasm sha256>-<engine key>.cwasm`. The engine key hashes wasmtime's
//! `precompile_compatibility_hash` (wasmtime version, compiler settings, enabled features, CPU
//! flags), so an artifact is only ever loaded by an engine that can run it; a different build of
//! rampart simply misses. Entries are content-addressed and immutable: written to a temporary
//! file, flushed, renamed into place, never rewritten while they may be memory-mapped (a mapped
//! file truncated under a reader crashes it). An entry that fails to load — corrupt, truncated,
//! or from an incompatible engine — is compiled again and replaced, never a crash.
//!
//! # Trust
//!
//! Loading a compiled artifact is `unsafe` in wasmtime: the bytes are native code and are only
//! lightly validated. The cache directory must therefore be writable by the agent alone.
//! [`AotCache::open`] creates it private (mode 0700 on Unix) and refuses an existing directory
//! that other users can write to.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use wasmtime::component::Component;

use crate::engine::Engine;

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
    /// The directory could not be created or inspected.
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

/// A directory of compiled plugins for one engine configuration.
#[derive(Debug, Clone)]
pub struct AotCache {
    dir: PathBuf,
    engine_key: String,
}

impl AotCache {
    /// Opens (creating it if needed) the cache directory for `engine`.
    ///
    /// # Errors
    ///
    /// Fails when the directory cannot be created or is writable by other users.
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
            if mode & 0o022 != 0 {
                // Freshly created directories get the umask: tighten them. Only the owner (or
                // root) may change the mode, so a directory someone else controls is refused.
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                    .map_err(|_| AotCacheError::Insecure(dir.to_path_buf()))?;
            }
        }
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

    /// The compiled component for `wasm`, from the cache or freshly compiled and stored.
    pub(crate) fn component(
        &self,
        engine: &Engine,
        wasm: &[u8],
        wasm_sha256_hex: &str,
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        let path = self.entry_path(wasm_sha256_hex);
        let mut outcome = CacheOutcome::Miss;
        if path.exists() {
            // SAFETY: entries are only ever written by `store` below, in a directory that
            // `open` checked is writable by this user alone; wasmtime validates the header,
            // version and engine configuration and returns `Err` on mismatch.
            match unsafe { Component::deserialize_file(engine.wasmtime(), &path) } {
                Ok(component) => return Ok((component, CacheOutcome::Hit)),
                Err(e) => {
                    let reason = format!("{e:#}").lines().next().unwrap_or("").to_string();
                    tracing::warn!(entry = %path.display(), %reason, "unusable AOT cache entry; recompiling");
                    outcome = CacheOutcome::Recompiled(reason);
                }
            }
        }
        let compiled = engine.wasmtime().precompile_component(wasm)?;
        if let Err(e) = self.store(&path, &compiled) {
            // A cache that cannot be written only costs start-up time.
            tracing::warn!(entry = %path.display(), error = %e, "cannot write AOT cache entry");
        }
        // SAFETY: `compiled` was produced by this engine a moment ago.
        let component = unsafe { Component::deserialize(engine.wasmtime(), &compiled)? };
        Ok((component, outcome))
    }

    /// Writes an entry atomically: temporary file, fsync, rename into place.
    fn store(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
        tmp.write_all(bytes)?;
        tmp.as_file().sync_all()?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}
