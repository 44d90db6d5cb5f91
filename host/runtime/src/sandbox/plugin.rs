//! Loading plugins: read the manifest, audit the imports, compile, pre-link.
//!
//! A [`Plugin`] is one verified, compiled and pre-linked version of a plugin. Loading does all
//! the expensive and risky work once — parsing the binary, deciding grants, refusing forbidden
//! imports, Cranelift compilation, import resolution and type checks — so each run only creates
//! a fresh store and instantiates (see [`Plugin::run`]).

use std::sync::Arc;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};

use crate::grants::Grants;
use crate::manifest::{self, Manifest};
use crate::sandbox::aot::{AotCache, CacheOutcome};
use crate::sandbox::bindings::{Plugin as PluginWorld, PluginPre};
use crate::sandbox::engine::Engine;
use crate::sandbox::error::LoadError;
use crate::sandbox::host::RunState;
use crate::supply::trust::{TrustPolicy, TrustVerdict};
use rampart_gate::KnownKeys;

/// The WIT package this host implements.
pub const CONTRACT_PACKAGE: &str = "rampart:plugin";
/// The contract version this host implements. Plugins built against this or an older `0.1.x`
/// load; a newer one (it may import functions this host lacks) or another minor is refused.
pub const CONTRACT_VERSION: &str = "0.1.1";

/// Largest plugin binary accepted. First-party plugins are ~120 KB; 32 MiB bounds the memory a
/// corrupt or hostile file can make the loader use.
pub const MAX_PLUGIN_BYTES: usize = 32 << 20;

/// Reads a plugin file, refusing one larger than [`MAX_PLUGIN_BYTES`] without reading it: the
/// size is checked on the open file before any byte is read, and the read stops one byte past
/// the limit whatever the file grows to meanwhile. Anything but a regular file (a FIFO, a
/// device) is refused too, and is opened without blocking on Unix.
///
/// # Errors
///
/// The open or read error (`NotFound` for a missing file); `FileTooLarge` when the file is
/// over the limit, `InvalidInput` when it is not a regular file, both with a one-line message
/// such as `the file is 3221225472 bytes, more than the 33554432 allowed`.
pub fn read_plugin_file(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        // Opening a FIFO for reading would wait for a writer: never block on a planted one.
        use std::os::unix::fs::OpenOptionsExt as _;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path)?;
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let too_large = |size: u64| {
        std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            crate::sandbox::error::LoadFailure::TooLarge {
                size: usize::try_from(size).unwrap_or(usize::MAX),
                max: MAX_PLUGIN_BYTES,
            }
            .to_string(),
        )
    };
    if metadata.len() > MAX_PLUGIN_BYTES as u64 {
        return Err(too_large(metadata.len()));
    }
    let limit = MAX_PLUGIN_BYTES as u64 + 1;
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
    file.take(limit).read_to_end(&mut bytes)?;
    if bytes.len() > MAX_PLUGIN_BYTES {
        // It grew after the size check.
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// WASI interfaces a plugin may import. Rust's standard library imports the `cli` and `io`
/// interfaces even when unused; they are satisfied by a deny-all context (no environment, no
/// arguments, stdin closed, stdout discarded, the tail of stderr kept to explain a panic).
/// Clocks and randomness reveal nothing of the device; a wait on a clock (`wasi:io/poll`) ends
/// at the run's deadline at the latest (see `host::wasi`). Filesystem, sockets and HTTP are
/// never granted: plugins reach the device only through rampart's own capabilities.
const ALLOWED_WASI: &[&str] = &[
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:clocks/wall-clock",
    "wasi:clocks/monotonic-clock",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
];

/// Where the operator's limits on grants come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantPolicy {
    /// Effective grants = requested ∩ this ceiling: a plugin asking for more is narrowed (and
    /// its calls beyond the ceiling are denied at run time). `Ceiling(Grants::none())` denies
    /// everything.
    Ceiling(Grants),
    /// Like `Ceiling`, but a plugin whose manifest asks for anything beyond the ceiling is
    /// refused at load as over-privileged. Suits plugin directories fed by a fleet pipeline,
    /// where an over-reaching new version must not replace a good one.
    Strict(Grants),
    /// The operator's per-plugin grants ([`crate::grants::OperatorGrants`]) under the host's
    /// `ceiling`: each plugin's ceiling is its entry ∩ `ceiling`. With `strict`, a request
    /// beyond that ceiling is refused as in [`GrantPolicy::Strict`]; otherwise it is narrowed.
    Operator {
        /// The host's ceiling for every plugin.
        ceiling: Grants,
        /// The operator's narrowing, per plugin.
        operator: Arc<crate::grants::OperatorGrants>,
        /// Refuse (rather than narrow) over-privileged requests.
        strict: bool,
    },
    /// For plugins of unknown provenance, such as the files of a plugin directory: a plugin
    /// signed by a key the trust configuration trusts for its name, or listed by name in the
    /// operator's grants, has `ceiling` (narrowed by the operator's entry, or `[default]`);
    /// any other plugin has `ceiling` read-only ([`Grants::read_only`]), so that dropping a
    /// file in the directory never gives write access. With `strict`, a request beyond the
    /// plugin's ceiling is refused as in [`GrantPolicy::Strict`]; otherwise it is narrowed.
    ThirdParty {
        /// The host's ceiling for a trusted plugin.
        ceiling: Grants,
        /// The operator's narrowing, per plugin, if any.
        operator: Option<Arc<crate::grants::OperatorGrants>>,
        /// Refuse (rather than narrow) over-privileged requests.
        strict: bool,
    },
}

