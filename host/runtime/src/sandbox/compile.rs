//! Turning a plugin's WebAssembly into native code: the [`Compiler`] an embedder chooses for its
//! [`Engine`].
//!
//! Compilation is the one step of loading a plugin whose cost the plugin's bytes decide: a small
//! file can make Cranelift run for minutes or allocate gigabytes (thousands of nested components,
//! huge functions). [`Plugin::load`](crate::Plugin::load) and its variants never compile
//! themselves; they ask the engine's compiler ([`Engine::compiler`]), on a cache miss as well as
//! without a cache. The default, [`InProcess`], compiles in the calling process with no budget,
//! which suits a library whose inputs are trusted. An embedder that loads plugins it does not
//! trust installs a compiler that bounds the work ([`Engine::with_compiler`]), typically by
//! compiling in a child process with resource limits: the `rampart` agent does (its
//! `compile` module), and a compiler that went over its budget answers
//! [`CompileError::Budget`], which the loader reports as
//! [`LoadFailure::CompileBudget`](crate::LoadFailure::CompileBudget).

use std::time::Duration;

/// wasmtime's compiled component, what a [`Compiler`] returns (re-exported so that an
/// implementation needs no wasmtime dependency of its own, nor a matching version).
pub use wasmtime::component::Component;

use crate::sandbox::engine::Engine;

/// Compiles plugin components for an [`Engine`].
///
/// Implementations must return a component of `engine`'s wasmtime engine compiled from exactly
/// `wasm` (the loader has verified the bytes' size, manifest, signature, contract and grants,
/// and audits the component's imports afterwards).
pub trait Compiler: Send + Sync + std::fmt::Debug {
    /// Compiles the component binary `wasm` for `engine`.
    ///
    /// # Errors
    ///
    /// [`CompileError::Invalid`] when `wasm` is not a valid component,
    /// [`CompileError::Budget`] when compiling it went over the compiler's budget, and
    /// [`CompileError::Failed`] when the compiler itself failed.
    fn compile(&self, engine: &Engine, wasm: &[u8]) -> Result<Component, CompileError>;
}

/// Compiles in the calling thread with wasmtime's `Component::new`, without a time or memory
/// budget: the default of [`Engine::new`], for trusted plugins.
#[derive(Debug, Clone, Copy, Default)]
pub struct InProcess;

impl Compiler for InProcess {
    fn compile(&self, engine: &Engine, wasm: &[u8]) -> Result<Component, CompileError> {
        Component::new(engine.wasmtime(), wasm)
            .map_err(|e| CompileError::Invalid(excerpt(&format!("{e:#}"))))
    }
}

/// Why a [`Compiler`] produced no component.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CompileError {
    /// The bytes are not a valid component (the compiler's message).
    #[error("{0}")]
    Invalid(String),
    /// Compiling went over the compiler's time or memory budget and was stopped.
    #[error(transparent)]
    Budget(#[from] CompileBudget),
    /// The compiler failed for another reason: it could not be started, crashed, or answered
    /// something that is not a compiled component.
    #[error("{0}")]
    Failed(String),
}

/// The budget a compilation went over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CompileBudget {
    /// It ran longer than this (wall-clock time, or CPU time for a compiler that also bounds
    /// that).
    #[error("compilation exceeded its time budget of {}", humantime::format_duration(*.0))]
    Time(Duration),
    /// It needed more memory than this many bytes.
    #[error("compilation exceeded its memory budget of {} MiB", .0 >> 20)]
    Memory(u64),
}

/// Longest excerpt of a compiler's message a [`CompileError`] keeps, in characters: wasmtime's
/// messages are short, and one may quote names from the (hostile) input.
pub const MAX_MESSAGE_CHARS: usize = 240;

