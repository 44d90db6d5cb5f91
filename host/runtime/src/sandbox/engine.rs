//! The one wasmtime engine of a process, with epoch interruption driven by a ticker thread.

use crate::sandbox::error::EngineError;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use crate::sandbox::compile::{Compiler, InProcess};

/// How often the ticker advances the engine's epoch. A run executing plugin code checks its
/// deadline and the engine's stop at every tick, so this is how late past its deadline (or
/// after [`Engine::stop`]) such a run can end; 10 ms keeps the ticker's cost negligible.
pub const DEFAULT_EPOCH_TICK: Duration = Duration::from_millis(10);

/// Largest WebAssembly stack a plugin may use. Deep recursion ends in a stack-overflow trap.
pub const DEFAULT_MAX_WASM_STACK: usize = 512 << 10;

/// Default number of plugin runs that may be in flight at once in one process (the size of the
/// instance pool). An agent runs one plugin per platform per pass; 64 leaves room for tests and
/// fleet simulations running many devices on a few threads.
pub(crate) const DEFAULT_CONCURRENT_RUNS: u32 = 64;

/// Linear-memory bytes a pooled memory slot keeps resident between runs and resets with
/// `memset` (only the pages a run dirtied, where the kernel supports `PAGEMAP_SCAN`) instead of
/// `madvise`: the next run in that slot then takes no page faults for its usual working set.
/// A first-party plugin touches ~1.2 MiB (stack, data, a small heap).
const MEMORY_KEEP_RESIDENT: usize = 2 << 20;

/// Table bytes kept resident per pooled table slot, as for memories.
const TABLE_KEEP_RESIDENT: usize = 64 << 10;

/// Per-component caps of the pool, the same as the per-store [`crate::sandbox::limits`] limiter's, so a
/// plugin cannot take more pool slots than a run is allowed.
const POOL_MAX_CORE_INSTANCES_PER_COMPONENT: u32 = 64;
const POOL_MAX_MEMORIES_PER_COMPONENT: u32 = 8;
const POOL_MAX_TABLES_PER_COMPONENT: u32 = 16;

/// Options for [`Engine::new`].
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Epoch tick interval (deadline resolution).
    pub epoch_tick: Duration,
    /// Maximum wasm stack per run.
    pub max_wasm_stack: usize,
    /// Runs that may be in flight at once, from a pool of pre-reserved instance, memory and
    /// table slots (wasmtime's pooling allocator): a run then costs no `mmap`/`munmap` and,
    /// with warm slots, few page faults. A run started while the pool is full fails with a
    /// trap naming the limit. `None` allocates each run on demand (no cap, slower).
    pub concurrent_runs: Option<u32>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            epoch_tick: DEFAULT_EPOCH_TICK,
            max_wasm_stack: DEFAULT_MAX_WASM_STACK,
            concurrent_runs: Some(DEFAULT_CONCURRENT_RUNS),
        }
    }
}

/// The pooling allocator's configuration for `runs` concurrent runs.
fn pooling(runs: u32) -> wasmtime::PoolingAllocationConfig {
    let mut pool = wasmtime::PoolingAllocationConfig::new();
    // Each slot's virtual reservation is wasmtime's default (4 GiB plus guard, which lets
    // compiled code skip bounds checks); the per-run memory cap is the store limiter's job
    // (`RunLimits::memory`), so the pool's own maximum stays wasmtime's and never cuts a run
    // off below its configured limit.
    pool.total_component_instances(runs)
        .total_core_instances(runs.saturating_mul(8))
        .total_memories(runs.saturating_mul(2))
        .total_tables(runs.saturating_mul(4))
        .max_core_instances_per_component(POOL_MAX_CORE_INSTANCES_PER_COMPONENT)
        .max_memories_per_component(POOL_MAX_MEMORIES_PER_COMPONENT)
        .max_tables_per_component(POOL_MAX_TABLES_PER_COMPONENT)
        .linear_memory_keep_resident(MEMORY_KEEP_RESIDENT)
        .table_keep_resident(TABLE_KEEP_RESIDENT)
        .pagemap_scan(wasmtime::Enabled::Auto);
    pool
}

/// A compilation and execution engine shared by every plugin of a process.
///
/// Cloning is cheap (it is reference-counted). A background thread advances the epoch every
/// [`EngineConfig::epoch_tick`]; it holds only a weak reference and stops once the last clone of
/// the engine is dropped. Fuel is off: epochs bound wall-clock time at a fraction of the cost.
///
/// A run ends at its deadline whether it is running code or waiting in a WASI call (see
/// `crate::sandbox::host::wasi`); [`Engine::stop`] ends every run of the engine and its clones at once.
///
/// Plugins are compiled by the engine's [`Compiler`]: [`InProcess`] unless the embedder chose
/// another with [`Engine::with_compiler`].
#[derive(Clone)]
pub struct Engine {
    inner: wasmtime::Engine,
    tick: Duration,
    config: EngineConfig,
    compiler: Arc<dyn Compiler>,
    stop: Arc<StopSignal>,
    _ticker: Arc<TickerGuard>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("tick", &self.tick)
            .field("compiler", &self.compiler)
            .field("stopped", &self.is_stopped())
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct TickerGuard;

impl Engine {
    /// Creates an engine with the default configuration.
    ///
    /// # Errors
    ///
    /// Fails if wasmtime cannot build an engine for this CPU.
    pub fn new() -> Result<Self, EngineError> {
        Self::with_config(&EngineConfig::default())
    }