impl GrantPolicy {
    fn ceiling(&self, plugin: &str, trust: &TrustVerdict) -> std::borrow::Cow<'_, Grants> {
        use std::borrow::Cow;
        match self {
            GrantPolicy::Ceiling(c) | GrantPolicy::Strict(c) => Cow::Borrowed(c),
            GrantPolicy::Operator {
                ceiling, operator, ..
            } => Cow::Owned(operator.ceiling_for(plugin, ceiling)),
            GrantPolicy::ThirdParty {
                ceiling, operator, ..
            } => {
                let listed = operator.as_ref().is_some_and(|op| op.lists(plugin));
                let trusted = matches!(trust, TrustVerdict::Verified { .. });
                let ceiling = if listed || trusted {
                    Cow::Borrowed(ceiling)
                } else {
                    Cow::Owned(ceiling.read_only())
                };
                match operator {
                    Some(op) => Cow::Owned(op.ceiling_for(plugin, &ceiling)),
                    None => ceiling,
                }
            }
        }
    }

    fn effective(
        &self,
        plugin: &str,
        trust: &TrustVerdict,
        requested: &Grants,
    ) -> Result<Grants, Vec<String>> {
        let ceiling = self.ceiling(plugin, trust);
        let strict = match self {
            GrantPolicy::Strict(_) => true,
            GrantPolicy::Operator { strict, .. } | GrantPolicy::ThirdParty { strict, .. } => {
                *strict
            }
            GrantPolicy::Ceiling(_) => false,
        };
        if strict {
            let mut excess = requested.excess(&ceiling);
            if !excess.is_empty() {
                if let GrantPolicy::ThirdParty { operator, .. } = self
                    && !matches!(trust, TrustVerdict::Verified { .. })
                    && !operator.as_ref().is_some_and(|op| op.lists(plugin))
                {
                    excess.push(
                        "(a plugin neither signed by a key trusted for its name nor listed in the grants file is read-only)"
                            .into(),
                    );
                }
                return Err(excess);
            }
        }
        Ok(requested.intersect(&ceiling))
    }
}

/// One loaded plugin version. Cheap to share (`Arc`); runs in flight keep their version alive.
pub struct Plugin {
    manifest: Manifest,
    grants: Arc<Grants>,
    digest: String,
    contract: String,
    source: String,
    cache_outcome: Option<CacheOutcome>,
    trust: TrustVerdict,
    name: Arc<str>,
    pub(crate) engine: Engine,
    pub(crate) pre: PluginPre<RunState>,
    /// Registry keys earlier runs parsed, shared by the runs of this version.
    pub(crate) known_keys: Arc<KnownKeys>,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.manifest.name)
            .field("version", &self.manifest.version)
            .field("digest", &self.digest)
            .finish_non_exhaustive()
    }
}

impl Plugin {
    /// Verifies, compiles and pre-links a plugin binary.
    ///
    /// `source` names where the bytes came from (a path or `embedded:<name>`) for messages.
    ///
    /// # Errors
    ///
    /// [`LoadError`] when the file is too large or not a component, the manifest is missing or
    /// invalid, the contract version is incompatible, an import is forbidden or not covered by
    /// the requested grants, or compilation / linking fails; compilation that goes over the
    /// budget of the engine's [`Compiler`](crate::Compiler) is
    /// [`crate::LoadFailure::CompileBudget`].
    pub fn load(
        engine: &Engine,
        source: &str,
        wasm: &[u8],
        policy: &GrantPolicy,
    ) -> Result<Plugin, LoadError> {
        Self::load_with_cache(engine, source, wasm, policy, None)
    }