/// `message` as a compile error keeps it: control characters escaped, at most
/// [`MAX_MESSAGE_CHARS`] characters (see [`crate::text::excerpt`]).
pub fn excerpt(message: &str) -> String {
    crate::text::excerpt(message.trim(), MAX_MESSAGE_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_read_as_one_line() {
        assert_eq!(
            CompileBudget::Time(Duration::from_secs(30)).to_string(),
            "compilation exceeded its time budget of 30s"
        );
        assert_eq!(
            CompileBudget::Memory(2 << 30).to_string(),
            "compilation exceeded its memory budget of 2048 MiB"
        );
    }

    /// A compiler that counts its calls and answers with a budget, or compiles in-process.
    #[derive(Debug, Default)]
    struct Stub {
        calls: std::sync::atomic::AtomicUsize,
        budget: Option<CompileBudget>,
    }

    impl Compiler for Stub {
        fn compile(&self, engine: &Engine, wasm: &[u8]) -> Result<Component, CompileError> {
            self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            match self.budget {
                Some(budget) => Err(CompileError::Budget(budget)),
                None => InProcess.compile(engine, wasm),
            }
        }
    }

    fn engine() -> Engine {
        Engine::with_config(&crate::EngineConfig {
            concurrent_runs: None,
            ..Default::default()
        })
        .unwrap()
    }

    /// An empty component with valid rampart sections: it compiles, and fails to link.
    fn plugin_without_code() -> Vec<u8> {
        let mut wasm = b"\0asm\x0d\0\x01\0".to_vec();
        for (name, data) in [
            (
                crate::manifest::MANIFEST_SECTION,
                "[plugin]\nname = \"empty\"\nversion = \"0.1.0\"\nplatforms = [\"windows-client\"]\nsettings = [\"empty_*\"]\n",
            ),
            (crate::manifest::CONTRACT_SECTION, crate::CONTRACT_VERSION),
        ] {
            let mut body = vec![u8::try_from(name.len()).unwrap()];
            body.extend_from_slice(name.as_bytes());
            body.extend_from_slice(data.as_bytes());
            wasm.push(0);
            wasm.push(u8::try_from(body.len()).unwrap());
            wasm.extend(body);
        }
        wasm
    }

    #[test]
    fn loading_compiles_with_the_engines_compiler_and_reports_its_budget() {
        let policy = crate::GrantPolicy::Ceiling(crate::Grants::none());
        for budget in [
            CompileBudget::Time(Duration::from_millis(1500)),
            CompileBudget::Memory(64 << 20),
        ] {
            let engine = engine().with_compiler(Stub {
                budget: Some(budget),
                ..Stub::default()
            });
            let err = crate::Plugin::load(&engine, "bomb.wasm", &plugin_without_code(), &policy)
                .unwrap_err();
            assert_eq!(err.reason, crate::LoadFailure::CompileBudget(budget));
            assert_eq!(
                err.to_string(),
                format!("plugin 'bomb.wasm': {budget}"),
                "one line naming the file and the budget"
            );
        }
        // Without a budget in the way, it compiles and then fails only for lacking `apply`.
        let err = crate::Plugin::load(&engine(), "empty.wasm", &plugin_without_code(), &policy)
            .unwrap_err();
        assert!(matches!(err.reason, crate::LoadFailure::Link(_)), "{err}");
    }

    #[test]
    fn a_cache_miss_compiles_with_the_engines_compiler_and_a_hit_does_not() {
        let tmp = tempfile::tempdir().unwrap();
        let stub = std::sync::Arc::new(Stub::default());
        #[derive(Debug)]
        struct Shared(std::sync::Arc<Stub>);
        impl Compiler for Shared {
            fn compile(&self, engine: &Engine, wasm: &[u8]) -> Result<Component, CompileError> {
                self.0.compile(engine, wasm)
            }
        }
        let engine = engine().with_compiler(Shared(stub.clone()));
        let cache = crate::AotCache::open(tmp.path(), &engine).unwrap();
        let empty = b"\0asm\x0d\0\x01\0";
        let miss = cache.component(&engine, empty, "00ff").unwrap();
        assert_eq!(miss.outcome, crate::CacheOutcome::Miss);
        cache.store("00ff", &miss);
        let hit = cache.component(&engine, empty, "00ff").unwrap();
        assert_eq!(hit.outcome, crate::CacheOutcome::Hit);
        assert_eq!(stub.calls.load(std::sync::atomic::Ordering::SeqCst), 1);

        let over = engine.with_compiler(Stub {
            budget: Some(CompileBudget::Memory(1 << 20)),
            ..Stub::default()
        });
        assert_eq!(
            cache.component(&over, empty, "11ee").err(),
            Some(CompileError::Budget(CompileBudget::Memory(1 << 20)))
        );
        assert!(!cache.entry_path("11ee").exists(), "nothing cached");
    }

    #[test]
    fn the_default_compiler_reports_invalid_bytes() {
        let engine = Engine::with_config(&crate::EngineConfig {
            concurrent_runs: None,
            ..Default::default()
        })
        .unwrap();
        assert!(matches!(
            InProcess.compile(&engine, b"\0asm\x0d\0\x01\0garbage"),
            Err(CompileError::Invalid(_))
        ));
        InProcess
            .compile(&engine, b"\0asm\x0d\0\x01\0")
            .expect("the empty component compiles");
    }
}