    /// Creates an engine.
    ///
    /// # Errors
    ///
    /// Fails if wasmtime cannot build an engine for this CPU or configuration.
    pub fn with_config(config: &EngineConfig) -> Result<Self, EngineError> {
        let mut wasm = wasmtime::Config::new();
        wasm.epoch_interruption(true)
            .max_wasm_stack(config.max_wasm_stack)
            .wasm_component_model(true);
        let inner = match config.concurrent_runs {
            Some(runs) => {
                let mut pooled = wasm.clone();
                pooled.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pooling(
                    runs.max(1),
                )));
                // The pool reserves its address space up front; where that is refused (a
                // `ulimit -v`, a constrained container) runs are allocated on demand instead.
                wasmtime::Engine::new(&pooled).or_else(|e| {
                    tracing::warn!(
                        error = %format!("{e:#}"),
                        "cannot reserve the instance pool; allocating each run on demand"
                    );
                    wasmtime::Engine::new(&wasm)
                })
            }
            None => wasmtime::Engine::new(&wasm),
        }
        .map_err(|e| EngineError(format!("{e:#}")))?;
        let ticker = Arc::new(TickerGuard);
        let weak_engine = inner.weak();
        let weak_guard = Arc::downgrade(&ticker);
        let tick = config.epoch_tick;
        thread::Builder::new()
            .name("rampart-epoch".into())
            .spawn(move || {
                // Stop when every `Engine` clone is gone (the guard) or wasmtime dropped the
                // engine itself.
                while weak_guard.strong_count() > 0 {
                    thread::sleep(tick);
                    match weak_engine.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .map_err(|e| EngineError(format!("cannot start the epoch ticker: {e}")))?;
        Ok(Engine {
            inner,
            tick,
            config: config.clone(),
            compiler: Arc::new(InProcess),
            stop: Arc::default(),
            _ticker: ticker,
        })
    }

    /// This engine compiling plugins with `compiler` instead of its current one (the clone
    /// shares the wasmtime engine: code compiled by either runs on both).
    #[must_use]
    pub fn with_compiler(mut self, compiler: impl Compiler + 'static) -> Engine {
        self.compiler = Arc::new(compiler);
        self
    }

    /// The compiler plugins loaded with this engine are compiled by.
    pub fn compiler(&self) -> &dyn Compiler {
        &*self.compiler
    }

    /// The configuration the engine was created with: what a compiler in another process needs
    /// to build an engine whose code this one loads.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The wasmtime engine.
    pub fn wasmtime(&self) -> &wasmtime::Engine {
        &self.inner
    }

    /// Slot usage of the instance pool (`None` when runs are allocated on demand): how many
    /// memories are in use, and the bytes warm slots keep resident between runs.
    pub fn pool_metrics(&self) -> Option<wasmtime::PoolingAllocatorMetrics> {
        self.inner.pooling_allocator_metrics()
    }

    /// The epoch tick interval.
    pub fn epoch_tick(&self) -> Duration {
        self.tick
    }

    /// Stops every plugin run of this engine (and of its clones), for shutting down: a run
    /// executing plugin code ends within one epoch tick, one waiting in a WASI call (a sleep, a
    /// poll) at once, one inside a capability call when that call returns. Each ends with
    /// [`crate::RunError::Stopped`], which an [`crate::Enforcer`] rolls back like any failed
    /// run. Every later run fails the same way without starting. A stopped engine stays
    /// stopped.
    pub fn stop(&self) {
        self.stop.stop();
    }

    /// Whether [`Engine::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.stop.is_stopped()
    }

    /// The engine's stop, for the host functions that wait.
    pub(crate) fn stop_signal(&self) -> &Arc<StopSignal> {
        &self.stop
    }
}

/// The engine-wide stop: a flag runs check at every epoch tick, and a notification that wakes
/// host calls waiting on the guest's behalf.
#[derive(Debug, Default)]
pub(crate) struct StopSignal {
    stopped: AtomicBool,
    notify: tokio::sync::Notify,
}

impl StopSignal {
    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// Resolves once the engine is stopped (at once if it already is).
    pub(crate) async fn stopped(&self) {
        let notified = self.notify.notified();
        tokio::pin!(notified);
        // Registered before the flag is read, so a stop between the two still wakes it.
        notified.as_mut().enable();
        if self.is_stopped() {
            return;
        }
        notified.await;
    }
}

/// The error a run traps with when its deadline passed ([`crate::RunError::Timeout`]).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the run's deadline passed")]
pub(crate) struct DeadlineExceeded;

/// The error a run traps with when its engine was stopped ([`crate::RunError::Stopped`]).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the engine was stopped")]
pub(crate) struct Stopped;