    /// [`Plugin::load`], taking the compiled code from `cache` when it has it (and storing it
    /// when it does not). Verification (size, manifest, signature, contract, grants) always runs
    /// first; imports are audited and linked on the compiled component either way, and a new
    /// entry is written only after all of that passed: a refused plugin, or bytes that do not
    /// compile, leave nothing in the cache.
    ///
    /// # Errors
    ///
    /// As [`Plugin::load`].
    pub fn load_with_cache(
        engine: &Engine,
        source: &str,
        wasm: &[u8],
        policy: &GrantPolicy,
        cache: Option<&AotCache>,
    ) -> Result<Plugin, LoadError> {
        Self::load_trusted(engine, source, wasm, policy, &TrustPolicy::off(), cache)
    }

    /// [`Plugin::load_with_cache`], first checking the embedded signature against `trust` (see
    /// [`crate::supply::signing`]). The check runs right after the manifest is read (the signer must be
    /// allowed to sign the manifest's plugin name) and before anything is compiled. In
    /// [`crate::supply::trust::TrustMode::Audit`] a failed check loads the plugin and records the
    /// finding ([`Plugin::trust`]).
    ///
    /// # Errors
    ///
    /// As [`Plugin::load`], and [`crate::LoadFailure::Signature`] when enforcing signatures and
    /// the plugin is unsigned, tampered with, or signed by a key not trusted for its name.
    pub fn load_trusted(
        engine: &Engine,
        source: &str,
        wasm: &[u8],
        policy: &GrantPolicy,
        trust: &TrustPolicy,
        cache: Option<&AotCache>,
    ) -> Result<Plugin, LoadError> {
        let fail = |reason: crate::sandbox::error::LoadFailure| LoadError {
            origin: source.to_string(),
            reason,
        };
        if wasm.len() > MAX_PLUGIN_BYTES {
            return Err(fail(crate::sandbox::error::LoadFailure::TooLarge {
                size: wasm.len(),
                max: MAX_PLUGIN_BYTES,
            }));
        }
        let sections = manifest::read_sections(wasm).map_err(|e| fail(e.into()))?;
        let manifest = Manifest::parse(&sections.manifest).map_err(|e| fail(e.into()))?;
        let trust = trust
            .decide(wasm, &manifest.name)
            .map_err(|e| fail(crate::sandbox::error::LoadFailure::Signature(e)))?;
        if let TrustVerdict::Finding(finding) = &trust {
            tracing::warn!(plugin = %manifest.name, %source, %finding, "plugin signature check failed; loaded anyway (trust mode audit)");
        }
        let contract = sections.contract.trim().to_string();
        if !contract_compatible(&contract) {
            return Err(fail(crate::sandbox::error::LoadFailure::Contract {
                plugin: contract,
                host: CONTRACT_VERSION.to_string(),
            }));
        }
        // Decided before compiling: an over-privileged plugin is refused without spending a
        // compilation on it.
        let grants = Arc::new(
            policy
                .effective(&manifest.name, &trust, &manifest.grants)
                .map_err(|excess| {
                    fail(crate::sandbox::error::LoadFailure::OverPrivileged { excess })
                })?,
        );
        if grants.is_empty() && !manifest.grants.is_empty() {
            // Loaded, since the operator may mean it, but every capability call it makes will
            // be denied: the commonest embedding mistake is a ceiling of `Grants::none()`.
            tracing::warn!(
                plugin = %manifest.name,
                %source,
                "the grant ceiling allows none of what the plugin requests: every capability call it makes will be denied (see rampart_runtime::ceiling::recommended)"
            );
        }
        let sha256 = format!("{:x}", Sha256::digest(wasm));
        // Compiled by the engine's compiler, within its budget if it has one (or taken from a
        // verified cache entry); a new cache entry is only written below, once the plugin has
        // passed every check, so a refused plugin leaves nothing in the state directory.
        let compile_failed = |e: crate::sandbox::compile::CompileError| fail(e.into());
        let cached = cache
            .map(|cache| cache.component(engine, wasm, &sha256))
            .transpose()
            .map_err(compile_failed)?;
        let component = match &cached {
            Some(cached) => cached.component.clone(),
            None => engine
                .compiler()
                .compile(engine, wasm)
                .map_err(compile_failed)?,
        };
        audit_imports(engine, &component, &manifest).map_err(fail)?;

        let mut linker: Linker<RunState> = Linker::new(engine.wasmtime());
        // The WASI calls that can wait are bounded by the run's deadline (`host::wasi`).
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .and_then(|()| crate::sandbox::host::wasi::bound_waits(&mut linker, engine))
            .map_err(|e| fail(crate::sandbox::error::LoadFailure::Link(format!("{e:#}"))))?;
        PluginWorld::add_to_linker::<RunState, wasmtime::component::HasSelf<RunState>>(
            &mut linker,
            |state| state,
        )
        .map_err(|e| fail(crate::sandbox::error::LoadFailure::Link(format!("{e:#}"))))?;
        let instance_pre = linker
            .instantiate_pre(&component)
            .map_err(|e| fail(crate::sandbox::error::LoadFailure::Link(format!("{e:#}"))))?;
        let pre = PluginPre::new(instance_pre)
            .map_err(|e| fail(crate::sandbox::error::LoadFailure::Link(format!("{e:#}"))))?;

        // Accepted: now the compiled code may be cached.
        let cache_outcome = match (cache, cached) {
            (Some(cache), Some(cached)) => {
                cache.store(&sha256, &cached);
                Some(cached.outcome)
            }
            _ => None,
        };

        Ok(Plugin {
            name: Arc::from(manifest.name.as_str()),
            manifest,
            grants,
            digest: format!("sha256:{sha256}"),
            contract,
            source: source.to_string(),
            cache_outcome,
            trust,
            engine: engine.clone(),
            pre,
            known_keys: Arc::default(),
        })
    }

    /// Where the plugin was loaded from (a path or `embedded:<name>`).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// How the compiled code was obtained, when an AOT cache was used.
    pub fn cache_outcome(&self) -> Option<&CacheOutcome> {
        self.cache_outcome.as_ref()
    }

    /// What the signature check found when the plugin was loaded.
    pub fn trust(&self) -> &TrustVerdict {
        &self.trust
    }

    /// The plugin's manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.manifest.name
    }

    /// The plugin's version.
    pub fn version(&self) -> &str {
        &self.manifest.version
    }

    /// `sha256:<hex>` of the plugin binary.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The contract version the plugin was built against.
    pub fn contract_version(&self) -> &str {
        &self.contract
    }

    /// The effective grants (requested ∩ allowed).
    pub fn grants(&self) -> &Grants {
        &self.grants
    }

    pub(crate) fn shared_name(&self) -> Arc<str> {
        self.name.clone()
    }

    pub(crate) fn shared_grants(&self) -> Arc<Grants> {
        self.grants.clone()
    }
}

/// Semver compatibility for a 0.x contract: same major and minor, and a patch no newer than the
/// host's (patches only add, so an older plugin finds everything it imports).
fn contract_compatible(plugin: &str) -> bool {
    let parse = |v: &str| -> Option<[u64; 3]> {
        let mut parts = v.split('.').map(|p| p.parse::<u64>().ok());
        let version = [parts.next()??, parts.next()??, parts.next()??];
        parts.next().is_none().then_some(version)
    };
    match (parse(plugin), parse(CONTRACT_VERSION)) {
        (Some([ma, mi, pa]), Some([hma, hmi, hpa])) => ma == hma && mi == hmi && pa <= hpa,
        _ => false,
    }
}

/// Refuses a component whose imports reach beyond rampart's capabilities and harmless WASI, or
/// that imports a capability its manifest requests no grant for.
fn audit_imports(
    engine: &Engine,
    component: &Component,
    manifest: &Manifest,
) -> Result<(), crate::sandbox::error::LoadFailure> {
    let ty = component.component_type();
    for (name, _) in ty.imports(engine.wasmtime()) {
        let (interface, version) = name.split_once('@').unwrap_or((name, ""));
        if let Some(capability) = interface.strip_prefix("rampart:plugin/") {
            if !contract_compatible(version) {
                return Err(crate::sandbox::error::LoadFailure::Contract {
                    plugin: version.to_string(),
                    host: CONTRACT_VERSION.to_string(),
                });
            }
            let requested = match capability {
                "types" | "log" => true,
                "registry" => !manifest.grants.registry.is_empty(),
                "defender" => manifest.grants.defender.is_some(),
                "files" => !manifest.grants.files.is_empty(),
                _ => {
                    return Err(crate::sandbox::error::LoadFailure::ForbiddenImport {
                        import: name.to_string(),
                        reason: "this host does not provide that interface".into(),
                    });
                }
            };
            if !requested {
                return Err(crate::sandbox::error::LoadFailure::ForbiddenImport {
                    import: name.to_string(),
                    reason: format!("the manifest requests no {capability} grant"),
                });
            }
        } else if !ALLOWED_WASI.contains(&interface) {
            return Err(crate::sandbox::error::LoadFailure::ForbiddenImport {
                import: name.to_string(),
                reason: "plugins reach the device only through rampart:plugin capabilities".into(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_versions_compare_by_major_and_minor() {
        assert!(contract_compatible("0.1.0"));
        assert!(contract_compatible("0.1.1"));
        assert!(!contract_compatible("0.1.7"), "newer than the host");
        assert!(!contract_compatible("0.2.0"));
        assert!(!contract_compatible("1.1.0"));
        assert!(!contract_compatible("0.1"));
        assert!(!contract_compatible(""));
    }
}
